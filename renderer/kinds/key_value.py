"""Key Value instances (openapi.json: schemas.keyValue, keyValuePOSTInput, keyValuePATCHInput;
/key-value, /key-value/{id}/connection-info). A Blueprint declares one under `services` with
`type: keyvalue` (`redis` is the deprecated alias); services read one with `fromService`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from renderer.kind import Kind
from renderer.kinds.base import (
    ApplyContext,
    DocPath,
    KindOps,
    Listing,
    References,
    TranslateContext,
    api_plan,
    ip_allow_list,
)
from renderer.live import LiveResource
from renderer.plan.model import Change
from renderer.pricing.cost import key_value_lines
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.limits import Bucket
from renderer.resources import DesiredResource

DEFAULT_REGION = "oregon"
DEFAULT_KEY_VALUE_PLAN = "starter"
DEFAULT_MAXMEMORY_POLICY = "allkeys_lru"
PATCH_FIELDS = ("plan", "maxmemoryPolicy", "ipAllowList")


def key_value_properties(info: JSON) -> dict[str, SecretStr]:
    """What `fromService.property` reads from a Key Value instance: its internal connection string
    (GET /key-value/{id}/connection-info, `internalConnectionString`) and its host and port."""
    internal = str(info.get("internalConnectionString", ""))
    parts = urlsplit(internal)
    host, port = parts.hostname or "", str(parts.port or 6379)
    return {"connectionString": SecretStr(internal), "host": SecretStr(host), "port": SecretStr(port),
            "hostport": SecretStr(f"{host}:{port}")}


def key_value_fields(item: JSON) -> dict[str, Any]:
    """Normalise a `keyValue` object (openapi.json: schemas.keyValue) to desired-field vocabulary."""
    return {"plan": item.get("plan"), "region": item.get("region"),
            "maxmemoryPolicy": (item.get("options") or {}).get("maxmemoryPolicy"),
            "ipAllowList": item.get("ipAllowList") or []}


class KeyValueOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.KEY_VALUE,)
    workspace_names: ClassVar[bool] = True
    create_rank: ClassVar[int] = 1
    in_environment: ClassVar[bool] = True
    create_bucket: ClassVar[Bucket | None] = Bucket.CREATE_KEY_VALUE
    immutable: ClassVar[frozenset[str]] = frozenset({"region"})  # keyValuePATCHInput has no region
    loses_data: ClassVar[bool] = True
    references: ClassVar[bool] = True

    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        policy = str(item.get("maxmemoryPolicy", DEFAULT_MAXMEMORY_POLICY)).replace("-", "_")
        fields: dict[str, Any] = {
            "plan": api_plan(str(item.get("plan", DEFAULT_KEY_VALUE_PLAN))),
            "region": str(item.get("region", DEFAULT_REGION)),
            "maxmemoryPolicy": policy,
            "ipAllowList": ip_allow_list(item.get("ipAllowList")),
        }
        return [tr.resource(Kind.KEY_VALUE, str(item["name"]), fields)]

    async def list_live(self, client: RenderClient) -> list[JSON]:
        return await client.list_key_value()

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        return await client.list_key_value(name=names)

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_key_value(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [k["id"] for k in await client.list_key_value(name=name) if k.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        """With its connection info (what `fromService` reads)."""
        info = await client.key_value_connection_info(rid)
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=key_value_fields(obj),
                            properties=key_value_properties(info),
                            info={"status": obj.get("status"), "dashboardUrl": obj.get("dashboardUrl")})

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /key-value, record the ID, then keep what `fromService` reads from it."""
        desired = change.desired
        assert desired is not None
        body: JSON = {"name": desired.name, "ownerId": owner, **desired.fields}
        if (environment_id := ctx.environment_id(change)) is not None:
            body["environmentId"] = environment_id
        rid = await ctx.create(change, lambda: ctx.client.create_key_value(body))
        info = await ctx.client.key_value_connection_info(rid)
        ctx.references[(change.tenant, change.address)] = References(
            {k: v.get_secret_value() for k, v in key_value_properties(info).items()})
        return rid

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH /key-value/{id} with the changed plan, eviction policy and IP allow list."""
        desired = change.desired
        assert desired is not None and change.id is not None
        rid = change.id
        changed = {f.path for f in change.fields}
        body = {k: self.desired_fields(desired)[k] for k in PATCH_FIELDS if k in changed}
        if body:
            await ctx.write("patch", change, lambda: ctx.client.update_key_value(rid, body), id=rid)

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        await client.delete_key_value(rid)

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        return key_value_lines(fields, table)


OPS = KeyValueOps()
