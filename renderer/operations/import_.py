"""Import: adopt existing Render resources into the lockfile by name (`renderer import SLUG`).

Writes only the lockfile (under the apply lock), never Render; then plans the tenant, so the caller can
show what the next apply would change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renderer import lockfile as lockfile_io
from renderer.apply import DEFAULT_LOCK_TIMEOUT, apply_lock
from renderer.errors import RendererError
from renderer.lockfile import LockedResource, LockedTenant
from renderer.operations.plan import Planned, make_plan
from renderer.operations.scope import Inputs, connected, load, refresh_scope
from renderer.refresh import find_by_name, name_key
from renderer.render_api.client import RenderClient


@dataclass
class ImportResult:
    """Addresses adopted (`address = id`), already in the lockfile, and with no resource of their name."""

    adopted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Imported:
    """What import did and the plan of the tenant after it."""

    result: ImportResult
    planned: Planned


async def adopt(inputs: Inputs, client: RenderClient, slug: str) -> ImportResult:
    """Adopt existing Render resources whose names match tenant `slug`'s desired resources into the
    lockfile (no write to Render). Services, Postgres, Key Value and env groups are matched by name in
    the workspace; a disk or custom domain by name among its service's. Raises `RendererError` when the
    tenant has no file, when a name belongs to a resource of another kind, or when the ID is already
    recorded for another tenant (then nothing is written)."""
    configuration, lockfile = load(inputs)
    config = configuration.tenants.get(slug)
    if config is None:
        raise RendererError(f"no tenant file for {slug!r} in {inputs.tenants_dir}",
                            hint="import adopts resources for a tenant that has a tenant file")
    # No managed resource to read: only the names of the tenant's desired resources, looked up by name.
    live = await refresh_scope(client, lockfile, [], scoped=True, desired=config.resources)
    result = ImportResult()
    kinds = {rid: kind for rid, (kind, _) in live.inventory.items()}
    tenant = lockfile.tenants.get(slug)
    problems: list[str] = []
    adopted: list[tuple[str, LockedResource]] = []
    for resource in config.resources:
        if tenant is not None and resource.address in tenant.resources:
            result.already.append(resource.address)
            continue
        if resource.parent:
            # A disk or custom domain: looked up among its service's (adopted above, or recorded).
            parents = {address: entry.id for address, entry in adopted}
            if tenant is not None:
                parents.update({address: entry.id for address, entry in tenant.resources.items()})
            parent_id = parents.get(resource.parent)
            rid = await find_by_name(client, resource.kind, resource.name, parent_id) if parent_id else None
            kinds.setdefault(rid or "", resource.kind)
        else:
            rid = live.names.get(name_key(resource.kind, resource.name))
        if rid is None:
            result.not_found.append(resource.address)
            continue
        if kinds[rid] is not resource.kind:
            problems.append(f"{resource.name} ({rid}) is a {kinds[rid].value}, but {resource.address} is a "
                            f"{resource.kind.value}")
            continue
        owner = lockfile.owner_of(rid)
        if owner is not None:
            problems.append(f"{resource.name} ({rid}) is already recorded as {owner[0]}/{owner[1]}")
            continue
        # The keys the blueprint declares become renderer's from now on, so dropping one later deletes it.
        managed = sorted(e.key for e in resource.env_vars if e.managed)
        adopted.append((resource.address, LockedResource(kind=resource.kind, name=resource.name, id=rid,
                                                         parent=resource.parent, env_vars=managed)))
    if problems:
        raise RendererError("cannot import tenant " + slug + ":\n  " + "\n  ".join(problems) + "\nnothing was changed",
                            hint="rename or delete the conflicting resource in the Render dashboard")
    if adopted:
        if tenant is None:
            tenant = lockfile.tenants[slug] = LockedTenant(
                blueprint=config.blueprint.name, blueprint_digest=config.blueprint.digest,
                tenant_file=config.file.path.as_posix(), deletion_protection=config.file.tenant.deletion_protection)
        for address, entry in adopted:
            tenant.resources[address] = entry
            result.adopted.append(f"{address} = {entry.id}")
        tenant.status = "active" if not result.not_found else "provisioning"
        lockfile_io.write(inputs.lockfile, lockfile)
    return result


async def import_tenant(inputs: Inputs, slug: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                        client: RenderClient | None = None) -> Imported:
    """Under the apply lock of `inputs.lockfile`, adopt tenant `slug`'s resources (`adopt`), then plan
    the tenants of `inputs` (the caller narrows them to `slug`). `client` defaults to one from the
    environment. Raises what `apply_lock`, `adopt` and `make_plan` raise."""
    with apply_lock(inputs.lockfile, lock_timeout):
        async with connected(client) as api:
            result = await adopt(inputs, api, slug)
            return Imported(result, await make_plan(inputs, api))
