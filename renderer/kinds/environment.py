"""Render environments (openapi.json: schemas.environment, environmentPOSTInput, environmentPATCHInput;
/environments, /environments/{id}/resources).

An environment belongs to a project (its `parent`) and holds services, datastores and env groups. Its
settings: `networkIsolationEnabled` (private traffic may not cross its boundary) and `protectedStatus`
(only workspace admins may change its resources, read their secrets or delete it;
render.com/docs/projects). Its Render name is the Blueprint's environment name, unsuffixed: names are
unique within a project, and each tenant has its own project. The address is
`environment.<project>/<environment>`.

Render answers empty resource lists as `null` (recorded: project_resource__project) and 409 for deleting
a non-empty environment (openapi.json: DELETE /environments/{id}); a delete waits that out within a bound
(`wait_out_conflict`), then says what still holds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar

from renderer.errors import RendererError
from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext
from renderer.live import LiveResource
from renderer.plan.model import Change
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import Conflict, RenderAPIError
from renderer.resources import DesiredResource

# A delete Render answers 409 for is retried after these waits (seconds, on the client's clock): about a
# minute in all, for resources deleted just before to leave the environment.
CONFLICT_WAITS = (2.0, 4.0, 8.0, 15.0, 30.0)
# The environment fields renderer manages (schemas.environmentPATCHInput).
FIELDS = ("name", "networkIsolationEnabled", "protectedStatus")
LIMITS_HINT = ("Render limits Hobby workspaces to one project with up to two environments, and blocking "
               "cross-environment traffic (network isolation) is a paid feature (render.com/docs/projects); "
               "upgrade the workspace, or set `network_isolation: false` in the tenant file (for a blueprint "
               "with `projects:`, `networking.isolation: disabled`)")


def environment_body(desired: DesiredResource) -> JSON:
    """An environment's create fields (schemas.projectPOSTEnvironmentInput / environmentPOSTInput)."""
    return {key: desired.fields[key] for key in FIELDS if key in desired.fields}


def refused(exc: RenderAPIError, what: str, environments: Iterable[DesiredResource]) -> BaseException:
    """The error for Render refusing to create `what`: for a definite refusal (400, 402, 403), a
    `RendererError` with Render's message and the limits that may be the cause; else `exc` itself."""
    if exc.status not in (400, 402, 403):
        return exc
    asked = [f"{e.name} (network isolation {'on' if e.fields.get('networkIsolationEnabled') else 'off'})"
             for e in environments]
    detail = f" with environments {', '.join(asked)}" if asked else ""
    return RendererError(f"Render refused {what}{detail}: {exc.api_message or exc}; nothing was made or changed",
                         hint=LIMITS_HINT)


async def wait_out_conflict(client: RenderClient, call: Callable[[], Awaitable[None]],
                            holders: Callable[[], Awaitable[list[str]]], what: str) -> None:
    """Send a delete; while Render answers 409 (not empty), wait (`CONFLICT_WAITS`) and send it again.
    Raises `RendererError` naming the resources that still hold `what` when the waits run out."""
    for wait in (*CONFLICT_WAITS, None):
        try:
            await call()
            return
        except Conflict:
            if wait is None:
                held = await holders()
                raise RendererError(
                    f"Render refuses to delete {what}: it is not empty after {sum(CONFLICT_WAITS):g} s; it still "
                    f"holds {', '.join(held) if held else 'resources renderer cannot see'}",
                    hint="those resources are not in the lockfile (added by hand?): delete them or move them "
                         "out, then apply again") from None
            await client.clock.sleep(wait)


class EnvironmentOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.ENVIRONMENT,)
    create_rank: ClassVar[int] = -1
    renamed_in_place: ClassVar[bool] = True

    def environment(self, tr: TranslateContext, project: DesiredResource, name: str, *, isolation: bool,
                    protected: bool) -> DesiredResource:
        """The environment `name` of `project`, with its network isolation and protection."""
        return DesiredResource(
            tenant=tr.slug, kind=Kind.ENVIRONMENT, blueprint_name=f"{project.blueprint_name}/{name}", name=name,
            parent=project.address,
            fields={"name": name, "networkIsolationEnabled": isolation,
                    "protectedStatus": "protected" if protected else "unprotected"})

    def translate_entry(self, tr: TranslateContext, path: DocPath, item: Any,
                        project: DesiredResource) -> DesiredResource:
        """A `projects[].environments[]` entry (render.yaml.schema.json: definitions.environment):
        `networking.isolation` and `permissions.protection`, each `disabled` by default."""
        networking = item.get("networking") if isinstance(item.get("networking"), dict) else {}
        permissions = item.get("permissions") if isinstance(item.get("permissions"), dict) else {}
        return self.environment(tr, project, str(item["name"]),
                                isolation=networking.get("isolation", "disabled") == "enabled",
                                protected=permissions.get("protection", "disabled") == "enabled")

    listed_within: ClassVar[Kind | None] = Kind.PROJECT

    async def list_live(self, client: RenderClient) -> list[JSON]:
        """GET /environments of every project in the workspace (it needs `projectId`)."""
        return await self.list_live_within(client, await client.list_projects())

    async def list_live_within(self, client: RenderClient, parents: list[JSON]) -> list[JSON]:
        """GET /environments of the listed projects `parents` (a refresh's own project listing)."""
        return await client.list_environments([str(p["id"]) for p in parents])

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_environment(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        if parent_id is None:
            return None
        found = [e["id"] for e in await client.list_environments([parent_id], name=name) if e.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        return LiveResource(id=rid, kind=kind, name=str(obj["name"]),
                            fields={key: obj.get(key) for key in FIELDS},
                            info={"projectId": obj.get("projectId"), "holds": contents(obj)})

    async def holders(self, client: RenderClient, environment_id: str) -> list[str]:
        """The IDs of the resources environment `environment_id` holds ([] when it is gone)."""
        found = await client.find_environment(environment_id)
        return contents(found) if found is not None else []

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /environments in its project (unless its project's create made it already)."""
        desired = change.desired
        assert desired is not None
        made = ctx.locked_id(change.tenant, desired.address)
        if made is not None:
            return made
        body: JSON = {**environment_body(desired), "projectId": ctx.parent_id(change)}
        try:
            return await ctx.create(change, lambda: ctx.client.create_environment(body), parent_id=body["projectId"])
        except RenderAPIError as exc:
            raise refused(exc, f"to create environment {desired.name!r}", [desired]) from None

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH /environments/{id} with the changed name, network isolation and protection."""
        desired = change.desired
        assert desired is not None and change.id is not None
        rid = change.id
        body = {f.path: desired.fields[f.path] for f in change.fields if f.path in FIELDS}
        if body:
            try:
                await ctx.write("update", change, lambda: ctx.client.update_environment(rid, body), id=rid)
            except RenderAPIError as exc:
                raise refused(exc, f"to change environment {desired.name!r}", [desired]) from None

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        """DELETE /environments/{id}, waiting out a 409 within a bound (`wait_out_conflict`)."""
        await wait_out_conflict(client, lambda: client.delete_environment(rid),
                                lambda: self.holders(client, rid), f"environment {rid}")


def contents(environment: JSON) -> list[str]:
    """The IDs an environment holds: services, Postgres, Key Value, env groups (each `null` when empty)."""
    return [str(i) for key in ("serviceIds", "databasesIds", "redisIds", "envGroupIds")
            for i in environment.get(key) or []]


OPS = EnvironmentOps()
