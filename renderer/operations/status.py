"""Status: each managed resource's live state (`renderer.status.status_rows`) and what each tenant costs
per month now (`renderer.status.status_report`). Read-only."""

from __future__ import annotations

from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.errors import RendererError
from renderer.operations.scope import connected, refresh_scope
from renderer.pricing.table import load_price_table
from renderer.render_api.client import RenderClient
from renderer.status import StatusReport, require_lockfile, status_report


async def status(lockfile_path: Path, slug: str | None = None, *,
                 client: RenderClient | None = None) -> StatusReport:
    """One row per resource the lockfile records for tenant `slug` (default: every tenant), sorted by
    tenant and address, and each tenant's monthly cost at the shipped price table. `client` defaults to
    one from the environment. Raises `RendererError` when there is no lockfile or `slug` is not in it
    (before any API call), `RenderAPIError` when Render cannot be read."""
    require_lockfile(lockfile_path)
    locked = lockfile_io.load(lockfile_path)
    if slug is not None and slug not in locked.tenants:
        raise RendererError(f"tenant {slug!r} is not in {lockfile_path}",
                            hint="status shows tenants renderer has applied; check the slug or run apply")
    scope = [slug] if slug else sorted(locked.tenants)
    async with connected(client) as api:
        live = await refresh_scope(api, locked, scope, scoped=slug is not None)
        return await status_report(api, locked, live, scope, load_price_table())
