"""Plan: load the configuration and lockfile, refresh the tenants in scope, diff (`make_plan`).

No write to Render or to any file. `renderer plan`, `renderer ci plan`, apply and import plan through it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from renderer import journal as journal_io
from renderer import lockfile as lockfile_io
from renderer.budget import budget_notices
from renderer.configuration import Configuration, no_tenant_files
from renderer.errors import RendererError
from renderer.fingerprint import Fingerprinter
from renderer.lockfile import Lockfile
from renderer.operations.scope import Inputs, load, plan_scope, refresh_scope, tenant_slugs
from renderer.plan.cost import plan_cost
from renderer.plan.diff import TenantInput, build_plan
from renderer.plan.model import Notice, Plan, TenantSource
from renderer.plan.versions import version_plan
from renderer.pricing.model import Usage
from renderer.pricing.table import load_price_table
from renderer.refresh import LiveState, refresh_deploys
from renderer.release import deploy_version, versioned_services
from renderer.render_api.client import RenderClient
from renderer.render_api.errors import RenderAPIError


@dataclass(frozen=True, repr=False)
class Planned:
    """A plan and what it was computed from (a `renderer.plan.saved.PlanBasis`).

    `lockfile_text` is the lockfile file's text as read ("" when there is none); `environ` holds the
    tenant secrets' environment variables; `fingerprints` the RENDERER_FINGERPRINT_KEY HMAC key."""

    plan: Plan
    live: LiveState
    lockfile: Lockfile
    configuration: Configuration
    lockfile_text: str = ""
    environ: Mapping[str, str] = field(default_factory=dict)
    fingerprints: Fingerprinter = field(default_factory=Fingerprinter)

    def __repr__(self) -> str:
        # Short: `asyncio.run` (CPython 3.11) formats its main task with the task's result when it puts
        # back the SIGINT handler, and a full repr (every lockfile entry) costs as much as the fleet.
        return f"Planned({len(self.plan.changes)} changes of {len(self.plan.tenants)} tenants)"


def tenant_inputs(configuration: Configuration) -> dict[str, TenantInput]:
    """Each tenant's desired resources and where they came from, for `build_plan`."""
    return {
        slug: TenantInput(
            TenantSource(blueprint=config.blueprint.name, blueprint_digest=config.blueprint.digest,
                         tenant_file=config.file.path.as_posix(),
                         deletion_protection=config.file.tenant.deletion_protection),
            config.resources)
        for slug, config in configuration.tenants.items()
    }


def tenant_usage(configuration: Configuration) -> dict[str, Usage]:
    """Each tenant's stated `expected_usage` (tenants without one are left out), for `plan_cost`."""
    result: dict[str, Usage] = {}
    for slug, config in configuration.tenants.items():
        stated = config.file.tenant.expected_usage
        if stated is not None:
            result[slug] = Usage(cron_minutes=dict(stated.cron_minutes), bandwidth_gb=stated.bandwidth_gb,
                                 build_minutes=stated.build_minutes)
    return result


async def live_versions(client: RenderClient, configuration: Configuration, lockfile: Lockfile,
                        slugs: Iterable[str]) -> dict[tuple[str, str], str | None]:
    """(tenant, address) -> the version (commit SHA or image digest) of each versioned service's live
    deploy (GET /services/{id}/deploys?status=live, newest first), for the tenants in `slugs` that have a
    tenant file; read only with a releases.yaml. None: no live deploy."""
    if configuration.release is None:
        return {}
    wanted: list[tuple[str, str, str]] = []
    for slug in slugs:
        tenant, locked = configuration.tenants.get(slug), lockfile.tenants.get(slug)
        if tenant is None or locked is None:
            continue
        for resource in versioned_services(tenant.resources):
            entry = locked.resources.get(resource.address)
            if entry is not None:
                wanted.append((slug, resource.address, entry.id))

    async def one(service_id: str) -> str | None:
        try:
            deploys = await client.list_deploys(service_id, statuses=["live"])
        except RenderAPIError as exc:
            if exc.status == 404:  # deleted outside renderer: the plan shows it missing
                return None
            raise
        return deploy_version(deploys[0]) if deploys else None

    found = await asyncio.gather(*(one(sid) for _, _, sid in wanted))
    return {(slug, address): version for (slug, address, _), version in zip(wanted, found, strict=True)}


