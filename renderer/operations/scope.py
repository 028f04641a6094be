"""The scope of an operation: where the configuration and lockfile are, which tenants it looks at, and
the live state of what the lockfile records for them.

`refresh_scope` is the one place that turns the lockfile and a tenant scope into the managed Render IDs
and the parents of disks and custom domains, and reads them (`renderer.refresh.refresh`): plan, apply,
drift, status and their `renderer ci` forms all refresh through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.configuration import Configuration, blueprint_schema, load_configuration
from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.plan.saved import SavedOptions
from renderer.refresh import LiveState, refresh
from renderer.render_api.client import RenderClient, Settings
from renderer.tenant import discover


@dataclass(frozen=True)
class Inputs:
    """Where the configuration and lockfile are, and which tenants to look at (empty `only`: all)."""

    tenants_dir: Path = Path("tenants")
    blueprints_dir: Path = Path("blueprints")
    lockfile: Path = Path("render.lock.json")
    schema: Path | None = None
    only: tuple[str, ...] = ()

    def saved_options(self) -> SavedOptions:
        """These inputs as a saved plan records them (`renderer.plan.saved`)."""
        return SavedOptions(tenants_dir=self.tenants_dir.as_posix(), blueprints_dir=self.blueprints_dir.as_posix(),
                            lockfile=self.lockfile.as_posix(), only=list(self.only),
                            schema_file=self.schema.as_posix() if self.schema else None)

    @classmethod
    def from_saved(cls, options: SavedOptions) -> Inputs:
        """The inputs a saved plan was made with."""
        return cls(tenants_dir=Path(options.tenants_dir), blueprints_dir=Path(options.blueprints_dir),
                   lockfile=Path(options.lockfile), only=tuple(options.only),
                   schema=Path(options.schema_file) if options.schema_file else None)


def load(inputs: Inputs) -> tuple[Configuration, Lockfile]:
    """Read and validate every tenant and the lockfile. No API call. Raises `ValidationFailed` (a bad
    tenant file or blueprint) or `RendererError` (a broken lockfile)."""
    configuration = load_configuration(inputs.tenants_dir, inputs.blueprints_dir, blueprint_schema(inputs.schema))
    return configuration, lockfile_io.load(inputs.lockfile)


def tenant_slugs(tenants_dir: Path) -> set[str]:
    """The slugs of the tenant files in `tenants_dir`, from their file names (nothing is parsed)."""
    return {path.stem for path in discover(tenants_dir)}


def select_tenants(known: Iterable[str], only: Iterable[str]) -> list[str]:
    """The tenants to look at, sorted: `known` (slugs with a tenant file or a lockfile entry), narrowed to
    `only` when given. Raises `RendererError` naming any slug of `only` that is not known."""
    known, wanted = set(known), set(only)
    unknown = sorted(wanted - known)
    if unknown:
        raise RendererError(
            f"unknown tenant{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            hint="--tenant takes a slug with a file in the tenants directory or an entry in the lockfile")
    return sorted(wanted or known)


def plan_scope(configuration: Configuration, lockfile: Lockfile, only: Iterable[str]) -> list[str]:
    """Tenant slugs to plan: all with a tenant file or a lockfile entry, narrowed to `only` when given."""
    return select_tenants(set(configuration.tenants) | set(lockfile.tenants), only)


async def refresh_scope(client: RenderClient, lockfile: Lockfile, slugs: Iterable[str]) -> LiveState:
    """The live state of every resource the lockfile records for the tenants `slugs`, with the workspace
    inventory (`renderer.refresh.refresh`). A disk or custom domain is read through its service's ID
    (`Lockfile.parent_id`). Raises `RenderAPIError` when Render cannot be read."""
    entries = [(slug, entry) for slug in slugs if slug in lockfile.tenants
               for entry in lockfile.tenants[slug].resources.values()]
    managed = {entry.id: entry.kind for _, entry in entries}
    parents = {entry.id: parent for slug, entry in entries
               if (parent := lockfile.parent_id(slug, entry)) is not None}
    return await refresh(client, managed, parents=parents)


@contextlib.asynccontextmanager
async def connected(client: RenderClient | None) -> AsyncIterator[RenderClient]:
    """`client` when given (left open), else a client configured from the environment (RENDER_API_URL,
    RENDER_API_KEY, RENDER_OWNER_ID; `Settings.from_env`), closed on exit. Raises `RendererError` when
    RENDER_API_KEY is not set. Operations open it after their local checks, so a bad `--tenant` or
    lockfile is reported without an API key."""
    if client is not None:
        yield client
        return
    async with RenderClient(Settings.from_env()) as opened:
        yield opened
