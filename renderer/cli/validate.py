"""`renderer validate`: check tenant files and their rendered blueprints, or plain render.yaml files.

No API call. Every finding of every file is reported in one run; exit 0 when valid, 1 when not.
"""

from __future__ import annotations

from pathlib import Path

import click

from renderer import lockfile as lockfile_io
from renderer.blueprint.report import ValidationReport, render_github, render_json, render_text
from renderer.cli.options import configuration_options
from renderer.cli.output import stderr, stdout
from renderer.configuration import (
    blueprint_schema,
    check_blueprint_files,
    check_release_file,
    check_tenants,
    no_tenant_files,
)
from renderer.errors import RendererError
from renderer.tenant import discover

_STYLES = {"error": "red", "warning": "yellow", "ok": "bold green"}
BLUEPRINT_SUFFIXES = (".yaml", ".yml")


def _expand(paths: tuple[Path, ...], blueprints: bool) -> list[Path]:
    """Files to check: each file as given, each directory's `*.yaml` (and `*.yml` for blueprints)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (sorted(p for p in path.iterdir() if p.is_file() and p.suffix in BLUEPRINT_SUFFIXES)
                     if blueprints else discover(path))
            if not found:
                raise RendererError(f"{path} holds no {'render.yaml' if blueprints else 'tenant'} files",
                                    hint="name files ending in .yaml" + (" or .yml" if blueprints else ""))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise RendererError(f"no such file or directory: {path}")
    return files


@click.command()
@configuration_options
@click.option("--strict", is_flag=True,
              help="The schema layer is exactly Render's official schema: deprecated forms are errors.")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text for people, json for tools (stdout holds only JSON), "
                                      "github for GitHub Actions annotations.")
@click.option("--blueprint", "blueprint_files", is_flag=True,
              help="PATHs are plain render.yaml files (a directory: its *.yaml and *.yml), not tenant files.")
@click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("render.lock.json"), show_default=True,
              help="The lockfile (read only when the tenants directory has no tenant file).")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, strict: bool, output_format: str,
             blueprint_files: bool, lockfile: Path, paths: tuple[Path, ...]) -> int:
    """Validate tenant files and their rendered blueprints (default: every file in --tenants).

    \b
    PATH...             tenant files or directories of them
    --blueprint PATH... plain render.yaml files or directories of them

    Exit 0 when everything is valid (warnings allowed), 1 when anything is not, and 1 when there is no
    tenant file and the lockfile records no tenant either (a wrong directory is not a green check). Each
    finding names the file, line, column and path to fix; a problem in a rendered blueprint points at the template line,
    or at the tenant file's key when the value came from the tenant.
    """
    if blueprint_files and not paths:
        raise click.UsageError("--blueprint needs at least one render.yaml file or directory")
    validator = blueprint_schema(schema)
    if blueprint_files:
        files = _expand(paths, blueprints=True)
        findings, _ = check_blueprint_files(files, validator, strict=strict)
        report = ValidationReport(findings, checked=len(files), subject="file")
    else:
        files = _expand(paths, blueprints=False) if paths else discover(tenants_dir)
        if not files:
            stderr.print(no_tenant_files(tenants_dir, lockfile, lockfile_io.load(lockfile).tenants, "validate"),
                         markup=False)
        findings, rendered = check_tenants(files, blueprints_dir, validator, strict=strict)
        if not paths:  # the release file is checked against the whole fleet only
            findings += check_release_file(tenants_dir, rendered)[0]
        report = ValidationReport(findings, checked=len(files), subject="tenant")
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    elif output_format == "github":
        click.echo(render_github(report), nl=False)
    else:
        for line, style in render_text(report):
            stdout.print(line, style=_STYLES[style], markup=False)
    return report.exit_code
