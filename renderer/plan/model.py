"""The plan model. Every change carries an action (whose value is its symbol) and a reason.

A plan never holds a secret value: a sensitive field change records only that it is sensitive, and
apply resolves secret values itself from desired state and live connection info.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from renderer.resources import DesiredResource, Kind


class Action(StrEnum):
    """What apply does to one resource. The value is the symbol printed in plans (Terraform's)."""

    NO_OP = "="
    CREATE = "+"
    UPDATE = "~"
    REPLACE = "-/+"
    DELETE = "-"

    @property
    def verb(self) -> str:
        return {
            Action.NO_OP: "unchanged", Action.CREATE: "created", Action.UPDATE: "updated in place",
            Action.REPLACE: "replaced", Action.DELETE: "destroyed",
        }[self]


class Reason(StrEnum):
    """Why a change is in the plan. `CANNOT_UPDATE` is followed by the field name in `Change.reason`."""

    TENANT_ADDED = "tenant added"
    ADDED_TO_BLUEPRINT = "added to blueprint"
    FIELD_CHANGED = "field changed"
    CANNOT_UPDATE = "cannot update in place"
    REMOVED_FROM_BLUEPRINT = "removed from blueprint"
    TENANT_REMOVED = "tenant removed"
    MISSING_LIVE = "missing live: deleted outside renderer"
    UNCHANGED = "unchanged"


class FieldChange(BaseModel):
    """One field of one resource. `before`/`after` are None when absent (`*_set` False), and always None
    when `sensitive`; `after_known` is False when the value exists only after apply (a new database's
    connection string)."""

    model_config = ConfigDict(frozen=True)

    path: str
    before: Any = None
    after: Any = None
    before_set: bool = True
    after_set: bool = True
    sensitive: bool = False
    after_known: bool = True
    forces_replace: bool = False


class Change(BaseModel):
    """One resource's planned action. `id` is the Render ID of the existing resource (None for creates)."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    address: str
    kind: Kind
    name: str
    action: Action
    reason: str
    id: str | None = None
    fields: list[FieldChange] = Field(default_factory=list)
    desired: DesiredResource | None = None


class TenantSource(BaseModel):
    """Where a tenant's desired state came from; copied into the lockfile by apply."""

    model_config = ConfigDict(frozen=True)

    blueprint: str
    blueprint_digest: str
    tenant_file: str


class Plan(BaseModel):
    """Every change for the tenants in scope, ordered by tenant then dependency order.

    `sources` holds the tenants that still have a tenant file; a tenant in `tenants` but not in
    `sources` is being torn down.
    """

    model_config = ConfigDict(frozen=True)

    tenants: list[str]
    sources: dict[str, TenantSource]
    changes: list[Change]

    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action is not Action.NO_OP]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable())

    @property
    def is_destructive(self) -> bool:
        return any(c.action in (Action.DELETE, Action.REPLACE) for c in self.changes)

    def detailed_exit_code(self) -> int:
        """`plan --detailed-exitcode`: 0 no changes, 2 changes, 3 changes that delete or replace."""
        if not self.has_changes:
            return 0
        return 3 if self.is_destructive else 2
