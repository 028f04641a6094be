"""`renderer render SLUG`: print a tenant's rendered blueprint (tenant overrides applied)."""

from __future__ import annotations

import io
from pathlib import Path

import click
from ruamel.yaml import YAML

from renderer.blueprint.render import render_tenant
from renderer.errors import RendererError
from renderer.tenant import load_tenant


@click.command()
@click.argument("slug")
@click.option("--tenants", "tenants_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("tenants"), show_default=True, help="Tenant files directory.")
@click.option("--blueprints", "blueprints_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("blueprints"), show_default=True, help="Blueprint templates directory.")
def render(slug: str, tenants_dir: Path, blueprints_dir: Path) -> int:
    """Print the render.yaml that tenant SLUG's blueprint renders to."""
    path = tenants_dir / f"{slug}.yaml"
    if not path.is_file():
        raise RendererError(f"no tenant file {path}", hint=f"create {path} or check the slug")
    blueprint = render_tenant(load_tenant(path), blueprints_dir)
    out = io.StringIO()
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.dump(blueprint.document, out)
    click.echo(out.getvalue(), nl=False)
    return 0
