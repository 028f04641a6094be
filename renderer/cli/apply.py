"""`renderer apply [PLAN]`: plan (or take a saved plan), confirm, carry it out and write the lockfile."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from renderer.apply import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_POLL_SECONDS,
    DEFAULT_WAIT_TIMEOUT,
)
from renderer.backup import DEFAULT_BACKUP_TIMEOUT
from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.concurrency import DEFAULT_TENANT_PARALLELISM
from renderer.operations.apply import ApplyOptions, apply_run
from renderer.operations.plan import Planned
from renderer.operations.scope import Inputs
from renderer.plan.render_text import manual_lines, render_text
from renderer.plan.saved import SavedPlan, read_saved_plan
from renderer.rollout import rollout_summary


def _confirmed() -> bool:
    """Ask once; one line from stdin even when it is not a terminal. Only `yes` confirms."""
    stdout.print("\nDo you want to perform these actions? Only 'yes' will be accepted.", markup=False)
    stdout.print("  Enter a value: ", end="")
    line = sys.stdin.readline()
    return line.strip() == "yes"


def _emit(line: str) -> None:
    stdout.print(line, markup=False)


def _show(planned: Planned) -> None:
    stdout.print(render_text(planned.plan), end="")


def _apply(plan_inputs: Inputs, saved: SavedPlan | None, options: ApplyOptions, *, auto_approve: bool) -> int:
    """Run `apply_run` and print its outcome; the exit code is the report's."""
    def confirm(_: Planned) -> bool:
        return saved is not None or auto_approve or _confirmed()

    applied = asyncio.run(apply_run(plan_inputs, options, emit=_emit, show=_show, confirm=confirm, saved=saved,
                                    console=stdout))
    report, planned = applied.report, applied.planned
    assert report is not None and planned is not None  # apply_run raises otherwise
    if report.cancelled:
        stdout.print(report.summary(), markup=False)
        return report.exit_code
    plan = planned.plan
    if plan.manual_actions:
        stdout.print("\nManual action required:", style="bold yellow", markup=False)
        for line in manual_lines(plan):
            stdout.print(f"  {line}", style="yellow", markup=False)
    if plan.has_changes or report.failed:
        style = "bold red" if report.exit_code else "bold green"
        stdout.print(f"\n{report.summary()}", style=style, markup=False)
    if applied.rollout is not None:
        stdout.print(rollout_summary(applied.rollout), style="bold red" if applied.rollout.exit_code else "bold green",
                     markup=False)
    return applied.exit_code


@click.command()
@click.argument("saved_plan", required=False, type=click.Path(path_type=Path, dir_okay=False), metavar="[PLAN]")
@plan_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-destroy", is_flag=True, help="Allow deleting resources (removed tenants or blueprint entries).")
@click.option("--allow-replace", is_flag=True, help="Allow replacing resources whose immutable fields changed.")
@click.option("--allow-data-loss", is_flag=True,
              help="Allow deleting or replacing a Postgres database, Key Value instance or disk, and its data "
                   "(with --allow-destroy or --allow-replace).")
@click.option("--allow-mass-destroy", is_flag=True,
              help="Allow tearing down more than max(1, 10%) of the lockfile's tenants, or all of them, or "
                   "destroying datastores of more than max(2, 10%) of them in one run.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the deploys apply started until each is live or failed (a failed one fails the run "
                   "and marks its tenant failed); --no-wait leaves them running (the next plan reads how they "
                   "ended).")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=DEFAULT_WAIT_TIMEOUT, show_default=True,
              help="Seconds to wait for deploys.")
@click.option("--poll-interval", type=click.FloatRange(min=0), default=DEFAULT_POLL_SECONDS, show_default=True,
              help="Seconds between deploy status reads while waiting.")
@click.option("--skip-backup", is_flag=True,
              help="Delete Postgres databases without exporting them first (default: export and wait).")
@click.option("--backup-timeout", type=click.FloatRange(min=0), default=DEFAULT_BACKUP_TIMEOUT, show_default=True,
              help="Seconds to wait for the Postgres export taken before a database is deleted.")
@click.option("--tenant-parallelism", type=click.IntRange(min=1), default=DEFAULT_TENANT_PARALLELISM,
              show_default=True, metavar="N",
              help="Apply up to N independent tenants at once (output stays in plan order).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for another apply on the same lockfile to finish.")
@click.option("--rollout-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Seconds the release rollout may wait (default: as long as it takes); a bake that ends "
                   "later pauses the rollout with exit 4 and the next apply resumes it.")
@click.option("--rollback-all", is_flag=True,
              help="When a release fails, roll back every ring it reached, not only the failed one.")
def apply(saved_plan: Path | None, tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path,
          only: tuple[str, ...], auto_approve: bool, allow_destroy: bool, allow_replace: bool, allow_data_loss: bool,
          allow_mass_destroy: bool, wait: bool, wait_timeout: float, poll_interval: float,
          lock_timeout: float, skip_backup: bool, backup_timeout: float, tenant_parallelism: int,
          rollout_timeout: float | None, rollback_all: bool) -> int:
    """Plan, ask for confirmation, then make the changes through Render's API.

    With PLAN (a file from `renderer plan --out`), apply exactly that plan without asking, and refuse it
    when the tenant files, blueprints, lockfile or live state changed since it was made. The lockfile is
    written after every create and delete. Apply waits for the deploys it starts (unless --no-wait).
    Exit 0 when done, 1 on error, a failed deploy or when cancelled, 4 when it stopped early with work
    left (Render's budget of service creates per hour spent: re-run later and it carries on). Every
    Postgres database is exported before it is deleted unless --skip-backup. Deleting or replacing a
    Postgres database, Key Value instance or disk destroys its data: it needs --allow-data-loss as well
    as --allow-destroy or --allow-replace. Reads RENDER_API_URL, RENDER_API_KEY,
    RENDER_OWNER_ID, RENDERER_FINGERPRINT_KEY and the environment variables tenant secrets name.

    With a releases.yaml, apply then rolls the release out ring by ring (docs/releases.md): exit 1 when
    it fails (the failed ring rolled back), 4 when a bake outlasts --rollout-timeout.
    """
    saved = None
    plan_inputs = inputs(tenants_dir, blueprints_dir, schema, lockfile, only)
    if saved_plan is not None:
        if only:
            raise click.UsageError("--tenant cannot be combined with a saved plan (it records its own scope)")
        saved = read_saved_plan(saved_plan)
        plan_inputs = Inputs.from_saved(saved.options)
    options = ApplyOptions(allow_destroy=allow_destroy, allow_replace=allow_replace, allow_data_loss=allow_data_loss,
                           allow_mass_destroy=allow_mass_destroy, wait=wait, wait_timeout=wait_timeout,
                           poll=poll_interval, skip_backup=skip_backup, backup_timeout=backup_timeout,
                           tenant_parallelism=tenant_parallelism, lock_timeout=lock_timeout,
                           rollout_timeout=rollout_timeout, rollout_poll=poll_interval, rollback_all=rollback_all)
    return _apply(plan_inputs, saved, options, auto_approve=auto_approve)
