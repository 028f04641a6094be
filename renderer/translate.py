"""Translate a tenant's rendered blueprint into `DesiredResource`s in Render API vocabulary.

Translation reads the blueprint's normal form (`Blueprint.document`: `runtime`, never the deprecated
`env`; `type: keyvalue`, never `redis`; env var values as text), so it never sees a deprecated form.
Render has no endpoint that applies a render.yaml, so each Blueprint entry becomes one API resource:
the name gets the tenant suffix, Blueprint values become API values (`type: web` -> `web_service`,
`plan: basic-256mb` -> `basic_256mb`, `maxmemoryPolicy: allkeys-lru` -> `allkeys_lru`) and unset fields
get the defaults Render applies on create, so that a freshly created resource compares equal to its
desired state.

Every kind a blueprint declares is translated: web services, private services, background workers,
cron jobs and static sites (with their `disk`, `domains`, `numInstances` and `scaling`), Postgres
databases, Key Value instances (`type: keyvalue` under `services`) and env groups (`envVarGroups`, linked
to the services that name them with `fromGroup`). Fields renderer manages per kind are listed in the
README ("What renderer manages"); others are left to Render's defaults.
"""

from __future__ import annotations

from typing import Any

from renderer import yamlio
from renderer.blueprint.model import (
    KEY_VALUE,
    NATIVE_RUNTIMES,
    STATIC_SITE,
    Blueprint,
    resource_kind,
    resource_lists,
)
from renderer.errors import Finding, RendererError
from renderer.resources import (
    SCALABLE_KINDS,
    DesiredResource,
    EnvSource,
    EnvVar,
    Kind,
    autoscaling,
    ip_allow_list,
    static_headers,
    static_routes,
)
from renderer.tenant import Tenant, TenantFile
from renderer.yamlio import PathPart

# Blueprint service `type` -> API `serviceType` (render.yaml.schema.json: definitions.serverService.type;
# openapi.json: components.schemas.serviceType).
SERVICE_KINDS: dict[str, Kind] = {
    "web": Kind.WEB_SERVICE,
    "pserv": Kind.PRIVATE_SERVICE,
    "worker": Kind.BACKGROUND_WORKER,
    "cron": Kind.CRON_JOB,
}
# `fromService.type` -> the kind it names (render.yaml.schema.json: definitions.serviceType).
REFERENCE_KINDS: dict[str, Kind] = {
    "web": Kind.WEB_SERVICE, "static": Kind.STATIC_SITE, "pserv": Kind.PRIVATE_SERVICE,
    "worker": Kind.BACKGROUND_WORKER, "cron": Kind.CRON_JOB, "keyvalue": Kind.KEY_VALUE, "redis": Kind.KEY_VALUE,
}
__all__ = ["DEFAULT_POSTGRES_VERSION", "NATIVE_RUNTIMES", "SERVICE_KINDS", "api_plan", "suffixed", "translate"]

# Defaults Render applies when a Blueprint omits a field (render.com/docs/blueprint-spec;
# render.yaml.schema.json: disk.sizeGB "Defaults to 10"; openapi.json: staticSiteDetailsPOST.publishPath
# "Defaults to public").
DEFAULT_REGION = "oregon"
DEFAULT_SERVICE_PLAN = "starter"
DEFAULT_POSTGRES_PLAN = "basic_256mb"
DEFAULT_KEY_VALUE_PLAN = "starter"
DEFAULT_MAXMEMORY_POLICY = "allkeys_lru"
DEFAULT_DISK_SIZE_GB = 10
DEFAULT_PUBLISH_PATH = "public"
# An autoscaling criterion the blueprint leaves off is sent disabled; Render still wants a percentage.
DISABLED_TARGET_PERCENT = 70
# POST /postgres requires `version`; a blueprint without postgresMajorVersion gets this one and the
# plan does not compare the version afterwards (Render may have chosen another default).
DEFAULT_POSTGRES_VERSION = "16"


def api_plan(plan: str) -> str:
    """Blueprint plan -> API plan: `pro plus` -> `pro_plus`, `basic-256mb` -> `basic_256mb`."""
    return plan.replace(" ", "_").replace("-", "_")


def suffixed(name: str, slug: str) -> str:
    """The Render name of a tenant's resource: `backboneos-backend` -> `backboneos-backend-acme-corp`."""
    return f"{name}-{slug}"


