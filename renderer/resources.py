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
    """Where an env var's value comes from (render.yaml.schema.json: definitions.envVar), plus `SECRET`:
    a `sync: false` key the tenant file fills from an environment variable (`secrets: {KEY: {from_env:
    VAR}}`), whose name is the env var's `ref_name`."""

    VALUE = "value"
    GENERATE_VALUE = "generateValue"
    SYNC_FALSE = "sync: false"
    FROM_DATABASE = "fromDatabase"
    SECRET = "secret"


class EnvVar(BaseModel):
    """One declared env var. `value` is set only for `VALUE`; `ref_name`/`ref_property` name a blueprint
    resource and its property (`FROM_DATABASE`) or the environment variable holding a tenant secret
    (`SECRET`, `ref_name` only)."""

    model_config = ConfigDict(frozen=True)

    key: str
    source: EnvSource
    value: str | None = None
    ref_name: str | None = None
    ref_property: str | None = None

    @property
    def sensitive(self) -> bool:
        """Generated values, values read from a datastore and tenant secrets are secrets: never printed."""
        return self.source in (EnvSource.GENERATE_VALUE, EnvSource.FROM_DATABASE, EnvSource.SECRET)

    @property
    def managed(self) -> bool:
        """Whether renderer writes this key (`sync: false` keys are never written)."""
        return self.source is not EnvSource.SYNC_FALSE


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


# Normalisation: desired fields and live fields are brought to one form before they are compared, so
# that a resource renderer just applied never shows a change ("no noise").
#
# Fields that Render reports as "" or leaves out (or null) interchangeably: compared as "". Commands
# a blueprint omits are desired as "" so that removing one from the blueprint clears it on Render.
EMPTY_AS_MISSING = frozenset({
    "rootDir", "buildCommand", "startCommand", "preDeployCommand", "dockerCommand", "healthCheckPath",
})
NATIVE_RUNTIMES = frozenset({"elixir", "go", "node", "python", "ruby", "rust"})


def runtime_class(runtime: Any) -> str:
    """`native`, `docker` or `image`: Render can switch a service's runtime only within a class."""
    text = str(runtime)
    return text if text in ("docker", "image") else "native"


def ignored_fields(kind: Kind, desired_fields: dict[str, Any]) -> frozenset[str]:
    """Desired fields not compared with live state. `numInstances` is Render's to change while
    autoscaling is on (render.com/docs/scaling: autoscaling sets the instance count itself)."""
    if kind.is_service and desired_fields.get("autoscaling"):
        return frozenset({"numInstances"})
    return frozenset()


def normalise(kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
    """One side's fields in comparable form: empty-as-missing fields None -> ""."""
    out = dict(fields)
    for key in EMPTY_AS_MISSING:
        if key in out and out[key] is None:
            out[key] = ""
    return out


def desired_fields(resource: DesiredResource) -> dict[str, Any]:
    """A desired resource's compared fields: normalised, with omitted commands desired as "" and
    ignored fields left out."""
    fields = dict(resource.fields)
    if resource.kind.is_service and runtime_class(fields.get("runtime")) != "image":
        fields.setdefault("preDeployCommand", "")
    ignored = ignored_fields(resource.kind, fields)
    return {k: v for k, v in normalise(resource.kind, fields).items() if k not in ignored}


def live_value(kind: Kind, live_fields: dict[str, Any], key: str) -> Any:
    """The comparable live value of one field ("" for a missing empty-as-missing field)."""
    value = normalise(kind, {key: live_fields.get(key)})[key]
    return "" if value is None and key in EMPTY_AS_MISSING else value
