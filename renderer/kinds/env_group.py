"""Env groups (openapi.json: schemas.envGroup; POST /env-groups, GET /env-groups/{id}, per-key PUT/DELETE
/env-groups/{id}/env-vars/{key}, DELETE /env-groups/{id}). A Blueprint declares them under
`envVarGroups`; services link them with `fromGroup` (the link is the service field `envGroups`, read
from the group's `serviceLinks`)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext
from renderer.live import LiveResource
from renderer.plan.model import Change
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import NotFound
from renderer.resources import DesiredResource, EnvSource, EnvVar


class EnvGroupOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.ENV_GROUP,)
    workspace_names: ClassVar[bool] = True
    create_rank: ClassVar[int] = 0
    in_environment: ClassVar[bool] = True
    env_vars: ClassVar[bool] = True
    informs_others: ClassVar[bool] = True

    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        env_vars, _ = tr.env_vars(path, item.get("envVars"), group=True)
        return [tr.resource(Kind.ENV_GROUP, str(item["name"]), {}, env_vars=env_vars)]

    async def list_live(self, client: RenderClient) -> list[JSON]:
        return await client.list_env_groups()

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        return await client.list_env_groups(name=names)

    def listed(self, obj: JSON, listing: Listing) -> None:
        # Only links to env groups renderer manages are compared; one linked by hand is left alone.
        if obj["id"] in listing.managed:
            for link in obj.get("serviceLinks") or []:
                listing.links.setdefault(link["id"], []).append(obj["name"])

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_env_group(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [g["id"] for g in await client.list_env_groups(name=name) if g.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        """Its env vars (GET /env-groups/{id} when the list answer lacks them)."""
        group = obj if "envVars" in obj else await client.get_env_group(rid)
        return LiveResource(id=rid, kind=kind, name=group["name"], fields={},
                            env_vars={e["key"]: e["value"] for e in group.get("envVars") or []})

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        desired = change.desired
        assert desired is not None
        body: JSON = {"name": desired.name, "ownerId": owner, "envVars": ctx.env_body(change.tenant, desired)}
        if (environment_id := ctx.environment_id(change)) is not None:
            body["environmentId"] = environment_id
        return await ctx.create(change, lambda: ctx.client.create_env_group(body))

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """One PUT or DELETE per changed env var key."""
        desired = change.desired
        assert desired is not None and change.id is not None
        by_key = {e.key: e for e in desired.env_vars}
        for fc in sorted((f for f in change.fields if f.path.startswith("envVars.")), key=lambda f: f.path):
            key = fc.path.removeprefix("envVars.")
            await self._env_write(ctx, change, change.id, key, by_key.get(key), after_set=fc.after_set)

    @staticmethod
    async def _env_write(ctx: ApplyContext, change: Change, gid: str, key: str, env: EnvVar | None,
                         *, after_set: bool) -> None:
        client = ctx.client
        if env is None or not after_set:
            async def delete() -> None:
                with contextlib.suppress(NotFound):
                    await client.delete_env_group_env_var(gid, key)
            await ctx.write("env_delete", change, delete, id=gid, key=key)
        elif env.source is EnvSource.GENERATE_VALUE:
            await ctx.write("env_put", change, lambda: client.put_env_group_env_var(gid, key, generate=True),
                            id=gid, key=key)
        else:
            value = ctx.env_value(change.tenant, env)
            await ctx.write("env_put", change, lambda: client.put_env_group_env_var(gid, key, value=value),
                            id=gid, key=key)

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        await client.delete_env_group(rid)


OPS = EnvGroupOps()
