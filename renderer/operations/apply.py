"""Apply, the one sequence `renderer apply` and `renderer ci apply` share (`apply_run`):

1. take the apply lock of the lockfile (`renderer.apply.apply_lock`);
2. recover from an interrupted apply's journal (`renderer.apply.recover`);
3. plan (`renderer.operations.plan.make_plan`); with a saved plan, refuse it when anything it was made
   from changed (`renderer.plan.saved`);
4. show the plan (the caller's `show`);
5. the checks of `renderer.plan.checks`, once: every lockfile ID names the resource its entry describes
   (`check_identity`) and every tenant secret apply needs is readable (`check_secrets`); when the plan
   changes anything, the allows a destructive change needs, deletion protection and the mass-delete
   breaker (then the caller's own `permit`, e.g. `renderer ci apply`'s label and trailer allows); then
   the caller's `confirm` (a prompt, `--auto-approve`, or the write-ahead journal of `renderer ci apply`);
6. carry it out (`renderer.apply.apply_plan`), following the deploys it started with `wait`.

No write reaches Render before step 6. The caller prints; this returns what happened (`Applied`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from renderer import lockfile as lockfile_io
from renderer.apply import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_POLL_SECONDS,
    DEFAULT_WAIT_TIMEOUT,
    ApplyReport,
    apply_lock,
    apply_plan,
    recover,
)
from renderer.backup import DEFAULT_BACKUP_TIMEOUT
from renderer.concurrency import DEFAULT_TENANT_PARALLELISM
from renderer.errors import ExitCode, RendererError
from renderer.lockfile import Lockfile
from renderer.operations.plan import Planned, make_plan
from renderer.operations.scope import Inputs, connected
from renderer.plan.checks import check_allowed, check_identity, check_secrets
from renderer.plan.model import Plan
from renderer.plan.saved import MAKE_A_NEW_ONE, SavedPlan, saved_plan_differences
from renderer.render_api.client import RenderClient
from renderer.rollout import DEFAULT_POLL, RolloutReport, run_rollout

Emit = Callable[[str], None]


class PlanRefused(RendererError):
    """The plan needs a permission the run was not given, or deletes or replaces a resource of a tenant
    with deletion protection. Raised before any write; nothing was changed."""


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply. The `allow_*` flags are `renderer apply`'s (`renderer.plan.checks.check_allowed`);
    `apply_unchanged` carries out a plan without changes too (it brings the lockfile's records up to
    date); times are seconds."""

    allow_destroy: bool = False
    allow_replace: bool = False
    allow_data_loss: bool = False
    allow_mass_destroy: bool = False
    wait: bool = True
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    poll: float = DEFAULT_POLL_SECONDS
    skip_backup: bool = False
    backup_timeout: float = DEFAULT_BACKUP_TIMEOUT
    tenant_parallelism: int = DEFAULT_TENANT_PARALLELISM
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    apply_unchanged: bool = True
    # Lockfiles the change cannot have edited, for deletion protection (`make_plan`'s `last_applied`);
    # None: the local rule (the lockfile as committed at HEAD when the working copy has changes).
    last_applied: tuple[Lockfile, ...] | None = None
    # The fleet release (`renderer.rollout`): run it after the infrastructure changes (whole fleet only);
    # `rollout_timeout` seconds this run may wait (a longer bake pauses it, exit 4); `rollback_all`
    # rolls every wave of a failed release back, not only the failed one.
    rollout: bool = True
    rollout_timeout: float | None = None
    rollout_poll: float = DEFAULT_POLL
    rollback_all: bool = False


@dataclass
class Applied:
    """What `apply_run` did, filled in as it goes, so a caller that catches its error still sees how far
    it got: `recovered` (one line per journal step), `planned`, `started` (the checks passed and
    `confirm` agreed: `apply_plan` was called) and `report` (None when apply did not run)."""

    recovered: list[str] = field(default_factory=list)
    planned: Planned | None = None
    started: bool = False
    report: ApplyReport | None = None
    rollout: RolloutReport | None = None

    @property
    def exit_code(self) -> int:
        """The report's (0 done, 1 failed or cancelled, 4 stopped early with work left), then the
        rollout's (1 failed, 4 paused); 0 without either."""
        code = self.report.exit_code if self.report is not None else ExitCode.OK
        if code == ExitCode.OK and self.rollout is not None:
            return self.rollout.exit_code
        return code


