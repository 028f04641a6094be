"""Building a plan: desired resources against live state and the lockfile.

Matching goes by lockfile ID only. A desired resource with no lockfile entry is a create, unless its
name already exists in the workspace: that is an error (never a silent second service). A lockfile
entry with no desired resource is a delete by ID. Fields are compared with deepdiff on the normalised
flat field dicts; a change to an immutable field makes the change a replace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deepdiff import DeepDiff

from renderer.errors import RendererError
from renderer.lockfile import LockedResource, Lockfile
from renderer.plan.model import Action, Change, FieldChange, Plan, Reason, TenantSource
from renderer.refresh import LiveResource, LiveState, name_key
from renderer.resources import CREATE_ORDER, DesiredResource, EnvSource, EnvVar, Kind

# Fields Render cannot change on an existing resource: changing them means delete and create.
# Services: region (render.com/docs: a service's region is fixed at creation) and runtime between
# native, docker and image (servicePATCH can switch native runtimes only). Postgres: region, major
# version, database name and user (postgresPATCHInput has none of them).
IMMUTABLE: dict[str, frozenset[str]] = {
    "service": frozenset({"region", "runtimeClass"}),
    Kind.POSTGRES.value: frozenset({"region", "version", "databaseName", "databaseUser"}),
}

RUNTIME_CLASS = {"docker": "docker", "image": "image"}


def _runtime_class(runtime: Any) -> str:
    return RUNTIME_CLASS.get(str(runtime), "native")


def _immutable(kind: Kind) -> frozenset[str]:
    return IMMUTABLE["service" if kind.is_service else kind.value]


class TenantInput:
    """What the plan needs to know about one tenant that has a tenant file."""

    def __init__(self, source: TenantSource, resources: Iterable[DesiredResource]) -> None:
        self.source = source
        self.resources = list(resources)


def field_changes(desired: DesiredResource, live: LiveResource) -> list[FieldChange]:
    """Changed fields, comparing only the fields the blueprint manages."""
    before = {k: live.fields.get(k) for k in desired.fields}
    after = dict(desired.fields)
    if desired.kind.is_service:
        before["runtimeClass"] = _runtime_class(live.fields.get("runtime"))
        after["runtimeClass"] = _runtime_class(desired.fields.get("runtime"))
    diff = DeepDiff(before, after, view="tree")
    changes: list[FieldChange] = []
    immutable = _immutable(desired.kind)
    for level in (*diff.get("values_changed", []), *diff.get("type_changes", [])):
        key = str(level.path(output_format="list")[0])
        if key == "runtimeClass":
            continue
        forces = key in immutable or (key == "runtime" and before["runtimeClass"] != after["runtimeClass"])
        changes.append(FieldChange(path=key, before=level.t1, after=level.t2, before_set=level.t1 is not None,
                                   forces_replace=forces))
    return sorted(changes, key=lambda c: c.path)


def _resolved(env: EnvVar, tenant_live: Mapping[str, LiveResource]) -> tuple[str | None, bool]:
    """The value `env` resolves to from live state: (value, known). Unknown when its database is new."""
    if env.source is EnvSource.FROM_DATABASE:
        db = tenant_live.get(f"{Kind.POSTGRES.value}.{env.ref_name}")
        if db is None or db.connection is None:
            return None, False
        return db.connection.property(env.ref_property or ""), True
    return env.value, True


def env_changes(
    desired: DesiredResource, live: LiveResource | None, locked: LockedResource | None,
    tenant_live: Mapping[str, LiveResource], replacing: set[str],
) -> list[FieldChange]:
    """Env var changes on a service: declared keys that differ, and keys renderer managed that are gone.

    Keys set by hand (never declared) are not looked at; `sync: false` keys are never written;
    `generateValue` keys are written only when missing.
    """
    current = (live.env_vars or {}) if live is not None else {}
    changes: list[FieldChange] = []
    for env in desired.env_vars:
        path = f"envVars.{env.key}"
        exists = env.key in current
        if env.source is EnvSource.SYNC_FALSE:
            continue
        if env.source is EnvSource.GENERATE_VALUE:
            if not exists:
                changes.append(FieldChange(path=path, before_set=False, sensitive=True))
            continue
        if env.source is EnvSource.FROM_DATABASE and f"{Kind.POSTGRES.value}.{env.ref_name}" in replacing:
            changes.append(FieldChange(path=path, before_set=exists, sensitive=True, after_known=False))
            continue
        value, known = _resolved(env, tenant_live)
        if not known:
            changes.append(FieldChange(path=path, before_set=exists, sensitive=True, after_known=False))
        elif not exists or current[env.key] != value:
            if env.sensitive:
                changes.append(FieldChange(path=path, before_set=exists, sensitive=True))
            else:
                changes.append(FieldChange(path=path, before=current.get(env.key), after=value,
                                           before_set=exists))
    declared = {e.key for e in desired.env_vars}
    for key in sorted(set(locked.env_vars if locked else []) - declared):
        if key in current:
            changes.append(FieldChange(path=f"envVars.{key}", after_set=False, after=None, sensitive=True))
    return changes


def _sort_key(change: Change) -> tuple[str, int, int, str]:
    order = CREATE_ORDER[change.kind]
    # Within a tenant: deletes last and in reverse dependency order, everything else in create order.
    if change.action is Action.DELETE:
        return (change.tenant, 1, -order, change.address)
    return (change.tenant, 0, order, change.address)


def build_plan(
    tenants: Mapping[str, TenantInput], lockfile: Lockfile, live: LiveState, scope: Iterable[str],
    *, lockfile_name: str = "render.lock.json",
) -> Plan:
    """The plan for the tenant slugs in `scope` (tenant files present or only in the lockfile).

    Raises `RendererError` when a desired name is already taken in the workspace by a resource the
    lockfile does not know.
    """
    changes: list[Change] = []
    conflicts: list[str] = []
    scope = sorted(set(scope))
    for slug in scope:
        tenant = tenants.get(slug)
        locked_tenant = lockfile.tenants.get(slug)
        locked = dict(locked_tenant.resources) if locked_tenant else {}
        desired = {r.address: r for r in tenant.resources} if tenant else {}

        tenant_live: dict[str, LiveResource] = {
            addr: live.resources[entry.id] for addr, entry in locked.items() if entry.id in live.resources
        }
        replacing: set[str] = set()
        pending: list[tuple[DesiredResource, LockedResource | None, LiveResource | None, list[FieldChange]]] = []
        for addr, resource in desired.items():
            entry = locked.get(addr)
            current = tenant_live.get(addr)
            fields = field_changes(resource, current) if current is not None else []
            if current is not None and any(f.forces_replace for f in fields):
                replacing.add(addr)
            pending.append((resource, entry, current, fields))

        for resource, entry, current, fields in pending:
            if entry is None:
                taken = live.names.get(name_key(resource.kind, resource.name))
                if taken is not None:
                    conflicts.append(
                        f"{resource.kind.value} {resource.name!r} ({taken}) already exists in the workspace "
                        f"but {lockfile_name} does not record it for tenant {slug!r}")
                    continue
                reason = Reason.ADDED_TO_BLUEPRINT if locked_tenant else Reason.TENANT_ADDED
                changes.append(Change(
                    tenant=slug, address=resource.address, kind=resource.kind, name=resource.name,
                    action=Action.CREATE, reason=reason.value, desired=resource,
                    fields=_create_fields(resource, tenant_live, replacing)))
                continue
            if current is None:
                changes.append(Change(
                    tenant=slug, address=resource.address, kind=resource.kind, name=resource.name,
                    action=Action.CREATE, reason=f"{Reason.MISSING_LIVE.value} (Render answers 404 for {entry.id})",
                    desired=resource, fields=_create_fields(resource, tenant_live, replacing)))
                continue
            if resource.address in replacing:
                forced = sorted(f.path for f in fields if f.forces_replace)
                changes.append(Change(
                    tenant=slug, address=resource.address, kind=resource.kind, name=resource.name,
                    action=Action.REPLACE, reason=f"{Reason.CANNOT_UPDATE.value}: {', '.join(forced)}",
                    id=entry.id, desired=resource, fields=fields))
                continue
            if resource.kind.is_service:
                fields = fields + env_changes(resource, current, entry, tenant_live, replacing)
            action = Action.UPDATE if fields else Action.NO_OP
            reason = Reason.FIELD_CHANGED if fields else Reason.UNCHANGED
            changes.append(Change(
                tenant=slug, address=resource.address, kind=resource.kind, name=resource.name, action=action,
                reason=reason.value, id=entry.id, desired=resource, fields=fields))

        for addr, entry in locked.items():
            if addr in desired:
                continue
            reason = Reason.REMOVED_FROM_BLUEPRINT if tenant else Reason.TENANT_REMOVED
            text = reason.value
            if entry.id in live.missing:
                text += f"; already gone from Render ({entry.id} answers 404), only the lockfile entry is removed"
            changes.append(Change(tenant=slug, address=addr, kind=entry.kind, name=entry.name,
                                  action=Action.DELETE, reason=text, id=entry.id))

    if conflicts:
        raise RendererError(
            "refusing to plan a second resource with a name that is already taken:\n  " + "\n  ".join(conflicts),
            hint=f"adopt the existing resource by recording its ID in {lockfile_name} under the tenant's "
                 "resources, or delete or rename it in the Render dashboard",
        )
    return Plan(
        tenants=scope,
        sources={slug: tenants[slug].source for slug in scope if slug in tenants},
        changes=sorted(changes, key=_sort_key),
    )


def _create_fields(
    resource: DesiredResource, tenant_live: Mapping[str, LiveResource], replacing: set[str],
) -> list[FieldChange]:
    fields = [FieldChange(path=k, after=v, before_set=False) for k, v in sorted(resource.fields.items())]
    for env in resource.env_vars:
        if env.source is EnvSource.SYNC_FALSE:
            continue
        path = f"envVars.{env.key}"
        if env.sensitive:
            known = env.source is EnvSource.GENERATE_VALUE or (
                _resolved(env, tenant_live)[1] and f"{Kind.POSTGRES.value}.{env.ref_name}" not in replacing)
            fields.append(FieldChange(path=path, before_set=False, sensitive=True, after_known=known))
        else:
            fields.append(FieldChange(path=path, after=env.value, before_set=False))
    return fields
