"""`renderer status [SLUG]`: a table of each managed resource's live state."""

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
              help="text: one table per tenant, at most 120 columns; json: versioned, for tools.")
def status(slug: str | None, lockfile: Path, output_format: str) -> int:
    """Show each resource's live state: latest deploy status, suspended, URL (one tenant with SLUG).

    Reads the lockfile and Render (RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID); changes nothing.
    Exit 1 when there is no lockfile (nothing renderer manages from here: a wrong directory or
    --lockfile, not a healthy empty fleet).
    """
    rows = asyncio.run(status_operation(lockfile, slug))
    if output_format == "json":
        click.echo(json.dumps(document(rows, lockfile), indent=2))
    elif not rows:
        stdout.print(f"No tenants in {lockfile}: renderer manages nothing from it now.", markup=False)
    else:
        width = min(stdout.width, WIDTH) if stdout.is_terminal else WIDTH
        click.echo(render_text(rows, width), nl=False)
    return 0
