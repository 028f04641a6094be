"""`renderer plan`: show what apply would change on Render."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.plan.render_json import render_json
from renderer.plan.render_markdown import render_markdown
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
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Output format (json: versioned, secrets redacted).")
def plan(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, only: tuple[str, ...],
         detailed_exitcode: bool, output_format: str) -> int:
    """Diff the tenants' desired state against the live Render resources.

    Reads RENDER_API_URL, RENDER_API_KEY and RENDER_OWNER_ID. Changes nothing.
    """
    planned = asyncio.run(_plan(tenants_dir, blueprints_dir, schema, lockfile, only))
    if output_format == "json":
        click.echo(render_json(planned.plan), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(planned.plan), nl=False)
    else:
        stdout.print(render_text(planned.plan), end="")
    return planned.plan.detailed_exit_code() if detailed_exitcode else 0
