"""Plan and apply end to end: configuration + lockfile + refresh -> plan (-> apply).

The CLI commands call these; each step lives in its own module and this one only wires them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.configuration import Configuration, blueprint_schema, load_configuration
from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.plan.diff import TenantInput, build_plan
from renderer.plan.model import Plan, TenantSource
from renderer.refresh import LiveState, refresh
from renderer.render_api.client import RenderClient
from renderer.resources import Kind


@dataclass(frozen=True)
class Inputs:
    """Where the configuration and lockfile are, and which tenants to look at (empty: all)."""

    tenants_dir: Path = Path("tenants")
    blueprints_dir: Path = Path("blueprints")
    lockfile: Path = Path("render.lock.json")
    schema: Path | None = None
    only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Planned:
    plan: Plan
    live: LiveState
    lockfile: Lockfile
    configuration: Configuration


def load(inputs: Inputs) -> tuple[Configuration, Lockfile]:
    """Read and validate every tenant and the lockfile. No API call. Raises `ValidationFailed`."""
    configuration = load_configuration(inputs.tenants_dir, inputs.blueprints_dir, blueprint_schema(inputs.schema))
    return configuration, lockfile_io.load(inputs.lockfile)


def scope(configuration: Configuration, lockfile: Lockfile, only: Iterable[str]) -> list[str]:
    """Tenant slugs to plan: all with a tenant file or a lockfile entry, narrowed to `only` when given."""
    known = set(configuration.tenants) | set(lockfile.tenants)
    wanted = set(only)
    unknown = sorted(wanted - known)
    if unknown:
        raise RendererError(
            f"unknown tenant{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint="--tenant takes a slug with a file in the tenants directory or an entry in the lockfile")
    return sorted(wanted or known)


async def make_plan(inputs: Inputs, client: RenderClient) -> Planned:
    """Load, refresh the resources the lockfile records for the tenants in scope, and diff."""
    configuration, lockfile = load(inputs)
    slugs = scope(configuration, lockfile, inputs.only)
    managed: dict[str, Kind] = {
        entry.id: entry.kind
        for slug in slugs if slug in lockfile.tenants
        for entry in lockfile.tenants[slug].resources.values()
    }
    live = await refresh(client, managed)
    tenants = {
        slug: TenantInput(
            TenantSource(blueprint=config.blueprint.name, blueprint_digest=config.blueprint.digest,
                         tenant_file=config.file.path.as_posix()),
            config.resources)
        for slug, config in configuration.tenants.items()
    }
    plan = build_plan(tenants, lockfile, live, slugs, lockfile_name=inputs.lockfile.name)
    return Planned(plan, live, lockfile, configuration)
