"""`renderer status [SLUG]`: a table of each managed resource's live state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from renderer.cli.output import stdout
from renderer.operations.status import status as status_operation


@click.command()
@click.argument("slug", required=False)
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True, help="The lockfile.")
def status(slug: str | None, lockfile: Path) -> int:
    """Show each resource's live state: latest deploy status, suspended, URL (one tenant with SLUG).

    Reads the lockfile and Render (RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID); changes nothing.
    """
    rows = asyncio.run(status_operation(lockfile, slug))
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
