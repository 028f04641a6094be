"""The cost of a plan: each tenant's monthly cost before (live) and after (desired), per resource.

Before is what the live resources cost now (from their live fields: a plan or scale changed outside
renderer shows in it); after is what the desired resources will cost. A destroyed resource has no after, a
created one no before. A tenant's stated `expected_usage` prices its cron minutes, bandwidth and build
minutes; the same stated usage applies before and after to a tenant that exists on both sides.
"""

from __future__ import annotations

from collections.abc import Mapping

from renderer.kind import Kind
from renderer.kinds.registry import monthly_cost
from renderer.plan.model import Action, Change, Plan
from renderer.pricing.cost import usage_cost
from renderer.pricing.model import Estimate, PlanCost, ResourceCost, ResourceDelta, TenantCost, Usage
from renderer.pricing.table import PriceTable
from renderer.refresh import LiveState


def _before(change: Change, live: LiveState, table: PriceTable, usage: Usage | None) -> ResourceCost | None:
    if change.id is None or change.id not in live.resources:
        return None
    resource = live.resources[change.id]
    address = change.previous_address or change.address
    return monthly_cost(resource.kind, resource.fields, table, address=address, name=resource.name, usage=usage)


def _after(change: Change, table: PriceTable, usage: Usage | None) -> ResourceCost | None:
    if change.action is Action.DELETE or change.desired is None:
        return None
    desired = change.desired
    return monthly_cost(desired.kind, desired.fields, table, address=desired.address, name=desired.name,
                        usage=usage)


def plan_cost(plan: Plan, live: LiveState, table: PriceTable, usage: Mapping[str, Usage] | None = None) -> PlanCost:
    """The cost view of `plan` for every tenant in it. `usage` maps tenant slugs to their stated usage."""
    usage = usage or {}
    tenants: list[TenantCost] = []
    for slug in plan.tenants:
        stated = usage.get(slug)
        deltas: list[ResourceDelta] = []
        for change in (c for c in plan.changes if c.tenant == slug and c.kind is not Kind.ENV_GROUP):
            before = _before(change, live, table, stated)
            after = _after(change, table, stated)
            if before is None and after is None:
                continue
            deltas.append(ResourceDelta(address=change.address, kind=change.kind.value, name=change.name,
                                        before=before, after=after))
        extra = usage_cost(stated, table) if stated else None
        if extra is not None:
            existed = any(d.before is not None for d in deltas)
            deltas.append(ResourceDelta(address=extra.address, kind=extra.kind, name=extra.name,
                                        before=extra if existed else None,
                                        after=extra if slug in plan.sources else None))
        tenants.append(TenantCost(tenant=slug, before=Estimate.of(d.before for d in deltas),
                                  after=Estimate.of(d.after for d in deltas), resources=deltas))
    return PlanCost(version=table.version, currency=table.currency, tenants=tenants)
