"""Services: web services, private services, background workers, cron jobs and static sites.

The five service types share one module and one API collection (`/services`, openapi.json:
schemas.service, servicePOST, servicePATCH); what differs per type is data (`SERVICE_TYPES`). A service
links env groups (`fromGroup`, POST/DELETE /env-groups/{id}/services/{serviceId}), may autoscale (PUT/DELETE
/services/{id}/autoscaling), and a static site has headers and routes (PUT /services/{id}/headers, /routes).
Other resources read a service with `fromService` (its host and port, or an env var by `envVarKey`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import SecretStr

from renderer.errors import RendererError
from renderer.kind import NATIVE_RUNTIMES, SERVICE_KINDS, Kind
from renderer.kinds.base import (
    ApplyContext,
    DocPath,
    KindOps,
    Listing,
    References,
    TranslateContext,
    api_plan,
)
from renderer.live import LiveResource, deploy_version
from renderer.plan.model import DEPLOY_FIELD, Change
from renderer.pricing.cost import cron_lines, service_lines, static_site_lines
from renderer.pricing.model import CostLine, Usage
from renderer.pricing.table import PriceTable
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import NotFound
from renderer.render_api.limits import Bucket
from renderer.resources import DesiredResource, EnvSource, EnvVar, suffixed


@dataclass(frozen=True)
class ServiceType:
    """What one service type has (openapi.json: the per-type `serviceDetails` schemas)."""

    kind: Kind
    code: bool  # built from code with a runtime (all but static sites)
    scalable: bool  # instances, autoscaling, a disk, preDeployCommand
    health_check: bool = False
    schedule: bool = False
    custom_domains: bool = False


SERVICE_TYPES: dict[Kind, ServiceType] = {t.kind: t for t in (
    ServiceType(Kind.WEB_SERVICE, code=True, scalable=True, health_check=True, custom_domains=True),
    ServiceType(Kind.PRIVATE_SERVICE, code=True, scalable=True),
    ServiceType(Kind.BACKGROUND_WORKER, code=True, scalable=True),
    ServiceType(Kind.CRON_JOB, code=True, scalable=False, schedule=True),
    ServiceType(Kind.STATIC_SITE, code=False, scalable=False, custom_domains=True),
)}
assert set(SERVICE_TYPES) == SERVICE_KINDS

# Defaults Render applies when a Blueprint omits a field (render.com/docs/blueprint-spec; openapi.json:
# staticSiteDetailsPOST.publishPath "Defaults to public").
DEFAULT_REGION = "oregon"
DEFAULT_SERVICE_PLAN = "starter"
DEFAULT_PUBLISH_PATH = "public"
# An autoscaling criterion the blueprint leaves off is sent disabled; Render still wants a percentage.
DISABLED_TARGET_PERCENT = 70

# Auto-deploy is off on every managed service, whatever the blueprint says: renderer decides what each
# tenant runs and when (a push to the branch deploys nothing). Both fields, as Render's answers carry both
# (../shared/render/recorded/privateservice_resource__git: PATCH `autoDeployTrigger: off` answers
# `autoDeploy: no`, `autoDeployTrigger: off`).
AUTO_DEPLOY_OFF = {"autoDeploy": "no", "autoDeployTrigger": "off"}
TOP_LEVEL_FIELDS = ("repo", "branch", "rootDir", "autoDeploy", "autoDeployTrigger")
DETAIL_FIELDS = ("plan", "healthCheckPath", "preDeployCommand", "runtime", "schedule", "publishPath")
ENV_SPECIFIC_FIELDS = ("buildCommand", "startCommand", "dockerCommand", "dockerContext", "dockerfilePath")
# Fields that Render reports as "" or leaves out (or null) interchangeably: compared as "". Commands
# a blueprint omits are desired as "" so that removing one from the blueprint clears it on Render.
EMPTY_AS_MISSING = frozenset({
    "rootDir", "buildCommand", "startCommand", "preDeployCommand", "dockerCommand", "healthCheckPath",
})
DEFAULT_REGISTRY = "docker.io"
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def deploy_pin(desired: DesiredResource, target: str | None) -> dict[str, str]:
    """`trigger_deploy`'s arguments that deploy `target` on the desired service: `image_url` (the service's
    image repository at that digest) for an image-backed service and a `sha256:` target, `commit_id` for a
    Git-backed one; nothing for a Git-backed cron job (openapi.json create-deploy: `commitId` is "Not
    supported for cron jobs") or without a target."""
    if not target:
        return {}
    if target.startswith("sha256:"):
        image = desired.fields.get("image")
        return {"image_url": f"{image_reference(str(image))[0]}@{target}"} if image else {}
    if desired.kind is Kind.CRON_JOB or runtime_class(desired.fields.get("runtime")) == "image":
        return {}
    return {"commit_id": target}


def scalable(kind: Kind) -> bool:
    """Whether a service of `kind` runs instances (and so may have a disk, autoscaling, numInstances)."""
    service = SERVICE_TYPES.get(kind)
    return service is not None and service.scalable


def takes_custom_domains(kind: Kind) -> bool:
    service = SERVICE_TYPES.get(kind)
    return service is not None and service.custom_domains


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


def service_fields(service: JSON, env_groups: list[str] | None = None) -> dict[str, Any]:
    """Normalise a `service` object (openapi.json: schemas.service) to desired-field vocabulary.
    `env_groups`: the names of the env groups linked to it (from the env groups' `serviceLinks`)."""
    details = service.get("serviceDetails") or {}
    env_details = details.get("envSpecificDetails") or {}
    auto = service.get("autoDeploy")
    # Older answers carry only `autoDeploy` (recorded in webservice_resource__web_service): its trigger.
    trigger = service.get("autoDeployTrigger") or {"no": "off", "yes": "commit"}.get(str(auto))
    if not SERVICE_TYPES[Kind(service["type"])].code:
        return {"rootDir": service.get("rootDir", ""), "repo": service.get("repo"), "branch": service.get("branch"),
                "buildCommand": details.get("buildCommand"), "publishPath": details.get("publishPath"),
                "envGroups": sorted(env_groups or []), "autoDeploy": auto, "autoDeployTrigger": trigger}
    fields: dict[str, Any] = {
        "autoDeploy": auto,
        "autoDeployTrigger": trigger,
        "runtime": details.get("runtime") or details.get("env"),
        "region": details.get("region"),
        "plan": details.get("plan"),
        "numInstances": details.get("numInstances"),
        "rootDir": service.get("rootDir", ""),
        "repo": service.get("repo"),
        "branch": service.get("branch"),
        "healthCheckPath": details.get("healthCheckPath"),
        "autoscaling": live_autoscaling(details.get("autoscaling")),
        "schedule": details.get("schedule"),
        "image": service.get("imagePath"),
        "envGroups": sorted(env_groups or []),
    }
    for key in ("buildCommand", "startCommand", "preDeployCommand", "dockerCommand", "dockerfilePath",
                "dockerContext"):
        if key in env_details:
            fields[key] = env_details[key]
    return fields


def service_properties(service: JSON) -> dict[str, SecretStr]:
    """What `fromService.property` reads from a service: its internal host (the service's `slug`), its
    first open port and both joined (render.com/docs/blueprint-spec: fromService host, port, hostport)."""
    slug = service.get("slug")
    ports = (service.get("serviceDetails") or {}).get("openPorts") or []
    if not slug:
        return {}
    result = {"host": SecretStr(str(slug))}
    if ports:
        port = str(ports[0].get("port"))
        result["port"] = SecretStr(port)
        result["hostport"] = SecretStr(f"{slug}:{port}")
    return result


def service_info(service: JSON) -> dict[str, Any]:
    """Operational facts about a service for `renderer status` (not compared by the plan)."""
    details = service.get("serviceDetails") or {}
    return {"suspended": service.get("suspended"), "url": details.get("url"),
            "dashboardUrl": service.get("dashboardUrl")}


def autoscaling_body(config: dict[str, Any]) -> JSON:
    """The API form of a compared autoscaling setting (openapi.json: webServiceDetails.autoscaling)."""

    def criterion(target: int | None) -> JSON:
        return {"enabled": target is not None, "percentage": target if target is not None else DISABLED_TARGET_PERCENT}

    return {"enabled": True, "min": config["min"], "max": config["max"],
            "criteria": {"cpu": criterion(config["cpu"]), "memory": criterion(config["memory"])}}


def service_create_body(desired: DesiredResource, owner_id: str, env: list[JSON]) -> JSON:
    """POST /services body (openapi.json: schemas.servicePOST) for a desired service of any type."""
    f = desired.fields
    service = SERVICE_TYPES[desired.kind]
    body: JSON = {"type": desired.kind.value, "name": desired.name, "ownerId": owner_id, "envVars": env}
    for key in TOP_LEVEL_FIELDS:
        if f.get(key):
            body[key] = f[key]
    if not service.code:
        body["serviceDetails"] = {"buildCommand": f["buildCommand"], "publishPath": f["publishPath"],
                                  "headers": f.get("headers") or [], "routes": f.get("routes") or []}
        return body
    details: JSON = {"runtime": f["runtime"], "region": f["region"], "plan": f["plan"]}
    if f["runtime"] in NATIVE_RUNTIMES:
        details["envSpecificDetails"] = {"buildCommand": f["buildCommand"], "startCommand": f["startCommand"]}
    elif f["runtime"] == "image":
        body["image"] = {"ownerId": owner_id, "imagePath": f["image"]}
        # A cron job's `envSpecificDetails` is schemas.envSpecificDetails even on POST: all three required.
        details["envSpecificDetails"] = {"dockerCommand": f["dockerCommand"], "dockerContext": ".",
                                         "dockerfilePath": "./Dockerfile"}
    else:
        details["envSpecificDetails"] = {k: f[k] for k in ("dockerCommand", "dockerContext", "dockerfilePath")}
    if service.schedule:
        details["schedule"] = f["schedule"]
    if service.scalable:
        details["numInstances"] = f["numInstances"]
        if f.get("autoscaling"):
            details["autoscaling"] = autoscaling_body(f["autoscaling"])
    if f.get("preDeployCommand"):
        details["preDeployCommand"] = f["preDeployCommand"]
    if service.health_check and f.get("healthCheckPath"):
        details["healthCheckPath"] = f["healthCheckPath"]
    body["serviceDetails"] = details
    return body


def service_patch_body(change: Change, owner_id: str | None = None) -> JSON:
    """PATCH /services/{id} body (openapi.json: schemas.servicePATCH) for the changed plain fields.
    Autoscaling, instance count and env group links have their own endpoints."""
    assert change.desired is not None
    f = OPS.desired_fields(change.desired)
    changed = {fc.path for fc in change.fields}
    body: JSON = {k: f[k] for k in TOP_LEVEL_FIELDS if k in changed}
    if "image" in changed and owner_id:
        body["image"] = {"ownerId": owner_id, "imagePath": f["image"]}
    details: JSON = {k: f[k] for k in DETAIL_FIELDS if k in changed}
    if not SERVICE_TYPES[change.desired.kind].code:
        if "buildCommand" in changed:
            details["buildCommand"] = f["buildCommand"]
    else:
        env_specific = {k: f[k] for k in ENV_SPECIFIC_FIELDS if k in changed}
        if "runtime" in changed:
            # A runtime switch in place: the new runtime's source and commands, whole.
            runtime = f["runtime"]
            if runtime in NATIVE_RUNTIMES:
                env_specific = {k: f[k] for k in ("buildCommand", "startCommand")}
            elif runtime == "docker":
                env_specific = {k: f[k] for k in ("dockerCommand", "dockerContext", "dockerfilePath")}
            else:
                env_specific = {"dockerCommand": f.get("dockerCommand") or ""}
                if owner_id:
                    body["image"] = {"ownerId": owner_id, "imagePath": f["image"]}
            if runtime != "image":
                body.update({k: f[k] for k in ("repo", "branch") if f.get(k)})
        if env_specific:
            details["envSpecificDetails"] = env_specific
    if details:
        body["serviceDetails"] = details
    return body


def _group_id(ctx: ApplyContext, slug: str, group: str) -> str:
    """The Render ID of tenant `slug`'s env group `group` (its blueprint name), from the lockfile."""
    rid = ctx.locked_id(slug, f"{Kind.ENV_GROUP.value}.{group}")
    if rid is None:
        raise RendererError(f"env group {group!r} of tenant {slug!r} is not in the lockfile; cannot link it",
                            hint="declare it under `envVarGroups` in the blueprint")
    return rid


async def link_env_groups(ctx: ApplyContext, change: Change, sid: str, link: Iterable[str],
                          unlink: Iterable[str] = ()) -> None:
    """Link (and unlink) a service's env groups, by blueprint name."""
    for group in link:
        gid = _group_id(ctx, change.tenant, group)

        async def add(gid: str = gid) -> None:
            await ctx.client.link_env_group(gid, sid)

        await ctx.write("link", change, add, id=sid, group=gid)
    for group in unlink:
        gid = _group_id(ctx, change.tenant, group)

        async def call(gid: str = gid) -> None:
            with contextlib.suppress(NotFound):  # not linked any more is what we wanted
                await ctx.client.unlink_env_group(gid, sid)

        await ctx.write("unlink", change, call, id=sid, group=gid)


class ServiceOps(KindOps):
    kinds: ClassVar[tuple[Kind, ...]] = tuple(SERVICE_TYPES)
    workspace_names: ClassVar[bool] = True
    # Private services come before the other types: others often read their host.
    create_rank: ClassVar[int] = 3
    in_environment: ClassVar[bool] = True
    create_bucket: ClassVar[Bucket | None] = Bucket.CREATE_SERVICE
    # A service's region is fixed at creation (render.com/docs); its type is part of its address and
    # handled by the plan; a runtime switch is an update (Render PATCHes native, docker and image runtimes
    # into one another: recorded in webservice_resource__runtime_update).
    immutable: ClassVar[frozenset[str]] = frozenset({"region"})
    env_vars: ClassVar[bool] = True
    references: ClassVar[bool] = True

    def rank(self, kind: Kind) -> int:
        return 2 if kind is Kind.PRIVATE_SERVICE else self.create_rank

    # -- translation -------------------------------------------------------------------------------
    def _code(self, tr: TranslateContext, item: Any, path: DocPath, fields: dict[str, Any]) -> None:
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
                raise tr.unsupported((*path, "image"), "an image with registry credentials")
            fields["image"] = str(image.get("url", ""))
            fields["dockerCommand"] = str(item.get("dockerCommand", ""))
        else:
            raise tr.unsupported(path, f"runtime {runtime!r}")
        if "registryCredential" in item:
            raise tr.unsupported((*path, "registryCredential"), "`registryCredential`")

    @staticmethod
    def _scaling(tr: TranslateContext, path: DocPath, scaling: Any) -> dict[str, Any]:
        cpu, memory = scaling.get("targetCPUPercent"), scaling.get("targetMemoryPercent")
        if cpu is None and memory is None:
            from renderer import yamlio

            raise RendererError(
                f"{tr.where(path)}: `scaling` at {yamlio.format_path(path)} sets neither `targetCPUPercent` "
                "nor `targetMemoryPercent`",
                hint="Render autoscales on CPU or memory: set at least one target (1 to 90 percent)")
        minimum = int(scaling.get("minInstances", 1))
        return autoscaling(minimum, int(scaling.get("maxInstances", minimum)),
                           int(cpu) if cpu is not None else None, int(memory) if memory is not None else None)

    def translate(self, tr: TranslateContext, path: DocPath, item: Any, kind: Kind) -> list[DesiredResource]:
        service = SERVICE_TYPES[kind]
        name = str(item["name"])
        fields: dict[str, Any] = {"rootDir": str(item.get("rootDir", "")), **AUTO_DEPLOY_OFF}
        for key in ("repo", "branch"):
            if key in item:
                fields[key] = str(item[key])
        if not service.code:
            fields["headers"] = static_headers(item.get("headers"))
            fields["routes"] = static_routes(item.get("routes"))
            fields["buildCommand"] = str(item.get("buildCommand", ""))
            fields["publishPath"] = str(item.get("staticPublishPath", DEFAULT_PUBLISH_PATH))
        else:
            self._code(tr, item, path, fields)
            fields["region"] = str(item.get("region", DEFAULT_REGION))
            fields["plan"] = api_plan(str(item.get("plan", DEFAULT_SERVICE_PLAN)))
        if service.scalable:
            fields["numInstances"] = int(item.get("numInstances", 1))
            scaling = item.get("scaling")
            fields["autoscaling"] = (self._scaling(tr, (*path, "scaling"), scaling)
                                     if isinstance(scaling, dict) else None)
            if "preDeployCommand" in item and fields["runtime"] != "image":
                fields["preDeployCommand"] = str(item["preDeployCommand"])
        if service.health_check:
            fields["healthCheckPath"] = str(item.get("healthCheckPath", ""))
        if service.schedule:
            fields["schedule"] = str(item.get("schedule", ""))
        env_vars, groups = tr.env_vars(path, item.get("envVars"))
        fields["envGroups"] = sorted(suffixed(g, tr.slug) for g in groups)
        return [tr.resource(kind, name, fields, env_vars=env_vars, env_groups=groups)]

    # -- refresh -----------------------------------------------------------------------------------
    async def list_live(self, client: RenderClient) -> list[JSON]:
        return await client.list_services()

    async def list_named(self, client: RenderClient, names: Sequence[str]) -> list[JSON]:
        return await client.list_services(name=names)

    def kind_of(self, obj: JSON) -> Kind:
        return Kind(obj["type"])

    async def find_by_id(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> JSON | None:
        return await client.find_service(rid)

    async def find_by_name(self, client: RenderClient, kind: Kind, name: str, parent_id: str | None) -> str | None:
        """By owner, type and name (`GET /services?name=...`), never by ID."""
        found = [s["id"] for s in await client.list_services(name=name)
                 if s.get("type") == kind.value and s.get("name") == name]
        return found[0] if found else None

    async def read(self, client: RenderClient, kind: Kind, rid: str, obj: JSON, listing: Listing) -> LiveResource:
        """Its env vars (GET /services/{id}/env-vars), a static site's headers and routes too."""
        env = await client.list_env_vars(rid)
        fields = service_fields(obj, listing.links.get(rid))
        if not SERVICE_TYPES[kind].code:
            headers, routes = await asyncio.gather(client.list_headers(rid), client.list_routes(rid))
            fields["headers"] = static_headers(headers)
            fields["routes"] = static_routes(routes)
        return LiveResource(id=rid, kind=kind, name=obj["name"], fields=fields,
                            env_vars={e["key"]: e["value"] for e in env}, info=service_info(obj),
                            properties=service_properties(obj))

    # -- comparison --------------------------------------------------------------------------------
    def normalise(self, kind: Kind, fields: dict[str, Any]) -> dict[str, Any]:
        out = super().normalise(kind, fields)
        for key in EMPTY_AS_MISSING:
            if key in out and out[key] is None:
                out[key] = ""
        if isinstance(out.get("image"), str) and out["image"]:
            out["image"] = canonical_image(out["image"])
        if "headers" in out and out["headers"] is not None:
            out["headers"] = static_headers(out["headers"])
        if "envGroups" in out and out["envGroups"] is not None:
            out["envGroups"] = sorted(out["envGroups"])
        return out

    def desired_fields(self, resource: DesiredResource) -> dict[str, Any]:
        """Omitted commands desired as "" (`preDeployCommand` where it applies); `numInstances` not
        compared while autoscaling is on: it is Render's to change then (render.com/docs/scaling;
        openapi.json: numInstances "DOES NOT indicate the number of running instances for an autoscaled
        service")."""
        fields = dict(resource.fields)
        if SERVICE_TYPES[resource.kind].scalable and runtime_class(fields.get("runtime")) != "image":
            fields.setdefault("preDeployCommand", "")
        ignored = frozenset({"numInstances"}) if fields.get("autoscaling") else frozenset()
        return {k: v for k, v in self.normalise(resource.kind, fields).items() if k not in ignored}

    def live_value(self, kind: Kind, live_fields: dict[str, Any], key: str) -> Any:
        value = super().live_value(kind, live_fields, key)
        return "" if value is None and key in EMPTY_AS_MISSING else value

    def same_value(self, key: str, desired: Any, live: Any) -> bool:
        """`image`: a tag and a digest of one image match (`image_matches`)."""
        if key == "image":
            return image_matches(desired, live)
        return bool(desired == live)

    # -- apply -------------------------------------------------------------------------------------
    @staticmethod
    def _read_by_env_var_key(ctx: ApplyContext, change: Change) -> bool:
        """Whether any resource of the tenant reads one of `change`'s env vars (`fromService.envVarKey`)."""
        return any(e.source is EnvSource.FROM_SERVICE and e.target == change.address and e.ref_key is not None
                   for desired in ctx.planned(change.tenant) for e in desired.env_vars)

    async def create(self, ctx: ApplyContext, change: Change, owner: str) -> str:
        """POST /services with every managed env var; record the ID and the deploy Render started; link
        its env groups and keep what other services read from it."""
        desired = change.desired
        assert desired is not None
        body = service_create_body(desired, owner, ctx.env_body(change.tenant, desired))
        if (environment_id := ctx.environment_id(change)) is not None:
            body["environmentId"] = environment_id
        created = await ctx.write("create", change, lambda: ctx.client.create_service(body),
                                  lambda r: {"id": r["service"]["id"], "deploy": r.get("deployId")})
        sid = str(created["service"]["id"])
        ctx.record(change, sid)
        service = created.get("service") or {}
        await link_env_groups(ctx, change, sid, desired.env_groups)
        refs = References({k: v.get_secret_value() for k, v in service_properties(service).items()})
        if self._read_by_env_var_key(ctx, change):
            refs.env_vars = {e["key"]: e["value"] for e in await ctx.client.list_env_vars(sid)}
        ctx.references[(change.tenant, change.address)] = refs
        if created.get("deployId"):
            ctx.deploy_started(change, sid, created["deployId"])
        return sid

    async def update(self, ctx: ApplyContext, change: Change) -> None:
        """PATCH the plain fields, then autoscaling, env group links, headers and routes, the instance
        count and each env var on their own endpoints, then one deploy."""
        desired = change.desired
        assert desired is not None and change.id is not None
        sid = change.id
        client = ctx.client
        plain = [f for f in change.fields if not f.path.startswith("envVars.")]
        body = service_patch_body(change.model_copy(update={"fields": plain}), client.settings.owner_id)
        if body:
            await ctx.write("patch", change, lambda: client.update_service(sid, body), id=sid)
        await self._update_extras(ctx, change, sid)
        if any(f.path == "numInstances" for f in plain):
            count = int(desired.fields["numInstances"])
            await ctx.write("scale", change, lambda: client.scale_service(sid, count), id=sid)
        by_key = {e.key: e for e in desired.env_vars}
        for fc in change.fields:
            if not fc.path.startswith("envVars."):
                continue
            key = fc.path.removeprefix("envVars.")
            await self._env_write(ctx, change, sid, key, None if not fc.after_set else by_key[key])
        # A deploy that did not go live is retried at its version; a service of the fleet release deploys the
        # version the release brought it to (the rollout moves it on); otherwise Render deploys the service's
        # source (its branch head or its image).
        pin = deploy_pin(desired, ctx.deploy_target(change.tenant, change.address)) if any(
            f.path == DEPLOY_FIELD for f in change.fields) else deploy_pin(
            desired, ctx.release_version(change.tenant, change.address))

        async def trigger() -> JSON | None:
            return await client.trigger_deploy(sid, commit_id=pin.get("commit_id"), image_url=pin.get("image_url"))

        deploy = await ctx.write("deploy", change, trigger, lambda r: {"deploy": (r or {}).get("id")}, id=sid)
        if deploy and deploy.get("id"):
            ctx.deploy_started(change, sid, deploy["id"], deploy_version(deploy), str(deploy.get("status", "created")))

    async def _env_write(self, ctx: ApplyContext, change: Change, sid: str, key: str, env: EnvVar | None) -> None:
        """One env var: PUT /services/{id}/env-vars/{key}, or DELETE it when `env` is None."""
        client = ctx.client
        if env is None:
            async def delete() -> None:
                with contextlib.suppress(NotFound):  # already gone is what we wanted
                    await client.delete_env_var(sid, key)
            await ctx.write("env_delete", change, delete, id=sid, key=key)
        elif env.source is EnvSource.GENERATE_VALUE:
            await ctx.write("env_put", change, lambda: client.put_env_var(sid, key, generate=True), id=sid, key=key)
        else:
            value = ctx.env_value(change.tenant, env)
            await ctx.write("env_put", change, lambda: client.put_env_var(sid, key, value=value), id=sid, key=key)
            refs = ctx.references.get((change.tenant, change.address))
            if refs is not None:  # a service created or updated later may read it (`envVarKey`)
                refs.env_vars[key] = value

    async def _update_extras(self, ctx: ApplyContext, change: Change, sid: str) -> None:
        """The service changes PATCH /services/{id} does not carry: autoscaling, env group links and a
        static site's headers and routes (each replaced whole: PUT /services/{id}/headers, /routes)."""
        desired = change.desired
        assert desired is not None
        client = ctx.client
        changed = {f.path: f for f in change.fields}
        if "headers" in changed:
            headers = list(desired.fields["headers"])
            await ctx.write("headers", change, lambda: client.replace_headers(sid, headers), id=sid)
        if "routes" in changed:
            routes = list(desired.fields["routes"])
            await ctx.write("routes", change, lambda: client.replace_routes(sid, routes), id=sid)
        if "autoscaling" in changed:
            config = desired.fields.get("autoscaling")
            if config:
                body = autoscaling_body(config)
                await ctx.write("autoscaling", change, lambda: client.update_autoscaling(sid, body), id=sid)
            else:
                async def off() -> None:
                    with contextlib.suppress(NotFound):
                        await client.delete_autoscaling(sid)
                await ctx.write("autoscaling", change, off, id=sid)
        if "envGroups" in changed:
            before = set(changed["envGroups"].before or [])
            wanted = {suffixed(g, change.tenant): g for g in desired.env_groups}
            names = {g: name for name, g in wanted.items()}
            await link_env_groups(ctx, change, sid, [g for g in desired.env_groups if names[g] not in before])
            # A group renderer does not manage any more may be gone from the lockfile already; the service's
            # recorded link to it dies with the group.
            gone = [name for name in before if name not in wanted]
            by_name = {n: addr.split(".", 1)[1] for n, addr in ctx.locked_addresses(change.tenant,
                                                                                   Kind.ENV_GROUP).items()}
            await link_env_groups(ctx, change, sid, [], [by_name[n] for n in gone if n in by_name])

    async def delete(self, client: RenderClient, kind: Kind, rid: str, parent_id: str | None) -> None:
        await client.delete_service(rid)

    def monthly_cost(self, kind: Kind, fields: Mapping[str, Any], table: PriceTable, *, blueprint_name: str,
                     usage: Usage | None) -> list[CostLine] | None:
        """Instances x the instance price; a cron job's minimum and per-minute rate (priced from stated
        minutes when the tenant gives them); a static site's price."""
        if kind is Kind.CRON_JOB:
            return cron_lines(fields, table, usage.cron_minutes.get(blueprint_name) if usage else None)
        if kind is Kind.STATIC_SITE:
            return static_site_lines(table)
        return service_lines(fields, table)


OPS = ServiceOps()
