"""Desired resources: one Render resource per blueprint entry, in Render API vocabulary.

A `DesiredResource` is what `renderer.translate` produces from a tenant's rendered blueprint and what
the plan compares against live state. Field names and values are the Render API's (`web_service`,
`basic_256mb`, `runtime`, `buildCommand`), not the Blueprint's (`web`, `basic-256mb`).

Kinds: the five service types, Postgres, Key Value and env groups are top-level resources with their
own Render names (the blueprint name with the tenant suffix). A service's persistent disk and its custom
domains are child resources (`parent` is the service's address): they have their own Render IDs (`dsk-`,
`cdm-`) so they are recorded, compared and deleted by ID, but they live and die with their service.
An env group link (`fromGroup`) is the service field `envGroups`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    DISK = "disk"
    CUSTOM_DOMAIN = "custom_domain"

    @property
    def is_service(self) -> bool:
        return self in SERVICE_KINDS

    @property
    def is_datastore(self) -> bool:
        return self in (Kind.POSTGRES, Kind.KEY_VALUE)

    @property
    def is_child(self) -> bool:
        """A disk or custom domain: it belongs to a service and is reached through it."""
        return self in (Kind.DISK, Kind.CUSTOM_DOMAIN)


SERVICE_KINDS = frozenset(
    {Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER, Kind.CRON_JOB, Kind.STATIC_SITE}
)
# Services that run instances (numInstances, autoscaling, disks, preDeployCommand): not cron jobs or
# static sites (openapi.json: web/privateService/backgroundWorkerDetailsPOST).
SCALABLE_KINDS = frozenset({Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER})

# Create order (issue 5): env groups, then Postgres and Key Value, then the services that read them
# (private services first: others often read their host), then disks and custom domains. Within a rank,
# apply orders services by their references (`DesiredResource.depends_on`). Deletes run in reverse.
CREATE_ORDER: dict[Kind, int] = {
    Kind.ENV_GROUP: 0, Kind.POSTGRES: 1, Kind.KEY_VALUE: 1, Kind.PRIVATE_SERVICE: 2,
    Kind.WEB_SERVICE: 3, Kind.BACKGROUND_WORKER: 3, Kind.CRON_JOB: 3, Kind.STATIC_SITE: 3,
    Kind.DISK: 4, Kind.CUSTOM_DOMAIN: 4,
}


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
        needs.discard(self.address)
        return needs


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
DEFAULT_REGISTRY = "docker.io"
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def runtime_class(runtime: Any) -> str:
    """`native`, `docker` or `image`: what a service's runtime asks of its source (a repository with
    build commands, a repository with a Dockerfile, an image). Render switches between them in place
    (PATCH answered 200 for node -> python -> docker -> image; ../shared/render/recorded/
    webservice_resource__runtime_update)."""
    text = str(runtime)
    return text if text in ("docker", "image") else "native"


def image_reference(url: str) -> tuple[str, str | None, str | None]:
    """An image URL as `(repository, tag, digest)`, the repository with its registry and Docker Hub's
    implied parts (`nginx:1.27` -> `("docker.io/library/nginx", "1.27", None)`). A missing tag is
    `latest` unless a digest pins the image (docs.docker.com: image references)."""
    text = url.strip()
    digest = None
    match = _DIGEST.search(text)
    if match:
        digest, text = match.group(1), text[: match.start()]
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = [DEFAULT_REGISTRY, *parts]
    if parts[0] == DEFAULT_REGISTRY and len(parts) == 2:
        parts = [DEFAULT_REGISTRY, "library", parts[1]]
    if tag is None and digest is None:
        tag = "latest"
    return "/".join(parts).lower(), tag, digest


def canonical_image(url: str) -> str:
    """An image URL in the form Render answers (`nginx` -> `docker.io/library/nginx:latest`; recorded in
    ../shared/render/recorded/webservice_resource__web_service_image), so that the desired and the live
    side compare and fingerprint alike."""
    repository, tag, digest = image_reference(url)
    return repository + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def image_matches(desired: Any, live: Any) -> bool:
    """Whether the live image is the desired one: same repository, and the same digest when both pin
    one, else the same tag (Render may report a tag resolved to a digest, or the other way round)."""
    if not isinstance(desired, str) or not isinstance(live, str):
        return bool(desired == live)
    want, have = image_reference(desired), image_reference(live)
    if want[0] != have[0]:
        return False
    if want[2] and have[2]:
        return want[2] == have[2]
    return want[1] is None or have[1] is None or want[1] == have[1]


def autoscaling(minimum: int, maximum: int, cpu: int | None, memory: int | None) -> dict[str, Any]:
    """The compared form of an autoscaling setting: instance range and the target of each criterion
    that is on (None: off)."""
    return {"min": minimum, "max": maximum, "cpu": cpu, "memory": memory}


def live_autoscaling(config: Any) -> dict[str, Any] | None:
    """A service's `serviceDetails.autoscaling` (openapi.json: webServiceDetails.autoscaling) in the
    compared form; None when it is absent or disabled."""
    if not isinstance(config, Mapping) or not config.get("enabled"):
        return None
    criteria = config.get("criteria") or {}

    def target(name: str) -> int | None:
        item = criteria.get(name) or {}
        return int(item["percentage"]) if item.get("enabled") and item.get("percentage") is not None else None

    return autoscaling(int(config.get("min", 1)), int(config.get("max", 1)), target("cpu"), target("memory"))


def ip_allow_list(entries: Any) -> list[dict[str, str]]:
    """An IP allow list in API form (`[{"cidrBlock", "description"}]`, openapi.json:
    cidrBlockAndDescription), sorted so order does not matter. Takes the Blueprint's `source` too."""
    result = []
    for entry in entries or []:
        if isinstance(entry, Mapping):
            block = entry.get("cidrBlock", entry.get("source"))
            result.append({"cidrBlock": str(block), "description": str(entry.get("description") or "")})
    return sorted(result, key=lambda e: (e["cidrBlock"], e["description"]))


