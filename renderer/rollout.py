"""The rollout: bring every tenant's services to the version releases.yaml gives them, wave by wave
(docs/releases.md).

Waves run in ring order (`renderer.release.waves`). In a wave, at most `max_parallel` tenants deploy at
once; a tenant's services deploy in dependency order (a service after the services it reads), each at its
target (POST /services/{id}/deploys with `commitId` for a Git-backed service, `imageUrl` at the digest for
an image-backed one). A service is at its target only when the deploy the rollout started (or found under
way at the target) is `live`, the deploy's own commit or image is the target and it was created at or
after the trigger: never from a status read before the trigger (argoproj/argo-cd#29410, #22852). The
wave then bakes for its `bake` seconds; during and at the end of the bake, the events of each of its
services since its deploy began (GET /services/{id}/events with `startTime`, so Render's default
one-hour window cannot hide one) must show none of `FAILURE_EVENTS`. Then the next wave.

A failed build or deploy, or a failure event, stops the rollout: no later wave starts; the wave's
services that went live on the new version are rolled back to the deploy they ran before
(POST /services/{id}/rollback), each rollback followed until live on that deploy's version; the release
is recorded as failed in the lockfile (`failed_releases`) so later runs do not deploy it again until
releases.yaml changes. Earlier waves keep the new version unless `rollback_all`.

Progress is written to the lockfile after every step (`rollout`, each tenant's `release`), so a run that
is killed, or stops because the bake outlasts its time (`deadline`, exit 4), resumes: a service whose
live deploy is already at the target is not deployed again, and a deploy at the target still under way
is followed, not triggered twice.

A tenant in a ring the rollout has not reached yet, with nothing achieved (just onboarded), first gets
the version its ring-mates run (the version its ring has reached); one in a ring already passed gets the
target at once (without a bake of its own).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from renderer import lockfile as lockfile_io
from renderer.concurrency import OrderedOutput, run_tenants
from renderer.configuration import Configuration
from renderer.errors import ExitCode, RendererError
from renderer.kinds.service import image_reference
from renderer.lockfile import FailedRelease, LockedDeploy, Lockfile, Rollout, TenantRelease
from renderer.release import (
    Wave,
    dependency_levels,
    deploy_version,
    image_backed,
    short,
    tenant_targets,
    versioned_services,
    waves,
)
from renderer.render_api.client import RenderClient
from renderer.resources import DesiredResource

Emit = Callable[[str], None]
JSON = dict[str, Any]

# openapi.json schemas.deployStatus: `live` is success, these end a deploy without it.
DEPLOY_LIVE = "live"
DEPLOY_FAILED = frozenset({"build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated"})
# Service event types (openapi.json: the eventType enum of GET /services/{id}/events) that fail a bake:
# an instance of the new version crashed (`server_failed`) or its image could not be pulled
# (`image_pull_failed`). `server_hardware_failure` is Render's host, not the version, and does not count.
FAILURE_EVENTS = ("server_failed", "image_pull_failed")
DEFAULT_POLL = 10.0
SAVE_EVERY = 2.0  # seconds (real time) between lockfile writes of a deploy's progress
# Seconds between event reads during a bake; events are read from each deploy's start, so a longer
# interval delays a failure's detection, never hides it.
BAKE_CHECK_EVERY = 60.0


class RolloutFailed(RendererError):
    """A deploy of the rollout failed, or a failure event came during a bake."""


@dataclass
class Failure:
    tenant: str
    service: str
    deploy: str | None
    reason: str

    def describe(self) -> str:
        return f"{self.tenant}: {self.service}: deploy {self.deploy or '-'}: {self.reason}"


@dataclass
class RolloutReport:
    """What the rollout did: `deployed` (tenant/address), `rolled_back`, `failure`, `paused` (the bake
    outlasts the run: exit 4), `skipped` (why nothing was done, e.g. a failed release)."""

    deployed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    failure: Failure | None = None
    paused: str | None = None
    skipped: str | None = None

    @property
    def exit_code(self) -> ExitCode:
        if self.failure is not None:
            return ExitCode.ERROR
        return ExitCode.INCOMPLETE if self.paused else ExitCode.OK


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _went_live_before(deploys: list[JSON], current: JSON) -> str | None:
    """The ID of the deploy that was live before `current`: the newest earlier deploy that went live (now
    `deactivated`: Render's status for a deploy a newer live one replaced) of another version."""
    created = _epoch(str(current["createdAt"]))
    for deploy in deploys:  # newest first
        if (_epoch(str(deploy["createdAt"])) < created and deploy.get("finishedAt")
                and deploy.get("status") in (DEPLOY_LIVE, "deactivated")
                and deploy_version(deploy) != deploy_version(current)):
            return str(deploy["id"])
    return None


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.describe())
        self.failure = failure


