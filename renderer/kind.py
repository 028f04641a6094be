"""The one name of each Render resource kind renderer manages, and the product's sets of kinds.

`Kind` values are the Render API's (`serviceType` for the five service types, openapi.json:
components.schemas.serviceType; `postgres`, `key_value`, `env_group`, `disk`, `custom_domain`,
`project`, `environment` for the others). The blueprint layer, the desired resources, the plan, refresh
and apply all name kinds with it. What renderer knows about each kind (translation, reads, writes) lives
in `renderer.kinds`.

This module imports nothing from renderer: everything else may import it.
"""

from __future__ import annotations

from enum import StrEnum


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
    PROJECT = "project"
    ENVIRONMENT = "environment"

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

    @property
    def label(self) -> str:
        """The kind in words, as Render's docs write it (`Key Value instance`)."""
        return _LABELS[self]

    @property
    def blueprint_type(self) -> str | None:
        """The Blueprint `type` naming this kind in `fromService.type` (render.yaml.schema.json:
        definitions.serviceType); None for kinds `fromService` cannot read."""
        return _REFERENCE_TYPE.get(self)

    @property
    def blueprint_plans(self) -> tuple[str, ...] | None:
        """The instance types a Blueprint may give this kind, Blueprint spelling; None when not a fixed
        list (Postgres: `basic-1gb`, `pro-4gb`, ...; kinds without a plan)."""
        return _PLANS.get(self)

    @property
    def namespace(self) -> str:
        """The Render API collection a name must be unique in: `service` for the five service types
        (openapi.json: /services), else the kind itself (/postgres, /key-value, /env-groups)."""
        return "service" if self.is_service else self.value


SERVICE_KINDS = frozenset(
    {Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER, Kind.CRON_JOB, Kind.STATIC_SITE}
)
# Services that run instances (numInstances, autoscaling, disks, preDeployCommand): not cron jobs or
# static sites (openapi.json: web/privateService/backgroundWorkerDetailsPOST).
SCALABLE_KINDS = frozenset({Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER})
# Services built from code with a runtime (`runtime`, the build and start commands): all but static sites.
CODE_KINDS = SERVICE_KINDS - {Kind.STATIC_SITE}
# Native runtimes build and start with commands (render.yaml.schema.json: definitions.runtime;
# openapi.json: nativeEnvironmentDetailsPOST requires buildCommand and startCommand).
NATIVE_RUNTIMES = frozenset({"elixir", "go", "node", "python", "ruby", "rust"})

# Blueprint `services[].type` -> kind (render.yaml.schema.json: definitions.serverService.type,
# definitions.redisServer.type with `redis` its deprecated alias). `web` with `runtime: static` is a
# static site (`blueprint_kind`).
BLUEPRINT_SERVICE_TYPES: dict[str, Kind] = {
    "web": Kind.WEB_SERVICE, "pserv": Kind.PRIVATE_SERVICE, "worker": Kind.BACKGROUND_WORKER,
    "cron": Kind.CRON_JOB, "keyvalue": Kind.KEY_VALUE, "redis": Kind.KEY_VALUE,
}
# Blueprint `services[].type` values that are not services but datastores.
DATASTORE_TYPES = frozenset(t for t, k in BLUEPRINT_SERVICE_TYPES.items() if k.is_datastore)
# `fromService.type` -> the kind it names (render.yaml.schema.json: definitions.serviceType).
REFERENCE_KINDS: dict[str, Kind] = {
    "web": Kind.WEB_SERVICE, "static": Kind.STATIC_SITE, "pserv": Kind.PRIVATE_SERVICE,
    "worker": Kind.BACKGROUND_WORKER, "cron": Kind.CRON_JOB, "keyvalue": Kind.KEY_VALUE, "redis": Kind.KEY_VALUE,
}
_REFERENCE_TYPE: dict[Kind, str] = {}
for _type, _kind in REFERENCE_KINDS.items():
    _REFERENCE_TYPE.setdefault(_kind, _type)
# Instance types by kind, Blueprint spelling (render.yaml.schema.json: definitions.plan; which kind takes
# which: openapi.json webServiceDetailsPOST.plan = plan, privateService/backgroundWorker/cronJobDetailsPOST.plan
# = paidPlan, keyValuePlan).
SERVICE_PLANS = ("free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra")
PAID_PLANS = SERVICE_PLANS[1:]
_PLANS: dict[Kind, tuple[str, ...]] = {
    Kind.WEB_SERVICE: SERVICE_PLANS, Kind.PRIVATE_SERVICE: PAID_PLANS, Kind.BACKGROUND_WORKER: PAID_PLANS,
    Kind.CRON_JOB: PAID_PLANS, Kind.KEY_VALUE: ("free", "starter", "standard", "pro", "pro plus"),
}
_LABELS = {
    Kind.WEB_SERVICE: "web service", Kind.PRIVATE_SERVICE: "private service",
    Kind.BACKGROUND_WORKER: "background worker", Kind.CRON_JOB: "cron job", Kind.STATIC_SITE: "static site",
    Kind.KEY_VALUE: "Key Value instance", Kind.POSTGRES: "Postgres database", Kind.ENV_GROUP: "env group",
    Kind.DISK: "disk", Kind.CUSTOM_DOMAIN: "custom domain", Kind.PROJECT: "project", Kind.ENVIRONMENT: "environment",
}


def blueprint_kind(list_key: str, item: object) -> Kind | None:
    """The kind of one entry of a Blueprint's `services`, `databases` or `envVarGroups` list; None when
    its type is unknown. `runtime` (or the deprecated `env`) `static` makes a `web` entry a static site."""
    if list_key == "databases":
        return Kind.POSTGRES
    if list_key == "envVarGroups":
        return Kind.ENV_GROUP
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "web" and item.get("runtime", item.get("env")) == "static":
        return Kind.STATIC_SITE
    return BLUEPRINT_SERVICE_TYPES.get(kind) if isinstance(kind, str) else None
