"""The cost part of a plan, as lines (text plan, markdown plan, PR comment) and as JSON.

Only reads the plan's `cost` model. Amounts print rounded to the cent (`$31.50`); the JSON carries whole
cents (`*_cents`, rounded half-up) and the exact amount as a decimal string in dollars (`*_exact`), so
sub-cent amounts (per-minute cron rates) are never lost. A range (`$7.00-$21.00/mo`) is an autoscaling
service's cost at its minimum and maximum instance count; `+ unknown` marks a total that leaves out a
price the table does not know (listed by name).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from renderer.pricing.model import (
    Estimate,
    PlanCost,
    ResourceCost,
    ResourceDelta,
    TenantCost,
    cents,
    exact,
    money,
)


def delta_text(low: Decimal, high: Decimal) -> str:
    """`+$25.00/mo`, `-$7.00/mo`, `+$7.00..+$21.00/mo`."""
    if low == high:
        return f"{money(low, sign=True)}/mo"
    return f"{money(low, sign=True)}..{money(high, sign=True)}/mo"


def _side(cost: ResourceCost | Estimate | None) -> str:
    if cost is None:
        return "$0.00/mo"
    return cost.summary()


def tenant_line(tenant: TenantCost) -> str:
    """`monthly cost $20.00/mo -> $38.00/mo (+$18.00/mo)`."""
    return (f"monthly cost {_side(tenant.before)} -> {_side(tenant.after)} "
            f"({delta_text(tenant.delta, tenant.delta_max)})")


def resource_line(resource: ResourceDelta) -> str:
    """`web_service.backboneos-backend: $7.00/mo -> $25.00/mo (+$18.00/mo)`, `(new)` or `(destroyed)`."""
    if resource.before is None:
        what = "new"
    elif resource.after is None:
        what = "destroyed"
    else:
        what = delta_text(resource.delta, resource.delta_max)
    return f"{resource.address}: {_side(resource.before)} -> {_side(resource.after)} ({what})"


def tenant_lines(cost: PlanCost | None, slug: str) -> list[str]:
    """The tenant's cost line, then one line per resource whose cost changes."""
    tenant = cost.tenant(slug) if cost else None
    if tenant is None:
        return []
    return [tenant_line(tenant), *(f"  {resource_line(r)}" for r in tenant.changed)]


def fleet_line(cost: PlanCost) -> str:
    """`Monthly cost of 3 tenants: $90.00/mo -> $108.00/mo (+$18.00/mo); prices 2026-12-02.1`."""
    n = len(cost.tenants)
    return (f"Monthly cost of {n} tenant{'s' if n != 1 else ''}: {cost.before.summary()} -> {cost.after.summary()} "
            f"({delta_text(cost.delta, cost.delta_max)}); Render list prices, table {cost.version}")


def unknown_lines(cost: PlanCost) -> list[str]:
    """`acme-corp/web_service.x: instance foo: 'foo' is not a service instance type in the price table`."""
    return cost.unknown()


def rate_lines(cost: PlanCost) -> list[str]:
    """Usage-priced parts shown as rates (not in totals), once per tenant and item."""
    seen: dict[str, None] = {}
    for tenant in cost.tenants:
        for rate in tenant.after.rates:
            seen.setdefault(f"{tenant.tenant}/{rate}", None)
    return list(seen)


def caveat_lines(cost: PlanCost) -> list[str]:
    seen: dict[str, None] = {}
    for tenant in cost.tenants:
        for caveat in (*tenant.after.caveats, *tenant.before.caveats):
            seen.setdefault(f"{tenant.tenant}/{caveat}", None)
    return list(seen)


# JSON.

def _amount(prefix: str, value: Decimal) -> dict[str, Any]:
    return {f"{prefix}_cents": cents(value), f"{prefix}_exact": exact(value)}


def estimate_document(estimate: Estimate) -> dict[str, Any]:
    return {**_amount("monthly", estimate.monthly), **_amount("monthly_max", estimate.monthly_max),
            "unknown": list(estimate.unknown), "rates": list(estimate.rates), "caveats": list(estimate.caveats)}


def resource_document(cost: ResourceCost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    lines = [{"item": line.item,
              **({"monthly_cents": cents(line.monthly), "monthly_exact": exact(line.monthly)}
                 if line.monthly is not None else {"monthly_cents": None, "monthly_exact": None}),
              **({"monthly_max_cents": cents(line.monthly_max), "monthly_max_exact": exact(line.monthly_max)}
                 if line.monthly_max is not None else {}),
              "rate": line.rate, "unknown": line.unknown, "caveat": line.caveat} for line in cost.lines]
    return {**_amount("monthly", cost.monthly), **_amount("monthly_max", cost.monthly_max), "lines": lines}


def cost_document(cost: PlanCost | None) -> dict[str, Any] | None:
    """The plan JSON's `cost`: `{"price_table_version", "currency", "before", "after", "delta_cents",
    "delta_exact", "tenants": [{"tenant", "before", "after", "delta_*", "resources": [{"address", "kind",
    "name", "changed", "before", "after", "delta_*"}]}]}`; an estimate is `{"monthly_cents",
    "monthly_exact", "monthly_max_cents", "monthly_max_exact", "unknown", "rates", "caveats"}`."""
    if cost is None:
        return None
    return {
        "price_table_version": cost.version,
        "currency": cost.currency,
        "before": estimate_document(cost.before),
        "after": estimate_document(cost.after),
        **_amount("delta", cost.delta), **_amount("delta_max", cost.delta_max),
        "tenants": [
            {"tenant": t.tenant, "before": estimate_document(t.before), "after": estimate_document(t.after),
             **_amount("delta", t.delta), **_amount("delta_max", t.delta_max),
             "resources": [{"address": r.address, "kind": r.kind, "name": r.name, "changed": r.changed,
                            "before": resource_document(r.before), "after": resource_document(r.after),
                            **_amount("delta", r.delta)} for r in t.resources]}
            for t in cost.tenants
        ],
    }
