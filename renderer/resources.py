"""Desired resources: one Render resource per blueprint entry, in Render API vocabulary.

A `DesiredResource` is what `renderer.translate` produces from a tenant's rendered blueprint and what
the plan compares against live state. Field names and values are the Render API's (`web_service`,
`basic_256mb`, `runtime`, `buildCommand`), not the Blueprint's (`web`, `basic-256mb`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    """Render resource kinds. Service kinds are the API's `serviceType` values (openapi.json)."""

    WEB_SERVICE = "web_service"
    PRIVATE_SERVICE = "private_service"
    BACKGROUND_WORKER = "background_worker"
    CRON_JOB = "cron_job"
    STATIC_SITE = "static_site"
    POSTGRES = "postgres"
    KEY_VALUE = "key_value"
    ENV_GROUP = "env_group"

    @property
    def is_service(self) -> bool:
        return self in SERVICE_KINDS


SERVICE_KINDS = frozenset(
    {Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER, Kind.CRON_JOB, Kind.STATIC_SITE}
)

# Create order: datastores before the services whose env vars read them; deletes run in reverse.
CREATE_ORDER: dict[Kind, int] = {
    Kind.ENV_GROUP: 0, Kind.POSTGRES: 1, Kind.KEY_VALUE: 1, Kind.PRIVATE_SERVICE: 2,
    Kind.WEB_SERVICE: 3, Kind.BACKGROUND_WORKER: 3, Kind.CRON_JOB: 3, Kind.STATIC_SITE: 3,
}


class EnvSource(StrEnum):
    """Where an env var's value comes from (render.yaml.schema.json: definitions.envVar)."""

    VALUE = "value"
    GENERATE_VALUE = "generateValue"
    SYNC_FALSE = "sync: false"
    FROM_DATABASE = "fromDatabase"


class EnvVar(BaseModel):
    """One declared env var. `value` is set only for `VALUE`; references name a blueprint resource."""

    model_config = ConfigDict(frozen=True)

    key: str
    source: EnvSource
    value: str | None = None
    ref_name: str | None = None
    ref_property: str | None = None

    @property
    def sensitive(self) -> bool:
        """Generated values and values read from a datastore are secrets: never printed."""
        return self.source in (EnvSource.GENERATE_VALUE, EnvSource.FROM_DATABASE)


class DesiredResource(BaseModel):
    """One resource a tenant should have.

    - `address`: `<kind>.<blueprint name>`, unique within a tenant; the lockfile key.
    - `name`: the Render name, the blueprint name with the tenant suffix (`backboneos-db-acme-corp`).
    - `fields`: the compared settings, flat, API vocabulary, defaults filled in.
    - `env_vars`: services only, in blueprint order.
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    kind: Kind
    blueprint_name: str
    name: str
    fields: dict[str, Any] = Field(default_factory=dict)
    env_vars: tuple[EnvVar, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.kind.value}.{self.blueprint_name}"


def address(kind: Kind | str, blueprint_name: str) -> str:
    return f"{Kind(kind).value}.{blueprint_name}"
