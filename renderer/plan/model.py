"""The plan model. Every change carries an action (whose value is its symbol) and a reason.

A plan never holds a secret value: a sensitive field change records only that it is sensitive, and
apply resolves secret values itself from desired state, live connection info and the environment.
The renderers (`render_text`, `render_markdown`, `render_json`) only read this model.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from renderer.errors import ExitCode
from renderer.kind import Kind
from renderer.pricing.model import PlanCost
from renderer.resources import DesiredResource

# The mass-delete breaker: a run may tear down at most max(1, MASS_DESTROY_SHARE x tenants in the
# lockfile) tenants, and delete or replace datastores (Postgres, Key Value, disks) of at most
# max(MASS_DATA_LOSS_MIN, MASS_DESTROY_SHARE x tenants in the lockfile) tenants, unless
# `--allow-mass-destroy` is given. A blueprint edit that drops `databases:` loses every tenant's data at once.
MASS_DESTROY_SHARE = 0.10
MASS_DATA_LOSS_MIN = 2


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

    @property
    def destructive(self) -> bool:
        return self in (Action.DELETE, Action.REPLACE)


class Reason(StrEnum):
    """Why a change is in the plan. The value is the text printed; `Change.detail` may add to it
    (`cannot update in place: region`, see `Change.why`)."""

    TENANT_ADDED = "tenant added"
    ADDED_TO_BLUEPRINT = "added to blueprint"
    FIELD_CHANGED = "field changed"
    CANNOT_UPDATE = "cannot update in place"
    REMOVED_FROM_BLUEPRINT = "removed from blueprint"
    TENANT_REMOVED = "tenant removed"
    DRIFT = "drift: changed outside renderer"
    MISSING_LIVE = "missing live: deleted outside renderer"
    DEPLOY_NOT_LIVE = "deploy not live"
    MOVED = "moved to"
    UNCHANGED = "unchanged"

    @property
    def separator(self) -> str:
        """What joins the reason and a `Change.detail` in text."""
        if self in (Reason.CANNOT_UPDATE, Reason.DEPLOY_NOT_LIVE):
            return ": "
        if self in (Reason.REMOVED_FROM_BLUEPRINT, Reason.TENANT_REMOVED):
            return "; "
        return " "


# The pseudo-field of a service whose last deploy renderer started did not go live (`LockedResource.deploy`):
# `before` is that deploy's status and version, `after` the version apply deploys again.
DEPLOY_FIELD = "deploy"


class FieldChange(BaseModel):
    """One field of one resource (`plan`, `envVars.TENANT_NAME`).

    `before`/`after` are None when absent (`*_set` False), and always None when `sensitive`;
    `after_known` is False when the value exists only at apply time (a new database's connection
    string, a tenant secret not in the environment at plan time). `drift` is True when the live value
    differs from what renderer last applied while the desired value did not change: someone changed
    Render, and apply restores it.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    before: Any = None
    after: Any = None
    before_set: bool = True
    after_set: bool = True
    sensitive: bool = False
    after_known: bool = True
    forces_replace: bool = False
    drift: bool = False


class Change(BaseModel):
    """One resource's planned action. `id` is the Render ID of the existing resource (None for creates).

    `protected`: the tenant has `deletion_protection` and this change deletes or replaces; apply refuses
    it. `data_loss`: deleting or replacing a datastore (Postgres, Key Value, disk) loses its data (apply needs
    `--allow-data-loss`).
    `previous_address`: for a replace that changes the address (a service whose `type` changed), the
    lockfile address of the resource being replaced. `live_name`: the name Render has for `id` (None when
    there is no live resource). `identity`: why the live resource at `id` is not the one the lockfile
    entry and the blueprint describe (another name or kind: a hand-edited or copied lockfile), or None;
    apply refuses any plan with one (`renderer.plan.checks.check_identity`).
    `detail`: free text that completes `reason` for a
    reader (the fields that cannot change in place, the ID Render answers 404 for); no code reads it.
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    address: str
    kind: Kind
    name: str
    action: Action
    reason: Reason
    detail: str | None = None
    id: str | None = None
    fields: list[FieldChange] = Field(default_factory=list)
    desired: DesiredResource | None = None
    protected: bool = False
    data_loss: bool = False
    previous_address: str | None = None
    live_name: str | None = None
    identity: str | None = None

    @property
    def why(self) -> str:
        """The reason as printed: `cannot update in place: region`, `added to blueprint`."""
        return self.reason.value if not self.detail else f"{self.reason.value}{self.reason.separator}{self.detail}"

    @property
    def deletes_database(self) -> bool:
        """Whether applying this change deletes a Postgres database (apply exports it first unless
        `--skip-backup`: `renderer.backup`)."""
        return self.action.destructive and (
            self.kind is Kind.POSTGRES or (self.previous_address or "").startswith(f"{Kind.POSTGRES.value}."))


class ManualAction(BaseModel):
    """Something only a person can do, listed in plan and apply output: a `sync: false` env var that is
    missing on Render and that no tenant secret fills."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    address: str
    name: str
    key: str
    message: str