def protection_lifted(planned: Planned) -> bool:
    """Whether a tenant file lifts (or sets) deletion protection the lockfile records otherwise: apply then
    runs even without changes, so the lockfile records it (protection lifts alone, in a run of its own)."""
    recorded = planned.lockfile.tenants
    return any(slug in recorded and recorded[slug].deletion_protection != source.deletion_protection
               for slug, source in planned.plan.sources.items())


async def apply_run(
    inputs: Inputs, options: ApplyOptions, *, emit: Emit, show: Callable[[Planned], None],
    confirm: Callable[[Planned], bool], permit: Callable[[Plan], None] | None = None,
    saved: SavedPlan | None = None, client: RenderClient | None = None,
    console: Console | None = None, applied: Applied | None = None,
) -> Applied:
    """Run the apply sequence (module docstring) and return what it did (into `applied` when given).

    `show` gets the plan before any check; `permit` (when given) runs right after `check_allowed` and
    raises `PlanRefused` for a permission the run lacks; `confirm` is asked only when the plan changes
    something and every check passed: False cancels (`ApplyReport.cancelled`, exit 1).
    `client` defaults to one from the environment, opened once the apply lock is held.

    Raises `RendererError` when the lock is held past `options.lock_timeout` or the saved plan is out of
    date, `PlanRefused` when a check refuses the plan, and whatever recover, plan or apply raise."""
    applied = applied if applied is not None else Applied()
    with apply_lock(inputs.lockfile, options.lock_timeout):
        async with connected(client) as api:
            applied.recovered = await recover(api, lockfile_io.load(inputs.lockfile), inputs.lockfile, emit)
            planned = applied.planned = await make_plan(inputs, api, last_applied=options.last_applied)
            if saved is not None:
                problems = saved_plan_differences(saved, planned)
                if problems:
                    raise RendererError(
                        f"the saved plan {saved.path} is out of date; nothing was changed:\n  - "
                        + "\n  - ".join(problems), hint=MAKE_A_NEW_ONE)
            show(planned)
            plan = planned.plan
            try:
                check_identity(plan)
            except RendererError as exc:
                raise PlanRefused(exc.message, hint=exc.hint) from None
            check_secrets(plan, planned.environ)
            if plan.has_changes:
                try:
                    check_allowed(plan, allow_destroy=options.allow_destroy, allow_replace=options.allow_replace,
                                  allow_data_loss=options.allow_data_loss,
                                  allow_mass_destroy=options.allow_mass_destroy)
                except RendererError as exc:
                    raise PlanRefused(exc.message, hint=exc.hint) from None
                if permit is not None:
                    permit(plan)
                if not confirm(planned):
                    applied.report = ApplyReport(cancelled=True)
                    return applied
            elif not options.apply_unchanged and not protection_lifted(planned):
                applied.rollout = await _rollout(inputs, options, planned, api, emit)
                return applied
            applied.started = True
            applied.report = await apply_plan(
                plan, api, planned.lockfile, inputs.lockfile, planned.live, emit=emit, environ=planned.environ,
                fingerprints=planned.fingerprints, wait=options.wait, console=console,
                wait_timeout=options.wait_timeout, poll=options.poll, skip_backup=options.skip_backup,
                backup_timeout=options.backup_timeout, tenant_parallelism=options.tenant_parallelism)
            if applied.report.exit_code == ExitCode.OK:
                applied.rollout = await _rollout(inputs, options, planned, api, emit)
    return applied


async def _rollout(inputs: Inputs, options: ApplyOptions, planned: Planned, api: RenderClient,
                   emit: Emit) -> RolloutReport | None:
    """The fleet release after the infrastructure (`renderer.rollout`), when there is a releases.yaml and
    the run covers the whole fleet; None otherwise."""
    if not options.rollout or planned.configuration.release is None:
        return None
    if inputs.only:
        if planned.plan.versions:
            emit(f"Rollout not run: releases roll out on whole-fleet applies only (without --tenant); "
                 f"{len(planned.plan.versions)} service(s) stay on their version until one runs.")
        return None
    return await run_rollout(api, planned.configuration, planned.lockfile, inputs.lockfile, emit=emit,
                             poll=options.rollout_poll, timeout=options.rollout_timeout,
                             rollback_all=options.rollback_all, pending={v.tenant for v in planned.plan.versions})
