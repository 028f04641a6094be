"""`renderer apply`: plan, confirm, carry the plan out and write the lockfile."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from renderer.apply import apply_plan, check_allowed
from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.plan.render_text import render_text
from renderer.render_api.client import RenderClient, Settings
from renderer.workflow import make_plan


def _confirmed() -> bool:
    """Ask once; one line from stdin even when it is not a terminal. Only `yes` confirms."""
    stdout.print("\nDo you want to perform these actions? Only 'yes' will be accepted.")
    stdout.print("  Enter a value: ", end="")
    line = sys.stdin.readline()
    return line.strip() == "yes"


async def _apply(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path,
                 only: tuple[str, ...], auto_approve: bool, allow_destroy: bool, allow_replace: bool) -> int:
    async with RenderClient(Settings.from_env()) as client:
        planned = await make_plan(inputs(tenants_dir, blueprints_dir, schema, lockfile, only), client)
        plan = planned.plan
        stdout.print(render_text(plan), end="")
        if plan.has_changes:
            check_allowed(plan, allow_destroy=allow_destroy, allow_replace=allow_replace)
            if not auto_approve and not _confirmed():
                stdout.print("Apply cancelled.")
                return 1
        report = await apply_plan(plan, client, planned.lockfile, lockfile, planned.live,
                                  emit=lambda line: stdout.print(line), allow_destroy=allow_destroy,
                                  allow_replace=allow_replace)
        if plan.has_changes:
            stdout.print(f"\n{report.summary()}", style="bold green")
        return 0


@click.command()
@plan_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-destroy", is_flag=True, help="Allow deleting resources (removed tenants or blueprint entries).")
@click.option("--allow-replace", is_flag=True, help="Allow replacing resources whose immutable fields changed.")
def apply(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, only: tuple[str, ...],
          auto_approve: bool, allow_destroy: bool, allow_replace: bool) -> int:
    """Plan, ask for confirmation, then make the changes through Render's API.

    The lockfile is written after every create and delete. Exit 0 when done, 1 on error or when cancelled.
    Reads RENDER_API_URL, RENDER_API_KEY and RENDER_OWNER_ID.
    """
    return asyncio.run(_apply(tenants_dir, blueprints_dir, schema, lockfile, only, auto_approve, allow_destroy,
                              allow_replace))
