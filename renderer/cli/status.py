"""`renderer status [SLUG]`: a table of each managed resource's live state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from renderer import lockfile as lockfile_io
from renderer.cli.output import stdout
from renderer.errors import RendererError
from renderer.refresh import refresh
from renderer.render_api.client import RenderClient, Settings
from renderer.status import WIDTH, StatusRow, document, render_text, require_lockfile, status_rows
from renderer.workflow import managed_ids, managed_parents


async def _rows(lockfile: Path, slug: str | None) -> list[StatusRow]:
    locked = lockfile_io.load(lockfile)
    if slug is not None and slug not in locked.tenants:
        raise RendererError(f"tenant {slug!r} is not in {lockfile}",
                            hint="status shows tenants renderer has applied; check the slug or run apply")
    scope = [slug] if slug else sorted(locked.tenants)
    async with RenderClient(Settings.from_env()) as client:
        live = await refresh(client, managed_ids(locked, scope), parents=managed_parents(locked, scope))
        return await status_rows(client, locked, live, scope)


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
    require_lockfile(lockfile)
    rows = asyncio.run(_rows(lockfile, slug))
    if output_format == "json":
        click.echo(json.dumps(document(rows, lockfile), indent=2))
    elif not rows:
        stdout.print(f"No tenants in {lockfile}: renderer manages nothing from it now.", markup=False)
    else:
        width = min(stdout.width, WIDTH) if stdout.is_terminal else WIDTH
        click.echo(render_text(rows, width), nl=False)
    return 0