class RolloutRunner:
    """One rollout run (module docstring). Single writer of the lockfile on one event loop."""

    def __init__(self, client: RenderClient, configuration: Configuration, lockfile: Lockfile, path: Path, *,
                 emit: Emit, poll: float, deadline: float | None, rollback_all: bool, pending: set[str]) -> None:
        assert configuration.release is not None
        # Tenants the plan found with a live version other than the target: deployed even when the lockfile
        # says they are done (someone deployed another version by hand, or a deploy failed since).
        self.pending = pending
        self.client = client
        self.release = configuration.release
        self.config = configuration
        self.lock = lockfile
        self.path = path
        self.emit = emit
        self.poll = poll
        self.deadline = deadline
        self.rollback_all = rollback_all
        self.report = RolloutReport()
        self.digest = self.release.release.digest()
        # Deploy ID -> its `createdAt`, where a bake's event reads start.
        self.started_at: dict[str, str] = {}
        # The shortest time from creation to live of this run's deploys (seconds), once one is live.
        self.expected: float | None = None
        self.saved = 0.0  # time.monotonic() of the last lockfile write

    def save(self, *, now: bool = True) -> None:
        """Write the lockfile; `now=False` at most every `SAVE_EVERY` seconds (progress a resume can also
        read from Render; the lockfile of a 1,000-tenant fleet is a megabyte)."""
        if now or time.monotonic() - self.saved >= SAVE_EVERY:
            lockfile_io.write(self.path, self.lock)
            self.saved = time.monotonic()

    def _release_of(self, slug: str) -> TenantRelease:
        tenant = self.lock.tenants[slug]
        if tenant.release is None:
            tenant.release = TenantRelease()
        return tenant.release

    def _record(self, slug: str, address: str, deploy: JSON) -> None:
        """The service's `deploy` in the lockfile (`LockedResource.deploy`, which apply's own deploys of the
        service build at): the rollout's deploy, or the one left live when it failed."""
        entry = self.lock.tenants[slug].resources.get(address)
        if entry is not None:
            entry.deploy = LockedDeploy(id=str(deploy["id"]), target=deploy_version(deploy),
                                        status=str(deploy.get("status") or "created"))

    def _service_id(self, slug: str, address: str) -> str | None:
        tenant = self.lock.tenants.get(slug)
        entry = tenant.resources.get(address) if tenant is not None else None
        return entry.id if entry is not None else None

    # --- one service -------------------------------------------------------------------------------
    async def _live(self, service_id: str) -> tuple[JSON | None, list[JSON]]:
        deploys = await self.client.list_deploys(service_id)
        live = next((d for d in deploys if d.get("status") == DEPLOY_LIVE), None)
        return live, deploys

    async def _follow(self, slug: str, address: str, service_id: str, deploy: JSON, target: str,
                      since: float) -> JSON:
        """Poll the deploy until it ends. Raises `_Failed` unless it is live on `target` and was created
        at or after `since` (epoch seconds)."""
        deploy_id = str(deploy["id"])
        self.started_at[deploy_id] = str(deploy["createdAt"])
        created = _epoch(str(deploy["createdAt"]))
        began = self.client.clock.epoch()  # on this clock: Render's timestamps may be skewed from it
        while True:
            status = str(deploy.get("status"))
            if status == DEPLOY_LIVE or status in DEPLOY_FAILED:
                break
            # Not before the time this run's deploys have taken so far: reads before then are spent for nothing
            # (Render's GET budget is shared by every deploy followed).
            early = began + self.expected - self.client.clock.epoch() if self.expected else 0.0
            await self.client.clock.sleep(max(self.poll, early))
            deploy = await self.client.get_deploy(service_id, deploy_id)
        if status == DEPLOY_LIVE and deploy.get("finishedAt"):
            took = _epoch(str(deploy["finishedAt"])) - created
            self.expected = took if self.expected is None else min(self.expected, took)
        if status != DEPLOY_LIVE:
            raise _Failed(Failure(slug, address, deploy_id, f"deploy {status}"))
        version = deploy_version(deploy)
        if version != target:
            raise _Failed(Failure(slug, address, deploy_id, f"live on {short(version)}, not the target "
                                                            f"{short(target)}"))
        if _epoch(str(deploy["createdAt"])) < since - 1:
            raise _Failed(Failure(slug, address, deploy_id, "the live deploy predates the trigger"))
        return deploy

    async def _deploy_service(self, slug: str, resource: DesiredResource, target: str, resuming: bool) -> None:
        address = resource.address
        service_id = self._service_id(slug, address)
        if service_id is None:
            return  # not created yet (a create waits for Render's budget): the next run deploys it
        state = self._release_of(slug)
        known = state.achieved.get(address)
        deploy: JSON | None = None
        since = self.client.clock.epoch()
        # A tenant this release has not touched, whose recorded version is another one, deploys at once;
        # otherwise look first: already live on the target, or a deploy at the target under way (a run
        # that was stopped started it): never deploy twice.
        if resuming or known is None or known == target:
            live, deploys = await self._live(service_id)
            if live is not None and deploy_version(live) == target:
                state.achieved[address] = target
                return
            if live is not None:
                state.previous.setdefault(address, str(live["id"]))
            under_way = next((d for d in deploys if d.get("status") not in DEPLOY_FAILED
                              and d.get("status") != DEPLOY_LIVE and deploy_version(d) == target), None)
            if under_way is not None:
                deploy, since = under_way, _epoch(str(under_way["createdAt"]))
        if deploy is None:
            if image_backed(resource):
                repository = image_reference(str(resource.fields.get("image") or ""))[0]
                started = await self.client.trigger_deploy(service_id, image_url=f"{repository}@{target}")
            else:
                started = await self.client.trigger_deploy(service_id, commit_id=target)
            if started is None:  # queued behind a deploy in progress and not listed: look again
                started = next(iter(await self.client.list_deploys(service_id, statuses=["queued"])), None)
                if started is None:
                    raise _Failed(Failure(slug, address, None, "Render accepted the deploy but does not list it"))
            deploy = started
            self.emit(f"{slug}: {address}: deploy {deploy['id']} of {short(target)} started")
        state.deploys[address] = str(deploy["id"])
        self._record(slug, address, deploy)
        self.save(now=False)
        deploy = await self._follow(slug, address, service_id, deploy, target, since)
        self._record(slug, address, deploy)
        state.achieved[address] = target  # saved with the tenant's state
        self.report.deployed.append(f"{slug}/{address}")
        self.emit(f"{slug}: {address}: deploy {deploy['id']} live on {short(target)}")

    def _start(self, slugs: list[str], targets: dict[str, dict[str, str]]) -> dict[str, bool]:
        """Mark the tenants `deploying` in one lockfile write before any of them deploys, so a run stopped
        after a trigger looks before it deploys again. Returns whether each was under way already."""
        resuming = {}
        for slug in slugs:
            state = self._release_of(slug)
            resuming[slug] = state.state != "pending"
            state.target, state.state = dict(targets[slug]), "deploying"
        self.save()
        return resuming

    async def _deploy_tenant(self, slug: str, targets: dict[str, str], resuming: bool) -> None:
        tenant = self.config.tenants[slug]
        state = self._release_of(slug)
        for level in dependency_levels(versioned_services(tenant.resources)):
            todo = [r for r in level if r.address in targets]
            results = await asyncio.gather(*(self._deploy_service(slug, r, targets[r.address], resuming)
                                             for r in todo), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    if isinstance(result, _Failed):
                        state.state = "failed"
                        self.save()
                    raise result
        if all(state.achieved.get(a) == v for a, v in targets.items()):
            state.state = "done"
        self.save(now=False)

    # --- waves ---------------------------------------------------------------------------------------
    def _targets(self, slug: str) -> dict[str, str]:
        tenant = self.config.tenants[slug]
        return tenant_targets(self.release.release, tenant.file, tenant.resources)

    def _settled(self, slug: str, targets: dict[str, str]) -> bool:
        """Done with this release at these targets, and the plan saw no version change for it."""
        state = self.lock.tenants[slug].release
        return (state is not None and state.state == "done" and slug not in self.pending
                and all(state.achieved.get(a) == v for a, v in targets.items()))

    async def _run_wave(self, wave: Wave, targets: dict[str, dict[str, str]]) -> int:
        """Deploy the wave's tenants that are not settled; returns how many it took on."""
        slugs = [s for s in wave.tenants if s in self.lock.tenants and targets[s] and not self._settled(s, targets[s])]
        if not slugs:
            return 0
        resuming = self._start(slugs, targets)
        output = OrderedOutput(self.emit, slugs)
        failures = await run_tenants(slugs, lambda s: self._deploy_tenant(s, targets[s], resuming[s]),
                                     parallelism=wave.max_parallel, output=output)
        output.flush()
        self.save()
        for _, exc in failures:
            raise exc
        return len(slugs)

    async def _bake_check(self, wave: Wave) -> None:
        """Raise `_Failed` for a failure event of the wave's services since their rollout deploys began."""
        for slug in wave.tenants:
            state = self.lock.tenants[slug].release if slug in self.lock.tenants else None
            if state is None:
                continue
            for address, deploy_id in sorted(state.deploys.items()):
                service_id = self._service_id(slug, address)
                if service_id is None:
                    continue
                if deploy_id not in self.started_at:
                    deploy = await self.client.get_deploy(service_id, deploy_id)
                    self.started_at[deploy_id] = str(deploy.get("createdAt"))
                start = self.started_at[deploy_id]
                events = await self.client.list_events(service_id, start_time=start, types=list(FAILURE_EVENTS))
                bad = [e for e in events if e.get("type") in FAILURE_EVENTS]
                if bad:
                    first = bad[-1]
                    raise _Failed(Failure(slug, address, deploy_id, f"{first.get('type')} at {first.get('timestamp')} "
                                                                    "during the bake"))

    async def _bake(self, wave: Wave, rollout: Rollout) -> bool:
        """Bake the wave until `rollout.bake_until`. False when the run's deadline comes first (paused)."""
        assert rollout.bake_until is not None
        if wave.bake == 0:
            return True  # no bake: the next wave starts once this one is live on the target
        while True:
            await self._bake_check(wave)
            left = rollout.bake_until - self.client.clock.epoch()
            if left <= 0:
                return True
            if self.deadline is not None and self.client.clock.epoch() + left > self.deadline:
                self.report.paused = (f"ring `{wave.ring}` bakes until {_iso(rollout.bake_until)}, after this run "
                                      "may wait; the next run resumes it")
                return False
            await self.client.clock.sleep(min(left, max(self.poll, BAKE_CHECK_EVERY)))

    async def _rollback(self, slugs: list[str]) -> None:
        """Roll every service of `slugs` the rollout deployed back to the deploy it ran before."""
        for slug in slugs:
            state = self.lock.tenants[slug].release if slug in self.lock.tenants else None
            if state is None:
                continue
            for address, ours in sorted(state.deploys.items()):
                service_id = self._service_id(slug, address)
                if service_id is None:
                    continue
                live, deploys = await self._live(service_id)
                if live is None or live.get("id") != ours:
                    if live is not None:  # never went live on the new version: the service runs this one
                        self._record(slug, address, live)
                    continue
                previous = state.previous.get(address) or _went_live_before(deploys, live)
                if previous is None:
                    self.emit(f"{slug}: {address}: no earlier live deploy to roll back to")
                    continue
                state.previous[address] = previous
                old = next((d for d in deploys if d.get("id") == previous), None)
                version = deploy_version(old) if old is not None else None
                since = self.client.clock.epoch()
                deploy = await self.client.rollback(service_id, previous)
                self.emit(f"{slug}: {address}: rolling back to deploy {previous} ({short(version)}): "
                          f"deploy {deploy['id']}")
                try:
                    deploy = await self._follow(slug, address, service_id, deploy, version or "", since)
                    self._record(slug, address, deploy)
                except _Failed as exc:
                    raise RolloutFailed(f"rollback of {slug}/{address} failed: {exc.failure.reason}",
                                        hint="roll the service back in the Render dashboard") from None
                if version is not None:
                    state.achieved[address] = version
                self.report.rolled_back.append(f"{slug}/{address}")
            state.state = "rolled_back"
            self.save()

    async def _fail(self, failure: Failure, index: int, all_waves: list[Wave], rollout: Rollout) -> None:
        self.report.failure = failure
        rollout.state = "failed"
        record = FailedRelease(release=self.digest, tenant=failure.tenant, service=failure.service,
                               deploy=failure.deploy, reason=failure.reason)
        self.lock.failed_releases.append(record)
        self.save()
        self.emit(f"rollout stopped: {failure.describe()}")
        waves_back = all_waves[:index + 1] if self.rollback_all else [all_waves[index]]
        await self._rollback([s for w in reversed(waves_back) for s in w.tenants])
        tenant = self.lock.tenants.get(failure.tenant)
        if tenant is not None and tenant.release is not None:
            tenant.release.state = "failed"
        self.save()

    def _catch_up(self, all_waves: list[Wave], reached: int,
                  targets: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """Targets of tenants outside the current wave that need a deploy now: a new tenant of a ring the
        rollout has passed gets the target; of a ring not reached yet, its ring-mates' version."""
        out: dict[str, dict[str, str]] = {}
        for index, wave in enumerate(all_waves):
            if index == reached:
                continue
            for slug in wave.tenants:
                state = self.lock.tenants[slug].release if slug in self.lock.tenants else None
                if state is not None and state.achieved:
                    continue
                if index < reached:
                    out[slug] = targets[slug]
                    continue
                mates = [self.lock.tenants[m].release for m in wave.tenants if m != slug and m in self.lock.tenants]
                versions: dict[str, str] = {}
                for address in targets[slug]:
                    seen = Counter(m.achieved[address] for m in mates if m is not None and address in m.achieved)
                    if seen:
                        versions[address] = seen.most_common(1)[0][0]
                if versions:
                    out[slug] = versions
        return out

    async def run(self) -> RolloutReport:
        failed = next((f for f in self.lock.failed_releases if f.release == self.digest), None)
        if failed is not None:
            self.report.skipped = (f"this release failed before ({failed.tenant}: {failed.service}: {failed.reason}); "
                                   "it is not deployed again until releases.yaml changes")
            # A tenant file's own pin is a person's decision for that tenant (often the way back after this
            # failure): it is deployed and gated, the failed release's version is not.
            for slug in sorted(self.config.tenants):
                versions = self._targets(slug)
                if (self.config.tenants[slug].file.tenant.version is None or slug not in self.lock.tenants
                        or self._settled(slug, versions)):
                    continue
                try:
                    await self._deploy_tenant(slug, versions, self._start([slug], {slug: versions})[slug])
                except _Failed as exc:
                    self.report.skipped = None
                    self.report.failure = exc.failure
                    return self.report
                self.save()
            return self.report
        all_waves = waves(self.release.release, {s: t.file for s, t in self.config.tenants.items()})
        targets = {slug: self._targets(slug) for slug in self.config.tenants}
        rollout = self.lock.rollout
        if rollout is None or rollout.release != self.digest:
            rollout = self.lock.rollout = Rollout(release=self.digest)
            for slug in self.config.tenants:
                if slug in self.lock.tenants:
                    old = self.lock.tenants[slug].release
                    self.lock.tenants[slug].release = TenantRelease(
                        target=targets[slug], achieved=dict(old.achieved) if old else {})
            self.save()
        elif rollout.state == "done":
            rollout.wave = 0  # a finished release: check every tenant again (onboarded ones, drift)
        for slug, versions in self._catch_up(all_waves, rollout.wave, targets).items():
            try:
                await self._deploy_tenant(slug, versions, self._start([slug], {slug: versions})[slug])
            except _Failed as exc:
                await self._fail(exc.failure, 0, [Wave("onboarding", (slug,), 1, 0)], rollout)
                return self.report
        for index in range(rollout.wave, len(all_waves)):
            wave = all_waves[index]
            if not (rollout.state == "baking" and rollout.wave == index):
                rollout.wave, rollout.state, rollout.bake_until = index, "in_progress", None
                self.save()
                try:
                    took = await self._run_wave(wave, targets)
                except _Failed as exc:
                    await self._fail(exc.failure, index, all_waves, rollout)
                    return self.report
                rollout.state, rollout.bake_until = "baking", self.client.clock.epoch() + wave.bake
                self.save()
                if not took:  # nothing deployed in this wave: nothing to bake
                    continue
                self.emit(f"ring `{wave.ring}`: {len(wave.tenants)} tenant(s) live on the target"
                          + (f"; baking {wave.bake} s" if wave.bake else ""))
            try:
                if not await self._bake(wave, rollout):
                    self.save()
                    self.emit(f"Rollout paused: {self.report.paused}.")
                    return self.report
            except _Failed as exc:
                await self._fail(exc.failure, index, all_waves, rollout)
                return self.report
        rollout.wave, rollout.state, rollout.bake_until = len(all_waves), "done", None
        self.save()
        return self.report


def rollout_summary(report: RolloutReport) -> str:
    """One line on the rollout's outcome, for the end of apply's output."""
    if report.failure is not None:
        back = f"; rolled back: {', '.join(report.rolled_back)}" if report.rolled_back else ""
        return f"Rollout failed: {report.failure.describe()}{back}."
    if report.paused:
        return f"Rollout paused: {report.paused}."
    if report.skipped:
        return f"Rollout skipped: {report.skipped}."
    if not report.deployed:
        return "Release: every tenant runs its target version."
    return f"Rollout complete! {len(report.deployed)} service deploy(s)."


async def run_rollout(client: RenderClient, configuration: Configuration, lockfile: Lockfile, path: Path, *,
                      emit: Emit, poll: float = DEFAULT_POLL, timeout: float | None = None,
                      rollback_all: bool = False, pending: set[str] | None = None) -> RolloutReport:
    """Roll the release of `configuration` out (module docstring); the caller holds the apply lock.
    `timeout` (seconds on the client's clock) is how long this run may wait: a bake that ends later pauses
    the rollout (`RolloutReport.paused`, exit 4). Returns the report; API errors propagate after the
    lockfile has recorded the progress. `pending`: tenants whose live version the plan found off target
    (deployed even when the lockfile records them done)."""
    if configuration.release is None:
        return RolloutReport(skipped="no releases.yaml")
    deadline = None if timeout is None else client.clock.epoch() + timeout
    runner = RolloutRunner(client, configuration, lockfile, path, emit=emit, poll=poll, deadline=deadline,
                      rollback_all=rollback_all, pending=pending or set())
    return await runner.run()