def _unsupported(blueprint: Blueprint, path: tuple[PathPart, ...], what: str) -> RendererError:
    file, line, _, _ = blueprint.locate(path, at_value=False)
    where = f"{file}:{line}" if line else file
    return RendererError(
        f"{where}: {what} at {yamlio.format_path(path)} is not supported by renderer yet",
        hint="renderer manages services of all five types (with disks, custom domains and scaling), Postgres, "
             "Key Value and env groups; see the README section \"What renderer manages\"",
    )


class _Translator:
    def __init__(self, tenant: Tenant, blueprint: Blueprint) -> None:
        self.tenant = tenant
        self.blueprint = blueprint
        self.slug = tenant.slug
        # Blueprint name -> kind of every service and Key Value, for `fromService`.
        self.kinds: dict[str, Kind] = {}
        for _scope, key, items in resource_lists(blueprint.document):
            if key != "services":
                continue
            for item in items:
                kind = self._kind(item)
                if kind is not None and isinstance(item.get("name"), str):
                    self.kinds[item["name"]] = kind

    @staticmethod
    def _kind(item: Any) -> Kind | None:
        kind_of = resource_kind("services", item)
        if kind_of == KEY_VALUE:
            return Kind.KEY_VALUE
        if kind_of == STATIC_SITE:
            return Kind.STATIC_SITE
        return SERVICE_KINDS.get(str(item.get("type"))) if isinstance(item, dict) else None

    def env_vars(self, path: tuple[PathPart, ...], items: Any, *, group: bool = False
                 ) -> tuple[tuple[EnvVar, ...], tuple[str, ...]]:
        """The env vars of a service or env group, and the env groups a service links (`fromGroup`)."""
        result: list[EnvVar] = []
        groups: list[str] = []
        for j, item in enumerate(items or []):
            item_path = (*path, "envVars", j)
            if not isinstance(item, dict):
                raise _unsupported(self.blueprint, item_path, "an env var that is not a mapping")
            if "fromGroup" in item and not group:
                groups.append(str(item["fromGroup"]))
                continue
            key = str(item.get("key"))
            if "fromDatabase" in item and not group:
                ref = item["fromDatabase"]
                result.append(EnvVar(key=key, source=EnvSource.FROM_DATABASE, ref_name=str(ref["name"]),
                                     ref_property=str(ref["property"])))
            elif "fromService" in item and not group:
                result.append(self.from_service(item_path, key, item["fromService"]))
            elif item.get("generateValue") is True:
                result.append(EnvVar(key=key, source=EnvSource.GENERATE_VALUE))
            elif item.get("sync") is False and not group and key in self.tenant.secrets:
                result.append(EnvVar(key=key, source=EnvSource.SECRET, ref_name=self.tenant.secrets[key].from_env))
            elif item.get("sync") is False and not group:
                result.append(EnvVar(key=key, source=EnvSource.SYNC_FALSE))
            elif "value" in item:
                result.append(EnvVar(key=key, source=EnvSource.VALUE, value=str(item["value"])))
            else:
                raise _unsupported(self.blueprint, item_path, "an env var without a value source")
        return tuple(result), tuple(dict.fromkeys(groups))

    def from_service(self, path: tuple[PathPart, ...], key: str, ref: Any) -> EnvVar:
        name = str(ref.get("name"))
        declared = REFERENCE_KINDS.get(str(ref.get("type")))
        kind = self.kinds.get(name)
        if declared is None or kind is None:
            raise _unsupported(self.blueprint, (*path, "fromService"),
                               f"`fromService` of type {ref.get('type')!r} naming {name!r}")
        if "envVarKey" in ref:
            return EnvVar(key=key, source=EnvSource.FROM_SERVICE, ref_kind=kind.value, ref_name=name,
                          ref_key=str(ref["envVarKey"]))
        return EnvVar(key=key, source=EnvSource.FROM_SERVICE, ref_kind=kind.value, ref_name=name,
                      ref_property=str(ref.get("property")))

    def _resource(self, kind: Kind, name: str, fields: dict[str, Any], **extra: Any) -> DesiredResource:
        return DesiredResource(tenant=self.slug, kind=kind, blueprint_name=name, name=suffixed(name, self.slug),
                               fields=fields, **extra)

    def _scaling(self, path: tuple[PathPart, ...], scaling: Any) -> dict[str, Any]:
        cpu, memory = scaling.get("targetCPUPercent"), scaling.get("targetMemoryPercent")
        if cpu is None and memory is None:
            raise RendererError(
                f"{self._where(path)}: `scaling` at {yamlio.format_path(path)} sets neither `targetCPUPercent` "
                "nor `targetMemoryPercent`",
                hint="Render autoscales on CPU or memory: set at least one target (1 to 90 percent)")
        minimum = int(scaling.get("minInstances", 1))
        return autoscaling(minimum, int(scaling.get("maxInstances", minimum)),
                           int(cpu) if cpu is not None else None, int(memory) if memory is not None else None)

    def _where(self, path: tuple[PathPart, ...]) -> str:
        file, line, _, _ = self.blueprint.locate(path, at_value=False)
        return f"{file}:{line}" if line else file

    def _code(self, item: Any, path: tuple[PathPart, ...], fields: dict[str, Any]) -> None:
        """Where the code comes from and how it builds and starts (every service type but static sites)."""
        runtime = str(item.get("runtime", ""))
        fields["runtime"] = runtime
        if runtime in NATIVE_RUNTIMES:
            fields["buildCommand"] = str(item.get("buildCommand", ""))
            fields["startCommand"] = str(item.get("startCommand", ""))
        elif runtime == "docker":
            fields["dockerCommand"] = str(item.get("dockerCommand", ""))
            fields["dockerfilePath"] = str(item.get("dockerfilePath", "./Dockerfile"))
            fields["dockerContext"] = str(item.get("dockerContext", "."))
        elif runtime == "image":
            image = item.get("image") or {}
            if "creds" in image or "registryCredential" in item:
                raise _unsupported(self.blueprint, (*path, "image"), "an image with registry credentials")
            fields["image"] = str(image.get("url", ""))
            fields["dockerCommand"] = str(item.get("dockerCommand", ""))
        else:
            raise _unsupported(self.blueprint, path, f"runtime {runtime!r}")
        if "registryCredential" in item:
            raise _unsupported(self.blueprint, (*path, "registryCredential"), "`registryCredential`")

    def service(self, path: tuple[PathPart, ...], item: Any) -> list[DesiredResource]:
        kind = self._kind(item)
        if kind is None:
            raise _unsupported(self.blueprint, path, f"a service of type {item.get('type')!r}")
        if kind is Kind.KEY_VALUE:
            return [self.key_value(item)]
        name = str(item["name"])
        fields: dict[str, Any] = {"rootDir": str(item.get("rootDir", ""))}
        for key in ("repo", "branch"):
            if key in item:
                fields[key] = str(item[key])
        if kind is Kind.STATIC_SITE:
            fields["headers"] = static_headers(item.get("headers"))
            fields["routes"] = static_routes(item.get("routes"))
            fields["buildCommand"] = str(item.get("buildCommand", ""))
            fields["publishPath"] = str(item.get("staticPublishPath", DEFAULT_PUBLISH_PATH))
        else:
            self._code(item, path, fields)
            fields["region"] = str(item.get("region", DEFAULT_REGION))
            fields["plan"] = api_plan(str(item.get("plan", DEFAULT_SERVICE_PLAN)))
        if kind in SCALABLE_KINDS:
            fields["numInstances"] = int(item.get("numInstances", 1))
            scaling = item.get("scaling")
            fields["autoscaling"] = self._scaling((*path, "scaling"), scaling) if isinstance(scaling, dict) else None
            if "preDeployCommand" in item and fields["runtime"] != "image":
                fields["preDeployCommand"] = str(item["preDeployCommand"])
        if kind is Kind.WEB_SERVICE:
            fields["healthCheckPath"] = str(item.get("healthCheckPath", ""))
        if kind is Kind.CRON_JOB:
            fields["schedule"] = str(item.get("schedule", ""))
        env_vars, groups = self.env_vars(path, item.get("envVars"))
        fields["envGroups"] = sorted(suffixed(g, self.slug) for g in groups)
        service = self._resource(kind, name, fields, env_vars=env_vars, env_groups=groups)
        return [service, *self.children(path, item, service)]

    def children(self, path: tuple[PathPart, ...], item: Any, service: DesiredResource) -> list[DesiredResource]:
        """A service's disk and custom domains (`domain` and `domains`)."""
        result: list[DesiredResource] = []
        disk = item.get("disk")
        if isinstance(disk, dict):
            if service.kind not in SCALABLE_KINDS:
                raise _unsupported(self.blueprint, (*path, "disk"), f"a disk on a {service.kind.value}")
            result.append(DesiredResource(
                tenant=self.slug, kind=Kind.DISK, blueprint_name=service.blueprint_name, name=str(disk["name"]),
                parent=service.address,
                fields={"name": str(disk["name"]), "mountPath": str(disk["mountPath"]),
                        "sizeGB": int(disk.get("sizeGB", DEFAULT_DISK_SIZE_GB))}))
        domains = [item["domain"]] if isinstance(item.get("domain"), str) else []
        domains += [d for d in item.get("domains") or [] if isinstance(d, str)]
        if domains and service.kind not in (Kind.WEB_SERVICE, Kind.STATIC_SITE):
            raise _unsupported(self.blueprint, (*path, "domains"), f"a custom domain on a {service.kind.value}")
        for domain in dict.fromkeys(d.strip().lower() for d in domains):
            result.append(DesiredResource(
                tenant=self.slug, kind=Kind.CUSTOM_DOMAIN, blueprint_name=f"{service.blueprint_name}/{domain}",
                name=domain, parent=service.address))
        return result

    def key_value(self, item: Any) -> DesiredResource:
        policy = str(item.get("maxmemoryPolicy", DEFAULT_MAXMEMORY_POLICY)).replace("-", "_")
        fields: dict[str, Any] = {
            "plan": api_plan(str(item.get("plan", DEFAULT_KEY_VALUE_PLAN))),
            "region": str(item.get("region", DEFAULT_REGION)),
            "maxmemoryPolicy": policy,
            "ipAllowList": ip_allow_list(item.get("ipAllowList")),
        }
        return self._resource(Kind.KEY_VALUE, str(item["name"]), fields)

    def postgres(self, item: Any) -> DesiredResource:
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
        return self._resource(Kind.POSTGRES, str(item["name"]), fields)

    def env_group(self, path: tuple[PathPart, ...], item: Any) -> DesiredResource:
        env_vars, _ = self.env_vars(path, item.get("envVars"), group=True)
        return self._resource(Kind.ENV_GROUP, str(item["name"]), {}, env_vars=env_vars)


