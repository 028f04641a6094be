"""Postgres databases (openapi.json: schemas.postgres, postgresPOSTInput, postgresPATCHInput;
/postgres, /postgres/{id}/connection-info). Services read one with `fromDatabase`; apply exports one
before deleting it (`renderer.backup`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import SecretStr

from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, DocPath, KindOps, Listing, TranslateContext, api_plan, ip_allow_list
from renderer.live import ConnectionInfo, LiveResource
from renderer.plan.model import Change
from renderer.pricing.cost import postgres_lines
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.limits import Bucket
from renderer.resources import DesiredResource

DEFAULT_REGION = "oregon"
DEFAULT_POSTGRES_PLAN = "basic_256mb"
# POST /postgres requires `version`; a blueprint without postgresMajorVersion gets this one and the
# plan does not compare the version afterwards (Render may have chosen another default).
DEFAULT_POSTGRES_VERSION = "16"
PATCH_FIELDS = ("plan", "diskSizeGB", "ipAllowList")
# Render adds a random `_xxxx` to a Postgres database name, requested or not (`db_name` answered as
# `db_name_ehyv`; ../shared/render/recorded/postgres_resource__postgres).
_DATABASE_SUFFIX = r"_[a-z0-9]{4}"


def database_name_matches(desired: Any, live: Any) -> bool:
    """Whether the live database name is the requested one, Render's random suffix aside."""
    if not isinstance(desired, str) or not isinstance(live, str):
        return bool(desired == live)
    return live == desired or re.fullmatch(re.escape(desired) + _DATABASE_SUFFIX, live) is not None


def postgres_fields(postgres: JSON) -> dict[str, Any]:
    """Normalise a `postgres` object (openapi.json: schemas.postgres) to desired-field vocabulary."""
    return {
        "plan": postgres.get("plan"),
        "region": postgres.get("region"),
        "version": postgres.get("version"),
        "databaseName": postgres.get("databaseName"),
        "databaseUser": postgres.get("databaseUser"),
        "diskSizeGB": postgres.get("diskSizeGB"),
        "ipAllowList": postgres.get("ipAllowList") or [],
        "highAvailability": bool(postgres.get("highAvailabilityEnabled")),
    }


def postgres_info(postgres: JSON) -> dict[str, Any]:
    """Operational facts about a Postgres database for `renderer status`."""
    return {"suspended": postgres.get("suspended"), "status": postgres.get("status"),
            "dashboardUrl": postgres.get("dashboardUrl")}


def connection_info(info: JSON) -> ConnectionInfo:
    """Parse a `postgresConnectionInfo` response (openapi.json) into secrets."""
    return ConnectionInfo(
        password=SecretStr(str(info.get("password", ""))),
        internal_connection_string=SecretStr(str(info.get("internalConnectionString", ""))),
        external_connection_string=SecretStr(str(info.get("externalConnectionString", ""))),
    )


def postgres_create_body(desired: DesiredResource, owner_id: str) -> JSON:
    """POST /postgres body (openapi.json: schemas.postgresPOSTInput)."""
    f = desired.fields
    body: JSON = {"name": desired.name, "ownerId": owner_id, "plan": f["plan"], "region": f["region"],
                  "version": f.get("version", DEFAULT_POSTGRES_VERSION)}
    for key in ("databaseName", "databaseUser", "diskSizeGB", "ipAllowList"):
        if key in f:
            body[key] = f[key]
    if "highAvailability" in f:
        body["enableHighAvailability"] = f["highAvailability"]
    return body


class PostgresOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = (Kind.POSTGRES,)
    workspace_names: ClassVar[bool] = True
    create_rank: ClassVar[int] = 1
    in_environment: ClassVar[bool] = True
    create_bucket: ClassVar[Bucket | None] = Bucket.CREATE_POSTGRES
    # postgresPATCHInput has none of these (Render's random suffix on the database name is not a change,
    # `same_value`).
    immutable: ClassVar[frozenset[str]] = frozenset({"region", "version", "databaseName", "databaseUser"})
    loses_data: ClassVar[bool] = True
    backup_before_delete: ClassVar[bool] = True

    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        fields: dict[str, Any] = {
            "plan": api_plan(str(item.get("plan", DEFAULT_POSTGRES_PLAN).lower())),
            "region": str(item.get("region", DEFAULT_REGION)),
        }
        if "postgresMajorVersion" in item:
            fields["version"] = str(item["postgresMajorVersion"])
        if "databaseName" in item:
            fields["databaseName"] = str(item["databaseName"])
        if "user" in item:
            fields["databaseUser"] = str(item["user"])
        if "diskSizeGB" in item:
            fields["diskSizeGB"] = int(item["diskSizeGB"])
        if "ipAllowList" in item:
            fields["ipAllowList"] = ip_allow_list(item["ipAllowList"])
        if isinstance(item.get("highAvailability"), dict):
            fields["highAvailability"] = bool(item["highAvailability"].get("enabled"))
        return [tr.resource(Kind.POSTGRES, str(item["name"]), fields)]

    async def list_live(self, client: RenderClient) -> list[JSON]:
        return await client.list_postgres()

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        return await client.list_postgres(name=names)

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_postgres(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        found = [p["id"] for p in await client.list_postgres(name=name) if p.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        """With its connection info (what `fromDatabase` reads)."""
        info = await client.postgres_connection_info(rid)
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=postgres_fields(obj),
                            connection=connection_info(info), info=postgres_info(obj))

    def same_value(self, key: str, desired: Any, live: Any) -> bool:
        """`databaseName`: Render's random suffix aside (`database_name_matches`)."""
        if key == "databaseName":
            return database_name_matches(desired, live)
        return bool(desired == live)

    def requested_forms(self, key: str, live: Any) -> list[Any]:
        """`databaseName`: also the name without Render's random suffix."""
        if key == "databaseName" and isinstance(live, str) and re.search(_DATABASE_SUFFIX + "$", live):
            return [live, live[:-5]]
        return [live]

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /postgres, record the ID, then read its connection info for the services that use it."""
        assert change.desired is not None
        body = postgres_create_body(change.desired, owner)
        if (environment_id := ctx.environment_id(change)) is not None:
            body["environmentId"] = environment_id
        rid = await ctx.create(change, lambda: ctx.client.create_postgres(body))
        info = await ctx.client.postgres_connection_info(rid)
        ctx.connections[(change.tenant, change.address)] = connection_info(info)
        return rid

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH /postgres/{id} with the changed plan, disk size, IP allow list and high availability."""
        desired = change.desired
        assert desired is not None and change.id is not None
        rid = change.id
        plain = {f.path for f in change.fields if not f.path.startswith("envVars.")}
        body = {k: desired.fields[k] for k in PATCH_FIELDS if k in plain}
        if "highAvailability" in plain:
            body["enableHighAvailability"] = desired.fields["highAvailability"]
        if body:
            await ctx.write("patch", change, lambda: ctx.client.update_postgres(rid, body), id=rid)

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        await client.delete_postgres(rid)

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        """The instance price (x 2 with high availability) plus `diskSizeGB` x the storage price."""
        return postgres_lines(fields, table)


OPS = PostgresOps()
