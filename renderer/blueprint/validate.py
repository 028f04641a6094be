"""Validating a blueprint: every layer, every finding at once.

Layers (`Finding.layer`), in the order they run:
- `schema`: the deprecated forms normalisation rewrote (warnings, or an error for `env` and `runtime`
  disagreeing), then Render's official Blueprint schema (`renderer.blueprint.schema`). By default the
  schema checks the normal form, so deprecated forms Render still deploys pass with a warning; with
  `strict` it checks the document as written, so the layer has errors if and only if Render's schema
  rejects the document.
- `semantic`: renderer's rules on the normal form (`renderer.blueprint.semantic`), in both modes.

`yaml` and `template` findings come earlier, from loading and rendering (`renderer.blueprint.render`).
"""

from __future__ import annotations

from renderer.blueprint.model import Blueprint
from renderer.blueprint.schema import SchemaValidator, compile_schema, schema_findings, service_branch
from renderer.blueprint.semantic import semantic_findings
from renderer.errors import Finding

__all__ = ["SchemaValidator", "compile_schema", "normalisation_findings", "service_branch", "validate"]


def normalisation_findings(blueprint: Blueprint, *, strict: bool = False) -> list[Finding]:
    """What normalisation rewrote, as `schema`-layer findings. With `strict`, only the forms Render's
    schema accepts are reported here (the schema reports the others as errors itself)."""
    return [
        blueprint.finding(change.path, "schema", change.rule, change.message, change.hint, severity=change.severity)
        for change in blueprint.changes
        if not strict or change.schema_accepts
    ]


def validate(blueprint: Blueprint, schema: SchemaValidator | None, *, strict: bool = False) -> list[Finding]:
    """All findings for `blueprint`: normalisation and schema layer (the schema part is skipped when
    `schema` is None), then the semantic layer."""
    findings = normalisation_findings(blueprint, strict=strict)
    if schema is not None:
        findings += schema_findings(blueprint, schema, strict=strict)
    return findings + semantic_findings(blueprint)
