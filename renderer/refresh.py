"""Refresh: read the live state of the Render resources renderer manages.

Loops over the kind registry (`renderer.kinds.registry`). A full refresh lists each kind with its list
endpoint (`KindOps.list_live`: `limit=100`, following `cursor`) rather than one GET per resource: the
cheapest way to read a whole fleet, and the whole workspace inventory (which names are taken, which
resources carry a tenant's suffix without being managed). A scoped refresh (a plan of a few tenants) reads
only what they need: each managed resource by ID (`KindOps.find_by_id`) and the names the plan may create
through the list endpoints' `name` filter (`KindOps.list_named`), so its cost does not grow with the
workspace. Either way each managed resource is then read with the extra reads it needs (`KindOps.read`: a
service's env vars, a datastore's connection info, an env group's env vars, a static site's headers and
routes) and the Render environment it is in (`environmentId`). What one object
tells about another kind is noted as it is seen (`KindOps.listed`: an env group's `serviceLinks` are its
services' `envGroups`). A kind reached through its service (custom domains) is listed once per service
that has managed ones (`KindOps.list_under`). A lockfile ID that was not listed is read with one GET:
Render answering 404 means it was deleted outside renderer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Collection, Iterable, Mapping
from typing import TypeVar

from renderer.kind import Kind
from renderer.kinds.base import KindOps, Listing
from renderer.kinds.registry import MODULES, ops_for
from renderer.live import DEPLOY_FAILED, DEPLOY_LIVE, ConnectionInfo, LiveResource, LiveState
from renderer.lockfile import Lockfile
from renderer.render_api.client import JSON, PAGE_LIMIT, RenderClient
from renderer.render_api.errors import NotFound

T = TypeVar("T")
DEFAULT_CONCURRENCY = 8
# Names per `name=a,b,...` request of a scoped refresh: keeps each URL short (Render names are at most a
# few dozen characters).
NAMES_PER_REQUEST = 20
__all__ = ["DEFAULT_CONCURRENCY", "ConnectionInfo", "LiveResource", "LiveState", "find_by_id", "find_by_name",
           "full_refresh_requests", "name_key", "refresh", "refresh_deploys", "scoped_refresh_requests"]


def name_key(kind: Kind, name: str) -> tuple[str, str]:
    """Service names are unique across service types in a workspace; Postgres, Key Value and env group
    names are each a separate namespace (`Kind.namespace`)."""
    return (kind.namespace, name)


async def _bounded(tasks: Iterable[Awaitable[T]], limit: int) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def run(task: Awaitable[T]) -> T:
        async with semaphore:
            return await task

    return list(await asyncio.gather(*(run(t) for t in tasks)))


def _names_of(ops: KindOps, names: Collection[tuple[Kind, str]]) -> list[str]:
    return sorted({name for kind, name in names if kind in ops.kinds})


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i:i + NAMES_PER_REQUEST] for i in range(0, len(items), NAMES_PER_REQUEST)]


def full_refresh_requests(recorded: Iterable[Kind]) -> int:
    """The fewest list requests a full refresh makes in a workspace holding at least the resources of
    the kinds `recorded` (one entry per resource; the workspace may hold more): per list endpoint,
    floor(n / 100) + 1 pages (a page shorter than the limit ends a list)."""
    counts: Counter[KindOps] = Counter()
    for kind, n in Counter(recorded).items():
        counts[ops_for(kind)] += n
    return sum(counts[ops] // PAGE_LIMIT + 1 for ops in MODULES if ops.workspace_names)


def scoped_refresh_requests(managed: Mapping[str, Kind], names: Collection[tuple[Kind, str]]) -> int:
    """The requests a scoped refresh makes where a full refresh would list instead: one GET per managed
    resource of a listed kind, and the `name`-filtered list requests for `names` (first pages)."""
    by_id = sum(1 for kind in managed.values() if ops_for(kind).workspace_names)
    return by_id + sum(len(_chunks(_names_of(ops, names))) for ops in MODULES if ops.workspace_names)


async def refresh(
    client: RenderClient, managed: dict[str, Kind], *, concurrency: int = DEFAULT_CONCURRENCY,
    parents: Mapping[str, str] | None = None, names: Collection[tuple[Kind, str]] | None = None,
) -> LiveState:
    """Read live state. `managed` maps the lockfile's Render IDs (of the tenants in scope) to their kind;
    `parents` maps the ID of each managed disk and custom domain to its service's ID (a custom domain
    is read through its service; one without a known service counts as missing).

    `names` None: a full refresh (every page of every list endpoint; `LiveState.names` and `inventory`
    cover the whole workspace). Otherwise a scoped refresh: `names` are the (kind, Render name) pairs the
    caller may create, looked up with the list endpoints' `name` filter (openapi.json: GET /services,
    /postgres, /key-value and /env-groups take `name`), and each managed resource is read by ID; `names`
    and `inventory` then hold what was read, and `LiveState.whole_workspace` is False. Raises
    `RenderAPIError` when Render cannot be read."""
    parents = parents or {}
    state = LiveState(whole_workspace=names is None)
    listing = Listing(managed=managed)

    def seen(ops: KindOps, kind: Kind, obj: JSON) -> None:
        if ops.workspace_names:
            state.names[name_key(kind, obj["name"])] = obj["id"]
            state.inventory[obj["id"]] = (kind, obj["name"])
        listing.objects[obj["id"]] = (kind, obj)
        ops.listed(obj, listing)

    async def list_named(ops: KindOps, wanted: Collection[tuple[Kind, str]]) -> list[JSON]:
        pages = await asyncio.gather(*(ops.list_named(client, chunk) for chunk in _chunks(_names_of(ops, wanted))))
        return [obj for page in pages for obj in page]

    if names is None:
        lists = {ops: asyncio.ensure_future(ops.list_live(client)) for ops in MODULES if ops.listed_within is None}

        async def within(ops: KindOps, parent: Kind) -> list[JSON]:  # the parents' kind is listed once
            return await ops.list_live_within(client, await lists[ops_for(parent)])

        lists |= {ops: asyncio.ensure_future(within(ops, ops.listed_within))
                  for ops in MODULES if ops.listed_within is not None}
        answers = await asyncio.gather(*(lists[ops] for ops in MODULES))
    else:
        answers = await asyncio.gather(*(list_named(ops, names) for ops in MODULES))
    listed = sorted(zip(MODULES, answers, strict=True), key=lambda pair: not pair[0].informs_others)
    for ops, objects in listed:
        for obj in objects:
            seen(ops, ops.kind_of(obj), obj)

    # Kinds listed per service (custom domains): one list per service that has managed ones.
    under_parent = {kind for kind, ops in ((k, ops_for(k)) for k in set(managed.values())) if ops.listed_under_parent}
    for kind in sorted(under_parent):
        ops = ops_for(kind)
        services = sorted({parents[rid] for rid, k in managed.items() if k is kind and rid in parents})
        for objects in await _bounded((ops.list_under(client, sid) for sid in services), concurrency):
            for obj in objects:
                listing.objects[obj["id"]] = (kind, obj)

    # Not listed: every managed resource in a scoped refresh; in a full one, disks (no workspace list)
    # and anything created or deleted while the lists were paged.
    unseen = [rid for rid in managed if rid not in listing.objects and managed[rid] not in under_parent]

    async def confirm(rid: str) -> tuple[str, JSON | None]:
        return rid, await find_by_id(client, managed[rid], rid, parents.get(rid))

    for rid, found in await _bounded((confirm(rid) for rid in unseen), concurrency):
        if found is not None:
            seen(ops_for(managed[rid]), managed[rid], found)
    state.missing |= {rid for rid in managed if rid not in listing.objects}

    async def read(rid: str) -> LiveResource:
        kind, obj = listing.objects[rid]
        ops = ops_for(kind)
        resource = await ops.read(client, kind, rid, obj, listing)
        if ops.in_environment:  # every such answer carries `environmentId` when it is in one
            resource = resource.model_copy(update={"environment_id": obj.get("environmentId")})
        return resource

    present = [rid for rid in managed if rid in listing.objects]
    for resource in await _bounded((read(rid) for rid in present), concurrency):
        state.resources[resource.id] = resource
    return state


async def find_by_id(client: RenderClient, kind: Kind, rid: str, parent_id: str | None = None) -> JSON | None:
    """The resource of `kind` with ID `rid` (one GET), or None when Render answers 404. A custom domain
    needs its service's ID (`parent_id`); without one it counts as gone."""
    return await ops_for(kind).find_by_id(client, kind, rid, parent_id)


