"""Render projects (openapi.json: schemas.project, projectPOSTInput, projectPATCHInput; /projects).

A tenant's services, datastores and env groups live in environments of a project (`renderer.kinds.
environment`). A blueprint without `projects:` gets one project per tenant, named `<blueprint>-<slug>`
at the address `project.tenant` (`tenant_project`); a blueprint with `projects:` gets each of its
projects, its name suffixed per tenant like every other name (`ProjectOps.translate`).

A project is created together with its first environments in one POST /projects, so a workspace limit
Render refuses (a Hobby workspace: one project, two environments, no network isolation;
render.com/docs/projects, "Setup") leaves nothing half-made. It is deleted last, after its environments;
Render answers 409 while any of its environments holds a resource (openapi.json: DELETE /projects/{id}),
and renderer waits and retries within a bound, then says what still holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext
from renderer.kinds.environment import OPS as ENVIRONMENTS
from renderer.kinds.environment import environment_body, refused, wait_out_conflict
from renderer.live import LiveResource
from renderer.plan.model import Action, Change, Reason
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import RenderAPIError
from renderer.resources import DesiredResource, suffixed

# The project and environment renderer makes for a tenant of a blueprint without `projects:`: addresses
# `project.tenant` and `environment.tenant/production`, whatever the blueprint (a tenant moved to another
# blueprint keeps its project, renamed).
DEFAULT_PROJECT = "tenant"
DEFAULT_ENVIRONMENT = "production"


def tenant_project(tr: TranslateContext, blueprint: str, *, isolation: bool, protected: bool
                   ) -> list[DesiredResource]:
    """The project (`<blueprint>-<slug>`) and its one environment (`production`, network isolation on
    unless the tenant turns it off; protected when the tenant asks) of a blueprint without `projects:`."""
    name = suffixed(blueprint, tr.slug)
    project = DesiredResource(tenant=tr.slug, kind=Kind.PROJECT, blueprint_name=DEFAULT_PROJECT, name=name,
                              fields={"name": name})
    return [project, ENVIRONMENTS.environment(tr, project, DEFAULT_ENVIRONMENT, isolation=isolation,
                                              protected=protected)]


class ProjectOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.PROJECT,)
    create_rank: ClassVar[int] = -2
    renamed_in_place: ClassVar[bool] = True
    workspace_names: ClassVar[bool] = True

    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        """A `projects[]` entry (render.yaml.schema.json: definitions.project): the project, its name
        suffixed per tenant, and each of its environments with the Blueprint's own settings and defaults."""
        project = tr.resource(Kind.PROJECT, str(item["name"]), {})
        project = project.model_copy(update={"fields": {"name": project.name}})
        resources = [project]
        for j, env in enumerate(item.get("environments") or []):
            resources.append(ENVIRONMENTS.translate_entry(tr, (*path, "environments", j), env, project))
        return resources

    async def list_live(self, client: RenderClient) -> list[JSON]:
        return await client.list_projects()

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        return await client.list_projects(name=names)

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_project(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [p["id"] for p in await client.list_projects(name=name) if p.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        return LiveResource(id=rid, kind=kind, name=str(obj["name"]), fields={"name": obj["name"]},
                            info={"environmentIds": list(obj.get("environmentIds") or [])})

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /projects with the environments this apply creates in it, all at once; record the project
        and each environment. Raises `RendererError` naming the limit when Render refuses."""
        desired = change.desired
        assert desired is not None
        environments = [r for r in ctx.planned(change.tenant)
                        if r.kind is Kind.ENVIRONMENT and r.parent == desired.address
                        and ctx.locked_id(change.tenant, r.address) is None]
        body: JSON = {"name": desired.name, "ownerId": owner,
                      "environments": [environment_body(r) for r in environments]}
        # What the same request creates, so that an interrupted apply's recovery finds and records it too.
        also = [{"address": r.address, "kind": r.kind.value, "name": r.name, "parent": desired.address}
                for r in environments]
        try:
            rid = await ctx.create(change, lambda: ctx.client.create_project(body), also=also)
        except RenderAPIError as exc:
            raise refused(exc, f"to create project {desired.name!r}", environments) from None
        by_name = {str(e["name"]): str(e["id"]) for e in await ctx.client.list_environments([rid])}
        for env in environments:
            if env.name in by_name:
                ctx.record(Change(tenant=change.tenant, address=env.address, kind=env.kind, name=env.name,
                                  action=Action.CREATE, reason=Reason.TENANT_ADDED, desired=env), by_name[env.name])
        return rid

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH /projects/{id}: its name (renamed by hand: restored)."""
        desired = change.desired
        assert desired is not None and change.id is not None
        rid = change.id
        await ctx.write("update", change, lambda: ctx.client.update_project(rid, {"name": desired.name}), id=rid)

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        """DELETE /projects/{id}, waiting out a 409 within a bound. Raises `RendererError` naming what its
        environments still hold."""

        async def holders() -> list[str]:
            project = await client.get_project(rid)
            found: list[str] = []
            for eid in project.get("environmentIds") or []:
                found += await ENVIRONMENTS.holders(client, str(eid))
            return found

        await wait_out_conflict(client, lambda: client.delete_project(rid), holders, f"project {rid}")


OPS = ProjectOps()
