"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from renderer.operations.scope import Inputs

F = TypeVar("F", bound=Callable[..., Any])


def configuration_options(func: F) -> F:
    """--tenants, --blueprints, --schema."""
    func = click.option("--schema", "schema", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="Render's Blueprint JSON Schema (default: $RENDERER_BLUEPRINT_SCHEMA, the "
                             "user cache, or a download from render.com).")(func)
    func = click.option("--blueprints", "blueprints_dir", type=click.Path(path_type=Path, file_okay=False),
                        default=Path("blueprints"), show_default=True, help="Blueprint templates directory.")(func)
    func = click.option("--tenants", "tenants_dir", type=click.Path(path_type=Path, file_okay=False),
                        default=Path("tenants"), show_default=True, help="Tenant files directory.")(func)
    return func


def plan_options(func: F) -> F:
    """configuration_options plus --lockfile and --tenant."""
    func = click.option("--tenant", "only", multiple=True, metavar="SLUG",
                        help="Only this tenant (repeatable).")(func)
    func = click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
                        default=Path("render.lock.json"), show_default=True, help="The lockfile.")(func)
    return configuration_options(func)


def inputs(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path = Path("render.lock.json"),
           only: tuple[str, ...] = ()) -> Inputs:
    return Inputs(tenants_dir=tenants_dir, blueprints_dir=blueprints_dir, lockfile=lockfile, schema=schema,
                  only=only)
