"""`renderer drift`: report changes made on Render outside renderer (refresh only)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from renderer import lockfile as lockfile_io
from renderer.cli.options import tenants_dir_given
from renderer.cli.output import stderr, stdout
from renderer.operations.drift import drift as drift_operation

SCOPED_NOTE = ("Note: a drift run scoped with --tenant reads the tenants' recorded resources by ID and cannot "
               "see unmanaged resources (carrying a tenant's suffix but not in the lockfile); run `renderer "
               "drift` without --tenant to list the whole workspace.")


@click.command()
@click.option("--tenants", "tenants_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("tenants"), show_default=True, callback=tenants_dir_given,
              help="Tenant files directory (for tenant slugs).")
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True, help="The lockfile.")
@click.option("--tenant", "only", multiple=True, metavar="SLUG", help="Only this tenant (repeatable).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 with no drift, 2 with drift (1 on error).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: versioned, no secret values).")
def drift(tenants_dir: Path, lockfile: Path, only: tuple[str, ...], detailed_exitcode: bool,
          output_format: str) -> int:
    """Report what changed on Render outside renderer since it last applied, per tenant, and unmanaged
    services or databases that carry a tenant's suffix. Changes nothing.

    Secret env vars are compared only when RENDERER_FINGERPRINT_KEY is set (their fingerprints are keyed).
    With --tenant, the tenants' recorded resources are read by ID: unmanaged resources are not looked for
    (that needs the whole workspace listed, as a run of every tenant does).
    """
    report = asyncio.run(drift_operation(tenants_dir, lockfile_io.load(lockfile), only))
    if not report.unmanaged_checked:
        stderr.print(SCOPED_NOTE, markup=False)
    if output_format == "json":
        click.echo(json.dumps(report.document(), sort_keys=True, indent=2))
    else:
        current = None
        for item in report.items:
            if item.tenant != current:
                current = item.tenant
                stdout.print(f"Tenant {item.tenant}", style="bold", markup=False)
            stdout.print(f"  {item.describe()}", style="yellow", markup=False)
        n = len(report.checked)
        if report.has_drift:
            stdout.print(f"Drift: {len(report.items)} finding{'s' if len(report.items) != 1 else ''} in "
                         f"{len({i.tenant for i in report.items})} of {n} tenant{'s' if n != 1 else ''}; "
                         "`renderer plan` shows how apply would restore them.", style="bold", markup=False)
        else:
            stdout.print(f"No drift: Render matches what renderer last applied for {n} tenant{'s' if n != 1 else ''}.",
                         style="bold", markup=False)
    return report.exit_code(detailed_exitcode)
