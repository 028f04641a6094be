"""The scope of an operation: where the configuration and lockfile are, which tenants it looks at, and
the live state of what the lockfile records for them.

`refresh_scope` is the one place that turns the lockfile and a tenant scope into the managed Render IDs
and the parents of disks and custom domains, and reads them (`renderer.refresh.refresh`): plan, apply,
drift, status and their `renderer ci` forms all refresh through it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.configuration import Configuration, blueprint_schema, load_configuration
from renderer.errors import RendererError
from renderer.kind import Kind
from renderer.kinds.registry import ops_for
from renderer.lockfile import Lockfile
from renderer.plan.saved import SavedOptions
from renderer.refresh import LiveState, full_refresh_requests, refresh, scoped_refresh_requests
from renderer.render_api.client import RenderClient, Settings
from renderer.resources import DesiredResource
from renderer.tenant import tenant_file_names


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
    """Read and validate every tenant and the lockfile. No API call. With `inputs.only`, only those
    tenants' files are read, rendered and validated: the fleet rule (one Render name, one resource)
    checks their names against each other and against the names the lockfile records for every other
    tenant (`recorded_names`), not against other tenant files. Raises `ValidationFailed` (a bad tenant
    file or blueprint) or `RendererError` (a broken lockfile)."""
    if not inputs.only:
        configuration = load_configuration(inputs.tenants_dir, inputs.blueprints_dir, blueprint_schema(inputs.schema))
        return configuration, lockfile_io.load(inputs.lockfile)
    lockfile = lockfile_io.load(inputs.lockfile)
    configuration = load_configuration(inputs.tenants_dir, inputs.blueprints_dir, blueprint_schema(inputs.schema),
                                       only=set(inputs.only),
                                       taken=recorded_names(lockfile, inputs.lockfile.name, set(inputs.only)))
    return configuration, lockfile


def recorded_names(lockfile: Lockfile, lockfile_name: str, besides: Collection[str]) -> dict[tuple[str, str], str]:
    """The Render names the lockfile records for the tenants not in `besides`, as the fleet rule keys
    them (`(Kind.namespace, name)`, kinds named uniquely in the workspace) -> which resource holds it."""
    listed = {kind: ops_for(kind).workspace_names for kind in Kind}
    return {(entry.kind.namespace, entry.name): f"`{address}` of tenant `{slug}` in {lockfile_name}"
            for slug, tenant in lockfile.tenants.items() if slug not in besides
            for address, entry in tenant.resources.items() if listed[entry.kind]}


def tenant_slugs(tenants_dir: Path) -> set[str]:
    """The slugs of the tenant files in `tenants_dir`, from their file names (nothing is parsed)."""
    return {name.removesuffix(".yaml") for name in tenant_file_names(tenants_dir)}


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


def plan_scope(tenant_files: Iterable[str], lockfile: Lockfile, only: Iterable[str]) -> list[str]:
    """Tenant slugs to plan: all with a tenant file (`tenant_files`, slugs) or a lockfile entry, narrowed
    to `only` when given."""
    return select_tenants(set(tenant_files) | set(lockfile.tenants), only)


async def refresh_scope(client: RenderClient, lockfile: Lockfile, slugs: Iterable[str], *, scoped: bool = False,
                        desired: Iterable[DesiredResource] = ()) -> LiveState:
    """The live state of every resource the lockfile records for the tenants `slugs`
    (`renderer.refresh.refresh`). A disk or custom domain is read through its service's ID
    (`Lockfile.parent_id`).

    Unscoped (`scoped` False): a full refresh, with the whole workspace inventory. `scoped` (tenants named
    with `--tenant` or by a pull request): the recorded resources are read by ID, and the Render names of
    the `desired` resources that their tenant's lockfile entry does not record are looked up by name (the
    "name exists but is not recorded" check of the plan), so the cost does not grow with the fleet; unless
    that takes more requests than listing the workspace would (at least the pages the whole lockfile fills),
    then a full refresh. Raises `RenderAPIError` when Render cannot be read."""
    entries = [(slug, entry) for slug in slugs if slug in lockfile.tenants
               for entry in lockfile.tenants[slug].resources.values()]
    managed = {entry.id: entry.kind for _, entry in entries}
    parents = {entry.id: parent for slug, entry in entries
               if (parent := lockfile.parent_id(slug, entry)) is not None}
    names: set[tuple[Kind, str]] | None = None
    if scoped:
        recorded = {slug: tenant.resources for slug, tenant in lockfile.tenants.items()}
        names = {(r.kind, r.name) for r in desired
                 if r.address not in recorded.get(r.tenant, {}) and ops_for(r.kind).workspace_names}
        everything = [e.kind for tenant in lockfile.tenants.values() for e in tenant.resources.values()]
        if scoped_refresh_requests(managed, names) > full_refresh_requests(everything):
            names = None
    return await refresh(client, managed, parents=parents, names=names)


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
