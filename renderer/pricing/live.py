"""What each tenant's live resources cost now (`renderer status`): the lockfile's resources that Render still
has, priced from their live fields. A resource Render no longer has (404) costs nothing; env groups are not
priced. Usage-priced parts are rates here: status does not read tenant files, so no stated usage applies.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from renderer.kinds.registry import monthly_cost
from renderer.lockfile import Lockfile
from renderer.pricing.model import Estimate, ResourceCost
from renderer.pricing.table import PriceTable
from renderer.refresh import LiveState


class LiveTenantCost(BaseModel):
    """One tenant's monthly cost now: the total and each priced resource (by lockfile address)."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    total: Estimate
    resources: list[ResourceCost] = Field(default_factory=list)

    def resource(self, address: str) -> ResourceCost | None:
        return next((r for r in self.resources if r.address == address), None)


def live_costs(lockfile: Lockfile, live: LiveState, scope: Iterable[str], table: PriceTable) -> list[LiveTenantCost]:
    """The monthly cost of the tenants in `scope` that the lockfile records, in slug order."""
    result: list[LiveTenantCost] = []
    for slug in sorted(set(scope)):
        tenant = lockfile.tenants.get(slug)
        if tenant is None:
            continue
        costs: list[ResourceCost] = []
        for address, entry in sorted(tenant.resources.items()):
            resource = live.resources.get(entry.id)
            if resource is None:
                continue
            cost = monthly_cost(resource.kind, resource.fields, table, address=address, name=resource.name)
            if cost is not None:
                costs.append(cost)
        result.append(LiveTenantCost(tenant=slug, total=Estimate.of(costs), resources=costs))
    return result
