"""Apply, per kind: the API calls that create, update and delete each kind renderer manages beyond
Postgres and the service basics in `renderer.apply`, and the order they run in.

- request bodies for every service type (openapi.json: servicePOST, servicePATCH and the per-type
  `serviceDetails`), with autoscaling (PUT/DELETE /services/{id}/autoscaling) and env group links
  (POST/DELETE /env-groups/{id}/services/{serviceId});
- Key Value (POST/PATCH/DELETE /key-value), env groups (POST /env-groups, per-key PUT/DELETE
  /env-groups/{id}/env-vars/{key}, DELETE /env-groups/{id}), disks (POST/PATCH/DELETE /disks) and
  custom domains (POST/DELETE /services/{id}/custom-domains);
- `fromService` values: a service's host and port, a Key Value's connection string, another service's
  env var (`envVarKey`), kept per tenant as `References` and refreshed after each create and write;
- `ordered`: create order by kind rank (`renderer.resources.CREATE_ORDER`) and, within a rank, by
  references (`DesiredResource.depends_on`); deletes run in the reverse.

Every write goes through `Applier._write`, so it is journalled like the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from renderer.errors import RendererError
from renderer.plan.model import Change
from renderer.refresh import LiveResource, key_value_properties, service_properties
from renderer.render_api.client import JSON
from renderer.render_api.errors import Conflict, NotFound
from renderer.resources import (
    CREATE_ORDER,
    NATIVE_RUNTIMES,
    SCALABLE_KINDS,
    DesiredResource,
    EnvSource,
    EnvVar,
    Kind,
    desired_fields,
)

if TYPE_CHECKING:
    from renderer.apply import Applier

TOP_LEVEL_FIELDS = ("repo", "branch", "rootDir")
DETAIL_FIELDS = ("plan", "healthCheckPath", "preDeployCommand", "runtime", "schedule", "publishPath")
ENV_SPECIFIC_FIELDS = ("buildCommand", "startCommand", "dockerCommand", "dockerContext", "dockerfilePath")
KEY_VALUE_PATCH_FIELDS = ("plan", "maxmemoryPolicy", "ipAllowList")
DISK_PATCH_FIELDS = ("name", "mountPath", "sizeGB")


@dataclass
class References:
    """What other resources read from one resource with `fromService`: its `property` values and its
    env vars (`envVarKey`). Secret values: they go only into request bodies."""

    properties: dict[str, str] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, resource: LiveResource) -> References:
        return cls({k: v.get_secret_value() for k, v in resource.properties.items()}, dict(resource.env_vars or {}))


def ordered(changes: Iterable[Change], *, reverse: bool = False) -> list[Change]:
    """`changes` in create order: by kind rank, but each after the resources it references (a service
    reading another's host comes after it, whatever their types). With `reverse`, delete order."""
    pending = sorted(changes, key=lambda c: (CREATE_ORDER[c.kind], c.address))
    by_address = {c.address: c for c in pending}
    result: list[Change] = []
    placed: set[str] = set()

    def place(change: Change, path: tuple[str, ...]) -> None:
        if change.address in placed or change.address in path:
            return
        needs = change.desired.depends_on() if change.desired is not None else set()
        for address in sorted(needs):
            dependency = by_address.get(address)
            if dependency is not None:
                place(dependency, (*path, change.address))
        placed.add(change.address)
        result.append(change)

    for change in pending:
        place(change, ())
    return result[::-1] if reverse else result


def _autoscaling_body(config: dict[str, Any]) -> JSON:
    """The API form of a compared autoscaling setting (openapi.json: webServiceDetails.autoscaling)."""
    from renderer.translate import DISABLED_TARGET_PERCENT

    def criterion(target: int | None) -> JSON:
        return {"enabled": target is not None, "percentage": target if target is not None else DISABLED_TARGET_PERCENT}

    return {"enabled": True, "min": config["min"], "max": config["max"],
            "criteria": {"cpu": criterion(config["cpu"]), "memory": criterion(config["memory"])}}


def service_create_body(desired: DesiredResource, owner_id: str, env: list[JSON]) -> JSON:
    """POST /services body (openapi.json: schemas.servicePOST) for a desired service of any type."""
    f = desired.fields
    body: JSON = {"type": desired.kind.value, "name": desired.name, "ownerId": owner_id, "envVars": env}
    for key in TOP_LEVEL_FIELDS:
        if f.get(key):
            body[key] = f[key]
    if desired.kind is Kind.STATIC_SITE:
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
    if desired.kind is Kind.CRON_JOB:
        details["schedule"] = f["schedule"]
    if desired.kind in SCALABLE_KINDS:
        details["numInstances"] = f["numInstances"]
        if f.get("autoscaling"):
            details["autoscaling"] = _autoscaling_body(f["autoscaling"])
    if f.get("preDeployCommand"):
        details["preDeployCommand"] = f["preDeployCommand"]
    if desired.kind is Kind.WEB_SERVICE and f.get("healthCheckPath"):
        details["healthCheckPath"] = f["healthCheckPath"]
    body["serviceDetails"] = details
    return body


def service_patch_body(change: Change, owner_id: str | None = None) -> JSON:
    """PATCH /services/{id} body (openapi.json: schemas.servicePATCH) for the changed plain fields.
    Autoscaling, instance count and env group links have their own endpoints."""
    assert change.desired is not None
    f = desired_fields(change.desired)
    changed = {fc.path for fc in change.fields}
    body: JSON = {k: f[k] for k in TOP_LEVEL_FIELDS if k in changed}
    if "image" in changed and owner_id:
        body["image"] = {"ownerId": owner_id, "imagePath": f["image"]}
    details: JSON = {k: f[k] for k in DETAIL_FIELDS if k in changed}
    if change.desired.kind is Kind.STATIC_SITE:
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


def group_id(applier: Applier, slug: str, group: str) -> str:
    """The Render ID of tenant `slug`'s env group `group` (its blueprint name), from the lockfile."""
    tenant = applier.lockfile.tenants.get(slug)
    entry = tenant.resources.get(f"{Kind.ENV_GROUP.value}.{group}") if tenant else None
    if entry is None:
        raise RendererError(f"env group {group!r} of tenant {slug!r} is not in the lockfile; cannot link it",
                            hint="declare it under `envVarGroups` in the blueprint")
    return entry.id


async def link_env_groups(applier: Applier, change: Change, sid: str, link: Iterable[str],
                          unlink: Iterable[str] = ()) -> None:
    """Link (and unlink) a service's env groups, by blueprint name."""
    for group in link:
        gid = group_id(applier, change.tenant, group)
        data = applier._journal_data(change, id=sid, group=gid)

        async def add(gid: str = gid) -> None:
            await applier.client.link_env_group(gid, sid)

        await applier._write("link", data, add)
    for group in unlink:
        gid = group_id(applier, change.tenant, group)
        data = applier._journal_data(change, id=sid, group=gid)

        async def call(gid: str = gid) -> None:
            with contextlib.suppress(NotFound):  # not linked any more is what we wanted
                await applier.client.unlink_env_group(gid, sid)

        await applier._write("unlink", data, call)


def _read_by_env_var_key(applier: Applier, change: Change) -> bool:
    """Whether any resource of the tenant reads one of `change`'s env vars (`fromService.envVarKey`)."""
    return any(e.source is EnvSource.FROM_SERVICE and e.target == change.address and e.ref_key is not None
               for c in applier.plan.changes if c.tenant == change.tenant and c.desired is not None
               for e in c.desired.env_vars)


async def after_service_create(applier: Applier, change: Change, created: JSON) -> None:
    """After POST /services: link its env groups and keep what other services read from it."""
    desired = change.desired
    assert desired is not None
    service = created.get("service") or {}
    sid = str(service["id"])
    await link_env_groups(applier, change, sid, desired.env_groups)
    refs = References({k: v.get_secret_value() for k, v in service_properties(service).items()})
    if _read_by_env_var_key(applier, change):
        refs.env_vars = {e["key"]: e["value"] for e in await applier.client.list_env_vars(sid)}
    applier.references[(change.tenant, change.address)] = refs


async def update_service_extras(applier: Applier, change: Change, sid: str) -> None:
    """The service changes PATCH /services/{id} does not carry: autoscaling, env group links and a
    static site's headers and routes (each replaced whole: PUT /services/{id}/headers, /routes)."""
    desired = change.desired
    assert desired is not None
    changed = {f.path: f for f in change.fields}
    data = applier._journal_data(change, id=sid)
    if "headers" in changed:
        headers = list(desired.fields["headers"])
        await applier._write("headers", data, lambda: applier.client.replace_headers(sid, headers))
    if "routes" in changed:
        routes = list(desired.fields["routes"])
        await applier._write("routes", data, lambda: applier.client.replace_routes(sid, routes))
    if "autoscaling" in changed:
        config = desired.fields.get("autoscaling")
        if config:
            body = _autoscaling_body(config)
            await applier._write("autoscaling", data, lambda: applier.client.update_autoscaling(sid, body))
        else:
            async def off() -> None:
                with contextlib.suppress(NotFound):
                    await applier.client.delete_autoscaling(sid)
            await applier._write("autoscaling", data, off)
    if "envGroups" in changed:
        from renderer.translate import suffixed

        before = set(changed["envGroups"].before or [])
        wanted = {suffixed(g, change.tenant): g for g in desired.env_groups}
        names = {g: name for name, g in wanted.items()}
        await link_env_groups(applier, change, sid, [g for g in desired.env_groups if names[g] not in before])
        # A group renderer does not manage any more may be gone from the lockfile already; the service's
        # recorded link to it dies with the group.
        tenant = applier.lockfile.tenants[change.tenant]
        gone = [name for name in before if name not in wanted]
        by_name = {e.name: addr.split(".", 1)[1] for addr, e in tenant.resources.items() if e.kind is Kind.ENV_GROUP}
        await link_env_groups(applier, change, sid, [], [by_name[n] for n in gone if n in by_name])


def _group_env(applier: Applier, slug: str, desired: DesiredResource) -> list[JSON]:
    env: list[JSON] = []
    for var in desired.env_vars:
        if var.source is EnvSource.GENERATE_VALUE:
            env.append({"key": var.key, "generateValue": True})
        elif var.managed:
            env.append({"key": var.key, "value": applier._env_value(slug, var)})
    return env


async def create(applier: Applier, change: Change, owner: str) -> str:
    """Create a Key Value instance, env group, disk or custom domain; record its ID. Returns the ID."""
    desired = change.desired
    assert desired is not None
    client = applier.client
    data = applier._journal_data(change)
    if desired.kind is Kind.KEY_VALUE:
        body: JSON = {"name": desired.name, "ownerId": owner, **desired.fields}
        created = await applier._write("create", data, lambda: client.create_key_value(body), lambda r: {"id": r["id"]})
        rid = str(created["id"])
        applier._record(change, rid)
        info = await client.key_value_connection_info(rid)
        applier.references[(change.tenant, change.address)] = References(
            {k: v.get_secret_value() for k, v in key_value_properties(info).items()})
        return rid
    if desired.kind is Kind.ENV_GROUP:
        group_body: JSON = {"name": desired.name, "ownerId": owner,
                            "envVars": _group_env(applier, change.tenant, desired)}
        created = await applier._write("create", data, lambda: client.create_env_group(group_body),
                                       lambda r: {"id": r["id"]})
        rid = str(created["id"])
        applier._record(change, rid)
        return rid
    parent = _parent_id(applier, change)
    if desired.kind is Kind.DISK:
        f = desired.fields
        created = await applier._write(
            "create", {**data, "parent_id": parent},
            lambda: client.create_disk(parent, f["name"], int(f["sizeGB"]), f["mountPath"]), lambda r: {"id": r["id"]})
        rid = str(created["id"])
    else:
        rid = await _add_domain(applier, change, parent, data)
    applier._record(change, rid)
    return rid


async def _add_domain(applier: Applier, change: Change, parent: str, data: dict[str, Any]) -> str:
    """POST /services/{id}/custom-domains; a domain Render already added to this service as the `www.`
    companion of another (adding `example.com` also adds `www.example.com`) is adopted."""
    name = change.name

    async def call() -> list[JSON]:
        try:
            return await applier.client.add_custom_domain(parent, name)
        except Conflict:
            existing = [d for d in await applier.client.list_custom_domains(parent) if d.get("name") == name]
            if not existing:
                raise
            return existing

    added = await applier._write("create", {**data, "parent_id": parent}, call,
                                 lambda r: {"id": next(d["id"] for d in r if d.get("name") == name)})
    return str(next(d["id"] for d in added if d.get("name") == name))


def _parent_id(applier: Applier, change: Change) -> str:
    desired = change.desired
    assert desired is not None and desired.parent is not None
    tenant = applier.lockfile.tenants.get(change.tenant)
    entry = tenant.resources.get(desired.parent) if tenant else None
    if entry is None:
        raise RendererError(f"{change.tenant}/{change.address}: its service {desired.parent} is not in the lockfile")
    return entry.id


async def update(applier: Applier, change: Change) -> None:
    """Update a Key Value instance, env group or disk in place (a custom domain has nothing to update)."""
    desired = change.desired
    assert desired is not None and change.id is not None
    rid = change.id
    client = applier.client
    changed = {f.path for f in change.fields}
    data = applier._journal_data(change, id=rid)
    if desired.kind is Kind.KEY_VALUE:
        body = {k: desired_fields(desired)[k] for k in KEY_VALUE_PATCH_FIELDS if k in changed}
        if body:
            await applier._write("patch", data, lambda: client.update_key_value(rid, body))
    elif desired.kind is Kind.DISK:
        disk = {k: desired.fields[k] for k in DISK_PATCH_FIELDS if k in changed}
        if disk:
            await applier._write("patch", data, lambda: client.update_disk(rid, disk))
    elif desired.kind is Kind.ENV_GROUP:
        by_key = {e.key: e for e in desired.env_vars}
        for path in sorted(p for p in changed if p.startswith("envVars.")):
            key = path.removeprefix("envVars.")
            await _group_env_write(applier, change, rid, key, by_key.get(key) if key in by_key else None,
                                   after_set=next(f.after_set for f in change.fields if f.path == path))


async def _group_env_write(applier: Applier, change: Change, gid: str, key: str, env: EnvVar | None,
                           *, after_set: bool) -> None:
    data = applier._journal_data(change, id=gid, key=key)
    client = applier.client
    if env is None or not after_set:
        async def delete() -> None:
            with contextlib.suppress(NotFound):
                await client.delete_env_group_env_var(gid, key)
        await applier._write("env_delete", data, delete)
    elif env.source is EnvSource.GENERATE_VALUE:
        await applier._write("env_put", data, lambda: client.put_env_group_env_var(gid, key, generate=True))
    else:
        value = applier._env_value(change.tenant, env)
        await applier._write("env_put", data, lambda: client.put_env_group_env_var(gid, key, value=value))


async def delete(applier: Applier, kind: Kind, rid: str, parent_id: str | None) -> None:
    """DELETE one resource by its Render ID (a custom domain through its service's ID). Raises
    `NotFound` when it is already gone."""
    client = applier.client
    if kind is Kind.POSTGRES:
        await client.delete_postgres(rid)
    elif kind is Kind.KEY_VALUE:
        await client.delete_key_value(rid)
    elif kind is Kind.ENV_GROUP:
        await client.delete_env_group(rid)
    elif kind is Kind.DISK:
        await client.delete_disk(rid)
    elif kind is Kind.CUSTOM_DOMAIN:
        if parent_id is None:
            raise NotFound("the custom domain's service is gone", status=404)
        await client.delete_custom_domain(parent_id, rid)
    else:
        await client.delete_service(rid)


def resolve_reference(applier: Applier, slug: str, env: EnvVar) -> str:
    """The value of a `fromService` env var from what the tenant's target resource exposes. Raises
    `RendererError` when it has no such property or env var."""
    refs = applier.references.get((slug, env.target or ""))
    value = None
    if refs is not None:
        value = (refs.env_vars.get(env.ref_key) if env.ref_key is not None
                 else refs.properties.get(env.ref_property or ""))
    if value is None:
        what = f"env var {env.ref_key!r}" if env.ref_key is not None else f"property {env.ref_property!r}"
        raise RendererError(f"cannot resolve {env.key}: {env.target} of tenant {slug!r} has no {what}",
                            hint="check the `fromService` entry in the blueprint (a private service or Key Value "
                                 "has host, port and hostport; Key Value also connectionString)")
    return value
