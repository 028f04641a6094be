"""The per-kind interface and the public contexts handed to it.

A kind module subclasses `KindOps` once and owns, for its kinds:

- translation: how a Blueprint entry becomes `DesiredResource`s (`translate`, or `translate_child` for a
  resource declared inside a service entry), through a `TranslateContext` (the tenant-level wiring:
  names with the tenant suffix, env vars, positioned errors);
- refresh: how it is listed (`list_live`, or `list_under` a parent), listed by name (`list_named`, for a
  scoped refresh), found by ID and by name, and read into a `LiveResource` (`read`);
- comparison: how both sides are normalised (`normalise`, `desired_fields`), which fields cannot change
  in place (`immutable`, `forces_replace`), whether a replace loses data (`loses_data`), its create rank;
- apply: create, update and delete, through an `ApplyContext` (journalled writes, lockfile records and
  lookups, env values, `fromService` references), never the applier itself.

Later kinds' hooks (normalising Render's real answers, identity checks before a write by ID, a monthly
price) are added here as methods with a default, so a kind that has nothing to say inherits it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from renderer.errors import RendererError
from renderer.kind import Kind
from renderer.live import ConnectionInfo, LiveResource
from renderer.plan.model import Change
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.limits import Bucket
from renderer.resources import DesiredResource, EnvSource, EnvVar
from renderer.yamlio import PathPart

T = TypeVar("T")
DocPath = tuple[PathPart, ...]


def api_plan(plan: str) -> str:
    """Blueprint plan -> API plan: `pro plus` -> `pro_plus`, `basic-256mb` -> `basic_256mb`."""
    return plan.replace(" ", "_").replace("-", "_")


def ip_allow_list(entries: Any) -> list[dict[str, str]]:
    """An IP allow list in API form (`[{"cidrBlock", "description"}]`, openapi.json:
    cidrBlockAndDescription), sorted so order does not matter. Takes the Blueprint's `source` too."""
    result = []
    for entry in entries or []:
        if isinstance(entry, Mapping):
            block = entry.get("cidrBlock", entry.get("source"))
            result.append({"cidrBlock": str(block), "description": str(entry.get("description") or "")})
    return sorted(result, key=lambda e: (e["cidrBlock"], e["description"]))


@dataclass
class References:
    """What other resources read from one resource with `fromService`: its `property` values and its
    env vars (`envVarKey`). Secret values: they go only into request bodies."""

    properties: dict[str, str] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: LiveResource) -> References:
        return cls({k: v.get_secret_value() for k, v in resource.properties.items()}, dict(resource.env_vars or {}))


class TranslateContext(ABC):
    """What translation offers a kind for one tenant's blueprint (`renderer.translate`)."""

    slug: str

    @abstractmethod
    def resource(self, kind: Kind, name: str, fields: dict[str, Any], **extra: Any) -> DesiredResource:
        """A top-level desired resource named `name` in the blueprint (the Render name gets the suffix)."""

    @abstractmethod
    def env_vars(self, path: DocPath, items: Any, *, group: bool = False
                 ) -> tuple[tuple[EnvVar, ...], tuple[str, ...]]:
        """The env vars under `path` and the env groups they link (`fromGroup`, services only)."""

    @abstractmethod
    def unsupported(self, path: DocPath, what: str) -> RendererError:
        """The error for a Blueprint feature renderer does not manage, naming the file and line."""

    @abstractmethod
    def where(self, path: DocPath) -> str:
        """`file:line` of `path` in the blueprint."""


@dataclass
class Listing:
    """What the list endpoints answered in one refresh.

    - `objects`: every listed (or confirmed) resource, ID -> (kind, API object);
    - `managed`: the lockfile's IDs in scope -> kind;
    - `links`: service ID -> names of the managed env groups linked to it (from `serviceLinks`).
    """

    objects: dict[str, tuple[Kind, JSON]] = field(default_factory=dict)
    managed: Mapping[str, Kind] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)


