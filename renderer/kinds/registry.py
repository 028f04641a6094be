"""The kind registry: every `Kind` -> the operations of its module. Adding a kind is a module in
`renderer.kinds` and a line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from renderer.kind import Kind
from renderer.kinds import custom_domain, disk, env_group, environment, key_value, postgres, project, service
from renderer.kinds.base import KindOps
from renderer.pricing.model import ResourceCost, Usage
from renderer.pricing.table import PriceTable
from renderer.resources import DesiredResource

# In the order refresh sends their list requests.
MODULES: tuple[KindOps, ...] = (
    service.OPS, postgres.OPS, key_value.OPS, env_group.OPS, disk.OPS, custom_domain.OPS, project.OPS,
    environment.OPS,
)
REGISTRY: dict[Kind, KindOps] = {kind: ops for ops in MODULES for kind in ops.kinds}
# Create order (issue 5): projects, then their environments (issue 14), env groups, then Postgres and
# Key Value, then the services that read them (private services first), then disks and custom domains.
# Deletes run in reverse: an environment after everything in it, its project last.
CREATE_ORDER: dict[Kind, int] = {kind: ops.rank(kind) for kind, ops in REGISTRY.items()}


def ops_for(kind: Kind | str) -> KindOps:
    """The operations of `kind`. Raises `KeyError` for a kind no module handles (a test asserts none)."""
    return REGISTRY[Kind(kind)]


def desired_fields(resource: DesiredResource) -> dict[str, Any]:
    """A desired resource's compared fields, normalised by its kind (`KindOps.desired_fields`)."""
    return ops_for(resource.kind).desired_fields(resource)


def live_value(kind: Kind, live_fields: dict[str, Any], key: str) -> Any:
    """The comparable live value of one field of a resource of `kind` (`KindOps.live_value`)."""
    return ops_for(kind).live_value(kind, live_fields, key)


def monthly_cost(kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, address: str, name: str,
                 usage: Usage | None = None) -> ResourceCost | None:
    """What one resource costs per month, from its fields (desired or live), priced by its kind's
    `KindOps.monthly_cost`; None for a kind that is not priced (env groups). `address` is
    `<kind>.<blueprint name>`."""
    lines = ops_for(kind).monthly_cost(kind, fields, table, blueprint_name=address.split(".", 1)[1], usage=usage)
    if lines is None:
        return None
    return ResourceCost(address=address, kind=Kind(kind).value, name=name, lines=lines)


def requested_forms(kind: Kind, key: str, live: Any) -> list[Any]:
    """The values a requested field of a resource of `kind` may have had for Render to answer `live`
    (`KindOps.requested_forms`)."""
    return ops_for(kind).requested_forms(key, live)
