"""Apply: carry a plan out through Render's API and keep the lockfile right at every step.

Order within a tenant: deletes of services and the delete half of replaces (services before the
datastores they read), then creates and the create half of replaces in dependency order (Postgres
before the services whose `DATABASE_URL` reads it), then updates, then deletes of datastores. The
lockfile is written atomically after every create and delete, so a crash never loses a Render ID.
Secret values (generated, from a database) are resolved here from live connection info and go only
into request bodies, never into output.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.errors import RendererError
from renderer.lockfile import LockedResource, LockedTenant, Lockfile
from renderer.plan.model import Action, Change, Plan
from renderer.refresh import ConnectionInfo, LiveState, connection_info
from renderer.render_api.client import JSON, RenderClient
from renderer.render_api.errors import NotFound
from renderer.resources import CREATE_ORDER, DesiredResource, EnvSource, EnvVar, Kind
from renderer.translate import DEFAULT_POSTGRES_VERSION, NATIVE_RUNTIMES

Emit = Callable[[str], None]

TOP_LEVEL_FIELDS = ("repo", "branch", "rootDir")
DETAIL_FIELDS = ("plan", "healthCheckPath", "preDeployCommand", "runtime")
ENV_SPECIFIC_FIELDS = ("buildCommand", "startCommand", "dockerCommand", "dockerContext", "dockerfilePath")
POSTGRES_PATCH_FIELDS = ("plan", "diskSizeGB")


@dataclass
class ApplyReport:
    """What apply did, per action. `summary()` is the closing line."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Apply complete! Resources: {len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.replaced)} replaced, {len(self.deleted)} destroyed.")


def check_allowed(plan: Plan, *, allow_destroy: bool, allow_replace: bool) -> None:
    """Refuse destructive plans that were not explicitly allowed. Raises `RendererError`."""
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    replaces = [c for c in plan.changes if c.action is Action.REPLACE]
    if deletes and not allow_destroy:
        names = ", ".join(f"{c.tenant}/{c.address}" for c in deletes)
        raise RendererError(
            f"the plan deletes {len(deletes)} resource{'s' if len(deletes) != 1 else ''} ({names}); "
            "nothing was changed",
            hint="review the plan and re-run with --allow-destroy to delete them")
    if replaces and not allow_replace:
        names = ", ".join(f"{c.tenant}/{c.address} ({c.reason})" for c in replaces)
        raise RendererError(
            f"the plan replaces {len(replaces)} resource{'s' if len(replaces) != 1 else ''}: {names}; "
            "nothing was changed",
            hint="replacing deletes the resource and its data; re-run with --allow-replace if that is intended")


def _managed_keys(desired: DesiredResource) -> list[str]:
    return sorted(e.key for e in desired.env_vars if e.source is not EnvSource.SYNC_FALSE)


def service_create_body(desired: DesiredResource, owner_id: str, env: list[JSON]) -> JSON:
    """POST /services body (openapi.json: schemas.servicePOST) for a desired service."""
    f = desired.fields
    details: JSON = {"runtime": f["runtime"], "region": f["region"], "plan": f["plan"],
                     "numInstances": f["numInstances"]}
    if f["runtime"] in NATIVE_RUNTIMES:
        details["envSpecificDetails"] = {"buildCommand": f["buildCommand"], "startCommand": f["startCommand"]}
    else:
        details["envSpecificDetails"] = {k: f[k] for k in ("dockerCommand", "dockerContext", "dockerfilePath")}
    if "preDeployCommand" in f:
        details["preDeployCommand"] = f["preDeployCommand"]
    if desired.kind is Kind.WEB_SERVICE and f.get("healthCheckPath"):
        details["healthCheckPath"] = f["healthCheckPath"]
    body: JSON = {"type": desired.kind.value, "name": desired.name, "ownerId": owner_id,
                  "serviceDetails": details, "envVars": env}
    for key in TOP_LEVEL_FIELDS:
        if f.get(key):
            body[key] = f[key]
    return body


def postgres_create_body(desired: DesiredResource, owner_id: str) -> JSON:
    """POST /postgres body (openapi.json: schemas.postgresPOSTInput)."""
    f = desired.fields
    body: JSON = {"name": desired.name, "ownerId": owner_id, "plan": f["plan"], "region": f["region"],
                  "version": f.get("version", DEFAULT_POSTGRES_VERSION)}
    for key in ("databaseName", "databaseUser", "diskSizeGB"):
        if key in f:
            body[key] = f[key]
    return body


