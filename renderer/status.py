"""Status: each managed resource's live state, for `renderer status`.

One row per lockfile resource: the tenant's status from the lockfile, and from Render the service's
latest deploy (GET /services/{id}/deploys?limit=1, newest first), whether it is suspended and its URL,
or a Postgres database's status. Read-only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from renderer.lockfile import Lockfile
from renderer.refresh import LiveState
from renderer.render_api.client import RenderClient

DEPLOY_PAGE = 1
CONCURRENCY = 8


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
