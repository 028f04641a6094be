"""Rendering a tenant's blueprint: Jinja2 template -> YAML document -> tenant overrides -> normal form.

Also loads plain render.yaml files (no template, no tenant) into the same `Blueprint` shape, so both go
through one validator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from renderer import yamlio
from renderer.blueprint import template
from renderer.blueprint.model import Blueprint, DocPath, Origin, resource_kind, resources
from renderer.blueprint.normalize import normalize
from renderer.blueprint.template import RenderedTemplate, TenantValue
from renderer.errors import Finding, ValidationFailed
from renderer.kind import DATASTORE_TYPES, Kind
from renderer.tenant import Tenant, TenantFile
from renderer.yamlio import YamlDocument


def _wrap(value: Any, origin: DocPath) -> Any:
    if isinstance(value, str):
        return TenantValue(value, origin)
    if isinstance(value, dict):
        return {_wrap(k, (*origin, k)): _wrap(v, (*origin, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap(v, (*origin, i)) for i, v in enumerate(value)]
    return value


def template_context(tenant: Tenant) -> dict[str, Any]:
    """What a template sees: `tenant` with the tenant file's fields (`tenant.name`, `tenant.env`, ...).

    Every string remembers the tenant key it came from (`TenantValue`), so a finding about a rendered
    value can point at the tenant file.
    """
    return {"tenant": {name: _wrap(value, (name,)) for name, value in tenant.model_dump().items()}}


def apply_tenant_overrides(document: Any, tenant: Tenant, tenant_file: str,
                           tenant_document: YamlDocument | None) -> dict[DocPath, Origin]:
    """Set the tenant's `region` on every resource that has one and its `plan` on every service.

    Static sites and env groups have neither; Key Value instances and Postgres databases keep the
    blueprint's plan. Mutates `document`; returns the origins of the values it set.
    """
    origins: dict[DocPath, Origin] = {}
    for path, list_key, item in resources(document):
        if not isinstance(item, dict) or list_key == "envVarGroups":
            continue
        if resource_kind(list_key, item) is Kind.STATIC_SITE:
            continue
        is_datastore = list_key == "databases" or item.get("type") in DATASTORE_TYPES
        if tenant.region is not None:
            item["region"] = tenant.region
            origins[(*path, "region")] = Origin(tenant_file, ("region",), tenant_document)
        if tenant.plan is not None and not is_datastore:
            item["plan"] = tenant.plan
            origins[(*path, "plan")] = Origin(tenant_file, ("plan",), tenant_document)
    return origins


def _document(parsed: YamlDocument, what: str) -> dict[str, Any]:
    """`parsed.data` when it is a mapping; else a `yaml`-layer finding."""
    if parsed.data is None:
        raise ValidationFailed([yamlio.empty_document_finding(parsed.filename, what)])
    if not isinstance(parsed.data, dict):
        raise ValidationFailed([Finding(
            file=parsed.filename, line=1, column=1, path="", layer="yaml", rule="not-a-mapping",
            message=f"{what}, but the document is {_kind_of(parsed.data)}",
            hint="start the file with top-level keys such as `services:` and `databases:`")])
    return parsed.data


def _kind_of(data: Any) -> str:
    return "a list" if isinstance(data, list) else f"a single value ({str(data)[:40]!r})"


def _blueprint(name: str, source: str, parsed: YamlDocument, raw: dict[str, Any], **extra: Any) -> Blueprint:
    document, aliases, changes = normalize(raw, parsed.source_text)
    return Blueprint(name=name, source=source, text=parsed.text, parsed=parsed, raw=raw, document=document,
                     aliases=aliases, changes=changes, **extra)


def _template_positions(findings: list[Finding], rendered: RenderedTemplate, source: str,
                        tenant_file: TenantFile) -> list[Finding]:
    """Move `yaml`-layer findings about the rendered text onto template (or tenant file) lines."""
    moved = []
    for finding in findings:
        where = rendered.locate(finding.line, finding.column)
        if where is not None and where.tenant_key is not None:
            line, column = tenant_file.document.value_position(where.tenant_key)
            moved.append(finding.model_copy(update={
                "file": str(tenant_file.path), "line": line, "column": column,
                "message": f"{finding.message} (in the value of `{yamlio.format_path(where.tenant_key)}` from the "
                           f"tenant file, used at {source}:{where.line})",
                "hint": f"the template should quote the value: `{{{{ ... | yaml_quote }}}}` at {source}:{where.line}"}))
        else:
            moved.append(finding.model_copy(update={
                "file": source, "line": where.line if where else None, "column": where.column if where else None,
                "message": f"{finding.message} (in the rendered blueprint)"}))
    return moved


def render_tenant(tenant_file: TenantFile, blueprints_dir: Path) -> Blueprint:
    """Render a tenant's blueprint. Raises `ValidationFailed` (template or yaml layer) on failure;
    `yaml` findings point at the template line (or the tenant key whose value broke the YAML)."""
    tenant = tenant_file.tenant
    rendered = template.render_mapped(blueprints_dir, tenant.blueprint, template_context(tenant))
    source = str(template.template_path(blueprints_dir, tenant.blueprint))
    try:
        parsed = yamlio.parse(rendered.text, source)
        raw = _document(parsed, "a rendered blueprint must be a mapping (keys such as `services:`)")
    except ValidationFailed as exc:
        raise ValidationFailed(_template_positions(exc.findings, rendered, source, tenant_file)) from None
    tenant_path = str(tenant_file.path)
    origins = apply_tenant_overrides(raw, tenant, tenant_path, tenant_file.document)
    return _blueprint(tenant.blueprint, source, parsed, raw, origins=origins, template=rendered,
                      tenant=tenant_file.document, tenant_file=tenant_path)


def load_blueprint_file(path: Path) -> Blueprint:
    """Load a plain render.yaml (no template, no tenant). Raises `ValidationFailed` (yaml layer) or
    `RendererError` (the file cannot be read)."""
    parsed = yamlio.parse(yamlio.read(path, "render.yaml"), str(path))
    raw = _document(parsed, "a render.yaml must be a mapping (keys such as `services:`)")
    return _blueprint(path.stem, str(path), parsed, raw)