async def make_plan(
    inputs: Inputs, client: RenderClient, *, environ: Mapping[str, str] | None = None,
    fingerprints: Fingerprinter | None = None, last_applied: Iterable[Lockfile] | None = None,
) -> Planned:
    """Load, refresh the resources the lockfile records for the tenants in scope, and diff.

    With `inputs.only` the plan is scoped: only those tenants are rendered and validated (`load`), and
    Render is read by their recorded IDs and by the names they may create (`refresh_scope`), so its
    cost does not grow with the fleet.

    `environ` supplies tenant secrets (default `os.environ`); `fingerprints` the HMAC key (default from
    RENDERER_FINGERPRINT_KEY). `last_applied`: lockfiles the change being planned cannot have edited
    (`renderer ci` passes the lockfile of the push's `before` commit); a tenant protected in any of them
    stays protected (deletion protection lifts alone). Default: the lockfile as committed at `HEAD` when
    the working copy has uncommitted changes (`lockfile.committed_when_changed`).
    Raises `ValidationFailed` for bad input, `RendererError` for an unknown
    `--tenant` or a plan that cannot be made (a name taken on Render), `RenderAPIError` when Render
    cannot be read. Notices tell of nearly spent hourly create budgets and of an interrupted apply's
    journal (the next apply recovers from it first)."""
    environ = environ if environ is not None else dict(os.environ)
    fingerprints = fingerprints or Fingerprinter.from_env()
    configuration, lockfile = load(inputs)
    # A scoped plan loads only its tenants; the others count by their file names.
    files = tenant_slugs(inputs.tenants_dir) if inputs.only else set(configuration.tenants)
    if not files:
        no_tenant_files(inputs.tenants_dir, inputs.lockfile, lockfile.tenants, "plan")
    slugs = plan_scope(files, lockfile, inputs.only)
    desired = [r for slug in slugs if slug in configuration.tenants for r in configuration.tenants[slug].resources]
    live = await refresh_scope(client, lockfile, slugs, scoped=bool(inputs.only), desired=desired)
    await refresh_deploys(client, lockfile, slugs, live)
    journal = journal_io.journal_path(inputs.lockfile)
    interrupted = journal_io.read(journal)
    try:
        trusted = list(last_applied) if last_applied is not None else [
            lockfile_io.committed_when_changed(inputs.lockfile)]
        protected_before = set().union(*(lockfile_io.protected_tenants(t) for t in trusted))
        plan = build_plan(tenant_inputs(configuration), lockfile, live, slugs, lockfile_name=inputs.lockfile.name,
                          environ=environ, fingerprints=fingerprints, tenant_files=len(files),
                          protected_before=protected_before)
    except RendererError as exc:
        if interrupted:
            raise RendererError(exc.message, hint=f"an interrupted apply left {journal}: run `renderer apply`, "
                                                  "which first records what it created") from None
        raise
    plan = plan.model_copy(update={"cost": plan_cost(plan, live, load_price_table(), tenant_usage(configuration))})
    running = await live_versions(client, configuration, lockfile, slugs)
    versions, rollout = version_plan(configuration, lockfile, running, slugs)
    if rollout is not None:
        plan = plan.model_copy(update={"versions": versions, "rollout": rollout})
    budgets = budget_notices(plan, client, lockfile.service_create_window, client.clock.epoch())
    if budgets:
        plan = plan.model_copy(update={"notices": [*plan.notices, *(Notice(tenant="", kind="rate_budget",
                                                                            message=budget) for budget in budgets)]})
    if interrupted:
        plan = plan.model_copy(update={"notices": [*plan.notices, Notice(
            tenant="", kind="interrupted_apply",
            message=f"an interrupted apply left {journal}; the next apply first "
                    "brings the lockfile up to date from it, so its plan may differ from this one")]})
    # The file as read (its fingerprint guards a saved plan); not `dumps()`, which costs as much as the fleet is big.
    text = inputs.lockfile.read_text(encoding="utf-8") if inputs.lockfile.exists() else ""
    return Planned(plan, live, lockfile, configuration, text, environ, fingerprints)
