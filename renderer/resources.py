"""Desired resources: one Render resource per blueprint entry, in Render API vocabulary.

A `DesiredResource` is what `renderer.translate` produces from a tenant's rendered blueprint and what
the plan compares against live state. Field names and values are the Render API's (`web_service`,
`basic_256mb`, `runtime`, `buildCommand`), not the Blueprint's (`web`, `basic-256mb`).

Kinds: the five service types, Postgres, Key Value and env groups are top-level resources with their
own Render names (the blueprint name with the tenant suffix). A service's persistent disk and its custom
domains are child resources (`parent` is the service's address): they have their own Render IDs (`dsk-`,
`cdm-`) so they are recorded, compared and deleted by ID, but they live and die with their service.
An env group link (`fromGroup`) is the service field `envGroups`. How each kind's fields are translated,
normalised and compared is its module's (`renderer.kinds`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from renderer.kind import Kind


class EnvSource(StrEnum):
    """Where an env var's value comes from (render.yaml.schema.json: definitions.envVar), plus `SECRET`:
    a `sync: false` key the tenant file fills from an environment variable (`secrets: {KEY: {from_env:
    VAR}}`), whose name is the env var's `ref_name`."""

    VALUE = "value"
    GENERATE_VALUE = "generateValue"
    SYNC_FALSE = "sync: false"
    FROM_DATABASE = "fromDatabase"
    FROM_SERVICE = "fromService"
    SECRET = "secret"


class EnvVar(BaseModel):
    """One declared env var. `value` is set only for `VALUE`.

    - `FROM_DATABASE`: `ref_name` names a blueprint database, `ref_property` its property;
    - `FROM_SERVICE`: `ref_kind` and `ref_name` name a blueprint service or Key Value, and either
      `ref_property` (host, port, hostport, connectionString) or `ref_key` (its env var `envVarKey`);
    - `SECRET`: `ref_name` is the environment variable holding a tenant secret.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    source: EnvSource
    value: str | None = None
    ref_name: str | None = None
    ref_property: str | None = None
    ref_kind: str | None = None
    ref_key: str | None = None

    @property
    def sensitive(self) -> bool:
        """Generated values, values read from a datastore or another service and tenant secrets are
        secrets: never printed."""
        return self.source in (EnvSource.GENERATE_VALUE, EnvSource.FROM_DATABASE, EnvSource.FROM_SERVICE,
                               EnvSource.SECRET)

    @property
    def managed(self) -> bool:
        """Whether renderer writes this key (`sync: false` keys are never written)."""
        return self.source is not EnvSource.SYNC_FALSE

    @property
    def target(self) -> str | None:
        """The address of the resource this env var reads (`postgres.db`, `private_service.search`)."""
        if self.source is EnvSource.FROM_DATABASE:
            return f"{Kind.POSTGRES.value}.{self.ref_name}"
        if self.source is EnvSource.FROM_SERVICE:
            return f"{self.ref_kind}.{self.ref_name}"
        return None


class DesiredResource(BaseModel):
    """One resource a tenant should have.

    - `address`: `<kind>.<blueprint name>`, unique within a tenant; the lockfile key. A disk's blueprint
      name is its service's (`disk.backboneos-backend`), a custom domain's is `<service>/<domain>`.
    - `name`: the Render name: the blueprint name with the tenant suffix (`backboneos-db-acme-corp`);
      a disk's own name, a custom domain's domain name.
    - `fields`: the compared settings, flat, API vocabulary, defaults filled in.
    - `env_vars`: services and env groups, in blueprint order.
    - `parent`: a disk's or custom domain's service address.
    - `env_groups`: a service's linked env groups (`fromGroup`), by blueprint name.
    - `environment`: the address of the Render environment a service, datastore or env group is created
      in (`environment.<project>/<environment>`); None: the workspace root (a Blueprint's `ungrouped`).
    """

    model_config = ConfigDict(frozen=True)

    tenant: str
    kind: Kind
    blueprint_name: str
    name: str
    fields: dict[str, Any] = Field(default_factory=dict)
    env_vars: tuple[EnvVar, ...] = ()
    parent: str | None = None
    env_groups: tuple[str, ...] = ()
    environment: str | None = None

    @property
    def address(self) -> str:
        return f"{self.kind.value}.{self.blueprint_name}"

    def depends_on(self) -> set[str]:
        """Addresses this resource needs to exist first: the resources its env vars read, its env groups
        and its parent service."""
        needs = {t for t in (e.target for e in self.env_vars) if t is not None}
        needs |= {f"{Kind.ENV_GROUP.value}.{g}" for g in self.env_groups}
        if self.parent:
            needs.add(self.parent)
        if self.environment:
            needs.add(self.environment)
        needs.discard(self.address)
        return needs


def address(kind: Kind | str, blueprint_name: str) -> str:
    return f"{Kind(kind).value}.{blueprint_name}"


def suffixed(name: str, slug: str) -> str:
    """The Render name of a tenant's resource: `backboneos-backend` -> `backboneos-backend-acme-corp`."""
    return f"{name}-{slug}"
