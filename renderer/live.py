"""Live state: what refresh read from Render, in the field vocabulary of `DesiredResource.fields`.

Defined here, below `renderer.kinds` (each kind reads its own resources into a `LiveResource`) and
`renderer.refresh` (which loops over the kinds and re-exports these names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from renderer.kind import Kind


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


# Deploy statuses (openapi.json: schemas.deployStatus). `live` is success; these end a deploy as failed.
DEPLOY_LIVE = "live"
DEPLOY_FAILED = frozenset({"build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated"})
# Why a deploy that ended in each failed status failed, in words (openapi.json: schemas.deployStatus).
DEPLOY_FAILURE_REASONS = {
    "build_failed": "the build failed",
    "update_failed": "the new version did not start (update failed)",
    "pre_deploy_failed": "the pre-deploy command failed",
    "canceled": "the deploy was canceled",
    "deactivated": "another deploy replaced it before it went live",
}


def deploy_version(deploy: Mapping[str, Any]) -> str | None:
    """The version a deploy (openapi.json: schemas.deploy) carries: its image's digest (`image.sha`) for an
    image-backed service, else its commit SHA (`commit.id`); None when Render says neither."""
    image = deploy.get("image") or {}
    if image.get("sha"):
        return str(image["sha"])
    commit = deploy.get("commit") or {}
    return str(commit["id"]) if commit.get("id") else None


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
    - `names`: every listed resource's `(Kind.namespace, name)` -> ID, to catch name collisions.
    - `missing`: lockfile IDs Render answered 404 for.
    - `inventory`: every listed resource, ID -> (kind, name), managed or not (for `drift`'s report of
      unmanaged resources carrying a tenant suffix).
    - `deploys`: service ID -> the deploy (schemas.deploy) the lockfile records as its last one, read
      when the lockfile does not know how it ended (a run that did not wait for it).
    """

    resources: dict[str, LiveResource] = field(default_factory=dict)
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    inventory: dict[str, tuple[Kind, str]] = field(default_factory=dict)
    deploys: dict[str, dict[str, Any]] = field(default_factory=dict)
