"""`renderer status [SLUG]`: a table of each managed resource's live state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from renderer import lockfile as lockfile_io
from renderer.cli.output import stdout
from renderer.errors import RendererError
from renderer.refresh import refresh
from renderer.render_api.client import RenderClient, Settings
from renderer.status import StatusRow, status_rows
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
def status(slug: str | None, lockfile: Path) -> int:
    """Show each resource's live state: latest deploy status, suspended, URL (one tenant with SLUG).

    Reads the lockfile and Render (RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID); changes nothing.
    """
    rows = asyncio.run(_rows(lockfile, slug))
    if not rows:
        stdout.print(f"No resources in {lockfile}.")
        return 0
    headers = ("tenant", "tenant status", "resource", "name", "id", "live state", "suspended", "url")
    table = Table(*headers, box=None, pad_edge=False)
    cells = [(row.tenant, row.tenant_status, row.address, row.name, row.id, row.state, row.suspended, row.url)
             for row in rows]
    for cell in cells:
        table.add_row(*cell)
    # Never truncate IDs or URLs, also when stdout is not a terminal (rich assumes 80 columns then).
    needed = sum(max(len(h), *(len(c[i]) for c in cells)) + 2 for i, h in enumerate(headers))
    Console(file=stdout.file, width=max(stdout.width, needed), highlight=False).print(table)
    return 0
