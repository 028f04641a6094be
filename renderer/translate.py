"""Translate a tenant's rendered blueprint into `DesiredResource`s in Render API vocabulary.

Translation reads the blueprint's normal form (`Blueprint.document`: `runtime`, never the deprecated
`env`; `type: keyvalue`, never `redis`; env var values as text), so it never sees a deprecated form.
Render has no endpoint that applies a render.yaml, so each Blueprint entry becomes one API resource:
the name gets the tenant suffix, Blueprint values become API values (`type: web` -> `web_service`,
`plan: basic-256mb` -> `basic_256mb`) and unset fields get the defaults Render applies on create, so
that a freshly created resource compares equal to its desired state.
"""

from __future__ import annotations

from typing import Any

from renderer import yamlio
from renderer.blueprint.model import KEY_VALUE, NATIVE_RUNTIMES, STATIC_SITE, Blueprint, resource_kind, resource_lists
from renderer.errors import Finding, RendererError
from renderer.resources import DesiredResource, EnvSource, EnvVar, Kind
from renderer.tenant import Tenant, TenantFile
from renderer.yamlio import PathPart

# Blueprint service `type` -> API `serviceType` (render.yaml.schema.json: definitions.serverService.type;
# openapi.json: components.schemas.serviceType).
SERVICE_KINDS: dict[str, Kind] = {
    "web": Kind.WEB_SERVICE,
    "pserv": Kind.PRIVATE_SERVICE,
    "worker": Kind.BACKGROUND_WORKER,
}
__all__ = ["DEFAULT_POSTGRES_VERSION", "NATIVE_RUNTIMES", "SERVICE_KINDS", "api_plan", "suffixed", "translate"]

# Defaults Render applies when a Blueprint omits a field (render.com/docs/blueprint-spec).
DEFAULT_REGION = "oregon"
DEFAULT_SERVICE_PLAN = "starter"
DEFAULT_POSTGRES_PLAN = "basic_256mb"
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
        hint="renderer manages web, private and background worker services and Postgres databases",
    )


def _env_vars(
    tenant: Tenant, blueprint: Blueprint, path: tuple[PathPart, ...], items: Any,
) -> tuple[EnvVar, ...]:
    result: list[EnvVar] = []
    for j, item in enumerate(items or []):
        item_path = (*path, "envVars", j)
        if not isinstance(item, dict):
            raise _unsupported(blueprint, item_path, "an env var that is not a mapping")
        key = str(item.get("key"))
        if "fromDatabase" in item:
            ref = item["fromDatabase"]
            result.append(EnvVar(key=key, source=EnvSource.FROM_DATABASE, ref_name=str(ref["name"]),
                                 ref_property=str(ref["property"])))
        elif item.get("generateValue") is True:
            result.append(EnvVar(key=key, source=EnvSource.GENERATE_VALUE))
        elif item.get("sync") is False and key in tenant.secrets:
            result.append(EnvVar(key=key, source=EnvSource.SECRET, ref_name=tenant.secrets[key].from_env))
        elif item.get("sync") is False:
            result.append(EnvVar(key=key, source=EnvSource.SYNC_FALSE))
        elif "value" in item:
            result.append(EnvVar(key=key, source=EnvSource.VALUE, value=str(item["value"])))
        elif "fromService" in item:
            raise _unsupported(blueprint, item_path, "`fromService`")
        elif "fromGroup" in item:
            raise _unsupported(blueprint, item_path, "`fromGroup` (env groups)")
        else:
            raise _unsupported(blueprint, item_path, "an env var without a value source")
    return tuple(result)


def _service(tenant: Tenant, blueprint: Blueprint, path: tuple[PathPart, ...], item: Any) -> DesiredResource:
    kind_name = item.get("type")
    runtime = str(item.get("runtime", ""))
    kind_of = resource_kind("services", item)
    if kind_of == KEY_VALUE:
        raise _unsupported(blueprint, path, "a Key Value instance")
    if kind_name not in SERVICE_KINDS or kind_of == STATIC_SITE:
        raise _unsupported(blueprint, path, f"a service of type {kind_name!r} (runtime {runtime!r})")
    kind = SERVICE_KINDS[kind_name]
    fields: dict[str, Any] = {
        "runtime": runtime,
        "region": str(item.get("region", DEFAULT_REGION)),
        "plan": api_plan(str(item.get("plan", DEFAULT_SERVICE_PLAN))),
        "numInstances": int(item.get("numInstances", 1)),
        "rootDir": str(item.get("rootDir", "")),
    }
    for key in ("repo", "branch"):
        if key in item:
            fields[key] = str(item[key])
    if runtime in NATIVE_RUNTIMES:
        fields["buildCommand"] = str(item.get("buildCommand", ""))
        fields["startCommand"] = str(item.get("startCommand", ""))
        if "preDeployCommand" in item:
            fields["preDeployCommand"] = str(item["preDeployCommand"])
    elif runtime == "docker":
        fields["dockerCommand"] = str(item.get("dockerCommand", ""))
        fields["dockerfilePath"] = str(item.get("dockerfilePath", "./Dockerfile"))
        fields["dockerContext"] = str(item.get("dockerContext", "."))
    else:
        raise _unsupported(blueprint, path, f"runtime {runtime!r}")
    if kind is Kind.WEB_SERVICE:
        fields["healthCheckPath"] = str(item.get("healthCheckPath", ""))
    name = str(item["name"])
    return DesiredResource(
        tenant=tenant.slug, kind=kind, blueprint_name=name, name=suffixed(name, tenant.slug),
        fields=fields, env_vars=_env_vars(tenant, blueprint, path, item.get("envVars")),
    )


def _postgres(tenant: Tenant, item: Any) -> DesiredResource:
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
    name = str(item["name"])
    return DesiredResource(tenant=tenant.slug, kind=Kind.POSTGRES, blueprint_name=name,
                           name=suffixed(name, tenant.slug), fields=fields)


def translate(tenant: Tenant, blueprint: Blueprint) -> list[DesiredResource]:
    """The desired resources of one tenant, in blueprint order (databases first).

    Expects a blueprint that passed validation. Raises `RendererError` for Blueprint features renderer
    does not manage yet, naming the line.
    """
    resources: list[DesiredResource] = []
    for scope, key, items in sorted(resource_lists(blueprint.document), key=lambda t: t[1] != "databases"):
        for i, item in enumerate(items):
            path = (*scope, key, i)
            if key == "databases":
                resources.append(_postgres(tenant, item))
            elif key == "services":
                resources.append(_service(tenant, blueprint, path, item))
            else:
                raise _unsupported(blueprint, path, "an env group")
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
