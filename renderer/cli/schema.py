"""`renderer schema tenant`: print the tenant file's JSON Schema (for editors)."""

from __future__ import annotations

import json

import click

from renderer.release import release_schema
from renderer.tenant import Tenant


def tenant_schema() -> dict[str, object]:
    schema = Tenant.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "renderer tenant file"
    return schema


@click.group()
def schema() -> None:
    """Print JSON Schemas of renderer's own files."""


@schema.command("tenant")
def tenant() -> int:
    """The JSON Schema of tenants/<slug>.yaml (docs/tenant.schema.json holds a copy)."""
    click.echo(json.dumps(tenant_schema(), indent=2, sort_keys=True))
    return 0


@schema.command("release")
def release() -> int:
    """The JSON Schema of releases.yaml (docs/release.schema.json holds a copy)."""
    click.echo(json.dumps(release_schema(), indent=2, sort_keys=True))
    return 0