class ApplyContext(ABC):
    """What a kind's create, update and delete may use of the apply in progress (`renderer.apply`).

    `references`: per (tenant, address), what `fromService` reads from that resource; `connections`: per
    (tenant, address), a Postgres database's connection info (what `fromDatabase` reads).
    """

    client: RenderClient
    references: dict[tuple[str, str], References]
    connections: dict[tuple[str, str], ConnectionInfo]

    @abstractmethod
    async def write(self, op: str, change: Change, call: Callable[[], Awaitable[T]],
                    result: Callable[[T], dict[str, Any]] | None = None, **extra: Any) -> T:
        """Send one write for `change`, announced in the journal before (op, the change and `extra`) and
        its `result` recorded after."""

    @abstractmethod
    def record(self, change: Change, rid: str) -> None:
        """Record a created resource's ID in the lockfile (written at once)."""

    async def create(self, change: Change, call: Callable[[], Awaitable[JSON]], **extra: Any) -> str:
        """Send the create `call` for `change` through `write` (journalled as `create` with `extra`, the new
        ID taken from the answer's `id`: POST /postgres, /key-value, /env-groups, /disks, /projects and
        /environments answer the object itself; POST /services nests it and records its own), record that
        ID in the lockfile and return it. Raises what `call` raises (`RenderAPIError`), recording nothing."""
        created = await self.write("create", change, call, lambda r: {"id": r["id"]}, **extra)
        rid = str(created["id"])
        self.record(change, rid)
        return rid

    @abstractmethod
    def env_value(self, slug: str, env: EnvVar) -> str:
        """The value to send for a managed, non-generated env var. Raises `RendererError`."""

    @abstractmethod
    def locked_id(self, slug: str, address: str) -> str | None:
        """The Render ID the lockfile records for tenant `slug`'s `address`, or None."""

    @abstractmethod
    def locked_addresses(self, slug: str, kind: Kind) -> dict[str, str]:
        """Render name -> address of tenant `slug`'s resources of `kind` in the lockfile."""

    @abstractmethod
    def deploy_started(self, change: Change, service_id: str, deploy_id: str, version: str | None = None,
                       status: str = "created") -> None:
        """Note a deploy the write started (with the version it deploys, when Render said), for the report,
        the wait and the lockfile (the service's last deploy)."""

    @abstractmethod
    def deploy_target(self, slug: str, address: str) -> str | None:
        """The version the lockfile records for tenant `slug`'s service `address` (its last deploy's), or
        None."""

    @abstractmethod
    def release_version(self, slug: str, address: str) -> str | None:
        """The version the fleet release (releases.yaml) brought tenant `slug`'s service `address` to (the
        lockfile's `release.achieved`), or None when no release manages it."""

    @abstractmethod
    def planned(self, slug: str) -> Iterable[DesiredResource]:
        """The desired resources of tenant `slug`'s changes in the plan being applied."""

    def env_body(self, slug: str, desired: DesiredResource) -> list[JSON]:
        """Every managed env var of `desired` as create bodies carry them (openapi.json: envVarInput)."""
        body: list[JSON] = []
        for var in desired.env_vars:
            if var.source is EnvSource.GENERATE_VALUE:
                body.append({"key": var.key, "generateValue": True})
            elif var.managed:
                body.append({"key": var.key, "value": self.env_value(slug, var)})
        return body

    def environment_id(self, change: Change) -> str | None:
        """The Render ID of the environment `change.desired` is created in (`environmentId` of its create
        body), or None for the workspace root. Raises `RendererError` when the lockfile does not record
        that environment (it is created first: `depends_on`)."""
        desired = change.desired
        if desired is None or desired.environment is None:
            return None
        rid = self.locked_id(change.tenant, desired.environment)
        if rid is None:
            raise RendererError(
                f"{change.tenant}/{change.address}: its environment {desired.environment} is not in the lockfile")
        return rid

    def parent_id(self, change: Change) -> str:
        """The Render ID of a disk's or custom domain's service. Raises `RendererError` when the lockfile
        does not record it."""
        desired = change.desired
        assert desired is not None and desired.parent is not None
        rid = self.locked_id(change.tenant, desired.parent)
        if rid is None:
            raise RendererError(
                f"{change.tenant}/{change.address}: its service {desired.parent} is not in the lockfile")
        return rid