def static_headers(items: Any) -> list[dict[str, str]]:
    """A static site's response headers (`[{"path", "name", "value"}]`, render.yaml.schema.json:
    staticHeader; openapi.json: headerInput), sorted: their order does not matter."""
    result = [{"path": str(h.get("path")), "name": str(h.get("name")), "value": str(h.get("value"))}
              for h in items or [] if isinstance(h, Mapping)]
    return sorted(result, key=lambda h: (h["path"], h["name"], h["value"]))


def static_routes(items: Any) -> list[dict[str, str]]:
    """A static site's redirect and rewrite rules (`[{"type", "source", "destination"}]`,
    render.yaml.schema.json: route; openapi.json: routePut), in priority order (Render applies the first
    that matches)."""
    rules = [r for r in items or [] if isinstance(r, Mapping)]
    rules.sort(key=lambda r: int(r.get("priority", 0)))
    return [{"type": str(r.get("type")), "source": str(r.get("source")), "destination": str(r.get("destination"))}
            for r in rules]


def ignored_fields(kind: Kind, desired_fields: dict[str, Any]) -> frozenset[str]:
    """Desired fields not compared with live state. `numInstances` is Render's to change while
    autoscaling is on (render.com/docs/scaling: autoscaling sets the instance count itself; openapi.json:
    numInstances "DOES NOT indicate the number of running instances for an autoscaled service")."""
    if kind.is_service and desired_fields.get("autoscaling"):
        return frozenset({"numInstances"})
    return frozenset()


def normalise(kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
    """One side's fields in comparable form: empty-as-missing fields None -> "", lists sorted."""
    out = dict(fields)
    for key in EMPTY_AS_MISSING:
        if key in out and out[key] is None:
            out[key] = ""
    if "ipAllowList" in out:
        out["ipAllowList"] = ip_allow_list(out["ipAllowList"])
    if isinstance(out.get("image"), str) and out["image"]:
        out["image"] = canonical_image(out["image"])
    if "headers" in out and out["headers"] is not None:
        out["headers"] = static_headers(out["headers"])
    if "envGroups" in out and out["envGroups"] is not None:
        out["envGroups"] = sorted(out["envGroups"])
    return out


def desired_fields(resource: DesiredResource) -> dict[str, Any]:
    """A desired resource's compared fields: normalised, with omitted commands desired as "" and
    ignored fields left out."""
    fields = dict(resource.fields)
    if resource.kind in SCALABLE_KINDS and runtime_class(fields.get("runtime")) != "image":
        fields.setdefault("preDeployCommand", "")
    ignored = ignored_fields(resource.kind, fields)
    return {k: v for k, v in normalise(resource.kind, fields).items() if k not in ignored}


def live_value(kind: Kind, live_fields: dict[str, Any], key: str) -> Any:
    """The comparable live value of one field ("" for a missing empty-as-missing field)."""
    value = normalise(kind, {key: live_fields.get(key)})[key]
    return "" if value is None and key in EMPTY_AS_MISSING else value


# Render adds a random `_xxxx` to a Postgres database name, requested or not (`db_name` answered as
# `db_name_ehyv`; ../shared/render/recorded/postgres_resource__postgres).
_DATABASE_SUFFIX = r"_[a-z0-9]{4}"


def requested_forms(key: str, live: Any) -> list[Any]:
    """The values a requested field may have had for Render to answer `live`: the value itself, and for
    `databaseName` the name without Render's random suffix (drift compares these with what was applied)."""
    if key == "databaseName" and isinstance(live, str) and re.search(_DATABASE_SUFFIX + "$", live):
        return [live, live[:-5]]
    return [live]


def database_name_matches(desired: Any, live: Any) -> bool:
    """Whether the live database name is the requested one, Render's random suffix aside."""
    if not isinstance(desired, str) or not isinstance(live, str):
        return bool(desired == live)
    return live == desired or re.fullmatch(re.escape(desired) + _DATABASE_SUFFIX, live) is not None


def same_value(key: str, desired: Any, live: Any) -> bool:
    """Whether a normalised desired value equals the live one (`image`: tag vs digest, see
    `image_matches`; `databaseName`: Render's suffix, see `database_name_matches`)."""
    if key == "image":
        return image_matches(desired, live)
    if key == "databaseName":
        return database_name_matches(desired, live)
    return bool(desired == live)
