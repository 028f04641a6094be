"""Status: each managed resource's live state, for `renderer status`.

One row per lockfile resource: the tenant's status from the lockfile, and from Render the service's
latest deploy (GET /services/{id}/deploys?limit=1, newest first), whether it is suspended and its URL,
or a Postgres database's status. `status_report` adds what each tenant costs per month now, priced from
the live fields (`renderer.pricing.live`). Read-only.

Output: `render_text` (for people: one block per tenant, at most `WIDTH` columns, IDs never cut, long
names and URLs wrapped, no trailing spaces; then the cost section) and `document` (for tools, `--format json`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.plan.render_cost import estimate_document, resource_document
from renderer.pricing.live import LiveTenantCost, live_costs
from renderer.pricing.model import Estimate
from renderer.pricing.table import PriceTable
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


def require_lockfile(path: Path) -> None:
    """Raises `RendererError` when `path` does not exist: with no lockfile there is nothing renderer
    manages from here, most likely a wrong directory or `--lockfile` (not an empty, healthy fleet)."""
    if not path.exists():
        raise RendererError(f"no lockfile at {path}: renderer has applied nothing from here",
                            hint="run renderer from the repository root or give --lockfile PATH; "
                                 "`renderer apply` writes the lockfile")


def render_text(report: StatusReport, width: int = WIDTH) -> str:
    """`Tenant <slug> (<status>)`, then a table of its resources: resource, id, live state, url (without
    `https://`). A Render name that is not `<blueprint name>-<slug>` (a disk's) follows the address in quotes.
    Then the cost section: a `tenant` / `monthly cost` table, the fleet total with the price table version,
    and the usage-priced, unknown and possibly out-of-date prices by `<tenant>/<resource>`."""
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, no_color=True)
    groups = groupby(report.rows, key=lambda r: (r.tenant, r.tenant_status))
    for index, ((slug, tenant_status), group) in enumerate(groups):
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
        console.print(f"Tenant {slug} ({tenant_status})", markup=False)
        console.print(table)
    _print_costs(console, report)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def _resource(row: StatusRow) -> str:
    """The address, and the Render name when it does not follow from the address and the tenant."""
    local = row.address.split(".", 1)[-1]
    if row.name in (f"{local}-{row.tenant}", local) or row.name in row.address:
        return row.address
    return f'{row.address} "{row.name}"'


def _print_costs(console: Console, report: StatusReport) -> None:
    """The cost section of `render_text`, after a blank line."""
    console.print()
    table = Table("tenant", "monthly cost", box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
    table.columns[0].no_wrap = True
    for cost in report.costs:
        table.add_row(cost.tenant, cost.total.summary())
    console.print(table)
    n = len(report.costs)
    console.print(f"\nMonthly cost of {n} tenant{'s' if n != 1 else ''}: {report.fleet.summary()}; Render list "
                  f"prices, table {report.price_table_version}", markup=False)
    sections: tuple[tuple[str, Callable[[Estimate], list[str]]], ...] = (
        ("Usage-priced, shown as rates (not in totals)", lambda e: e.rates),
        ("Price unknown (not in totals)", lambda e: e.unknown),
        ("Price may be out of date", lambda e: e.caveats))
    for title, pick in sections:
        lines = [f"{c.tenant}/{line}" for c in report.costs for line in pick(c.total)]
        if lines:
            console.print(f"{title}:", markup=False)
            for line in lines:
                console.print(f"    - {line}", markup=False)


def document(report: StatusReport, lockfile: Path) -> dict[str, Any]:
    """`{"format_version": "1", "lockfile": path, "price_table_version", "tenants": [{"slug", "status", "cost",
    "resources": [{"address", "name", "id", "state", "suspended", "url", "cost"}]}], "fleet"}`, tenants in
    the report's order (slug, or most expensive first); `suspended` is Render's `suspended`/`not_suspended`
    (null for a datastore), `url` null when there is none; money as in the plan's JSON (`*_cents` whole
    cents, `*_exact` exact dollars; `renderer.plan.render_cost`), a resource's `cost` null when unpriced."""
    totals = {c.tenant: c.total for c in report.costs}
    costs = {(c.tenant, r.address): r for c in report.costs for r in c.resources}
    tenants = []
    for (slug, tenant_status), group in groupby(report.rows, key=lambda r: (r.tenant, r.tenant_status)):
        total = totals.get(slug)
        tenants.append({"slug": slug, "status": tenant_status,
                        "cost": estimate_document(total) if total is not None else None, "resources": [
            {"address": r.address, "name": r.name, "id": r.id, "state": r.state, "suspended": r.suspended or None,
             "url": r.url or None, "cost": resource_document(costs.get((r.tenant, r.address)))} for r in group]})
    return {"format_version": FORMAT_VERSION, "lockfile": lockfile.as_posix(),
            "price_table_version": report.price_table_version, "tenants": tenants,
            "fleet": estimate_document(report.fleet)}
