"""Building a plan: desired resources against live state and the lockfile.

Matching goes by lockfile ID only. A desired resource with no lockfile entry is a create, unless its
name already exists in the workspace: that is an error (never a silent second service; `renderer
import` adopts it). A lockfile entry with no desired resource is a delete by ID. Both sides are
normalised by their kind (`renderer.kinds`: `desired_fields`, `live_value`) before they are compared, so
an apply is followed by an empty plan. A change to a field the kind cannot change in place
(`KindOps.forces_replace`), or a service whose type changed under the same blueprint name, makes the
change a replace.

Each difference is classified with the fingerprints of what renderer last applied (the lockfile's
`applied`): when the desired value still matches what was applied but the live value does not,
someone changed Render (`drift: changed outside renderer`); otherwise the configuration changed
(`field changed`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from renderer.errors import RendererError
from renderer.fingerprint import PLAIN_PREFIX, Fingerprinter
from renderer.kind import Kind
from renderer.kinds.registry import CREATE_ORDER, ops_for
from renderer.live import DEPLOY_FAILED, DEPLOY_FAILURE_REASONS, DEPLOY_LIVE
from renderer.lockfile import LockedResource, Lockfile
from renderer.plan.model import (
    DEPLOY_FIELD,
    Action,
    Change,
    FieldChange,
    ManualAction,
    Notice,
    Plan,
    Reason,
    TenantSource,
)
from renderer.refresh import LiveResource, LiveState, name_key
from renderer.resources import DesiredResource, EnvSource, EnvVar, suffixed


class TenantInput:
    """What the plan needs to know about one tenant that has a tenant file."""

    def __init__(self, source: TenantSource, resources: Iterable[DesiredResource]) -> None:
        self.source = source
        self.resources = list(resources)


@dataclass
class _Context:
    """Per-tenant state while planning."""

    slug: str
    live: Mapping[str, LiveResource]
    replacing: set[str]
    environ: Mapping[str, str]
    fingerprints: Fingerprinter
    manual: list[ManualAction] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def _drifted(fingerprints: Fingerprinter, applied: str | None, desired: Any, live: Any) -> bool:
    """True when `desired` is what renderer last applied and `live` is not: changed outside renderer."""
    if applied is None:
        return False
    return fingerprints.matches(applied, desired) is True and fingerprints.matches(applied, live) is False


def field_changes(
    desired: DesiredResource, live: LiveResource, entry: LockedResource | None = None,
    fingerprints: Fingerprinter | None = None,
) -> list[FieldChange]:
    """Changed fields, comparing only the fields the blueprint manages, both sides normalised."""
    fingerprints = fingerprints or Fingerprinter()
    applied = entry.applied if entry is not None else {}
    ops = ops_for(desired.kind)
    want = ops.desired_fields(desired)
    changes: list[FieldChange] = []
    for key in sorted(want):
        after = want[key]
        before = ops.live_value(desired.kind, live.fields, key)
        if ops.same_value(key, after, before):
            continue
        forces = ops.forces_replace(desired.kind, key, before, after)
        changes.append(FieldChange(
            path=key, before=before, after=after, before_set=before is not None, forces_replace=forces,
            drift=_drifted(fingerprints, applied.get(key), after, before)))
    return changes


def resolve_env(env: EnvVar, live: Mapping[str, LiveResource], environ: Mapping[str, str]) -> tuple[str | None, bool]:
    """The value `env` resolves to now: (value, known). `VALUE` is always known; `FROM_DATABASE` and
    `FROM_SERVICE` when the resource they read exists live (and has the env var `envVarKey` names);
    `SECRET` when its environment variable is set."""
    if env.source is EnvSource.FROM_SERVICE:
        target = live.get(env.target or "")
        if target is None:
            return None, False
        if env.ref_key is not None:
            value = (target.env_vars or {}).get(env.ref_key)
        else:
            value = target.property(env.ref_property or "")
        return value, value is not None
    if env.source is EnvSource.FROM_DATABASE:
        db = live.get(env.target or "")
        if db is None or db.connection is None:
            return None, False
        return db.connection.property(env.ref_property or ""), True
    if env.source is EnvSource.SECRET:
        value = environ.get(env.ref_name or "")
        return value, value is not None
    return env.value, True


def _applied_plain(applied: Mapping[str, str], path: str) -> bool:
    """Whether renderer last applied the live value at `path` as a plain value (its fingerprint is a plain
    one). Anything else may be a secret: a value from a database, a service, a generated one, a tenant
    secret, a `sync: false` key or one set by hand. Such a before-value prints as `(sensitive)`, and the
    after-value with it, even when the blueprint now sets a plain value (`value: x`)."""
    return applied.get(path, "").startswith(PLAIN_PREFIX)


def _secret_notice(ctx: _Context, desired: DesiredResource, env: EnvVar) -> None:
    ctx.notices.append(Notice(
        tenant=ctx.slug, kind="secret_unavailable",
        message=f"{desired.address}: secret {env.key} comes from ${env.ref_name}, which is not set here; "
                "the plan cannot tell whether it changed, and apply needs it set"))


def _manual(ctx: _Context, desired: DesiredResource, env: EnvVar) -> None:
    ctx.manual.append(ManualAction(
        tenant=ctx.slug, address=desired.address, name=desired.name, key=env.key,
        message=f"set {env.key} on {desired.name} in the Render dashboard (declared `sync: false`: renderer "
                f"never writes it), or add `secrets: {{{env.key}: {{from_env: VAR}}}}` to the tenant file"))


def env_changes(
    desired: DesiredResource, live: LiveResource | None, locked: LockedResource | None, ctx: _Context,
) -> list[FieldChange]:
    """Env var changes on a service: declared keys that differ, and keys renderer managed that are gone.

    Keys set by hand (never declared) are not looked at; `sync: false` keys are never written (a missing
    one becomes a manual action); `generateValue` keys are written only when missing.
    """
    current = (live.env_vars or {}) if live is not None else {}
    managed_before = set(locked.env_vars) if locked is not None else set()
    applied = locked.applied if locked is not None else {}
    fp = ctx.fingerprints
    changes: list[FieldChange] = []
    for env in desired.env_vars:
        path = f"envVars.{env.key}"
        exists = env.key in current
        # A managed key that vanished from Render while the blueprint still declares it: drift.
        vanished = env.key in managed_before and not exists
        if env.source is EnvSource.SYNC_FALSE:
            if not exists:
                _manual(ctx, desired, env)
            continue
        if env.source is EnvSource.GENERATE_VALUE:
            if not exists:
                changes.append(FieldChange(path=path, before_set=False, sensitive=True, drift=vanished))
            continue
        if env.target is not None and env.target in ctx.replacing:
            changes.append(FieldChange(path=path, before_set=exists, sensitive=True, after_known=False))
            continue
        value, known = resolve_env(env, ctx.live, ctx.environ)
        if not known:
            if env.source is EnvSource.SECRET:
                _secret_notice(ctx, desired, env)
                outside = exists and path in applied and fp.matches(applied[path], current[env.key]) is False
                if not exists or outside:
                    changes.append(FieldChange(path=path, before_set=exists, sensitive=True, after_known=False,
                                               drift=vanished or outside))
                continue
            changes.append(FieldChange(path=path, before_set=exists, sensitive=True, after_known=False))
            continue
        if exists and current[env.key] == value:
            continue
        drift = (vanished and (path not in applied or fp.matches(applied[path], value) is not False)) or (
            exists and _drifted(fp, applied.get(path), value, current[env.key]))
        if env.sensitive or (exists and not _applied_plain(applied, path)):
            changes.append(FieldChange(path=path, before_set=exists, sensitive=True, drift=drift))
        else:
            changes.append(FieldChange(path=path, before=current.get(env.key), after=value, before_set=exists,
                                       drift=drift))
    declared = {e.key for e in desired.env_vars}
    for key in sorted(managed_before - declared):
        if key in current:
            changes.append(FieldChange(path=f"envVars.{key}", after_set=False, after=None, sensitive=True))
    return changes


def _create_fields(resource: DesiredResource, ctx: _Context) -> list[FieldChange]:
    fields = [FieldChange(path=k, after=v, before_set=False)
              for k, v in sorted(ops_for(resource.kind).desired_fields(resource).items())]
    for env in resource.env_vars:
        path = f"envVars.{env.key}"
        if env.source is EnvSource.SYNC_FALSE:
            _manual(ctx, resource, env)
            continue
        if env.source is EnvSource.GENERATE_VALUE:
            fields.append(FieldChange(path=path, before_set=False, sensitive=True))
            continue
        value, known = resolve_env(env, ctx.live, ctx.environ)
        if env.target is not None and env.target in ctx.replacing:
            known = False
        if env.source is EnvSource.SECRET and not known:
            _secret_notice(ctx, resource, env)
        if env.sensitive:
            fields.append(FieldChange(path=path, before_set=False, sensitive=True, after_known=known))
        else:
            fields.append(FieldChange(path=path, after=value, before_set=False))
    return fields


def _sort_key(change: Change) -> tuple[str, int, int, str]:
    order = CREATE_ORDER[change.kind]
    # Within a tenant: deletes last and in reverse dependency order, everything else in create order.
    if change.action is Action.DELETE:
        return (change.tenant, 1, -order, change.address)
    return (change.tenant, 0, order, change.address)


def _type_replaces(changes: list[Change], locked: Mapping[str, LockedResource]) -> list[Change]:
    """A service whose blueprint entry kept its name but changed `type` is one replace, not a delete of
    one address and a create of another (Render cannot change a service's type)."""
    creates = {(c.desired.blueprint_name if c.desired else ""): c for c in changes
               if c.action is Action.CREATE and c.kind.is_service and c.reason is Reason.ADDED_TO_BLUEPRINT}
    result: list[Change] = []
    merged: set[str] = set()
    for change in changes:
        if change.action is Action.DELETE and change.kind.is_service and change.reason is Reason.REMOVED_FROM_BLUEPRINT:
            blueprint_name = change.address.split(".", 1)[1]
            create = creates.get(blueprint_name)
            if create is not None and change.id is not None:
                merged.add(create.address)
                result.append(create.model_copy(update={
                    "action": Action.REPLACE, "id": change.id, "protected": change.protected,
                    "reason": Reason.CANNOT_UPDATE, "detail": f"type ({change.kind.value} -> {create.kind.value})",
                    "previous_address": change.address,
                }))
                continue
        result.append(change)
    return [c for c in result if not (c.action is Action.CREATE and c.address in merged)]


def _rename_notices(slug: str, changes: list[Change], live: LiveState) -> list[Notice]:
    """A service removed from the blueprint while another of the same type and repo is added is probably
    a rename: renderer deletes the old service and creates a new one (new URL, new ID)."""
    notices: list[Notice] = []
    added = [c for c in changes if c.action is Action.CREATE and c.kind.is_service
             and c.reason is Reason.ADDED_TO_BLUEPRINT and c.desired is not None]
    for gone in changes:
        if not (gone.action is Action.DELETE and gone.kind.is_service and gone.id in live.resources):
            continue
        repo = live.resources[gone.id].fields.get("repo")
        for new in added:
            assert new.desired is not None
            if new.kind is gone.kind and new.desired.fields.get("repo") == repo:
                notices.append(Notice(
                    tenant=slug, kind="possible_rename",
                    message=f"possible rename: {gone.address} -> {new.address} (same type and repo); renderer "
                            f"will delete {gone.name} ({gone.id}) and create {new.name}, which gets a new ID "
                            "and URL"))
    return notices


def _with_identity(slug: str, change: Change, locked: Mapping[str, LockedResource], live: LiveState) -> Change:
    """`change` with the live resource's name, and the identity problem when the resource Render has at the
    recorded ID is not the one the lockfile entry names, not the one renderer derives for the address
    (`<blueprint name>-<slug>`; a disk or custom domain keeps its own name), or of another kind."""
    current = live.resources.get(change.id or "")
    entry = locked.get(change.previous_address or change.address)
    if current is None or entry is None:
        return change
    if change.desired is not None:
        derived = change.desired.name
    elif entry.kind.is_child:
        derived = entry.name
    else:
        derived = suffixed(change.address.split(".", 1)[1], slug)
    problem = None
    if current.name != entry.name or current.name != derived or current.kind is not entry.kind:
        expected = f"{entry.kind.value} {json.dumps(entry.name)}"
        if derived != entry.name:
            expected += f" (renderer derives {json.dumps(derived)} for this address)"
        problem = (f"{slug}/{entry_address(change)} records {change.id} as {expected}, but on Render {change.id} "
                   f"is {current.kind.value} {json.dumps(current.name)}: the lockfile entry points at another "
                   "resource; apply refuses to write to it")
    return change.model_copy(update={"live_name": current.name, "identity": problem})


def short_version(version: str | None) -> str:
    """A version as plans print it: a commit's first 7 characters, `sha256:` and 12 of a digest."""
    if not version:
        return "(version unknown)"
    return version[:19] if version.startswith("sha256:") else version[:7]


def _deploy_pending(ctx: _Context, resource: DesiredResource, entry: LockedResource,
                    live: LiveState) -> tuple[FieldChange, str] | None:
    """The service's last deploy renderer started did not go live (`LockedResource.deploy`, its status
    as Render now answers when the lockfile does not know how it ended): the `deploy` field change and
    the reason's detail, or None. A deploy still under way is a notice, not a change."""
    deploy = entry.deploy
    if not resource.kind.is_service or deploy is None:
        return None
    status = str(live.deploys.get(entry.id, {}).get("status") or deploy.status)
    version = short_version(deploy.target)
    if status == DEPLOY_LIVE:
        return None
    if status not in DEPLOY_FAILED:
        ctx.notices.append(Notice(tenant=ctx.slug, kind="deploy_in_progress", message=(
            f"{resource.address}: deploy {deploy.id} of {version} is {status}; a plan after it ends shows "
            "whether it went live")))
        return None
    why = DEPLOY_FAILURE_REASONS.get(status, status)
    change = FieldChange(path=DEPLOY_FIELD, before=f"{status} {version}", after=f"live {version}")
    return change, f"{deploy.id} {status} ({why}); apply deploys {version} again"


def entry_address(change: Change) -> str:
    return change.previous_address or change.address


def build_plan(
    tenants: Mapping[str, TenantInput], lockfile: Lockfile, live: LiveState, scope: Iterable[str],
    *, lockfile_name: str = "render.lock.json", environ: Mapping[str, str] | None = None,
    fingerprints: Fingerprinter | None = None, tenant_files: int | None = None,
    protected_before: Collection[str] = (),
) -> Plan:
    """The plan for the tenant slugs in `scope` (tenant files present or only in the lockfile).

    `environ` supplies tenant secrets (default: none known); `fingerprints` classifies drift;
    `tenant_files` is the number of tenant files in the whole fleet (default: `len(tenants)`).
    A tenant's destructive changes are `protected` while its tenant file, `lockfile` or its last applied
    state (`protected_before`: the tenants a lockfile the change cannot have edited records as protected)
    says `deletion_protection: true`: lifting protection must be applied on its own before anything is
    destroyed.
    Raises `RendererError` when a desired name is already taken in the workspace by a resource the
    lockfile does not know.
    """
    environ = environ if environ is not None else {}
    fingerprints = fingerprints or Fingerprinter()
    changes: list[Change] = []
    manual: list[ManualAction] = []
    notices: list[Notice] = []
    conflicts: list[str] = []
    scope = sorted(set(scope))
    for slug in scope:
        tenant = tenants.get(slug)
        locked_tenant = lockfile.tenants.get(slug)
        locked = dict(locked_tenant.resources) if locked_tenant else {}
        desired = {r.address: r for r in tenant.resources} if tenant else {}
        protected = (bool(tenant and tenant.source.deletion_protection)
                     or bool(locked_tenant and locked_tenant.deletion_protection) or slug in protected_before)
        tenant_live: dict[str, LiveResource] = {
            addr: live.resources[entry.id] for addr, entry in locked.items() if entry.id in live.resources
        }
        ctx = _Context(slug=slug, live=tenant_live, replacing=set(), environ=environ, fingerprints=fingerprints)
        tenant_changes: list[Change] = []

        pending: list[tuple[DesiredResource, LockedResource | None, LiveResource | None, list[FieldChange]]] = []
        for addr, resource in desired.items():
            entry = locked.get(addr)
            current = tenant_live.get(addr)
            fields = field_changes(resource, current, entry, fingerprints) if current is not None else []
            if current is not None and any(f.forces_replace for f in fields):
                ctx.replacing.add(addr)
            pending.append((resource, entry, current, fields))
        # A disk or custom domain goes with its service: replaced when the service is, or moved to another.
        moved: dict[str, str] = {}
        for resource, entry, current, _ in pending:
            if resource.parent and entry is not None and current is not None and (
                    resource.parent in ctx.replacing or entry.parent != resource.parent):
                ctx.replacing.add(resource.address)
                moved[resource.address] = resource.parent

        for resource, entry, current, fields in pending:
            common: dict[str, Any] = {"tenant": slug, "address": resource.address, "kind": resource.kind,
                                      "name": resource.name, "desired": resource}
            if entry is None:
                taken = live.names.get(name_key(resource.kind, resource.name))
                # A name held by this tenant's own recorded resource (a service whose type changed) is not
                # a conflict: that resource is replaced.
                if taken is not None and taken not in {e.id for e in locked.values()}:
                    conflicts.append(
                        f"{resource.kind.value} {resource.name!r} ({taken}) already exists in the workspace "
                        f"but {lockfile_name} does not record it for tenant {slug!r}")
                    continue
                reason = Reason.ADDED_TO_BLUEPRINT if locked_tenant and locked else Reason.TENANT_ADDED
                tenant_changes.append(Change(**common, action=Action.CREATE, reason=reason,
                                             fields=_create_fields(resource, ctx)))
                continue
            if current is None:
                tenant_changes.append(Change(
                    **common, action=Action.CREATE,
                    reason=Reason.MISSING_LIVE, detail=f"(Render answers 404 for {entry.id})",
                    fields=_create_fields(resource, ctx)))
                continue
            if ops_for(resource.kind).env_vars:
                # A replace shows every other change too: the new resource gets them all at once.
                fields = fields + env_changes(resource, current, entry, ctx)
            if resource.address in ctx.replacing:
                forced = sorted(f.path for f in fields if f.forces_replace)
                why = ", ".join(forced) if forced else f"its service {moved[resource.address]} is replaced"
                tenant_changes.append(Change(
                    **common, action=Action.REPLACE, reason=Reason.CANNOT_UPDATE, detail=why,
                    id=entry.id, fields=fields, protected=protected, data_loss=ops_for(resource.kind).loses_data))
                continue
            pending_deploy = _deploy_pending(ctx, resource, entry, live)
            if not fields and pending_deploy is None:
                tenant_changes.append(Change(**common, action=Action.NO_OP, reason=Reason.UNCHANGED,
                                             id=entry.id))
                continue
            if not fields:
                assert pending_deploy is not None
                tenant_changes.append(Change(**common, action=Action.UPDATE, reason=Reason.DEPLOY_NOT_LIVE,
                                             detail=pending_deploy[1], id=entry.id, fields=[pending_deploy[0]]))
                continue
            reason = Reason.DRIFT if all(f.drift for f in fields) else Reason.FIELD_CHANGED
            if pending_deploy is not None:
                fields = [*fields, pending_deploy[0]]
            tenant_changes.append(Change(**common, action=Action.UPDATE, reason=reason, id=entry.id,
                                         fields=fields))

        for addr, entry in locked.items():
            if addr in desired:
                continue
            reason = Reason.REMOVED_FROM_BLUEPRINT if tenant else Reason.TENANT_REMOVED
            detail = (f"already gone from Render ({entry.id} answers 404), only the lockfile entry is removed"
                      if entry.id in live.missing else None)
            tenant_changes.append(Change(tenant=slug, address=addr, kind=entry.kind, name=entry.name,
                                         action=Action.DELETE, reason=reason, detail=detail, id=entry.id,
                                         protected=protected, data_loss=ops_for(entry.kind).loses_data))

        notices.extend(Notice(tenant=slug, kind="unpinned", message=(
            f"{r.address}: a Git-backed cron job runs its branch head: Render takes no commit for a cron job's "
            "deploy (openapi.json create-deploy: commitId \"Not supported for cron jobs\"), so its version is not "
            "pinned; run it from an image pinned by digest to pin it"))
            for r in desired.values() if r.kind is Kind.CRON_JOB and r.fields.get("runtime") != "image")
        notices.extend(_rename_notices(slug, tenant_changes, live))
        tenant_changes = _type_replaces(tenant_changes, locked)
        tenant_changes = [_with_identity(slug, c, locked, live) for c in tenant_changes]
        notices.extend(Notice(tenant=slug, kind="identity", message=c.identity)
                       for c in tenant_changes if c.identity)
        if any(c.protected for c in tenant_changes):
            how = ("set `deletion_protection: false` in its tenant file and apply that on its own first (its "
                   "last applied state must be unprotected)" if tenant else
                   "restore its tenant file with `deletion_protection: false`, apply, then delete the file")
            notices.append(Notice(
                tenant=slug, kind="deletion_protection",
                message=f"tenant {slug} has deletion_protection: apply refuses to delete or replace its "
                        f"resources; to allow it, {how}"))
        changes.extend(tenant_changes)
        manual.extend(ctx.manual)
        notices.extend(ctx.notices)

    if conflicts:
        slugs = sorted({c.rsplit("tenant ", 1)[1].strip("'") for c in conflicts})
        raise RendererError(
            "refusing to plan a second resource with a name that is already taken:\n  " + "\n  ".join(conflicts),
            hint=f"adopt the existing resources into {lockfile_name} with "
                 + " and ".join(f"`renderer import {s}`" for s in slugs)
                 + ", or delete or rename them in the Render dashboard",
        )
    plan = Plan(
        tenants=scope,
        sources={slug: tenants[slug].source for slug in scope if slug in tenants},
        changes=sorted(changes, key=_sort_key),
        manual_actions=manual,
        notices=notices,
        locked_tenants=len(lockfile.tenants),
        tenant_files=len(tenants) if tenant_files is None else tenant_files,
    )
    breaker = plan.mass_destroy()
    if breaker:
        plan = plan.model_copy(update={"notices": [
            *plan.notices, Notice(tenant="", kind="mass_destroy",
                                  message=f"mass-delete breaker: {breaker}; apply refuses it without "
                                          "--allow-mass-destroy")]})
    return plan
