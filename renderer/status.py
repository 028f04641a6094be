"""Status: each managed resource's live state, for `renderer status`.

One row per lockfile resource: the tenant's status from the lockfile, and from Render the service's
latest deploy (GET /services/{id}/deploys?limit=1, newest first), whether it is suspended and its URL,
or a Postgres database's status. `status_report` adds what each tenant costs per month now, priced from
the live fields (`renderer.pricing.live`). Read-only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from renderer.lockfile import Lockfile
from renderer.pricing.live import LiveTenantCost, live_costs
from renderer.pricing.model import Estimate
from renderer.pricing.table import PriceTable
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


@dataclass(frozen=True)
class StatusReport:
    """The status rows, each tenant's monthly cost now (`costs`, slug order) and the price table version."""

    rows: list[StatusRow]
    costs: list[LiveTenantCost]
    price_table_version: str

    @property
    def fleet(self) -> Estimate:
        return Estimate.total(c.total for c in self.costs)

    def by_cost(self) -> StatusReport:
        """Tenants most expensive first (ties by slug), rows in that tenant order."""
        costs = sorted(self.costs, key=lambda c: (-c.total.monthly, -c.total.monthly_max, c.tenant))
        rank = {c.tenant: i for i, c in enumerate(costs)}
        rows = sorted(self.rows, key=lambda r: (rank.get(r.tenant, len(rank)), r.tenant, r.address))
        return StatusReport(rows, costs, self.price_table_version)


async def status_report(client: RenderClient, lockfile: Lockfile, live: LiveState, scope: list[str],
                        table: PriceTable) -> StatusReport:
    """`status_rows` plus each tenant's monthly cost from its live resources."""
    rows = await status_rows(client, lockfile, live, scope)
    return StatusReport(rows, live_costs(lockfile, live, scope, table), table.version)
