"""The configuration: every tenant file, its rendered blueprint and its desired resources.

This is the first half of the pipeline (tenant file -> rendered blueprint -> validation -> desired
resources); it reads files only and never talks to Render. `check_tenants` and `check_blueprint_files`
validate and report every finding of every file at once; `load_configuration` also translates, for plan
and apply.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renderer import refdata
from renderer.blueprint.model import Blueprint, resource_kind, resources
from renderer.blueprint.render import load_blueprint_file, render_tenant
from renderer.blueprint.validate import SchemaValidator, compile_schema, validate
from renderer.errors import Finding, RendererError, ValidationFailed, errors_in
from renderer.release import LoadedRelease, check_release, load_release
from renderer.resources import DesiredResource, suffixed
from renderer.tenant import TenantFile, discover, load_tenant, tenant_file_names, tenant_warnings
from renderer.translate import environment_findings, secret_findings, translate
from renderer.yamlio import format_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantConfig:
    """One tenant: its file, its rendered blueprint and what it should have on Render."""

    file: TenantFile
    blueprint: Blueprint
    resources: list[DesiredResource]

    @property
    def slug(self) -> str:
        return self.file.tenant.slug


@dataclass
class Configuration:
    """All tenants by slug (file order), plus warnings found while loading them."""

    tenants: dict[str, TenantConfig] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)
    # releases.yaml beside the tenants directory (None: the fleet's versions are not managed).
    release: LoadedRelease | None = None

    def desired(self) -> list[DesiredResource]:
        return [r for t in self.tenants.values() for r in t.resources]


@dataclass(frozen=True)
class RenderedTenant:
    """A tenant file that loaded and rendered (it may still have validation findings)."""

    file: TenantFile
    blueprint: Blueprint


def blueprint_schema(explicit: Path | None) -> SchemaValidator | None:
    """Render's Blueprint schema, compiled; None (with a warning on stderr) when it cannot be found."""
    schema: dict[str, Any] | None = refdata.load_json(refdata.BLUEPRINT_SCHEMA, explicit)
    if schema is None:
        log.warning(
            "the official schema layer was skipped: Render's Blueprint schema is not available "
            "(use --schema PATH or %s)", refdata.BLUEPRINT_SCHEMA.env_var,
        )
        return None
    return compile_schema(schema)


def fleet_findings(tenants: dict[str, RenderedTenant], taken: Mapping[tuple[str, str], str] | None = None,
                   ) -> list[Finding]:
    """Two resources must never map to one Render name once the tenant suffix is applied (slug `a-b`
    with `x` and slug `b` with `x-a` both make `x-a-b`), whether in two tenants or in two environments of
    one. Names are unique per Render API collection (services, Key Value, Postgres, env groups).

    `taken`: Render names held by tenants that were not rendered (`(Kind.namespace, name)` -> what holds
    it, for the message), checked the same way; a scoped plan passes those the lockfile records for
    every other tenant."""
    owners: dict[tuple[str, str], tuple[str, str]] = {key: ("", whose) for key, whose in (taken or {}).items()}
    findings: list[Finding] = []
    for slug, rendered in tenants.items():
        for path, list_key, item in resources(rendered.blueprint.document):
            kind = resource_kind(list_key, item)
            name = item.get("name") if isinstance(item, dict) else None
            if kind is None or not isinstance(name, str):
                continue
            key = (kind.namespace, suffixed(name, slug))
            here = f"`{format_path(path)}` of tenant `{slug}`"
            if key not in owners:
                owners[key] = (slug, here)
                continue
            line, column = rendered.file.document.value_position(["slug"])
            findings.append(Finding(
                file=str(rendered.file.path), line=line, column=column, path="slug", layer="semantic",
                rule="fleet-unique-name",
                message=f"Render name `{key[1]}` of {here} is also the name of {owners[key][1]}",
                hint="rename one of the blueprint resources, or choose a slug that cannot collide"))
    return findings


def _merge_template_findings(per_tenant: list[tuple[str, str, list[Finding]]]) -> list[Finding]:
    """Every finding, with one finding about a shared file (a template) standing for all the tenants
    that produced it, which the message names."""
    merged: dict[tuple[Any, ...], tuple[Finding, list[str]]] = {}
    out: list[Finding | tuple[Any, ...]] = []
    for slug, tenant_file, findings in per_tenant:
        for finding in findings:
            if finding.file == tenant_file:
                out.append(finding)
                continue
            key = (finding.file, finding.line, finding.column, finding.path, finding.layer, finding.rule,
                   finding.message, finding.severity)
            if key not in merged:
                merged[key] = (finding, [])
                out.append(key)
            merged[key][1].append(slug)
    result: list[Finding] = []
    for entry in out:
        if isinstance(entry, Finding):
            result.append(entry)
            continue
        finding, slugs = merged[entry]
        names = ", ".join(f"`{s}`" for s in slugs[:3]) + (f" and {len(slugs) - 3} more" if len(slugs) > 3 else "")
        plural = "s" if len(slugs) > 1 else ""
        result.append(finding.model_copy(update={"message": f"{finding.message} (rendering tenant{plural} {names})"}))
    return result


