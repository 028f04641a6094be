"""`renderer plan`: show what apply would change on Render."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.plan.render_text import render_text
from renderer.render_api.client import RenderClient, Settings
from renderer.workflow import Planned, make_plan


async def _plan(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path,
                only: tuple[str, ...]) -> Planned:
    async with RenderClient(Settings.from_env()) as client:
        return await make_plan(inputs(tenants_dir, blueprints_dir, schema, lockfile, only), client)


@click.command()
@plan_options
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 with no changes, 2 with changes, 3 when a change deletes or replaces (1 on error).")
def plan(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, only: tuple[str, ...],
         detailed_exitcode: bool) -> int:
    """Diff the tenants' desired state against the live Render resources.

    Reads RENDER_API_URL, RENDER_API_KEY and RENDER_OWNER_ID. Changes nothing.
    """
    planned = asyncio.run(_plan(tenants_dir, blueprints_dir, schema, lockfile, only))
    stdout.print(render_text(planned.plan), end="")
    return planned.plan.detailed_exit_code() if detailed_exitcode else 0