class KindOps(ABC):
    """Everything renderer knows about one kind (or, for services, the five service types).

    Class data: `kinds` it handles; `create_rank` (creates run by rank, deletes in reverse, issue 5);
    `immutable` fields (a change is a replace); `loses_data` (a replace destroys data: `apply` needs
    `--allow-data-loss`); `env_vars` (env vars are compared); `references` (other resources read it with
    `fromService`); `backup_before_delete` (exported before it is deleted, `renderer.backup`);
    `blueprint_lists` (the Blueprint lists its entries sit in, empty for a child of a service);
    `create_bucket` (the hourly create budget a create spends a unit of, `renderer.budget`; None: none);
    `in_environment` (its resources live in a Render environment, created there with `environmentId` and
    moved with POST /environments/{id}/resources); `renamed_in_place` (its Render name is a compared
    field: a name changed by hand is drift that apply restores, not another resource);
    `workspace_names` (named uniquely in the workspace and listed there: what refresh reads of it tells
    which names are taken, and a desired name taken by a resource the lockfile does not record is a
    conflict).
    """

    kinds: ClassVar[tuple[Kind, ...]]
    create_rank: ClassVar[int]
    immutable: ClassVar[frozenset[str]] = frozenset()
    loses_data: ClassVar[bool] = False
    env_vars: ClassVar[bool] = False
    references: ClassVar[bool] = False
    backup_before_delete: ClassVar[bool] = False
    create_bucket: ClassVar[Bucket | None] = None
    in_environment: ClassVar[bool] = False
    renamed_in_place: ClassVar[bool] = False

    def rank(self, kind: Kind) -> int:
        """The create rank of `kind` (lower first)."""
        return self.create_rank

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        """What a resource of `kind` costs per month, from its fields (desired or live: the same vocabulary),
        as cost lines (`renderer.pricing.cost`); None when the kind is not priced. `usage` is the tenant's
        stated usage (cron minutes by `blueprint_name`)."""
        return None

    # -- translation -------------------------------------------------------------------------------
    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        """The desired resources of one Blueprint entry of this kind."""
        raise tr.unsupported(path, f"a {kind.label} entry")

    def translate_child(self, tr: TranslateContext, path: DocPath, item: Any,
                        service: DesiredResource) -> list[DesiredResource]:
        """The resources of this kind a service entry declares (its disk, its custom domains)."""
        return []

    # -- refresh -----------------------------------------------------------------------------------
    async def list_live(self, client: RenderClient) -> list[JSON]:
        """Every resource of this kind in the workspace (list endpoints); [] for a kind listed per parent."""
        return []

    # A kind listed within another kind's objects (environments: GET /environments needs `projectId`): a
    # full refresh lists that kind once and passes its objects to `list_live_within`, not `list_live`.
    listed_within: ClassVar[Kind | None] = None

    async def list_live_within(self, client: RenderClient, parents: list[JSON]) -> list[JSON]:
        """Every resource of this kind in `parents` (the listed objects of kind `listed_within`)."""
        return []

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        """The resources of this kind in the workspace named one of `names` (the list endpoint's `name`
        filter, one request for all of them, paged); [] for a kind listed per parent or not listed. Used
        by a scoped refresh instead of `list_live`."""
        return []

    def kind_of(self, obj: JSON) -> Kind:
        """The kind of one listed API object."""
        return self.kinds[0]

    # Whether its names are unique in the workspace (`Kind.namespace`) and it is listed there (`list_live`,
    # `list_named`): what a refresh reads of it, listed or by ID, tells which names are taken.
    workspace_names: ClassVar[bool] = False

    # Whether `listed` notes something about other kinds: such kinds' lists are looked at first.
    informs_others: ClassVar[bool] = False

    def listed(self, obj: JSON, listing: Listing) -> None:
        """Note what one listed object tells about others (an env group's linked services)."""
        return None

    listed_under_parent: ClassVar[bool] = False

    async def list_under(self, client: RenderClient, parent_id: str) -> list[JSON]:
        """This kind's resources under one service (for kinds `listed_under_parent`)."""
        return []

    @abstractmethod
    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        """The API object with ID `rid` (one GET), or None when Render answers 404."""

    @abstractmethod
    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        """The ID of the resource of `kind` named `name` in the workspace (under `parent_id` for a child),
        or None."""

    @abstractmethod
    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        """One managed resource as a `LiveResource` (with the extra reads it needs)."""

    # -- comparison --------------------------------------------------------------------------------
    def normalise(self, kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
        """One side's fields in comparable form (lists sorted, empty forms made one)."""
        out = dict(fields)
        if "ipAllowList" in out:
            out["ipAllowList"] = ip_allow_list(out["ipAllowList"])
        return out

    def desired_fields(self, resource: DesiredResource) -> dict[str, Any]:
        """A desired resource's compared fields, normalised."""
        return self.normalise(resource.kind, dict(resource.fields))

    def live_value(self, kind: Kind, live_fields: dict[str, Any], key: str) -> Any:
        """The comparable live value of one field."""
        return self.normalise(kind, {key: live_fields.get(key)})[key]

    def same_value(self, key: str, desired: Any, live: Any) -> bool:
        """Whether a normalised desired value equals the live one."""
        return bool(desired == live)

    def forces_replace(self, kind: Kind, key: str, before: Any, after: Any) -> bool:
        """Whether changing `key` from `before` to `after` needs a replace."""
        return key in self.immutable

    def requested_forms(self, key: str, live: Any) -> list[Any]:
        """The values a requested field may have had for Render to answer `live` (drift compares these
        with what was applied): the value itself unless Render rewrites what it is sent."""
        return [live]

    # -- apply -------------------------------------------------------------------------------------
    @abstractmethod
    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """Create `change.desired` and record its ID (`ctx.record`). Returns the ID."""

    @abstractmethod
    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """Carry out `change.fields` on the existing resource `change.id`."""

    @abstractmethod
    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        """DELETE one resource by ID (a child through its service's ID). Raises `NotFound` when gone."""
