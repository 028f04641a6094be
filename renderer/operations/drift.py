"""Drift: refresh the tenants in scope and compare Render with what renderer last applied
(`renderer.drift.detect_drift`). Read-only; `renderer drift` and `renderer ci drift` both run it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from renderer.drift import DriftReport, detect_drift
from renderer.fingerprint import Fingerprinter
from renderer.lockfile import Lockfile
from renderer.operations.scope import connected, refresh_scope, select_tenants, tenant_slugs
from renderer.render_api.client import RenderClient


async def drift(
    tenants_dir: Path, lockfile: Lockfile, only: Iterable[str] = (), *, client: RenderClient | None = None,
    fingerprints: Fingerprinter | None = None,
) -> DriftReport:
    """The drift of the tenants `only` (default: every tenant with a tenant file in `tenants_dir` or an
    entry in `lockfile`; tenant files give only their slugs, nothing is validated).

    `client` defaults to one from the environment; `fingerprints` to RENDERER_FINGERPRINT_KEY (secrets
    are compared only with it). Raises `RendererError` for an unknown slug in `only` (before any API
    call), `RenderAPIError` when Render cannot be read."""
    only = tuple(only)
    known = sorted(set(lockfile.tenants) | tenant_slugs(tenants_dir))
    scope = select_tenants(known, only)
    async with connected(client) as api:
        live = await refresh_scope(api, lockfile, scope, scoped=bool(only))
    return detect_drift(lockfile, live, scope, known, fingerprints or Fingerprinter.from_env())
