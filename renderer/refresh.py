"""Refresh: read the live state of the Render resources renderer manages.

Reads with list endpoints (`GET /services`, `GET /postgres`, `GET /key-value`, `GET /env-groups`,
`limit=100`, following `cursor`) rather than one GET per resource; then one env-var list per managed
service, one connection-info read per managed Postgres and Key Value (needed to resolve `fromDatabase`
and `fromService`) and one `GET /env-groups/{id}` per managed env group (its env vars). A service's
linked env groups come from the env group list (`serviceLinks`). Disks are read by ID (`GET
/disks/{id}`), custom domains with one list per service that has managed ones (`GET
/services/{id}/custom-domains`); a static site's headers and routes with one read each. A lockfile
ID missing from the lists is confirmed with one GET: Render answering 404 means it was deleted outside
renderer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import NotFound
from renderer.resources import SERVICE_KINDS, Kind, live_autoscaling, static_headers, static_routes

T = TypeVar("T")
DEFAULT_CONCURRENCY = 8


class ConnectionInfo(BaseModel):
    """A Postgres database's connection details (GET /postgres/{id}/connection-info). All secret."""

    model_config = ConfigDict(frozen=True)

    password: SecretStr
    internal_connection_string: SecretStr
    external_connection_string: SecretStr

    def property(self, name: str) -> str | None:
        """A `fromDatabase.property` value (render.com/docs/blueprint-spec: connectionString, host, port,
        user, password, database); None for an unknown property."""
        internal = self.internal_connection_string.get_secret_value()
        if name == "connectionString":
            return internal
        if name == "password":
            return self.password.get_secret_value()
        parts = urlsplit(internal)
        values = {
            "host": parts.hostname,
            "port": str(parts.port or 5432),
            "user": parts.username,
            "database": parts.path.lstrip("/"),
        }
        return values.get(name)