def translate(tenant: Tenant, blueprint: Blueprint) -> list[DesiredResource]:
    """The desired resources of one tenant: env groups, databases, then services (each followed by its
    disk and custom domains), in blueprint order within each.

    Expects a blueprint that passed validation. Raises `RendererError` for Blueprint features renderer
    does not manage yet, naming the line.
    """
    translator = _Translator(tenant, blueprint)
    order = {"envVarGroups": 0, "databases": 1, "services": 2}
    resources: list[DesiredResource] = []
    for scope, key, items in sorted(resource_lists(blueprint.document), key=lambda t: order[t[1]]):
        for i, item in enumerate(items):
            path = (*scope, key, i)
            if key == "databases":
                resources.append(translator.postgres(item))
            elif key == "services":
                resources.extend(translator.service(path, item))
            else:
                resources.append(translator.env_group(path, item))
    return resources


def secret_findings(tenant_file: TenantFile, resources: list[DesiredResource]) -> list[Finding]:
    """A tenant secret lands only on the services whose blueprint entry declares its key with
    `sync: false`; a secret no service declares is an error (it would otherwise be silently unused)."""
    landed = {e.key for r in resources for e in r.env_vars if e.source is EnvSource.SECRET}
    findings: list[Finding] = []
    for key in tenant_file.tenant.secrets:
        if key in landed:
            continue
        line, column = tenant_file.document.position(("secrets", key))
        findings.append(Finding(
            file=str(tenant_file.path), line=line, column=column, path=f"secrets.{key}", layer="semantic",
            rule="secret-not-declared",
            message=f"secret {key} is not declared by any service of blueprint {tenant_file.tenant.blueprint!r}",
            hint=f"declare it in the blueprint on each service that needs it: `- key: {key}` with "
                 "`sync: false`, or remove it from the tenant file"))
    return findings
