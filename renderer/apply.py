"""Apply: carry a plan out through Render's API and keep the lockfile right at every step.

Order within a tenant: deletes of services and the delete half of replaces (services before the
datastores they read), then creates and the create half of replaces in dependency order (Postgres
before the services whose `DATABASE_URL` reads it), then updates (one deploy per changed service),
then deletes of datastores. Up to `--tenant-parallelism` tenants are applied at once, with output in
plan order (`renderer.concurrency`); the first error marks that tenant `failed` and starts no further
tenant. Service creates beyond Render's hourly budget wait for the next run (`renderer.budget`, exit 4);
a Postgres database is exported before it is deleted (`renderer.backup`).

Crash safety: every write is announced in the intent journal (`renderer.journal`) before it is sent
and its result recorded after; the lockfile is rewritten atomically after every create and delete, so
it is always valid JSON and never loses an ID. `recover` runs at the start of the next apply and
adopts anything the journal says was (or may have been) created: by its recorded ID, else by looking
it up by owner, type and name. So re-running apply after a kill at any point converges, with no
duplicate resources and no live resource missing from the lockfile.

What each kind's create, update and delete send is its module's (`renderer.kinds`); the `Applier` is
the `ApplyContext` they are handed: it journals their writes, records IDs and resolves env values.

Secret values (generated, from a database, tenant secrets read from the environment) are resolved
here and go only into request bodies; the lockfile gets their fingerprints (`renderer.fingerprint`).
`ApplyReport` computes the exit code (0 done, 1 error or cancelled, 4 stopped early with work left).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout
from rich.console import Console

from renderer import journal as journal_io
from renderer import lockfile as lockfile_io
from renderer.backup import DEFAULT_BACKUP_POLL, DEFAULT_BACKUP_TIMEOUT, BackupFailed, take_backup
from renderer.budget import (
    MAX_CREATE_WAIT,
    NOUNS,
    STOPPED_REASON,
    BudgetExhausted,
    CreateGate,
    create_budget,
    stop_message,
    uses_create_budget,
)
from renderer.concurrency import DEFAULT_TENANT_PARALLELISM, OrderedOutput, run_tenants
from renderer.errors import ExitCode, RendererError
from renderer.fingerprint import Fingerprinter
from renderer.journal import Journal
from renderer.kind import Kind
from renderer.kinds.base import ApplyContext, References
from renderer.kinds.registry import CREATE_ORDER, desired_fields, ops_for
from renderer.live import DEPLOY_FAILED, DEPLOY_FAILURE_REASONS, DEPLOY_LIVE, deploy_version
from renderer.lockfile import LockedDeploy, LockedResource, LockedTenant, Lockfile
from renderer.plan.diff import MOVE_FIELD
from renderer.plan.model import Action, Change, Plan
from renderer.progress import WaitProgress
from renderer.refresh import ConnectionInfo, LiveState, find_by_id, find_by_name
from renderer.render_api.client import RenderClient
from renderer.render_api.errors import NotFound, RenderAPIError
from renderer.resources import DesiredResource, EnvSource, EnvVar

Emit = Callable[[str], None]
T = TypeVar("T")

__all__ = ["Applier", "ApplyReport", "apply_lock", "apply_plan", "recover", "wait_for_deploys"]

DEFAULT_WAIT_TIMEOUT = 1800.0
DEFAULT_POLL_SECONDS = 10.0  # a deploy takes minutes on Render; every read spends the 400-a-minute GET budget
DEFAULT_LOCK_TIMEOUT = 60.0


@dataclass
class DeployRecord:
    """A deploy apply started (or that a create started): which tenant and service, its last status and
    the version it deploys (`deploy_version`; None until Render says)."""

    tenant: str
    address: str
    service_id: str
    deploy_id: str
    status: str = "created"
    version: str | None = None

    @property
    def failure(self) -> str:
        """`tenant/address (deploy dep-... build_failed: the build failed)`: what failed and why."""
        why = DEPLOY_FAILURE_REASONS.get(self.status, self.status)
        return f"{self.tenant}/{self.address} (deploy {self.deploy_id} {self.status}: {why})"


@dataclass
class ApplyReport:
    """What apply did. Like black's report, it computes the exit code:

    - 1 when the run was cancelled, a change failed or a deploy failed (`failed`);
    - 4 when it stopped early with work left (`remaining`, with `stopped_reason`, e.g. a rate budget);
    - 0 otherwise.
    """

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    deploys: list[DeployRecord] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    stopped_reason: str | None = None
    cancelled: bool = False

    @property
    def exit_code(self) -> ExitCode:
        if self.cancelled or self.failed:
            return ExitCode.ERROR
        if self.remaining:
            return ExitCode.INCOMPLETE
        return ExitCode.OK

    def summary(self) -> str:
        counts = (f"Resources: {len(self.created)} created, {len(self.updated)} updated, "
                  f"{len(self.replaced)} replaced, {len(self.deleted)} destroyed.")
        if self.cancelled:
            return "Apply cancelled."
        if self.failed:
            return f"Apply failed! {counts} Failed: {', '.join(self.failed)}."
        if self.remaining:
            why = f" ({self.stopped_reason})" if self.stopped_reason else ""
            return (f"Apply incomplete{why}! {counts} {len(self.remaining)} changes left for the next run: "
                    f"{', '.join(self.remaining)}.")
        return f"Apply complete! {counts}"


def _managed_keys(desired: DesiredResource) -> list[str]:
    return sorted(e.key for e in desired.env_vars if e.managed)


def ordered(changes: Iterable[Change], *, reverse: bool = False) -> list[Change]:
    """`changes` in create order: by kind rank (`renderer.kinds.registry.CREATE_ORDER`), but each after
    the resources it references (a service reading another's host comes after it, whatever their types).
    With `reverse`, delete order."""
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


def _definite_refusal(exc: RenderAPIError) -> bool:
    """Render refused the write for certain (nothing changed): a 4xx other than timeout or rate limit."""
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429)


@contextlib.contextmanager
def apply_lock(lockfile_path: Path, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the apply lock of a lockfile (`<lockfile>.apply-lock`, an OS file lock released when the
    process ends, however it ends). Waits up to `timeout` seconds, then raises `RendererError`.

    The lock belongs to the lockfile's resolved path, so `--lockfile link.json` (a symlink to
    render.lock.json) and `render.lock.json` exclude each other."""
    resolved = lockfile_path.resolve()
    path = resolved.with_name(resolved.name + ".apply-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise RendererError(
            f"another renderer apply or import is running on {lockfile_path} (lock {path} held); "
            f"waited {timeout:g} s; nothing was changed",
            hint="wait for it to finish and re-run, or raise --lock-timeout; the lock is released as soon as "
                 "that process exits") from None
    try:
        yield
    finally:
        lock.release()


class Applier(ApplyContext):
    """Carries out one plan. Holds the lockfile in memory and writes it after every create and delete.

    It is the `ApplyContext` the kinds' create, update and delete are handed (`renderer.kinds.base`).
    """

    def __init__(
        self, client: RenderClient, lockfile: Lockfile, lockfile_path: Path, live: LiveState,
        plan: Plan, emit: Emit, *, environ: Mapping[str, str] | None = None,
        fingerprints: Fingerprinter | None = None, journal: Journal | None = None,
        gate: CreateGate | None = None, parallelism: int = 1, skip_backup: bool = False,
        backup_timeout: float = DEFAULT_BACKUP_TIMEOUT, backup_poll: float = DEFAULT_BACKUP_POLL,
    ) -> None:
        self.client = client
        self.lockfile = lockfile
        self.lockfile_path = lockfile_path
        self.plan = plan
        self.emit = emit
        self.environ = environ if environ is not None else os.environ
        self.fingerprints = fingerprints or Fingerprinter.from_env()
        self.journal = journal or Journal(journal_io.journal_path(lockfile_path))
        self.report = ApplyReport()
        self.live = live
        self.gate = gate or CreateGate(None)
        self.parallelism = max(1, parallelism)
        self.skip_backup = skip_backup
        self.backup_timeout = backup_timeout
        self.backup_poll = backup_poll
        self._written = lockfile.dumps()
        self.live_deploys = live.deploys
        self.connections: dict[tuple[str, str], ConnectionInfo] = {}
        # What `fromService` reads, per (tenant, address) of the kinds other resources read.
        self.references: dict[tuple[str, str], References] = {}
        for slug, tenant in lockfile.tenants.items():
            for addr, entry in tenant.resources.items():
                resource = live.resources.get(entry.id)
                if resource is not None and resource.connection is not None:
                    self.connections[(slug, addr)] = resource.connection
                if resource is not None and ops_for(resource.kind).references:
                    self.references[(slug, addr)] = References.of(resource)

    def _save(self) -> None:
        text = self.lockfile.dumps()
        if text != self._written or not self.lockfile_path.exists():
            lockfile_io.write(self.lockfile_path, self.lockfile)
            self._written = text

    async def write(self, op: str, change: Change, call: Callable[[], Awaitable[T]],
                    result: Callable[[T], dict[str, Any]] | None = None, **extra: Any) -> T:
        """Send one write, announced in the journal before and its result recorded after."""
        seq = self.journal.intent(op, **self._journal_data(change, **extra))
        try:
            value = await call()
        except RenderAPIError as exc:
            if _definite_refusal(exc):
                self.journal.failed(seq, f"{exc.status}: {exc.api_message}")
            raise
        self.journal.done(seq, **(result(value) if result else {}))
        return value

    def _lock_tenant(self, slug: str) -> LockedTenant:
        if slug not in self.lockfile.tenants:
            source = self.plan.sources[slug]
            self.lockfile.tenants[slug] = LockedTenant(
                blueprint=source.blueprint, tenant_file=source.tenant_file, status="provisioning",
                deletion_protection=source.deletion_protection)
        return self.lockfile.tenants[slug]

    def env_value(self, slug: str, env: EnvVar) -> str:
        """The value to send for a managed, non-generated env var. Raises `RendererError` when it cannot
        be resolved."""
        if env.source is EnvSource.FROM_DATABASE:
            info = self.connections.get((slug, env.target or ""))
            value = info.property(env.ref_property or "") if info else None
            if value is None:
                raise RendererError(
                    f"cannot resolve {env.key}: database {env.ref_name!r} of tenant {slug!r} has no "
                    f"{env.ref_property!r} in its connection info")
            return value
        if env.source is EnvSource.FROM_SERVICE:
            return self._resolve_reference(slug, env)
        if env.source is EnvSource.SECRET:
            secret = self.environ.get(env.ref_name or "")
            if secret is None:
                raise RendererError(f"tenant secret {env.key} of {slug!r}: ${env.ref_name} is not set",
                                    hint=f"export {env.ref_name} before apply")
            return secret
        return env.value or ""

    def applied_fingerprints(self, slug: str, desired: DesiredResource, previous: dict[str, str]) -> dict[str, str]:
        """Fingerprints of everything renderer applies to `desired`: every compared field and the value of
        every managed env var it can resolve now (generated values have none). A value that cannot be
        resolved or fingerprinted keeps its previous fingerprint."""
        result: dict[str, str] = {}
        for key, value in desired_fields(desired).items():
            fp = self.fingerprints.of(value, sensitive=False)
            if fp is not None:
                result[key] = fp
        for env in desired.env_vars:
            path = f"envVars.{env.key}"
            if env.source in (EnvSource.GENERATE_VALUE, EnvSource.SYNC_FALSE):
                continue
            try:
                value = self.env_value(slug, env)
            except RendererError:
                value = None
            fp = self.fingerprints.of(value, sensitive=env.sensitive) if value is not None else None
            if fp is not None:
                result[path] = fp
            elif path in previous:
                result[path] = previous[path]
        return result

    def _resolve_reference(self, slug: str, env: EnvVar) -> str:
        """The value of a `fromService` env var from what the tenant's target resource exposes. Raises
        `RendererError` when it has no such property or env var."""
        refs = self.references.get((slug, env.target or ""))
        value = None
        if refs is not None:
            value = (refs.env_vars.get(env.ref_key) if env.ref_key is not None
                     else refs.properties.get(env.ref_property or ""))
        if value is None:
            what = f"env var {env.ref_key!r}" if env.ref_key is not None else f"property {env.ref_property!r}"
            raise RendererError(f"cannot resolve {env.key}: {env.target} of tenant {slug!r} has no {what}",
                                hint="check the `fromService` entry in the blueprint (a private service or Key "
                                     "Value has host, port and hostport; Key Value also connectionString)")
        return value

    def locked_id(self, slug: str, address: str) -> str | None:
        tenant = self.lockfile.tenants.get(slug)
        entry = tenant.resources.get(address) if tenant else None
        return entry.id if entry is not None else None

    def locked_addresses(self, slug: str, kind: Kind) -> dict[str, str]:
        tenant = self.lockfile.tenants.get(slug)
        return {e.name: addr for addr, e in tenant.resources.items() if e.kind is kind} if tenant else {}

    def deploy_started(self, change: Change, service_id: str, deploy_id: str, version: str | None = None,
                       status: str = "created") -> None:
        """Note the deploy for the report and the wait, and record it as the service's last deploy."""
        self.report.deploys.append(DeployRecord(change.tenant, change.address, service_id, deploy_id, status,
                                                version))
        tenant = self.lockfile.tenants.get(change.tenant)
        entry = tenant.resources.get(change.address) if tenant is not None else None
        if entry is not None:
            entry.deploy = LockedDeploy(id=deploy_id, target=version, status=status)
            self._save()

    def _settle_deploy(self, entry: LockedResource) -> None:
        """What the plan read of a deploy an earlier run did not wait for (`LiveState.deploys`) into the
        entry, so later plans need not read it again."""
        deploy = self.live_deploys.get(entry.id)
        if entry.deploy is not None and deploy is not None and deploy.get("id") == entry.deploy.id:
            entry.deploy = LockedDeploy(id=entry.deploy.id, status=str(deploy.get("status", entry.deploy.status)),
                                        target=deploy_version(deploy) or entry.deploy.target)

    def deploy_target(self, slug: str, address: str) -> str | None:
        tenant = self.lockfile.tenants.get(slug)
        entry = tenant.resources.get(address) if tenant else None
        return entry.deploy.target if entry is not None and entry.deploy is not None else None

    def release_version(self, slug: str, address: str) -> str | None:
        tenant = self.lockfile.tenants.get(slug)
        return tenant.release.achieved.get(address) if tenant is not None and tenant.release is not None else None

    def planned(self, slug: str) -> list[DesiredResource]:
        return [c.desired for c in self.plan.changes if c.tenant == slug and c.desired is not None]

    def record(self, change: Change, rid: str) -> None:
        desired = change.desired
        assert desired is not None
        tenant = self._lock_tenant(change.tenant)
        previous = tenant.resources.get(change.address)
        tenant.resources[change.address] = LockedResource(
            kind=desired.kind, name=desired.name, id=rid, env_vars=_managed_keys(desired), parent=desired.parent,
            environment=desired.environment,
            applied=self.applied_fingerprints(change.tenant, desired, previous.applied if previous else {}))
        self._save()

    def _journal_data(self, change: Change, **extra: Any) -> dict[str, Any]:
        source = self.plan.sources.get(change.tenant)
        data: dict[str, Any] = {"tenant": change.tenant, "address": change.address, "kind": change.kind.value,
                                "name": change.name, **extra}
        if source is not None:
            data["blueprint"] = source.blueprint
        if change.desired is not None:
            data["env_vars"] = _managed_keys(change.desired)
            if change.desired.parent:
                data["parent"] = change.desired.parent
        return data

    async def _create(self, change: Change) -> None:
        desired = change.desired
        assert desired is not None
        owner = self.client.settings.require_owner()
        self.emit(f"{change.tenant}: {change.address}: creating {desired.name}")
        rid = await ops_for(desired.kind).create(self, change, owner)
        self.emit(f"{change.tenant}: {change.address}: created {rid}")

    async def _delete(self, change: Change) -> None:
        assert change.id is not None
        rid = change.id
        address = change.previous_address or change.address
        self.emit(f"{change.tenant}: {change.address}: deleting {change.name} ({rid})")

        tenant_entry = self.lockfile.tenants.get(change.tenant)
        entry = tenant_entry.resources.get(address) if tenant_entry else None
        kind = entry.kind if entry is not None else change.kind
        parent_id = self.lockfile.parent_id(change.tenant, entry) if entry is not None else None
        ops = ops_for(kind)
        if ops.backup_before_delete:
            await self._backup(change, rid, address)

        async def call() -> bool:
            try:
                await ops.delete(self.client, Kind(kind), rid, parent_id)
            except NotFound:
                return False
            return True

        existed = await self.write("delete", change, call, lambda gone: {"id": rid, "existed": gone}, id=rid,
                                   address=address)
        if not existed:
            self.emit(f"{change.tenant}: {change.address}: {rid} was already gone")
        tenant = self.lockfile.tenants.get(change.tenant)
        if tenant is not None:
            tenant.resources.pop(address, None)
        self.connections.pop((change.tenant, address), None)
        self._save()
        self.emit(f"{change.tenant}: {change.address}: deleted {rid}")

    async def _backup(self, change: Change, rid: str, address: str) -> None:
        """Export a Postgres database before it is deleted (`renderer.backup`), unless --skip-backup.
        Raises `BackupFailed` (the delete is not sent)."""
        if self.skip_backup:
            self.emit(f"{change.tenant}: {address}: no backup of {rid} (--skip-backup)")
            return
        self.emit(f"{change.tenant}: {address}: backing up {rid} before deleting it (Postgres export)")
        seq = self.journal.intent("backup", **self._journal_data(change, id=rid, address=address))
        label = f"{change.tenant}: {address}: backup of {rid}"
        try:
            with WaitProgress(self.client.clock, self.emit) as waiting:
                backup = await take_backup(self.client, rid, what=f"{change.tenant}/{address}",
                                           timeout=self.backup_timeout, poll=self.backup_poll,
                                           progress=lambda status: waiting.update(rid, label, status))
        except BackupFailed as exc:
            self.journal.failed(seq, exc.message)
            raise
        self.journal.done(seq, export=backup.id)
        self.emit(f"{change.tenant}: {address}: backup taken: {backup.describe()}")

    async def _update(self, change: Change) -> None:
        """The kind's update of every changed field but the move (`_move`, done before)."""
        desired = change.desired
        assert desired is not None and change.id is not None
        sid = change.id
        rest = [f for f in change.fields if f.path != MOVE_FIELD]
        if rest:
            self.emit(f"{change.tenant}: {change.address}: updating {desired.name} ({sid})")
            update = self.journal.intent("update", **self._journal_data(change, id=sid))
            await ops_for(desired.kind).update(self, change.model_copy(update={"fields": rest}))
            self.journal.done(update)
        entry = self.lockfile.tenants[change.tenant].resources[change.address]
        entry.environment = desired.environment
        entry.env_vars = _managed_keys(desired)
        entry.applied = self.applied_fingerprints(change.tenant, desired, entry.applied)
        self._save()
        self.emit(f"{change.tenant}: {change.address}: updated {sid}")

    async def _move(self, slug: str, changes: list[Change]) -> None:
        """Move the tenant's resources whose plan says `moved to ...` into their environments: one
        POST /environments/{id}/resources per environment, IDs unchanged, no deploy.

        Render refuses to move a service that has linked env groups (render-oss/terraform-provider-render#10,
        docs/isolation.md): each such link is removed just before the move and made again just after it,
        with nothing sent in between, so the services go without the groups' variables only for the
        length of one request and no deploy runs without them (a running instance keeps the environment
        it started with). When the move fails the links are made again before the error is raised."""
        targets: dict[str, list[Change]] = {}
        for change in changes:
            if change.desired is not None and change.desired.environment and any(
                    f.path == MOVE_FIELD for f in change.fields):
                targets.setdefault(change.desired.environment, []).append(change)
        groups = self.locked_addresses(slug, Kind.ENV_GROUP)
        for env_address, moving in targets.items():
            env_id = self.locked_id(slug, env_address)
            if env_id is None:
                raise RendererError(f"{slug}: environment {env_address} is not in the lockfile; nothing was moved")
            links: list[tuple[Change, str, str]] = []  # (change, group ID, service ID)
            for change in moving:
                current = self.live.resources.get(change.id or "")
                for name in (current.fields.get("envGroups") or []) if current and change.kind.is_service else []:
                    gid = self.locked_id(slug, groups.get(name, ""))
                    if gid is not None and change.id is not None:
                        links.append((change, gid, change.id))
            for change, gid, sid in links:
                await self.write("unlink", change, functools.partial(self._unlink, gid, sid), id=sid, group=gid)
            ids = [c.id for c in moving if c.id is not None]
            names = ", ".join(c.address for c in moving)
            label = next(f.after for f in moving[0].fields if f.path == MOVE_FIELD)
            self.emit(f"{slug}: moving {names} to {label}")
            try:
                await self.write("move", moving[0],
                                 functools.partial(self.client.add_environment_resources, env_id, ids),
                                 id=env_id, resources=ids)
            finally:
                for change, gid, sid in links:
                    await self.write("link", change, functools.partial(self.client.link_env_group, gid, sid),
                                     id=sid, group=gid)
            for change in moving:
                self.emit(f"{slug}: {change.address}: moved {change.id} (ID unchanged)")

    async def _unlink(self, group_id: str, service_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self.client.unlink_env_group(group_id, service_id)

    async def run(self) -> ApplyReport:
        """Apply every tenant, up to `parallelism` at once (`renderer.concurrency`), output in plan order.
        Re-raises the first tenant failure (in plan order) after the others have stopped."""
        output = OrderedOutput(self.emit, self.plan.tenants)
        self.emit = output
        failures = await run_tenants(self.plan.tenants, self._run_tenant, parallelism=self.parallelism,
                                     output=output)
        self._order_report()
        if failures or self.gate.deferred:
            done = set(self.report.created + self.report.updated + self.report.replaced + self.report.deleted)
            self.report.remaining = [f"{c.tenant}/{c.address}" for c in self.plan.actionable()
                                     if f"{c.tenant}/{c.address}" not in done]
        if failures:
            raise failures[0][1]
        if self.gate.deferred:
            self.report.stopped_reason = STOPPED_REASON
        if not self.journal.unresolved:
            self.journal.clear()
        return self.report

    async def _run_tenant(self, slug: str) -> None:
        changes = [c for c in self.plan.changes if c.tenant == slug and c.action is not Action.NO_OP]
        try:
            if changes:
                await self._apply_tenant(slug, changes)
            self._finish_tenant(slug)
            tenant = self.lockfile.tenants.get(slug)
            if slug in self.gate.deferred and tenant is not None:
                tenant.status = "provisioning"  # the next run carries on
                self._save()
        except BaseException:
            tenant = self.lockfile.tenants.get(slug)
            if tenant is not None:
                tenant.status = "failed"
                self._save()
            raise

    def _order_report(self) -> None:
        """Report lists in plan order, whatever order concurrent tenants finished in."""
        index = {f"{c.tenant}/{c.address}": i for i, c in enumerate(self.plan.changes)}
        for items in (self.report.created, self.report.updated, self.report.replaced, self.report.deleted):
            items.sort(key=lambda item: index.get(item, len(index)))
        self.report.deploys.sort(key=lambda d: index.get(f"{d.tenant}/{d.address}", len(index)))

    async def _create_in_budget(self, change: Change) -> None:
        """A create; a service create goes through the budget gate (`renderer.budget`). A create Render
        refused with a 429 keeps its journal intent unresolved (a 429 is not taken as a certain refusal):
        the next apply looks it up by name before anything else."""
        if not uses_create_budget(change):
            await self._create(change)
            return
        try:
            async with self.gate.slot(change):
                await self._create(change)
        finally:
            self._save()  # the budget window the gate recorded

    async def _apply_tenant(self, slug: str, changes: list[Change]) -> None:
        # Deletes of services and of their disks and custom domains, and the delete half of replaces,
        # come first (reverse create order); datastores and env groups are deleted last.
        def first(c: Change) -> bool:
            return (c.action is Action.DELETE and (c.kind.is_service or c.kind.is_child)) or c.action is Action.REPLACE

        tenant = self.lockfile.tenants.get(slug)
        if tenant is not None:
            tenant.status = "deleting" if slug not in self.plan.sources else "provisioning"
            self._save()
        # Render's hourly create budgets (`renderer.budget`): a create that does not fit, and every
        # create after it (they may depend on it), wait for the next run; the rest of the tenant goes on.
        deferred: set[str] = set()
        spent: set[str] = set()  # the budgets that stopped this tenant
        for change in ordered((c for c in changes if first(c)), reverse=True):
            if change.action is Action.REPLACE and uses_create_budget(change):
                try:
                    self.gate.reserve(change)  # never delete what cannot be created again now
                except BudgetExhausted as exc:
                    deferred.add(change.address)
                    spent.add(NOUNS[exc.bucket])
                    continue
            await self._delete(change)
            if change.action is Action.DELETE:
                self.report.deleted.append(f"{slug}/{change.address}")
        waiting = False
        for change in ordered(c for c in changes if c.action in (Action.CREATE, Action.REPLACE)):
            waiting = waiting or change.address in deferred
            if waiting:
                deferred.add(change.address)
                continue
            try:
                await self._create_in_budget(change)
            except BudgetExhausted as exc:
                deferred.add(change.address)
                spent.add(NOUNS[exc.bucket])
                waiting = True
                continue
            (self.report.replaced if change.action is Action.REPLACE else self.report.created).append(
                f"{slug}/{change.address}")
        if deferred:
            self.gate.deferred.add(slug)
            budgets = " and ".join(f"{noun}-create" for noun in sorted(spent, key=lambda n: n != "service"))
            self.emit(f"{slug}: {len(deferred)} create{'s' if len(deferred) != 1 else ''} wait for the next run "
                      f"(Render's {budgets} budget{'s are' if len(spent) > 1 else ' is'} spent): "
                      f"{', '.join(sorted(deferred))}")
        updates = ordered(c for c in changes if c.action is Action.UPDATE)
        await self._move(slug, updates)
        for change in updates:
            await self._update(change)
            self.report.updated.append(f"{slug}/{change.address}")
        for change in ordered((c for c in changes if c.action is Action.DELETE and not first(c)),
                                          reverse=True):
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
        for change in self.plan.changes:
            if change.tenant == slug and change.action is Action.NO_OP and change.desired is not None:
                entry = tenant.resources.get(change.address)
                if entry is not None:
                    entry.env_vars = _managed_keys(change.desired)
                    entry.applied = self.applied_fingerprints(slug, change.desired, entry.applied)
                    self._settle_deploy(entry)
        tenant.blueprint = source.blueprint
        tenant.blueprint_digest = source.blueprint_digest
        tenant.tenant_file = source.tenant_file
        tenant.deletion_protection = source.deletion_protection
        # Nothing left to do makes a tenant active, except one whose deploy failed: that stays `failed`
        # until a change is applied to it.
        if tenant.status != "failed" or any(c.tenant == slug and c.action is not Action.NO_OP
                                            for c in self.plan.changes):
            tenant.status = "active"
        self._save()


async def recover(client: RenderClient, lockfile: Lockfile, lockfile_path: Path, emit: Emit) -> list[str]:
    """Bring the lockfile up to date with an interrupted apply's journal, then remove the journal.

    - a create with a recorded result: its ID is recorded; with no result (killed, or the answer was
      lost) the resource is looked up by owner, type and name and recorded when found; what the same
      request created (`also`: a project's first environments) is looked up by name under it;
    - a delete with a recorded result, or whose resource Render answers 404 for: its entry is removed;
    - an update with no recorded end: a deploy is triggered so the service runs what was written.

    Writes the lockfile atomically when anything changed. Returns what was done, one line per step.
    Raises `RenderAPIError` when a lookup fails (the journal is then kept for the next run).
    """
    path = journal_io.journal_path(lockfile_path)
    steps = journal_io.read(path)
    if not steps:
        path.unlink(missing_ok=True)
        return []
    notes: list[str] = []
    before = lockfile.dumps()
    redeploy: dict[str, str] = {}
    for step in steps:
        data = step.data
        slug, address, kind = str(data.get("tenant")), str(data.get("address")), Kind(str(data.get("kind")))
        if step.op == "create" and step.phase != "failed":
            parent_id = data.get("parent_id")
            if parent_id is None and data.get("parent"):  # a child, or an environment: its parent's recorded ID
                holder = lockfile.tenants.get(slug)
                parent = holder.resources.get(str(data["parent"])) if holder is not None else None
                parent_id = parent.id if parent is not None else None
            rid = step.result.get("id") if step.phase == "done" else await find_by_name(
                client, kind, data["name"], parent_id)
            if rid is None:
                notes.append(f"{slug}: {address}: an interrupted create of {data['name']} never reached Render")
                continue
            tenant = lockfile.tenants.get(slug)
            if tenant is None:
                tenant = lockfile.tenants[slug] = LockedTenant(
                    blueprint=str(data.get("blueprint", "")), status="provisioning")
            if lockfile.owner_of(rid) is None:
                tenant.resources[address] = LockedResource(kind=kind, name=str(data["name"]), id=str(rid),
                                                           env_vars=list(data.get("env_vars", [])),
                                                           parent=data.get("parent"))
                notes.append(f"{slug}: {address}: recorded {rid} ({data['name']}) from an interrupted apply")
            # Resources the same request created (a project's first environments), found under it by name.
            for also in data.get("also") or []:
                if also["address"] in tenant.resources:
                    continue
                found = await find_by_name(client, Kind(also["kind"]), also["name"], str(rid))
                if found is not None and lockfile.owner_of(found) is None:
                    tenant.resources[also["address"]] = LockedResource(
                        kind=Kind(also["kind"]), name=also["name"], id=found, parent=also.get("parent"))
                    notes.append(f"{slug}: {also['address']}: recorded {found} ({also['name']}) from an "
                                 "interrupted apply")
        elif step.op == "delete" and step.phase != "failed":
            rid = str(data.get("id"))
            gone = step.phase == "done"
            tenant = lockfile.tenants.get(slug)
            if not gone:
                entry = tenant.resources.get(address) if tenant is not None else None
                parent_id = lockfile.parent_id(slug, entry) if entry is not None else None
                gone = await find_by_id(client, kind, rid, parent_id) is None
            if gone and tenant is not None and address in tenant.resources and tenant.resources[address].id == rid:
                del tenant.resources[address]
                notes.append(f"{slug}: {address}: removed {rid}, deleted by an interrupted apply")
        elif step.op == "update" and not step.resolved and kind.is_service:
            redeploy[str(data.get("id"))] = f"{slug}: {address}"
    for sid, where in redeploy.items():
        if await client.find_service(sid) is not None:
            await client.trigger_deploy(sid)
            notes.append(f"{where}: deployed {sid} again (an interrupted apply changed it without deploying)")
    if lockfile.dumps() != before:
        lockfile_io.write(lockfile_path, lockfile)
    path.unlink(missing_ok=True)
    for note in notes:
        emit(note)
    return notes


async def wait_for_deploys(
    client: RenderClient, deploys: list[DeployRecord], *, emit: Emit, console: Console | None = None,
    timeout: float = DEFAULT_WAIT_TIMEOUT, poll: float = DEFAULT_POLL_SECONDS,
) -> list[DeployRecord]:
    """Follow deploys (GET /services/{id}/deploys/{deployId}, the pending ones at once) until each is `live`
    or failed, polling every `poll` seconds on the client's clock, with progress
    (`renderer.progress.WaitProgress`): a live display on a terminal `console`, else a line through `emit`
    at each status change and every 30 s.
    Returns the deploys that failed (status in `DEPLOY_FAILED`). Raises `RendererError` when `timeout`
    seconds pass first."""
    pending = list(deploys)
    failed: list[DeployRecord] = []
    deadline = client.clock.now() + timeout
    with WaitProgress(client.clock, emit, console) as progress:
        while pending:
            answers = await asyncio.gather(*(client.get_deploy(r.service_id, r.deploy_id) for r in pending))
            for record, deploy in zip(list(pending), answers, strict=True):
                record.status = str(deploy.get("status"))
                record.version = record.version or deploy_version(deploy)
                if record.status == DEPLOY_LIVE or record.status in DEPLOY_FAILED:
                    pending.remove(record)
                    progress.finish(record.deploy_id)
                    emit(f"{record.tenant}: {record.address}: deploy {record.deploy_id} {record.status}")
                    if record.status in DEPLOY_FAILED:
                        failed.append(record)
                else:
                    progress.update(record.deploy_id, f"{record.tenant}: {record.address}: deploy "
                                                      f"{record.deploy_id}", record.status)
            if not pending:
                break
            if client.clock.now() >= deadline:
                names = ", ".join(f"{d.tenant}/{d.address} ({d.status})" for d in pending)
                raise RendererError(f"deploys not live after {timeout:g} s: {names}",
                                    hint="follow them in the Render dashboard, or raise --wait-timeout")
            await client.clock.sleep(poll)
    return failed


async def apply_plan(
    plan: Plan, client: RenderClient, lockfile: Lockfile, lockfile_path: Path, live: LiveState,
    *, emit: Emit, environ: Mapping[str, str] | None = None,
    fingerprints: Fingerprinter | None = None, wait: bool = True, console: Console | None = None,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT, poll: float = DEFAULT_POLL_SECONDS, skip_backup: bool = False,
    backup_timeout: float = DEFAULT_BACKUP_TIMEOUT, backup_poll: float = DEFAULT_BACKUP_POLL,
    tenant_parallelism: int = DEFAULT_TENANT_PARALLELISM, max_create_wait: float = MAX_CREATE_WAIT,
) -> ApplyReport:
    """Carry out `plan`; with `wait`, follow the deploys it started until live.

    Up to `tenant_parallelism` tenants are applied at once (`renderer.concurrency`). Service creates
    beyond what is left of Render's create budget wait for the next run (`renderer.budget`; the report's
    `stopped_reason` is then "Render rate budget" and its exit code 4). Every Postgres delete is preceded
    by an export unless `skip_backup` (`renderer.backup`; `BackupFailed` stops that tenant).

    The caller has checked the plan first (`renderer.plan.checks`: allows, deletion protection, tenant
    secrets). Raises `RendererError` before any write when a create needs RENDER_OWNER_ID and it is missing;
    API errors propagate after the lockfile has recorded everything done so far (the tenant marked
    `failed`). A failed deploy marks its tenant `failed` and is reported (`ApplyReport.exit_code` 1).
    """
    environ = environ if environ is not None else os.environ
    if any(c.action in (Action.CREATE, Action.REPLACE) for c in plan.changes):
        client.settings.require_owner()
    gate = CreateGate.for_plan(plan, client, lockfile, max_wait=max_create_wait)
    applier = Applier(client, lockfile, lockfile_path, live, plan, emit, environ=environ, fingerprints=fingerprints,
                      gate=gate, parallelism=tenant_parallelism, skip_backup=skip_backup,
                      backup_timeout=backup_timeout, backup_poll=backup_poll)
    report = await applier.run()
    if report.stopped_reason == STOPPED_REASON:
        left = [c for c in plan.actionable() if f"{c.tenant}/{c.address}" in set(report.remaining)]
        emit(stop_message(left, create_budget(client), gate.resets_in))
    if wait and report.deploys:
        try:
            failed = await wait_for_deploys(client, report.deploys, emit=emit, console=console,
                                            timeout=wait_timeout, poll=poll)
        finally:
            record_deploys(lockfile, report.deploys)
            lockfile_io.write(lockfile_path, lockfile)
        for record in failed:
            report.failed.append(record.failure)
            tenant = lockfile.tenants.get(record.tenant)
            if tenant is not None:
                tenant.status = "failed"
        if failed:
            lockfile_io.write(lockfile_path, lockfile)
    return report


def record_deploys(lockfile: Lockfile, deploys: Iterable[DeployRecord]) -> None:
    """Each deploy's last status and version into its service's lockfile entry (`LockedResource.deploy`),
    unless a later deploy of that service is recorded there already."""
    for record in deploys:
        tenant = lockfile.tenants.get(record.tenant)
        entry = tenant.resources.get(record.address) if tenant is not None else None
        if entry is None or (entry.deploy is not None and entry.deploy.id != record.deploy_id):
            continue
        entry.deploy = LockedDeploy(id=record.deploy_id, status=record.status,
                                    target=record.version or (entry.deploy.target if entry.deploy else None))
