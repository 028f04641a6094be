"""Status: each managed resource's live state, for `renderer status`.

One row per lockfile resource: the tenant's status from the lockfile, and from Render the service's
latest deploy (GET /services/{id}/deploys?limit=10, newest first) and the version (commit SHA or image
digest) of its live deploy, whether it is suspended and its URL, or a Postgres database's status. With
a fleet release (docs/releases.md) each service also shows the target version the lockfile records and
each tenant its rollout state. `status_report` adds what each tenant costs per month now, priced from
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
from renderer.release import deploy_version, short
from renderer.render_api.client import RenderClient

DEPLOY_PAGE = 10  # the latest deploy and, among these, the live one
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
    # The fleet release: the live deploy's version, the lockfile's target, the tenant's rollout state.
    version: str | None = None
    target: str | None = None
    release_state: str | None = None


async def _latest_deploy(client: RenderClient, service_id: str) -> tuple[str, str | None]:
    """The latest deploy's status and the version of the live deploy among the latest `DEPLOY_PAGE`."""
    page = await client.request("GET", f"/services/{service_id}/deploys", params={"limit": DEPLOY_PAGE})
    if isinstance(page, list) and page:
        deploys = [item["deploy"] for item in page]
        live = next((d for d in deploys if d.get("status") == "live"), None)
        return str(deploys[0].get("status", "unknown")), deploy_version(live) if live is not None else None
    return "no deploys", None


async def status_rows(client: RenderClient, lockfile: Lockfile, live: LiveState, scope: list[str]) -> list[StatusRow]:
    """The rows for the tenants in `scope`, sorted by tenant and address."""
    entries = [(slug, addr, entry) for slug in sorted(scope) if slug in lockfile.tenants
               for addr, entry in sorted(lockfile.tenants[slug].resources.items())]
    service_ids = [e.id for _, _, e in entries if e.kind.is_service and e.id in live.resources]
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def latest(sid: str) -> tuple[str, str | None]:
        async with semaphore:
            return await _latest_deploy(client, sid)

    deploys = dict(zip(service_ids, await asyncio.gather(*(latest(sid) for sid in service_ids)), strict=True))
    rows: list[StatusRow] = []
    for slug, addr, entry in entries:
        tenant_status = lockfile.tenants[slug].status or "unknown"
        release = lockfile.tenants[slug].release
        target = release.target.get(addr) if release is not None else None
        release_state = release.state if release is not None else None
        resource = live.resources.get(entry.id)
        if resource is None:
            rows.append(StatusRow(slug, tenant_status, addr, entry.name, entry.id, "missing (404)", "", "",
                                  None, target, release_state))
            continue
        info = resource.info
        status, version = deploys.get(entry.id, (None, None))
        state = f"deploy {status}" if status is not None else str(info.get("status") or "unknown")
        rows.append(StatusRow(slug, tenant_status, addr, entry.name, entry.id, state,
                              str(info.get("suspended") or ""), str(info.get("url") or info.get("dashboardUrl") or ""),
                              version, target, release_state))
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
    groups = groupby(report.rows, key=lambda r: (r.tenant, r.tenant_status, r.release_state))
    versions = any(r.target for r in report.rows)  # a fleet release manages versions: show them
    for index, ((slug, tenant_status, release_state), group) in enumerate(groups):
        if index:
            console.print()
        columns = ["resource", "id", "live state", *(["version"] if versions else []), "url"]
        table = Table(*columns, box=None, pad_edge=False, show_edge=False, padding=(0, 2, 0, 0))
        for column in table.columns[:2]:
            column.no_wrap = True  # never cut an address or an ID
        table.columns[2].max_width = 26  # a long state wraps before a URL does
        table.columns[-1].overflow = "fold"
        for row in group:
            state = row.state + (", suspended" if row.suspended == "suspended" else "")
            cells = [_resource(row), row.id, state, *([_version(row)] if versions else []),
                     row.url.removeprefix("https://")]
            table.add_row(*cells)
        rollout = f", release {release_state}" if release_state else ""
        console.print(f"Tenant {slug} ({tenant_status}{rollout})", markup=False)
        console.print(table)
    _print_costs(console, report)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def _version(row: StatusRow) -> str:
    """`8d0e4b1`, or `2f1c3a9 -> 8d0e4b1` while the live version is not the target; "" for none."""
    if row.target and row.version != row.target:
        return f"{short(row.version)} -> {short(row.target)}"
    return short(row.version) if row.version else ""


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
    """`{"format_version": "1", "lockfile": path, "price_table_version", "tenants": [{"slug", "status",
    "release_state", "cost", "resources": [{"address", "name", "id", "state", "suspended", "url", "version",
    "target", "cost"}]}], "fleet"}`, tenants in
    the report's order (slug, or most expensive first); `suspended` is Render's `suspended`/`not_suspended`
    (null for a datastore), `url` null when there is none; money as in the plan's JSON (`*_cents` whole
    cents, `*_exact` exact dollars; `renderer.plan.render_cost`), a resource's `cost` null when unpriced;
    `version` the live deploy's commit SHA or image digest, `target` the release's (null without one),
    `release_state` the tenant's rollout state (null without a release)."""
    totals = {c.tenant: c.total for c in report.costs}
    costs = {(c.tenant, r.address): r for c in report.costs for r in c.resources}
    tenants = []
    for (slug, tenant_status, release_state), group in groupby(
            report.rows, key=lambda r: (r.tenant, r.tenant_status, r.release_state)):
        total = totals.get(slug)
        tenants.append({"slug": slug, "status": tenant_status, "release_state": release_state,
                        "cost": estimate_document(total) if total is not None else None, "resources": [
            {"address": r.address, "name": r.name, "id": r.id, "state": r.state, "suspended": r.suspended or None,
             "url": r.url or None, "version": r.version, "target": r.target,
             "cost": resource_document(costs.get((r.tenant, r.address)))} for r in group]})
    return {"format_version": FORMAT_VERSION, "lockfile": lockfile.as_posix(),
            "price_table_version": report.price_table_version, "tenants": tenants,
            "fleet": estimate_document(report.fleet)}
