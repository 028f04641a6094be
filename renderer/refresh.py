"""Refresh: read the live state of the Render resources renderer manages.

Reads with list endpoints (`GET /services`, `GET /postgres`, `limit=100`, following `cursor`) rather
than one GET per resource; then one env-var list per managed service and one connection-info read per
managed Postgres (needed to resolve `fromDatabase`). A lockfile ID missing from the lists is confirmed
with one GET: Render answering 404 means it was deleted outside renderer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from renderer.render_api.client import JSON, RenderClient
from renderer.resources import SERVICE_KINDS, Kind

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
    """Service names are unique across service types in a workspace; Postgres names are separate."""
    return ("service" if kind in SERVICE_KINDS else kind.value, name)


def service_fields(service: JSON) -> dict[str, Any]:
    """Normalise a `service` object (openapi.json: schemas.service) to desired-field vocabulary."""
    details = service.get("serviceDetails") or {}
    env_details = details.get("envSpecificDetails") or {}
    fields: dict[str, Any] = {
        "runtime": details.get("runtime") or details.get("env"),
        "region": details.get("region"),
        "plan": details.get("plan"),
        "numInstances": details.get("numInstances"),
        "rootDir": service.get("rootDir", ""),
        "repo": service.get("repo"),
        "branch": service.get("branch"),
        "healthCheckPath": details.get("healthCheckPath"),
    }
    for key in ("buildCommand", "startCommand", "preDeployCommand", "dockerCommand", "dockerfilePath",
                "dockerContext"):
        if key in env_details:
            fields[key] = env_details[key]
    return fields


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
) -> LiveState:
    """Read live state. `managed` maps the lockfile's Render IDs (of the tenants in scope) to their kind."""
    services, databases = await asyncio.gather(client.list_services(), client.list_postgres())
    state = LiveState()
    raw: dict[str, tuple[Kind, JSON]] = {}
    for service in services:
        kind = Kind(service["type"])
        state.names[name_key(kind, service["name"])] = service["id"]
        state.inventory[service["id"]] = (kind, service["name"])
        raw[service["id"]] = (kind, service)
    for postgres in databases:
        state.names[name_key(Kind.POSTGRES, postgres["name"])] = postgres["id"]
        state.inventory[postgres["id"]] = (Kind.POSTGRES, postgres["name"])
        raw[postgres["id"]] = (Kind.POSTGRES, postgres)

    unseen = [rid for rid in managed if rid not in raw]

    async def confirm(rid: str) -> tuple[str, JSON | None]:
        found = await (client.find_postgres(rid) if managed[rid] is Kind.POSTGRES else client.find_service(rid))
        return rid, found

    for rid, found in await _bounded((confirm(rid) for rid in unseen), concurrency):
        if found is None:
            state.missing.add(rid)
        else:
            raw[rid] = (managed[rid], found)

    present = [rid for rid in managed if rid in raw]

    async def read(rid: str) -> LiveResource:
        kind, obj = raw[rid]
        if kind is Kind.POSTGRES:
            info = await client.postgres_connection_info(rid)
            return LiveResource(id=rid, kind=kind, name=obj["name"], fields=postgres_fields(obj),
                                connection=connection_info(info), info=postgres_info(obj))
        env = await client.list_env_vars(rid)
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=service_fields(obj),
                            env_vars={e["key"]: e["value"] for e in env}, info=service_info(obj))

    for resource in await _bounded((read(rid) for rid in present), concurrency):
        state.resources[resource.id] = resource
    return state


async def find_by_name(client: RenderClient, kind: Kind, name: str) -> str | None:
    """The ID of the resource of `kind` named `name` in the configured workspace, or None.

    Used to resolve a create whose result is unknown (crash, lost response) and by `renderer import`:
    looks up by owner, type and name (`GET /services?name=...&type=...`, `GET /postgres`), never by ID.
    """
    if kind is Kind.POSTGRES:
        found = [p["id"] for p in await client.list_postgres() if p.get("name") == name]
    else:
        found = [s["id"] for s in await client.list_services(name=name) if s.get("type") == kind.value
                 and s.get("name") == name]
    return found[0] if found else None
