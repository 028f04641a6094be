"""`renderer plan`: show what apply would change on Render."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from renderer.cli.options import inputs, plan_options
from renderer.cli.output import stdout
from renderer.operations.plan import Planned, make_plan
from renderer.operations.scope import Inputs
from renderer.plan.render_json import render_json
from renderer.plan.render_markdown import render_markdown
from renderer.plan.render_text import render_text
from renderer.plan.saved import saved_plan_text
from renderer.render_api.client import RenderClient, Settings


async def _plan(plan_inputs: Inputs) -> Planned:
    async with RenderClient(Settings.from_env()) as client:
        return await make_plan(plan_inputs, client)


@click.command()
@plan_options
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 with no changes, 2 with changes, 3 when a change deletes or replaces (1 on error).")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Output format (json: versioned, secrets redacted).")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also save the plan to this file, for `renderer apply FILE`.")
def plan(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, only: tuple[str, ...],
         detailed_exitcode: bool, output_format: str, out: Path | None) -> int:
    """Diff the tenants' desired state against the live Render resources.

    Reads RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID, RENDERER_FINGERPRINT_KEY and the environment
    variables tenant secrets name. Changes nothing on Render.
    """
    plan_inputs = inputs(tenants_dir, blueprints_dir, schema, lockfile, only)
    planned = asyncio.run(_plan(plan_inputs))
    if output_format == "json":
        click.echo(render_json(planned.plan), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(planned.plan), nl=False)
    else:
        stdout.print(render_text(planned.plan), end="")
    if out is not None:
        out.write_text(saved_plan_text(planned, plan_inputs.saved_options()), encoding="utf-8")
        if output_format == "text":
            stdout.print(f"\nSaved the plan to {out}; apply exactly it with `renderer apply {out}`.", markup=False)
    return planned.plan.detailed_exit_code() if detailed_exitcode else 0
