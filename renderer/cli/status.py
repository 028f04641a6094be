"""`renderer status [SLUG]`: a table of each managed resource's live state, then each tenant's monthly cost
and the fleet's (text), or the same as JSON (`--format json`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from renderer.cli.output import stdout
from renderer.operations.status import status as status_operation
from renderer.plan.render_cost import estimate_document, resource_document
from renderer.pricing.model import Estimate
from renderer.status import StatusReport

STATUS_FORMAT_VERSION = "1"


def _print_table(headers: tuple[str, ...], cells: list[tuple[str, ...]]) -> None:
    table = Table(*headers, box=None, pad_edge=False)
    for cell in cells:
        table.add_row(*cell)
    # Never truncate IDs or URLs, also when stdout is not a terminal (rich assumes 80 columns then).
    needed = sum(max(len(h), *(len(c[i]) for c in cells)) + 2 for i, h in enumerate(headers))
    Console(file=stdout.file, width=max(stdout.width, needed), highlight=False).print(table)


def status_document(report: StatusReport) -> dict[str, Any]:
    """`{"format_version": "1", "price_table_version", "resources": [{"tenant", "tenant_status", "address",
    "name", "id", "state", "suspended", "url", "cost"}], "tenants": [{"tenant", "cost"}], "fleet": {...}}`;
    money as in the plan's JSON (`*_cents` whole cents, `*_exact` exact dollars)."""
    costs = {(c.tenant, r.address): r for c in report.costs for r in c.resources}
    return {
        "format_version": STATUS_FORMAT_VERSION,
        "price_table_version": report.price_table_version,
        "resources": [{"tenant": r.tenant, "tenant_status": r.tenant_status, "address": r.address, "name": r.name,
                       "id": r.id, "state": r.state, "suspended": r.suspended, "url": r.url,
                       "cost": resource_document(costs.get((r.tenant, r.address)))} for r in report.rows],
        "tenants": [{"tenant": c.tenant, "cost": estimate_document(c.total)} for c in report.costs],
        "fleet": estimate_document(report.fleet),
    }


def _print_costs(report: StatusReport) -> None:
    stdout.print()
    _print_table(("tenant", "monthly cost"), [(c.tenant, c.total.summary()) for c in report.costs])
    n = len(report.costs)
    stdout.print(f"\nMonthly cost of {n} tenant{'s' if n != 1 else ''}: {report.fleet.summary()}; Render list "
                 f"prices, table {report.price_table_version}", markup=False, highlight=False)
    sections: tuple[tuple[str, Callable[[Estimate], list[str]]], ...] = (
        ("Usage-priced, shown as rates (not in totals)", lambda e: e.rates),
        ("Price unknown (not in totals)", lambda e: e.unknown),
        ("Price may be out of date", lambda e: e.caveats))
    for title, pick in sections:
        lines = [f"{c.tenant}/{line}" for c in report.costs for line in pick(c.total)]
        if lines:
            stdout.print(f"{title}:", markup=False, highlight=False)
            stdout.print("".join(f"    - {line}\n" for line in lines), end="", markup=False, highlight=False)


@click.command()
@click.argument("slug", required=False)
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True, help="The lockfile.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@click.option("--sort", "sort", type=click.Choice(["tenant", "cost"]), default="tenant", show_default=True,
              help="Order tenants by slug, or by monthly cost (most expensive first).")
def status(slug: str | None, lockfile: Path, output_format: str, sort: str) -> int:
    """Show each resource's live state: latest deploy status, suspended, URL (one tenant with SLUG); then
    what each tenant costs per month now and the fleet total, at Render's list prices.

    Reads the lockfile and Render (RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID); changes nothing.
    """
    report = asyncio.run(status_operation(lockfile, slug))
    if sort == "cost":
        report = report.by_cost()
    if output_format == "json":
        click.echo(json.dumps(status_document(report), sort_keys=True, indent=2))
        return 0
    if not report.rows:
        stdout.print(f"No resources in {lockfile}.")
        return 0
    headers = ("tenant", "tenant status", "resource", "name", "id", "live state", "suspended", "url")
    _print_table(headers, [(row.tenant, row.tenant_status, row.address, row.name, row.id, row.state, row.suspended,
                            row.url) for row in report.rows])
    _print_costs(report)
    return 0
