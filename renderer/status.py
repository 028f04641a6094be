"""Status: each managed resource's live state, for `renderer status`.

One row per lockfile resource: the tenant's status from the lockfile, and from Render the service's
latest deploy (GET /services/{id}/deploys?limit=1, newest first), whether it is suspended and its URL,
or a Postgres database's status. Read-only.

Output: `render_text` (for people: one block per tenant, at most `WIDTH` columns, IDs never cut, long
names and URLs wrapped, no trailing spaces) and `document` (for tools, `--format json`).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.refresh import LiveState
from renderer.render_api.client import RenderClient

DEPLOY_PAGE = 1
CONCURRENCY = 8
WIDTH = 120  # a terminal narrower than this wraps to its own width
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class StatusRow:
    tenant: str
    tenant_status: str
    address: str
    name: str
    id: str
    state: str
    suspended: str
    url: str


async def _latest_deploy(client: RenderClient, service_id: str) -> str:
    page = await client.request("GET", f"/services/{service_id}/deploys", params={"limit": DEPLOY_PAGE})
    if isinstance(page, list) and page:
        return str(page[0]["deploy"].get("status", "unknown"))
    return "no deploys"


async def status_rows(client: RenderClient, lockfile: Lockfile, live: LiveState, scope: list[str]) -> list[StatusRow]:
    """The rows for the tenants in `scope`, sorted by tenant and address."""
    entries = [(slug, addr, entry) for slug in sorted(scope) if slug in lockfile.tenants
               for addr, entry in sorted(lockfile.tenants[slug].resources.items())]
    service_ids = [e.id for _, _, e in entries if e.kind.is_service and e.id in live.resources]
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def latest(sid: str) -> str:
        async with semaphore:
            return await _latest_deploy(client, sid)

    deploys = dict(zip(service_ids, await asyncio.gather(*(latest(sid) for sid in service_ids)), strict=True))
    rows: list[StatusRow] = []
    for slug, addr, entry in entries:
        tenant_status = lockfile.tenants[slug].status or "unknown"
        resource = live.resources.get(entry.id)
        if resource is None:
            rows.append(StatusRow(slug, tenant_status, addr, entry.name, entry.id, "missing (404)", "", ""))
            continue
        info = resource.info
        state = f"deploy {deploys[entry.id]}" if entry.id in deploys else str(info.get("status") or "unknown")
        rows.append(StatusRow(slug, tenant_status, addr, entry.name, entry.id, state,
                              str(info.get("suspended") or ""), str(info.get("url") or info.get("dashboardUrl") or "")))
    return rows


def require_lockfile(path: Path) -> None:
    """Raises `RendererError` when `path` does not exist: with no lockfile there is nothing renderer
    manages from here, most likely a wrong directory or `--lockfile` (not an empty, healthy fleet)."""
    if not path.exists():
        raise RendererError(f"no lockfile at {path}: renderer has applied nothing from here",
                            hint="run renderer from the repository root or give --lockfile PATH; "
                                 "`renderer apply` writes the lockfile")


def render_text(rows: list[StatusRow], width: int = WIDTH) -> str:
    """`Tenant <slug> (<status>)`, then a table of its resources: resource, id, live state, url (without
    `https://`). A Render name that is not `<blueprint name>-<slug>` (a disk's) follows the address in quotes."""
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, no_color=True)
    for index, ((slug, tenant_status), group) in enumerate(groupby(rows, key=lambda r: (r.tenant, r.tenant_status))):
        if index:
            console.print()
        table = Table("resource", "id", "live state", "url", box=None, pad_edge=False, show_edge=False,
                      padding=(0, 2, 0, 0))
        for column in table.columns[:2]:
            column.no_wrap = True  # never cut an address or an ID
        table.columns[2].max_width = 26  # a long state wraps before a URL does
        table.columns[3].overflow = "fold"
        for row in group:
            state = row.state + (", suspended" if row.suspended == "suspended" else "")
            table.add_row(_resource(row), row.id, state, row.url.removeprefix("https://"))
        console.print(f"Tenant {slug} ({tenant_status})")
        console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def _resource(row: StatusRow) -> str:
    """The address, and the Render name when it does not follow from the address and the tenant."""
    local = row.address.split(".", 1)[-1]
    if row.name in (f"{local}-{row.tenant}", local) or row.name in row.address:
        return row.address
    return f'{row.address} "{row.name}"'


def document(rows: list[StatusRow], lockfile: Path) -> dict[str, Any]:
    """`{"format_version": "1", "lockfile": path, "tenants": [{"slug", "status", "resources": [{"address",
    "name", "id", "state", "suspended", "url"}]}]}`; `suspended` is Render's `suspended`/`not_suspended`
    (null for a datastore), `url` null when there is none."""
    tenants = []
    for (slug, tenant_status), group in groupby(rows, key=lambda r: (r.tenant, r.tenant_status)):
        tenants.append({"slug": slug, "status": tenant_status, "resources": [
            {"address": r.address, "name": r.name, "id": r.id, "state": r.state, "suspended": r.suspended or None,
             "url": r.url or None} for r in group]})
    return {"format_version": FORMAT_VERSION, "lockfile": lockfile.as_posix(), "tenants": tenants}
