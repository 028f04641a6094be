"""Status: each managed resource's live state (`renderer.status.status_rows`). Read-only."""

from __future__ import annotations

from pathlib import Path

from renderer import lockfile as lockfile_io
from renderer.errors import RendererError
from renderer.operations.scope import connected, refresh_scope
from renderer.render_api.client import RenderClient
from renderer.status import StatusRow, status_rows


async def status(lockfile_path: Path, slug: str | None = None, *,
                 client: RenderClient | None = None) -> list[StatusRow]:
    """One row per resource the lockfile records for tenant `slug` (default: every tenant), sorted by
    tenant and address. `client` defaults to one from the environment. Raises `RendererError` when `slug`
    is not in the lockfile (before any API call), `RenderAPIError` when Render cannot be read."""
    locked = lockfile_io.load(lockfile_path)
    if slug is not None and slug not in locked.tenants:
        raise RendererError(f"tenant {slug!r} is not in {lockfile_path}",
                            hint="status shows tenants renderer has applied; check the slug or run apply")
    scope = [slug] if slug else sorted(locked.tenants)
    async with connected(client) as api:
        live = await refresh_scope(api, locked, scope)
        return await status_rows(api, locked, live, scope)
