"""`renderer import SLUG`: adopt existing Render resources into the lockfile (no write to Render)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from renderer.apply import DEFAULT_LOCK_TIMEOUT
from renderer.cli.options import configuration_options, inputs
from renderer.cli.output import stdout
from renderer.operations.import_ import import_tenant
from renderer.plan.render_text import render_text


@click.command("import")
@click.argument("slug")
@configuration_options
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True, help="The lockfile.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for an apply on the same lockfile to finish.")
def import_(slug: str, tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path,
            lock_timeout: float) -> int:
    """Adopt the services and databases named like tenant SLUG's desired resources into the lockfile.

    Writes only the lockfile, never Render; then shows what the next plan for SLUG would change.
    """
    plan_inputs = inputs(tenants_dir, blueprints_dir, schema, lockfile, (slug,))
    imported = asyncio.run(import_tenant(plan_inputs, slug, lock_timeout=lock_timeout))
    result = imported.result
    for line in result.adopted:
        stdout.print(f"{slug}: imported {line}", style="green", markup=False)
    for address in result.already:
        stdout.print(f"{slug}: {address} is already in {lockfile}", markup=False)
    for address in result.not_found:
        stdout.print(f"{slug}: {address}: no resource with its name on Render; the next apply creates it", markup=False)
    stdout.print(f"Imported {len(result.adopted)} resource{'s' if len(result.adopted) != 1 else ''} into "
                 f"{lockfile}. The next plan for {slug}:\n", markup=False)
    stdout.print(render_text(imported.planned.plan), end="")
    return 0