def service_patch_body(change: Change) -> JSON:
    """PATCH /services/{id} body (openapi.json: schemas.servicePATCH) for the changed plain fields."""
    assert change.desired is not None
    f = change.desired.fields
    changed = {fc.path for fc in change.fields}
    body: JSON = {k: f[k] for k in TOP_LEVEL_FIELDS if k in changed}
    details: JSON = {k: f[k] for k in DETAIL_FIELDS if k in changed}
    env_specific = {k: f[k] for k in ENV_SPECIFIC_FIELDS if k in changed}
    if env_specific:
        details["envSpecificDetails"] = env_specific
    if details:
        body["serviceDetails"] = details
    return body


class Applier:
    """Carries out one plan. Holds the lockfile in memory and writes it after every create and delete."""

    def __init__(
        self, client: RenderClient, lockfile: Lockfile, lockfile_path: Path, live: LiveState,
        plan: Plan, emit: Emit,
    ) -> None:
        self.client = client
        self.lockfile = lockfile
        self.lockfile_path = lockfile_path
        self.plan = plan
        self.emit = emit
        self.report = ApplyReport()
        self._written = lockfile.dumps()
        self.connections: dict[tuple[str, str], ConnectionInfo] = {}
        for slug, tenant in lockfile.tenants.items():
            for addr, entry in tenant.resources.items():
                resource = live.resources.get(entry.id)
                if resource is not None and resource.connection is not None:
                    self.connections[(slug, addr)] = resource.connection

    def _save(self) -> None:
        text = self.lockfile.dumps()
        if text != self._written or not self.lockfile_path.exists():
            lockfile_io.write(self.lockfile_path, self.lockfile)
            self._written = text

    def _lock_tenant(self, slug: str) -> LockedTenant:
        if slug not in self.lockfile.tenants:
            source = self.plan.sources[slug]
            self.lockfile.tenants[slug] = LockedTenant(blueprint=source.blueprint, tenant_file=source.tenant_file)
        return self.lockfile.tenants[slug]

    def _env_value(self, slug: str, env: EnvVar) -> str:
        if env.source is EnvSource.FROM_DATABASE:
            info = self.connections.get((slug, f"{Kind.POSTGRES.value}.{env.ref_name}"))
            value = info.property(env.ref_property or "") if info else None
            if value is None:
                raise RendererError(
                    f"cannot resolve {env.key}: database {env.ref_name!r} of tenant {slug!r} has no "
                    f"{env.ref_property!r} in its connection info")
            return value
        return env.value or ""

    async def _create(self, change: Change) -> None:
        desired = change.desired
        assert desired is not None
        owner = self.client.settings.require_owner()
        self.emit(f"{change.tenant}: {change.address}: creating {desired.name}")
        if desired.kind is Kind.POSTGRES:
            created = await self.client.create_postgres(postgres_create_body(desired, owner))
            rid = created["id"]
            info = await self.client.postgres_connection_info(rid)
            self.connections[(change.tenant, change.address)] = connection_info(info)
        else:
            env: list[JSON] = []
            for var in desired.env_vars:
                if var.source is EnvSource.SYNC_FALSE:
                    continue
                if var.source is EnvSource.GENERATE_VALUE:
                    env.append({"key": var.key, "generateValue": True})
                else:
                    env.append({"key": var.key, "value": self._env_value(change.tenant, var)})
            created = await self.client.create_service(service_create_body(desired, owner, env))
            rid = created["service"]["id"]
        tenant = self._lock_tenant(change.tenant)
        tenant.resources[change.address] = LockedResource(
            kind=desired.kind, name=desired.name, id=rid, env_vars=_managed_keys(desired))
        self._save()
        self.emit(f"{change.tenant}: {change.address}: created {rid}")

    async def _delete(self, change: Change) -> None:
        assert change.id is not None
        self.emit(f"{change.tenant}: {change.address}: deleting {change.name} ({change.id})")
        try:
            if change.kind is Kind.POSTGRES:
                await self.client.delete_postgres(change.id)
            else:
                await self.client.delete_service(change.id)
        except NotFound:
            self.emit(f"{change.tenant}: {change.address}: {change.id} was already gone")
        tenant = self.lockfile.tenants.get(change.tenant)
        if tenant is not None:
            tenant.resources.pop(change.address, None)
        self.connections.pop((change.tenant, change.address), None)
        self._save()
        self.emit(f"{change.tenant}: {change.address}: deleted {change.id}")

    async def _update(self, change: Change) -> None:
        desired = change.desired
        assert desired is not None and change.id is not None
        self.emit(f"{change.tenant}: {change.address}: updating {desired.name} ({change.id})")
        plain = [f for f in change.fields if not f.path.startswith("envVars.")]
        if desired.kind is Kind.POSTGRES:
            body = {k: desired.fields[k] for k in POSTGRES_PATCH_FIELDS if k in {f.path for f in plain}}
            if body:
                await self.client.update_postgres(change.id, body)
        else:
            body = service_patch_body(change.model_copy(update={"fields": plain}))
            if body:
                await self.client.update_service(change.id, body)
            if any(f.path == "numInstances" for f in plain):
                await self.client.scale_service(change.id, int(desired.fields["numInstances"]))
            by_key = {e.key: e for e in desired.env_vars}
            for fc in change.fields:
                if not fc.path.startswith("envVars."):
                    continue
                key = fc.path.removeprefix("envVars.")
                if not fc.after_set:
                    with contextlib.suppress(NotFound):  # already gone is what we wanted
                        await self.client.delete_env_var(change.id, key)
                elif by_key[key].source is EnvSource.GENERATE_VALUE:
                    await self.client.put_env_var(change.id, key, generate=True)
                else:
                    await self.client.put_env_var(change.id, key, value=self._env_value(change.tenant, by_key[key]))
            await self.client.trigger_deploy(change.id)
        entry = self.lockfile.tenants[change.tenant].resources[change.address]
        entry.env_vars = _managed_keys(desired)
        self._save()
        self.emit(f"{change.tenant}: {change.address}: updated {change.id}")

    async def run(self) -> ApplyReport:
        for slug in self.plan.tenants:
            changes = [c for c in self.plan.changes if c.tenant == slug and c.action is not Action.NO_OP]
            if changes:
                await self._apply_tenant(slug, changes)
            self._finish_tenant(slug)
        return self.report

    async def _apply_tenant(self, slug: str, changes: list[Change]) -> None:
        def order(c: Change) -> int:
            return CREATE_ORDER[c.kind]

        first_deletes = [c for c in changes if (c.action is Action.DELETE and c.kind.is_service)
                         or c.action is Action.REPLACE]
        for change in sorted(first_deletes, key=order, reverse=True):
            await self._delete(change)
        for change in sorted((c for c in changes if c.action in (Action.CREATE, Action.REPLACE)), key=order):
            await self._create(change)
            (self.report.replaced if change.action is Action.REPLACE else self.report.created).append(
                f"{slug}/{change.address}")
        for change in sorted((c for c in changes if c.action is Action.UPDATE), key=order):
            await self._update(change)
            self.report.updated.append(f"{slug}/{change.address}")
        for change in changes:
            if change.action is Action.DELETE and change.kind.is_service:
                self.report.deleted.append(f"{slug}/{change.address}")
        for change in sorted((c for c in changes if c.action is Action.DELETE and not c.kind.is_service),
                             key=order, reverse=True):
            await self._delete(change)
            self.report.deleted.append(f"{slug}/{change.address}")

    def _finish_tenant(self, slug: str) -> None:
        source = self.plan.sources.get(slug)
        tenant = self.lockfile.tenants.get(slug)
        if source is None:
            if tenant is not None and not tenant.resources:
                del self.lockfile.tenants[slug]
                self._save()
            return
        if tenant is None:
            return
        tenant.blueprint = source.blueprint
        tenant.blueprint_digest = source.blueprint_digest
        tenant.tenant_file = source.tenant_file
        self._save()


async def apply_plan(
    plan: Plan, client: RenderClient, lockfile: Lockfile, lockfile_path: Path, live: LiveState,
    *, emit: Emit, allow_destroy: bool = False, allow_replace: bool = False,
) -> ApplyReport:
    """Carry out `plan`. Raises `RendererError` before any write when the plan is destructive and not
    allowed, or when a create needs RENDER_OWNER_ID and it is missing; API errors propagate after the
    lockfile has recorded everything done so far."""
    check_allowed(plan, allow_destroy=allow_destroy, allow_replace=allow_replace)
    if any(c.action in (Action.CREATE, Action.REPLACE) for c in plan.changes):
        client.settings.require_owner()
    applier = Applier(client, lockfile, lockfile_path, live, plan, emit)
    return await applier.run()
