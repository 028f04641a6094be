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
from renderer.blueprint.model import Blueprint, resource_lists, scopes
from renderer.errors import Finding, RendererError
from renderer.kind import REFERENCE_KINDS, Kind, blueprint_kind
from renderer.kinds.base import DocPath, TranslateContext
from renderer.kinds.project import tenant_project
from renderer.kinds.registry import MODULES, ops_for
from renderer.resources import DesiredResource, EnvSource, EnvVar, suffixed
from renderer.tenant import Tenant, TenantFile
from renderer.yamlio import PathPart

__all__ = ["environment_findings", "secret_findings", "translate"]


def _unsupported(blueprint: Blueprint, path: tuple[PathPart, ...], what: str) -> RendererError:
    file, line, _, _ = blueprint.locate(path, at_value=False)
    where = f"{file}:{line}" if line else file
    return RendererError(
        f"{where}: {what} at {yamlio.format_path(path)} is not supported by renderer yet",
        hint="renderer manages services of all five types (with disks, custom domains and scaling), Postgres, "
             "Key Value and env groups; see the README section \"What renderer manages\"",
    )


class _Translator(TranslateContext):
    """The tenant-level wiring each kind's translation uses: names with the tenant suffix, env vars
    (with `fromService` resolved to the kind it names), positioned errors."""

    def __init__(self, tenant: Tenant, blueprint: Blueprint) -> None:
        self.tenant = tenant
        self.blueprint = blueprint
        self.slug = tenant.slug
        # Blueprint name -> kind of every entry under `services`, for `fromService`.
        self.kinds: dict[str, Kind] = {}
        for _scope, key, items in resource_lists(blueprint.document):
            if key != "services":
                continue
            for item in items:
                kind = blueprint_kind(key, item)
                if kind is not None and isinstance(item.get("name"), str):
                    self.kinds[item["name"]] = kind

    def env_vars(self, path: DocPath, items: Any, *, group: bool = False
                 ) -> tuple[tuple[EnvVar, ...], tuple[str, ...]]:
        """The env vars of a service or env group, and the env groups a service links (`fromGroup`)."""
        result: list[EnvVar] = []
        groups: list[str] = []
        for j, item in enumerate(items or []):
            item_path = (*path, "envVars", j)
            if not isinstance(item, dict):
                raise self.unsupported(item_path, "an env var that is not a mapping")
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
                raise self.unsupported(item_path, "an env var without a value source")
        return tuple(result), tuple(dict.fromkeys(groups))

    def from_service(self, path: DocPath, key: str, ref: Any) -> EnvVar:
        name = str(ref.get("name"))
        declared = REFERENCE_KINDS.get(str(ref.get("type")))
        kind = self.kinds.get(name)
        if declared is None or kind is None:
            raise self.unsupported((*path, "fromService"), f"`fromService` of type {ref.get('type')!r} naming {name!r}")
        if "envVarKey" in ref:
            return EnvVar(key=key, source=EnvSource.FROM_SERVICE, ref_kind=kind.value, ref_name=name,
                          ref_key=str(ref["envVarKey"]))
        return EnvVar(key=key, source=EnvSource.FROM_SERVICE, ref_kind=kind.value, ref_name=name,
                      ref_property=str(ref.get("property")))

    def resource(self, kind: Kind, name: str, fields: dict[str, Any], **extra: Any) -> DesiredResource:
        return DesiredResource(tenant=self.slug, kind=kind, blueprint_name=name, name=suffixed(name, self.slug),
                               fields=fields, **extra)

    def unsupported(self, path: DocPath, what: str) -> RendererError:
        return _unsupported(self.blueprint, path, what)

    def where(self, path: DocPath) -> str:
        file, line, _, _ = self.blueprint.locate(path, at_value=False)
        return f"{file}:{line}" if line else file

    def entry(self, path: DocPath, key: str, item: Any) -> list[DesiredResource]:
        """One Blueprint entry's resources: its kind's, then those its kind's children declare inside it
        (a service's disk and custom domains)."""
        kind = blueprint_kind(key, item)
        if kind is None:
            raise self.unsupported(path, f"a service of type {item.get('type')!r}")
        resources = ops_for(kind).translate(self, path, item, kind)
        if kind.is_service:
            for child in MODULES:
                resources.extend(child.translate_child(self, path, item, resources[0]))
        return resources


def _environments(translator: _Translator, document: Any) -> tuple[list[DesiredResource], dict[DocPath, str | None]]:
    """The tenant's projects and environments, and the environment address of each scope that holds
    resource lists (`renderer.blueprint.model.scopes`).

    Without `projects:`, one project and one environment (`renderer.kinds.project.tenant_project`) hold
    everything. With `projects:` (render.yaml.schema.json: definitions.project), as Render's Blueprint sync
    does: each `projects[i].environments[j]` holds its own lists and the root's and `ungrouped`'s stay
    at the workspace root.
    """
    tenant = translator.tenant
    projects = document.get("projects") if isinstance(document, dict) else None
    if not isinstance(projects, list):
        resources = tenant_project(translator, translator.blueprint.name, isolation=tenant.network_isolation,
                                   protected=tenant.protected_environment)
        return resources, {scope: resources[1].address for scope, _ in scopes(document)}
    resources = []
    where: dict[DocPath, str | None] = {scope: None for scope, _ in scopes(document)}
    for i, item in enumerate(projects):
        made = ops_for(Kind.PROJECT).translate(translator, ("projects", i), item, Kind.PROJECT)
        resources.extend(made)
        for j, env in enumerate(made[1:]):
            where[("projects", i, "environments", j)] = env.address
    return resources, where


def translate(tenant: Tenant, blueprint: Blueprint) -> list[DesiredResource]:
    """The desired resources of one tenant: its projects and environments, then env groups, databases,
    then services (each followed by its disk and custom domains), in blueprint order within each. Each
    service, datastore and env group names the environment it lives in (`DesiredResource.environment`).

    Expects a blueprint that passed validation. Raises `RendererError` for Blueprint features renderer
    does not manage yet, naming the line.
    """
    translator = _Translator(tenant, blueprint)
    resources, where = _environments(translator, blueprint.document)
    order = {"envVarGroups": 0, "databases": 1, "services": 2}
    for scope, key, items in sorted(resource_lists(blueprint.document), key=lambda t: order[t[1]]):
        for i, item in enumerate(items):
            for resource in translator.entry((*scope, key, i), key, item):
                if ops_for(resource.kind).in_environment:
                    resource = resource.model_copy(update={"environment": where.get(scope)})
                resources.append(resource)
    return resources


def environment_findings(tenant_file: TenantFile, blueprint: Blueprint) -> list[Finding]:
    """`network_isolation` and `protected_environment` set the environment renderer makes; a blueprint
    with `projects:` declares its environments' own settings, so setting them there is an error."""
    if not isinstance(blueprint.document, dict) or "projects" not in blueprint.document:
        return []
    findings: list[Finding] = []
    for key, where in (("network_isolation", "networking.isolation"),
                       ("protected_environment", "permissions.protection")):
        if key not in tenant_file.tenant.model_fields_set:
            continue
        line, column = tenant_file.document.position((key,))
        findings.append(Finding(
            file=str(tenant_file.path), line=line, column=column, path=key, layer="semantic",
            rule="environment-setting-in-projects-blueprint",
            message=f"`{key}` sets the environment renderer makes for a blueprint without `projects:`, but "
                    f"blueprint {tenant_file.tenant.blueprint!r} declares its own projects and environments",
            hint=f"remove `{key}` and set `{where}` on the environment in the blueprint's `projects:`"))
    return findings


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
