"""`renderer status [SLUG]`: a table of each managed resource's live state, then each tenant's monthly cost
and the fleet's (text), or the same as JSON (`--format json`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from renderer.cli.output import stdout
from renderer.operations.status import status as status_operation
from renderer.status import WIDTH, document, render_text


@click.command()
@click.argument("slug", required=False)
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True, help="The lockfile.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: one table per tenant, at most 120 columns, then the costs; json: versioned, for tools.")
@click.option("--sort", "sort", type=click.Choice(["tenant", "cost"]), default="tenant", show_default=True,
              help="Order tenants by slug, or by monthly cost (most expensive first).")
def status(slug: str | None, lockfile: Path, output_format: str, sort: str) -> int:
    """Show each resource's live state: latest deploy status, suspended, URL (one tenant with SLUG); then
    what each tenant costs per month now and the fleet total, at Render's list prices.

    Reads the lockfile and Render (RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID); changes nothing.
    Exit 1 when there is no lockfile (nothing renderer manages from here: a wrong directory or
    --lockfile, not a healthy empty fleet).
    """
    report = asyncio.run(status_operation(lockfile, slug))
    if sort == "cost":
        report = report.by_cost()
    if output_format == "json":
        click.echo(json.dumps(document(report, lockfile), indent=2))
    elif not report.rows:
        stdout.print(f"No tenants in {lockfile}: renderer manages nothing from it now.", markup=False)
    else:
        width = min(stdout.width, WIDTH) if stdout.is_terminal else WIDTH
        click.echo(render_text(report, width), nl=False)
    return 0