NoticeKind = Literal["possible_rename", "secret_unavailable", "deletion_protection", "mass_destroy", "identity",
                     "interrupted_apply", "rate_budget", "deploy_in_progress", "unpinned"]


class Notice(BaseModel):
    """A warning printed with the plan. `tenant` is "" for fleet-wide notices."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    kind: NoticeKind
    message: str


class TenantSource(BaseModel):
    """Where a tenant's desired state came from; copied into the lockfile by apply."""

    model_config = ConfigDict(frozen=True)

    blueprint: str
    blueprint_digest: str
    tenant_file: str
    deletion_protection: bool = False


class VersionChange(BaseModel):
    """A service whose application version changes (the fleet release, docs/releases.md): an update of
    the service that apply carries out as a deploy at `after`, in wave `wave` (ring `ring`). `before`
    is the version of its live deploy (None: unknown, e.g. not created yet). Versions are full SHAs or
    `sha256:` digests."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    address: str
    name: str
    id: str | None = None
    before: str | None = None
    after: str
    ring: str
    wave: int


class RolloutWave(BaseModel):
    """One wave of the release's rollout: its ring, tenants, how many at once and the bake in seconds."""

    model_config = ConfigDict(frozen=True)

    ring: str
    tenants: list[str]
    max_parallel: int
    bake: int


class RolloutPlan(BaseModel):
    """The fleet release as planned: the `release` digest, the waves in order, today's version skew
    (version -> tenants running it on at least one service), `failed` (why the release is not deployed
    again: it failed before, and releases.yaml has not changed since) and `unpinned` (tenant/address of
    Git-backed cron jobs, which no deploy pins to a commit)."""

    model_config = ConfigDict(frozen=True)

    release: str
    waves: list[RolloutWave] = Field(default_factory=list)
    skew: dict[str, list[str]] = Field(default_factory=dict)
    failed: str | None = None
    unpinned: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    """Every change for the tenants in scope, ordered by tenant then dependency order.

    `sources` holds the tenants that still have a tenant file; a tenant in `tenants` but not in
    `sources` is being torn down. `locked_tenants` and `tenant_files` count the whole fleet (for the
    mass-delete breaker), whatever the scope. `cost` is each tenant's monthly cost before and after
    (`renderer.plan.cost`), None when it was not computed.
    """

    model_config = ConfigDict(frozen=True)

    tenants: list[str]
    sources: dict[str, TenantSource]
    changes: list[Change]
    manual_actions: list[ManualAction] = Field(default_factory=list)
    notices: list[Notice] = Field(default_factory=list)
    locked_tenants: int = 0
    tenant_files: int = 0
    cost: PlanCost | None = None
    # The fleet release (format and rules: docs/releases.md): the version changes and the rollout.
    versions: list[VersionChange] = Field(default_factory=list)
    rollout: RolloutPlan | None = None

    def pending_versions(self) -> list[VersionChange]:
        """Version changes apply will deploy (none while the release is recorded as failed)."""
        return [] if self.rollout is not None and self.rollout.failed else list(self.versions)

    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action is not Action.NO_OP]

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable()) or bool(self.pending_versions())

    @property
    def is_destructive(self) -> bool:
        return any(c.action.destructive for c in self.changes)

    def teardown(self) -> list[str]:
        """Tenants this plan tears down (no tenant file any more, resources still recorded)."""
        return sorted({c.tenant for c in self.changes if c.action is Action.DELETE and c.tenant not in self.sources})

    def mass_destroy(self) -> str | None:
        """Why the mass-delete breaker trips, or None when it does not."""
        if self.tenant_files == 0 and self.locked_tenants > 0 and self.teardown():
            return (f"the tenants directory has no tenant files, so every one of the {self.locked_tenants} "
                    "tenants in the lockfile would be torn down")
        limit = max(1.0, MASS_DESTROY_SHARE * self.locked_tenants)
        torn = self.teardown()
        if len(torn) > limit:
            return (f"{len(torn)} tenants would be torn down ({', '.join(torn)}); more than "
                    f"max(1, 10% of {self.locked_tenants}) at once is refused")
        lost = [c for c in self.changes if c.data_loss and c.action.destructive]
        losing = sorted({c.tenant for c in lost})
        if len(losing) > max(float(MASS_DATA_LOSS_MIN), MASS_DESTROY_SHARE * self.locked_tenants):
            return (f"{len(lost)} datastores of {len(losing)} tenants would be deleted or replaced "
                    f"({', '.join(losing)}); more than max({MASS_DATA_LOSS_MIN}, 10% of {self.locked_tenants}) "
                    "tenants losing data at once is refused")
        return None

    def detailed_exit_code(self) -> ExitCode:
        """`plan --detailed-exitcode`: 0 no changes, 2 changes, 3 changes that delete or replace."""
        if not self.has_changes:
            return ExitCode.OK
        return ExitCode.DESTRUCTIVE if self.is_destructive else ExitCode.CHANGES
