"""The configuration: every tenant file, its rendered blueprint and its desired resources.

This is the first half of the pipeline in one call (tenant file -> rendered blueprint -> validation ->
desired resources); it reads files only and never talks to Render.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renderer import refdata
from renderer.blueprint.model import Blueprint
from renderer.blueprint.render import render_tenant
from renderer.blueprint.validate import SchemaValidator, compile_schema, validate
from renderer.errors import Finding, ValidationFailed, errors_in
from renderer.resources import DesiredResource
from renderer.tenant import TenantFile, discover, load_tenant
from renderer.translate import secret_findings, translate

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
    """All tenants by slug (sorted), plus warnings found while loading them."""

    tenants: dict[str, TenantConfig] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)

    def desired(self) -> list[DesiredResource]:
        return [r for t in self.tenants.values() for r in t.resources]


def blueprint_schema(explicit: Path | None) -> SchemaValidator | None:
    """Render's Blueprint schema, compiled; None (with a warning) when it cannot be found."""
    schema: dict[str, Any] | None = refdata.load_json(refdata.BLUEPRINT_SCHEMA, explicit)
    if schema is None:
        log.warning(
            "the official schema layer was skipped: Render's Blueprint schema is not available "
            "(use --schema PATH or %s)", refdata.BLUEPRINT_SCHEMA.env_var,
        )
        return None
    return compile_schema(schema)


def fleet_findings(tenants: dict[str, TenantConfig]) -> list[Finding]:
    """Two tenants must never map to one Render name (e.g. slug `a-b` with `x` vs slug `b` with `x-a`)."""
    owners: dict[tuple[str, str], tuple[str, DesiredResource]] = {}
    findings: list[Finding] = []
    for slug, config in tenants.items():
        for resource in config.resources:
            key = ("service" if resource.kind.is_service else resource.kind.value, resource.name)
            if key in owners and owners[key][0] != slug:
                other = owners[key][0]
                findings.append(Finding(
                    file=str(config.file.path), line=None, column=None, path="", layer="semantic",
                    rule="fleet-unique-name",
                    message=f"Render name {resource.name!r} of {resource.address} is also the name of "
                            f"{owners[key][1].address} of tenant {other!r}",
                    hint="rename the blueprint resource or choose a slug that cannot collide"))
            else:
                owners[key] = (slug, resource)
    return findings


def load_configuration(
    tenants_dir: Path, blueprints_dir: Path, schema: SchemaValidator | None,
) -> Configuration:
    """Load, render, validate and translate every tenant in `tenants_dir`.

    Raises `ValidationFailed` with the findings of every tenant (not just the first broken one).
    """
    config = Configuration()
    findings: list[Finding] = []
    for path in discover(tenants_dir):
        try:
            tenant_file = load_tenant(path)
            blueprint = render_tenant(tenant_file, blueprints_dir)
        except ValidationFailed as exc:
            findings.extend(exc.findings)
            continue
        tenant_findings = validate(blueprint, schema)
        findings.extend(tenant_findings)
        if errors_in(tenant_findings):
            continue
        resources = translate(tenant_file.tenant, blueprint)
        secret_problems = secret_findings(tenant_file, resources)
        findings.extend(secret_problems)
        if secret_problems:
            continue
        config.tenants[tenant_file.tenant.slug] = TenantConfig(tenant_file, blueprint, resources)
    findings.extend(fleet_findings(config.tenants))
    if errors_in(findings):
        raise ValidationFailed(findings)
    config.warnings = findings
    return config