class LiveResource(BaseModel):
    """One resource as Render has it, normalised to the field vocabulary of `DesiredResource.fields`."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Kind
    name: str
    fields: dict[str, Any]
    env_vars: dict[str, str] | None = None
    connection: ConnectionInfo | None = None
    info: dict[str, Any] = {}
    # What `fromService.property` reads (host, port, hostport; connectionString for Key Value). Secret.
    properties: dict[str, SecretStr] = {}

    def property(self, name: str) -> str | None:
        value = self.properties.get(name)
        return value.get_secret_value() if value is not None else None


@dataclass
class LiveState:
    """What refresh found.

    - `resources`: managed resources by Render ID (those the lockfile names and Render still has).
    - `names`: every service and Postgres name in the workspace -> ID, to catch name collisions.
    - `missing`: lockfile IDs Render answered 404 for.
    - `inventory`: every listed service and Postgres, ID -> (kind, name), managed or not (for `drift`'s
      report of unmanaged resources carrying a tenant suffix).
    """

    resources: dict[str, LiveResource] = field(default_factory=dict)
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    inventory: dict[str, tuple[Kind, str]] = field(default_factory=dict)


def name_key(kind: Kind, name: str) -> tuple[str, str]:
    """Service names are unique across service types in a workspace; Postgres, Key Value and env group
    names are each a separate namespace."""
    return ("service" if kind in SERVICE_KINDS else kind.value, name)


def service_fields(service: JSON, env_groups: list[str] | None = None) -> dict[str, Any]:
    """Normalise a `service` object (openapi.json: schemas.service) to desired-field vocabulary.
    `env_groups`: the names of the env groups linked to it (from the env groups' `serviceLinks`)."""
    details = service.get("serviceDetails") or {}
    env_details = details.get("envSpecificDetails") or {}
    if service.get("type") == Kind.STATIC_SITE.value:
        return {"rootDir": service.get("rootDir", ""), "repo": service.get("repo"), "branch": service.get("branch"),
                "buildCommand": details.get("buildCommand"), "publishPath": details.get("publishPath"),
                "envGroups": sorted(env_groups or [])}
    fields: dict[str, Any] = {
        "runtime": details.get("runtime") or details.get("env"),
        "region": details.get("region"),
        "plan": details.get("plan"),
        "numInstances": details.get("numInstances"),
        "rootDir": service.get("rootDir", ""),
        "repo": service.get("repo"),
        "branch": service.get("branch"),
        "healthCheckPath": details.get("healthCheckPath"),
        "autoscaling": live_autoscaling(details.get("autoscaling")),
        "schedule": details.get("schedule"),
        "image": service.get("imagePath"),
        "envGroups": sorted(env_groups or []),
    }
    for key in ("buildCommand", "startCommand", "preDeployCommand", "dockerCommand", "dockerfilePath",
                "dockerContext"):
        if key in env_details:
            fields[key] = env_details[key]
    return fields


def service_properties(service: JSON) -> dict[str, SecretStr]:
    """What `fromService.property` reads from a service: its internal host (the service's `slug`), its
    first open port and both joined (render.com/docs/blueprint-spec: fromService host, port, hostport)."""
    slug = service.get("slug")
    ports = (service.get("serviceDetails") or {}).get("openPorts") or []
    if not slug:
        return {}
    result = {"host": SecretStr(str(slug))}
    if ports:
        port = str(ports[0].get("port"))
        result["port"] = SecretStr(port)
        result["hostport"] = SecretStr(f"{slug}:{port}")
    return result


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


def disk_fields(disk: JSON) -> dict[str, Any]:
    """A disk (GET /disks/{id}) in desired-field vocabulary."""
    return {"name": disk.get("name"), "mountPath": disk.get("mountPath"), "sizeGB": disk.get("sizeGB")}


def service_info(service: JSON) -> dict[str, Any]:
    """Operational facts about a service for `renderer status` (not compared by the plan)."""
    details = service.get("serviceDetails") or {}
    return {"suspended": service.get("suspended"), "url": details.get("url"),
            "dashboardUrl": service.get("dashboardUrl")}


def postgres_info(postgres: JSON) -> dict[str, Any]:
    """Operational facts about a Postgres database for `renderer status`."""
    return {"suspended": postgres.get("suspended"), "status": postgres.get("status"),
            "dashboardUrl": postgres.get("dashboardUrl")}


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


async def _bounded(tasks: Iterable[Awaitable[T]], limit: int) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def run(task: Awaitable[T]) -> T:
        async with semaphore:
            return await task

    return list(await asyncio.gather(*(run(t) for t in tasks)))


def connection_info(info: JSON) -> ConnectionInfo:
    """Parse a `postgresConnectionInfo` response (openapi.json) into secrets."""
    return ConnectionInfo(
        password=SecretStr(str(info.get("password", ""))),
        internal_connection_string=SecretStr(str(info.get("internalConnectionString", ""))),
        external_connection_string=SecretStr(str(info.get("externalConnectionString", ""))),
    )


async def refresh(
    client: RenderClient, managed: dict[str, Kind], *, concurrency: int = DEFAULT_CONCURRENCY,
    parents: Mapping[str, str] | None = None,
) -> LiveState:
    """Read live state. `managed` maps the lockfile's Render IDs (of the tenants in scope) to their kind;
    `parents` maps the ID of each managed disk and custom domain to its service's ID (a custom domain
    is read through its service; one without a known service counts as missing)."""
    parents = parents or {}
    services, databases, key_values, groups = await asyncio.gather(
        client.list_services(), client.list_postgres(), client.list_key_value(), client.list_env_groups())
    state = LiveState()
    raw: dict[str, tuple[Kind, JSON]] = {}
    linked: dict[str, list[str]] = {}
    for group in groups:
        state.names[name_key(Kind.ENV_GROUP, group["name"])] = group["id"]
        state.inventory[group["id"]] = (Kind.ENV_GROUP, group["name"])
        raw[group["id"]] = (Kind.ENV_GROUP, group)
        # Only links to env groups renderer manages are compared; one linked by hand is left alone.
        for link in group.get("serviceLinks") or [] if group["id"] in managed else []:
            linked.setdefault(link["id"], []).append(group["name"])
    for service in services:
        kind = Kind(service["type"])
        state.names[name_key(kind, service["name"])] = service["id"]
        state.inventory[service["id"]] = (kind, service["name"])
        raw[service["id"]] = (kind, service)
    for postgres in databases:
        state.names[name_key(Kind.POSTGRES, postgres["name"])] = postgres["id"]
        state.inventory[postgres["id"]] = (Kind.POSTGRES, postgres["name"])
        raw[postgres["id"]] = (Kind.POSTGRES, postgres)
    for item in key_values:
        state.names[name_key(Kind.KEY_VALUE, item["name"])] = item["id"]
        state.inventory[item["id"]] = (Kind.KEY_VALUE, item["name"])
        raw[item["id"]] = (Kind.KEY_VALUE, item)

    # Custom domains: one list per service that has managed ones.
    domain_parents = sorted({parents[rid] for rid, kind in managed.items()
                             if kind is Kind.CUSTOM_DOMAIN and rid in parents})

    async def domains_of(sid: str) -> list[JSON]:
        try:
            return await client.list_custom_domains(sid)
        except NotFound:
            return []

    for domains in await _bounded((domains_of(sid) for sid in domain_parents), concurrency):
        for domain in domains:
            raw[domain["id"]] = (Kind.CUSTOM_DOMAIN, domain)

    unseen = [rid for rid in managed if rid not in raw and managed[rid] is not Kind.CUSTOM_DOMAIN]

    async def confirm(rid: str) -> tuple[str, JSON | None]:
        return rid, await find_by_id(client, managed[rid], rid, parents.get(rid))

    for rid, found in await _bounded((confirm(rid) for rid in unseen), concurrency):
        if found is not None:
            raw[rid] = (managed[rid], found)
    state.missing |= {rid for rid in managed if rid not in raw}

    present = [rid for rid in managed if rid in raw]

    async def read(rid: str) -> LiveResource:
        kind, obj = raw[rid]
        if kind is Kind.POSTGRES:
            info = await client.postgres_connection_info(rid)
            return LiveResource(id=rid, kind=kind, name=obj["name"], fields=postgres_fields(obj),
                                connection=connection_info(info), info=postgres_info(obj))
        if kind is Kind.KEY_VALUE:
            info = await client.key_value_connection_info(rid)
            return LiveResource(id=rid, kind=kind, name=obj["name"], fields=key_value_fields(obj),
                                properties=key_value_properties(info),
                                info={"status": obj.get("status"), "dashboardUrl": obj.get("dashboardUrl")})
        if kind is Kind.ENV_GROUP:
            group = obj if "envVars" in obj else await client.get_env_group(rid)
            return LiveResource(id=rid, kind=kind, name=group["name"], fields={},
                                env_vars={e["key"]: e["value"] for e in group.get("envVars") or []})
        if kind is Kind.DISK:
            return LiveResource(id=rid, kind=kind, name=obj["name"], fields=disk_fields(obj))
        if kind is Kind.CUSTOM_DOMAIN:
            return LiveResource(id=rid, kind=kind, name=obj["name"], fields={},
                                info={"status": obj.get("verificationStatus")})
        env = await client.list_env_vars(rid)
        fields = service_fields(obj, linked.get(rid))
        if kind is Kind.STATIC_SITE:
            headers, routes = await asyncio.gather(client.list_headers(rid), client.list_routes(rid))
            fields["headers"] = static_headers(headers)
            fields["routes"] = static_routes(routes)
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=fields,
                            env_vars={e["key"]: e["value"] for e in env}, info=service_info(obj),
                            properties=service_properties(obj))

    for resource in await _bounded((read(rid) for rid in present), concurrency):
        state.resources[resource.id] = resource
    return state


