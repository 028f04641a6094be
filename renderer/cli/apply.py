"""`renderer apply [PLAN]`: plan (or take a saved plan), confirm, carry it out and write the lockfile."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

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
from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.concurrency import DEFAULT_TENANT_PARALLELISM
from renderer.errors import RendererError
from renderer.plan.checks import check_allowed, check_identity, check_secrets
from renderer.plan.render_text import manual_lines, render_text
from renderer.render_api.client import RenderClient, Settings
from renderer.workflow import Inputs, SavedPlan, make_plan, read_saved_plan, saved_plan_differences


def _confirmed() -> bool:
    """Ask once; one line from stdin even when it is not a terminal. Only `yes` confirms."""
    stdout.print("\nDo you want to perform these actions? Only 'yes' will be accepted.", markup=False)
    stdout.print("  Enter a value: ", end="")
    line = sys.stdin.readline()
    return line.strip() == "yes"


def _emit(line: str) -> None:
    stdout.print(line, markup=False)


async def _apply(plan_inputs: Inputs, saved: SavedPlan | None, *, auto_approve: bool, allow_destroy: bool,
                 allow_replace: bool, allow_data_loss: bool, allow_mass_destroy: bool, wait: bool,
                 wait_timeout: float, poll: float, lock_timeout: float, skip_backup: bool = False,
                 backup_timeout: float = DEFAULT_BACKUP_TIMEOUT,
                 tenant_parallelism: int = DEFAULT_TENANT_PARALLELISM) -> int:
    with apply_lock(plan_inputs.lockfile, lock_timeout):
        async with RenderClient(Settings.from_env()) as client:
            await recover(client, lockfile_io.load(plan_inputs.lockfile), plan_inputs.lockfile, _emit)
            planned = await make_plan(plan_inputs, client)
            plan = planned.plan
            if saved is not None:
                problems = saved_plan_differences(saved, planned, plan_inputs)
                if problems:
                    raise RendererError(
                        f"the saved plan {saved.path} is out of date; nothing was changed:\n  - "
                        + "\n  - ".join(problems),
                        hint="make a new plan with `renderer plan --out FILE`, review it and apply that")
            stdout.print(render_text(plan), end="")
            check_identity(plan)
            check_secrets(plan, planned.environ)
            if plan.has_changes:
                check_allowed(plan, allow_destroy=allow_destroy, allow_replace=allow_replace,
                              allow_data_loss=allow_data_loss, allow_mass_destroy=allow_mass_destroy)
                if saved is None and not auto_approve and not _confirmed():
                    report = ApplyReport(cancelled=True)
                    stdout.print(report.summary(), markup=False)
                    return report.exit_code
            report = await apply_plan(
                plan, client, planned.lockfile, plan_inputs.lockfile, planned.live, emit=_emit,
                environ=planned.environ, fingerprints=planned.fingerprints,
                wait=wait, console=stdout, wait_timeout=wait_timeout, poll=poll, skip_backup=skip_backup,
                backup_timeout=backup_timeout, tenant_parallelism=tenant_parallelism)
            if plan.manual_actions:
                stdout.print("\nManual action required:", style="bold yellow", markup=False)
                for line in manual_lines(plan):
                    stdout.print(f"  {line}", style="yellow", markup=False)
            if plan.has_changes or report.failed:
                style = "bold red" if report.exit_code else "bold green"
                stdout.print(f"\n{report.summary()}", style=style, markup=False)
            return report.exit_code


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
@click.option("--wait", is_flag=True, help="Follow the deploys apply started until they are live.")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=DEFAULT_WAIT_TIMEOUT, show_default=True,
              help="Seconds --wait waits for deploys.")
@click.option("--poll-interval", type=click.FloatRange(min=0), default=DEFAULT_POLL_SECONDS, show_default=True,
              help="Seconds between deploy status reads with --wait.")
@click.option("--skip-backup", is_flag=True,
              help="Delete Postgres databases without exporting them first (default: export and wait).")
@click.option("--backup-timeout", type=click.FloatRange(min=0), default=DEFAULT_BACKUP_TIMEOUT, show_default=True,
              help="Seconds to wait for the Postgres export taken before a database is deleted.")
@click.option("--tenant-parallelism", type=click.IntRange(min=1), default=DEFAULT_TENANT_PARALLELISM,
              show_default=True, metavar="N",
              help="Apply up to N independent tenants at once (output stays in plan order).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for another apply on the same lockfile to finish.")
def apply(saved_plan: Path | None, tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path,
          only: tuple[str, ...], auto_approve: bool, allow_destroy: bool, allow_replace: bool, allow_data_loss: bool,
          allow_mass_destroy: bool, wait: bool, wait_timeout: float, poll_interval: float,
          lock_timeout: float, skip_backup: bool, backup_timeout: float, tenant_parallelism: int) -> int:
    """Plan, ask for confirmation, then make the changes through Render's API.

    With PLAN (a file from `renderer plan --out`), apply exactly that plan without asking, and refuse it
    when the tenant files, blueprints, lockfile or live state changed since it was made. The lockfile is
    written after every create and delete. Exit 0 when done, 1 on error, a failed deploy (--wait) or
    when cancelled, 4 when it stopped early with work left (Render's budget of service creates per hour
    spent: re-run later and it carries on). Every Postgres database is exported before it is deleted
    unless --skip-backup. Deleting or replacing a Postgres database, Key Value instance or disk destroys
    its data: it needs --allow-data-loss as well as --allow-destroy or --allow-replace. Reads
    RENDER_API_URL, RENDER_API_KEY,
    RENDER_OWNER_ID, RENDERER_FINGERPRINT_KEY and the environment variables tenant secrets name.
    """
    saved = None
    plan_inputs = inputs(tenants_dir, blueprints_dir, schema, lockfile, only)
    if saved_plan is not None:
        if only:
            raise click.UsageError("--tenant cannot be combined with a saved plan (it records its own scope)")
        saved = read_saved_plan(saved_plan)
        plan_inputs = saved.inputs
    return asyncio.run(_apply(plan_inputs, saved, auto_approve=auto_approve, allow_destroy=allow_destroy,
                              allow_replace=allow_replace, allow_data_loss=allow_data_loss,
                              allow_mass_destroy=allow_mass_destroy, wait=wait, wait_timeout=wait_timeout,
                              poll=poll_interval, lock_timeout=lock_timeout, skip_backup=skip_backup,
                              backup_timeout=backup_timeout, tenant_parallelism=tenant_parallelism))
