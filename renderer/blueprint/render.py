"""Rendering a tenant's blueprint: Jinja2 template -> YAML document -> tenant overrides applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from renderer import yamlio
from renderer.blueprint import template
from renderer.blueprint.model import KEY_VALUE_TYPES, Blueprint, Origin, resource_lists
from renderer.errors import Finding, ValidationFailed
from renderer.tenant import Tenant, TenantFile
from renderer.yamlio import PathPart


def template_context(tenant: Tenant) -> dict[str, Any]:
    """What a template sees: `tenant` with the tenant file's fields (`tenant.name`, `tenant.env`, ...)."""
    return {"tenant": tenant.model_dump()}


def _override(
    item: Any, key: str, value: str, path: tuple[PathPart, ...], origin: Origin,
    origins: dict[tuple[PathPart, ...], Origin],
) -> None:
    item[key] = value
    origins[(*path, key)] = origin


def apply_tenant_overrides(
    document: Any, tenant: Tenant, tenant_file: str, tenant_document: Any | None,
) -> dict[tuple[PathPart, ...], Origin]:
    """Set the tenant's `region` on every resource that has one and its `plan` on every service.

    Static sites have neither; Key Value instances and Postgres databases keep the blueprint's plan.
    Mutates `document`; returns the origins of the values it set.
    """
    origins: dict[tuple[PathPart, ...], Origin] = {}

    def origin(key: str) -> Origin:
        line, column = (yamlio.value_position(tenant_document, [key]) if tenant_document is not None
                        else (None, None))
        return Origin(file=tenant_file, line=line, column=column, key=key)

    for scope_path, list_key, items in resource_lists(document):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            path = (*scope_path, list_key, i)
            if list_key == "envVarGroups":
                continue
            is_static = item.get("runtime") == "static" or item.get("env") == "static"
            is_datastore = list_key == "databases" or item.get("type") in KEY_VALUE_TYPES
            if tenant.region is not None and not is_static:
                _override(item, "region", tenant.region, path, origin("region"), origins)
            if tenant.plan is not None and not is_static and not is_datastore:
                _override(item, "plan", tenant.plan, path, origin("plan"), origins)
    return origins


def render_tenant(tenant_file: TenantFile, blueprints_dir: Path) -> Blueprint:
    """Render a tenant's blueprint. Raises `ValidationFailed` (template or yaml layer) on failure."""
    tenant = tenant_file.tenant
    text = template.render(blueprints_dir, tenant.blueprint, template_context(tenant))
    source = str(template.template_path(blueprints_dir, tenant.blueprint))
    document = yamlio.load(text, source)
    if not isinstance(document, CommentedMap):
        raise ValidationFailed([Finding(
            file=source, line=1, column=1, path="", layer="yaml", rule="not-a-mapping",
            message="the rendered blueprint is not a mapping (expected keys like `services:`)")])
    origins = apply_tenant_overrides(document, tenant, str(tenant_file.path), tenant_file.document)
    return Blueprint(name=tenant.blueprint, source=source, text=text, document=document, origins=origins)


def load_blueprint_file(path: Path) -> Blueprint:
    """Load a plain render.yaml (no template, no tenant). Raises `ValidationFailed` (yaml layer)."""
    text = path.read_text(encoding="utf-8")
    document = yamlio.load(text, str(path))
    if not isinstance(document, CommentedMap):
        raise ValidationFailed([Finding(
            file=str(path), line=1, column=1, path="", layer="yaml", rule="not-a-mapping",
            message="a render.yaml must be a mapping (expected keys like `services:`)")])
    return Blueprint(name=path.stem, source=str(path), text=text, document=document)
