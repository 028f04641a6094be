"""Refresh: read the live state of the Render resources renderer manages.

Loops over the kind registry (`renderer.kinds.registry`): each kind lists its resources with its list
endpoint (`KindOps.list_live`: `limit=100`, following `cursor`) rather than one GET per resource, and
reads each managed one with the extra reads it needs (`KindOps.read`: a service's env vars, a datastore's
connection info, an env group's env vars, a static site's headers and routes). What one listing tells
about another kind is noted while listing (`KindOps.listed`: an env group's `serviceLinks` are its
services' `envGroups`). A kind reached through its service (custom domains) is listed once per service
that has managed ones (`KindOps.list_under`). A lockfile ID missing from the lists is confirmed with one
GET (`KindOps.find_by_id`): Render answering 404 means it was deleted outside renderer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import TypeVar

from renderer.kind import Kind
from renderer.kinds.base import Listing
from renderer.kinds.registry import MODULES, ops_for
from renderer.live import DEPLOY_FAILED, DEPLOY_LIVE, ConnectionInfo, LiveResource, LiveState
from renderer.lockfile import Lockfile
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import NotFound

T = TypeVar("T")
DEFAULT_CONCURRENCY = 8
__all__ = ["DEFAULT_CONCURRENCY", "ConnectionInfo", "LiveResource", "LiveState", "find_by_id", "find_by_name",
           "name_key", "refresh", "refresh_deploys"]


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


async def refresh(
    client: RenderClient, managed: dict[str, Kind], *, concurrency: int = DEFAULT_CONCURRENCY,
    parents: Mapping[str, str] | None = None,
) -> LiveState:
    """Read live state. `managed` maps the lockfile's Render IDs (of the tenants in scope) to their kind;
    `parents` maps the ID of each managed disk and custom domain to its service's ID (a custom domain
    is read through its service; one without a known service counts as missing)."""
    parents = parents or {}
    answers = await asyncio.gather(*(ops.list_live(client) for ops in MODULES))
    state = LiveState()
    listing = Listing(managed=managed)
    listed = sorted(zip(MODULES, answers, strict=True), key=lambda pair: not pair[0].informs_others)
    for ops, objects in listed:
        for obj in objects:
            kind = ops.kind_of(obj)
            state.names[name_key(kind, obj["name"])] = obj["id"]
            state.inventory[obj["id"]] = (kind, obj["name"])
            listing.objects[obj["id"]] = (kind, obj)
            ops.listed(obj, listing)

    # Kinds listed per service (custom domains): one list per service that has managed ones.
    under_parent = {kind for kind, ops in ((k, ops_for(k)) for k in set(managed.values())) if ops.listed_under_parent}
    for kind in sorted(under_parent):
        ops = ops_for(kind)
        services = sorted({parents[rid] for rid, k in managed.items() if k is kind and rid in parents})
        for objects in await _bounded((ops.list_under(client, sid) for sid in services), concurrency):
            for obj in objects:
                listing.objects[obj["id"]] = (kind, obj)

    unseen = [rid for rid in managed if rid not in listing.objects and managed[rid] not in under_parent]

    async def confirm(rid: str) -> tuple[str, JSON | None]:
        return rid, await find_by_id(client, managed[rid], rid, parents.get(rid))

    for rid, found in await _bounded((confirm(rid) for rid in unseen), concurrency):
        if found is not None:
            listing.objects[rid] = (managed[rid], found)
    state.missing |= {rid for rid in managed if rid not in listing.objects}

    async def read(rid: str) -> LiveResource:
        kind, obj = listing.objects[rid]
        return await ops_for(kind).read(client, kind, rid, obj, listing)

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
