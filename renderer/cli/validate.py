"""`renderer validate`: check tenant files and their rendered blueprints. No API call."""

from __future__ import annotations

from pathlib import Path

import click

from renderer.cli.options import configuration_options
from renderer.cli.output import stdout
from renderer.configuration import blueprint_schema, load_configuration
from renderer.errors import ValidationFailed


@click.command()
@configuration_options
def validate(tenants_dir: Path, blueprints_dir: Path, schema: Path | None) -> int:
    """Validate every tenant file and its rendered blueprint.

    Exit 0 when everything is valid, 1 when anything is not (each error names file, line and field).
    """
    try:
        config = load_configuration(tenants_dir, blueprints_dir, blueprint_schema(schema))
    except ValidationFailed as exc:
        for finding in exc.findings:
            stdout.print(finding.describe(), style="red" if finding.severity == "error" else "yellow")
        errors = sum(1 for f in exc.findings if f.severity == "error")
        stdout.print(f"Invalid: {errors} error{'s' if errors != 1 else ''}.", style="bold red")
        return 1
    for finding in config.warnings:
        stdout.print(finding.describe(), style="yellow")
    n = len(config.tenants)
    stdout.print(f"Valid: {n} tenant{'s' if n != 1 else ''} in {tenants_dir}.", style="bold green")
    return 0