async def find_by_id(client: RenderClient, kind: Kind, rid: str, parent_id: str | None = None) -> JSON | None:
    """The resource of `kind` with ID `rid` (one GET), or None when Render answers 404. A custom domain
    needs its service's ID (`parent_id`); without one it counts as gone."""
    if kind is Kind.POSTGRES:
        return await client.find_postgres(rid)
    if kind is Kind.KEY_VALUE:
        return await client.find_key_value(rid)
    if kind is Kind.ENV_GROUP:
        return await client.find_env_group(rid)
    if kind is Kind.DISK:
        return await client.find_disk(rid)
    if kind is Kind.CUSTOM_DOMAIN:
        if parent_id is None:
            return None
        try:
            return await client.get_custom_domain(parent_id, rid)
        except NotFound:
            return None
    return await client.find_service(rid)


async def find_by_name(client: RenderClient, kind: Kind, name: str, parent_id: str | None = None) -> str | None:
    """The ID of the resource of `kind` named `name` in the configured workspace, or None.

    Used to resolve a create whose result is unknown (crash, lost response) and by `renderer import`:
    looks up by owner, type and name (`GET /services?name=...&type=...`, `GET /postgres`, `GET
    /key-value`, `GET /env-groups`), never by ID. A disk or custom domain is looked up among its
    service's (`parent_id`; None finds nothing).
    """
    if kind is Kind.POSTGRES:
        found = [p["id"] for p in await client.list_postgres() if p.get("name") == name]
    elif kind is Kind.KEY_VALUE:
        found = [k["id"] for k in await client.list_key_value(name=name) if k.get("name") == name]
    elif kind is Kind.ENV_GROUP:
        found = [g["id"] for g in await client.list_env_groups(name=name) if g.get("name") == name]
    elif kind is Kind.DISK:
        found = [d["id"] for d in (await client.list_disks(service_id=parent_id) if parent_id else [])
                 if d.get("name") == name]
    elif kind is Kind.CUSTOM_DOMAIN:
        found = [d["id"] for d in (await client.list_custom_domains(parent_id) if parent_id else [])
                 if d.get("name") == name]
    else:
        found = [s["id"] for s in await client.list_services(name=name) if s.get("type") == kind.value
                 and s.get("name") == name]
    return found[0] if found else None