async def find_by_name(client: RenderClient, kind: Kind, name: str, parent_id: str | None = None) -> str | None:
    """The ID of the resource of `kind` named `name` in the configured workspace, or None.

    Used to resolve a create whose result is unknown (crash, lost response) and by `renderer import`:
    looks up by owner, type and name with the kind's list endpoint (`KindOps.find_by_name`), never by ID.
    A disk or custom domain is looked up among its service's (`parent_id`; None finds nothing).
    """
    return await ops_for(kind).find_by_name(client, kind, name, parent_id)


async def refresh_deploys(client: RenderClient, lockfile: Lockfile, slugs: Iterable[str], live: LiveState, *,
                          concurrency: int = DEFAULT_CONCURRENCY) -> None:
    """Read (GET /services/{id}/deploys/{deployId}) the last deploy the lockfile records for each service
    of the tenants `slugs` whose end it does not record (an apply that did not wait for it) into
    `live.deploys`. A deploy recorded as ended costs no call; one Render no longer has is left out."""
    unsettled = [(entry.id, entry.deploy.id) for slug in slugs if (tenant := lockfile.tenants.get(slug))
                 for entry in tenant.resources.values()
                 if entry.kind.is_service and entry.deploy is not None and entry.id in live.resources
                 and entry.deploy.status != DEPLOY_LIVE and entry.deploy.status not in DEPLOY_FAILED]

    async def read(sid: str, deploy_id: str) -> tuple[str, JSON | None]:
        try:
            return sid, await client.get_deploy(sid, deploy_id)
        except NotFound:
            return sid, None

    for sid, deploy in await _bounded((read(sid, did) for sid, did in unsettled), concurrency):
        if deploy is not None:
            live.deploys[sid] = deploy
