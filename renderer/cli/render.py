"""`renderer render`: print a tenant's rendered blueprint, or write every tenant's to a directory.

The output is what renderer plans from: the template rendered for the tenant, the tenant's `region` and
`plan` applied and deprecated forms normalised. Findings go to stderr; exit 1 when any tenant has an
error (the blueprints that rendered are still written).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from renderer import yamlio
from renderer.blueprint.report import ValidationReport, render_text
from renderer.cli.options import configuration_options
from renderer.cli.output import stderr
from renderer.configuration import RenderedTenant, blueprint_schema, check_tenants
from renderer.errors import RendererError
from renderer.tenant import discover

_STYLES = {"error": "red", "warning": "yellow", "ok": "bold green"}


def dump_blueprint(rendered: RenderedTenant) -> str:
    """The YAML text of a rendered tenant blueprint (normal form), with a provenance comment."""
    return (f"# {rendered.blueprint.source} rendered for tenant {rendered.file.tenant.slug} "
            f"({rendered.file.path}); tenant overrides applied, deprecated forms normalised\n"
            + yamlio.dump(rendered.blueprint.document))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8", suffix=".tmp") as fh:
        fh.write(text)
    os.replace(fh.name, path)


@click.command()
@click.argument("slug", required=False)
@click.option("--all", "render_all", is_flag=True, help="Render every tenant (needs --out).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Directory to write <slug>.yaml files into (with --all).")
@click.option("--strict", is_flag=True, help="Check the schema layer exactly as Render's official schema.")
@configuration_options
def render(slug: str | None, render_all: bool, out_dir: Path | None, strict: bool, tenants_dir: Path,
           blueprints_dir: Path, schema: Path | None) -> int:
    """Print the render.yaml that tenant SLUG's blueprint renders to, or write them all with --all --out DIR."""
    if render_all == (slug is not None):
        raise click.UsageError("give a tenant SLUG, or --all with --out DIR")
    if render_all and out_dir is None:
        raise click.UsageError("--all needs --out DIR")
    if slug is not None:
        path = tenants_dir / f"{slug}.yaml"
        if not path.is_file():
            raise RendererError(f"no tenant file {path}", hint=f"create {path} or check the slug")
        paths = [path]
    else:
        paths = discover(tenants_dir)
        if not paths:
            raise RendererError(f"no tenant files in {tenants_dir}", hint="use --tenants DIR")
    findings, rendered = check_tenants(paths, blueprints_dir, blueprint_schema(schema), strict=strict)
    report = ValidationReport(findings, checked=len(paths))
    for tenant in rendered.values():
        text = dump_blueprint(tenant)
        if out_dir is None:
            click.echo(text, nl=False)
        else:
            _write(out_dir / f"{tenant.file.tenant.slug}.yaml", text)
    if out_dir is not None:
        stderr.print(f"Wrote {len(rendered)} blueprint{'s' if len(rendered) != 1 else ''} to {out_dir}.",
                     markup=False)
    if report.findings:
        for line, style in render_text(report):
            stderr.print(line, style=_STYLES[style], markup=False)
    return report.exit_code