def check_tenants(paths: Iterable[Path], blueprints_dir: Path, schema: SchemaValidator | None, *,
                  strict: bool = False, taken: Mapping[tuple[str, str], str] | None = None,
                  ) -> tuple[list[Finding], dict[str, RenderedTenant]]:
    """Load, render and validate each tenant file, then apply the fleet rule across them (and against
    the Render names `taken` by tenants not among them, `fleet_findings`).

    Returns every finding (errors and warnings, all files) and the tenants that rendered, by slug.
    Raises `RendererError` only for a file that cannot be read at all.
    """
    rendered: dict[str, RenderedTenant] = {}
    per_tenant: list[tuple[str, str, list[Finding]]] = []
    for path in paths:
        try:
            tenant_file = load_tenant(path)
        except ValidationFailed as exc:
            per_tenant.append((path.stem, str(path), exc.findings))
            continue
        slug = tenant_file.tenant.slug
        if slug in rendered:
            line, column = tenant_file.document.value_position(["slug"])
            per_tenant.append((slug, str(path), [Finding(
                file=str(path), line=line, column=column, path="slug", layer="tenant", rule="duplicate-slug",
                message=f"slug `{slug}` is also the slug of {rendered[slug].file.path}",
                hint="each tenant needs its own slug")]))
            continue
        try:
            blueprint = render_tenant(tenant_file, blueprints_dir)
        except ValidationFailed as exc:
            per_tenant.append((slug, str(path), exc.findings))
            continue
        tenant_findings = (tenant_warnings(tenant_file) + validate(blueprint, schema, strict=strict)
                           + environment_findings(tenant_file, blueprint))
        if tenant_file.tenant.secrets and not errors_in(tenant_findings):
            # load_configuration reports Blueprint features renderer does not manage yet
            with contextlib.suppress(RendererError):
                tenant_findings += secret_findings(tenant_file, translate(tenant_file.tenant, blueprint))
        per_tenant.append((slug, str(path), tenant_findings))
        rendered[slug] = RenderedTenant(tenant_file, blueprint)
    findings = _merge_template_findings(per_tenant)
    return findings + fleet_findings(rendered, taken), rendered


def check_blueprint_files(paths: Iterable[Path], schema: SchemaValidator | None, *,
                          strict: bool = False) -> tuple[list[Finding], list[Blueprint]]:
    """Validate plain render.yaml files (no template, no tenant). Returns every finding of every file and
    the blueprints that loaded."""
    findings: list[Finding] = []
    loaded: list[Blueprint] = []
    for path in paths:
        try:
            blueprint = load_blueprint_file(path)
        except ValidationFailed as exc:
            findings += exc.findings
            continue
        findings += validate(blueprint, schema, strict=strict)
        loaded.append(blueprint)
    return findings, loaded


def no_tenant_files(tenants_dir: Path, lockfile: Path, recorded: Iterable[str], command: str) -> str:
    """For a `tenants_dir` with no tenant file: the notice that every tenant the lockfile records
    (`recorded` slugs) is being torn down.

    Raises `RendererError` when the lockfile records no tenant either: there is nothing to `command`
    ("validate", "plan"), most likely a wrong directory, and a path typo must not pass as a green check.
    """
    slugs = sorted(recorded)
    where = f"{tenants_dir.as_posix().rstrip('/')}/"
    if not slugs:
        raise RendererError(
            f"no tenant files in {where} and {lockfile.name} records no tenant: nothing to {command}",
            hint="run renderer from the repository root, or give --tenants DIR (a tenant is a file "
                 "tenants/<slug>.yaml)")
    shown = ", ".join(slugs[:5]) + (f" and {len(slugs) - 5} more" if len(slugs) > 5 else "")
    return (f"No tenant files in {where}; {lockfile.name} records {len(slugs)} tenant{'s' if len(slugs) != 1 else ''} "
            f"({shown}), which `renderer plan` shows torn down.")


def release_path(tenants_dir: Path) -> Path:
    """The release file: `releases.yaml` beside the tenants directory (the repository root)."""
    return tenants_dir.parent / "releases.yaml"


def check_release_file(tenants_dir: Path, rendered: dict[str, RenderedTenant]) -> tuple[list[Finding],
                                                                                        LoadedRelease | None]:
    """Load releases.yaml (beside `tenants_dir`) and check it against the tenants that loaded: their
    labels and pins; ring and pin names against every tenant file's name, so a tenant that was not loaded
    (a scoped plan) or did not load (a broken tenant file, reported on its own) still exists.
    Returns its findings and the loaded file (None when there is none or it does not parse)."""
    known = {name.removesuffix(".yaml") for name in tenant_file_names(tenants_dir)}
    try:
        loaded = load_release(release_path(tenants_dir))
    except ValidationFailed as exc:
        return exc.findings, None
    if loaded is None:
        return [], None
    return check_release(loaded, {slug: t.file for slug, t in rendered.items()}, known), loaded


def load_configuration(
    tenants_dir: Path, blueprints_dir: Path, schema: SchemaValidator | None, *, strict: bool = False,
    only: Collection[str] | None = None, taken: Mapping[tuple[str, str], str] | None = None,
) -> Configuration:
    """Load, render, validate and translate every tenant in `tenants_dir`, or only the tenants `only`
    (slugs; a tenant file is `<slug>.yaml`, the others are not read). `taken`: Render names held by
    tenants not loaded, for the fleet rule (`fleet_findings`).

    Raises `ValidationFailed` with the findings of every tenant (not just the first broken one), and
    `RendererError` from translation for Blueprint features renderer does not manage yet.
    """
    findings, rendered = check_tenants(discover(tenants_dir, only), blueprints_dir, schema, strict=strict, taken=taken)
    release_findings, release = check_release_file(tenants_dir, rendered)
    findings += release_findings
    if errors_in(findings):
        raise ValidationFailed(findings)
    config = Configuration(warnings=findings, release=release)
    for slug, tenant in rendered.items():
        config.tenants[slug] = TenantConfig(tenant.file, tenant.blueprint,
                                            translate(tenant.file.tenant, tenant.blueprint))
    return config
