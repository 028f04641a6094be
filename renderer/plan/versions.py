"""The fleet release in the plan: each service's live version against its target, and the rollout's
waves and today's version skew (docs/releases.md). Reads no API itself: the caller gives the versions of
the live deploys (`live`, by tenant and address)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from renderer.configuration import Configuration
from renderer.lockfile import Lockfile
from renderer.plan.model import RolloutPlan, RolloutWave, VersionChange
from renderer.release import tenant_targets, unpinned_services, versioned_services, waves


def version_plan(configuration: Configuration, lockfile: Lockfile, live: Mapping[tuple[str, str], str | None],
                 slugs: Iterable[str]) -> tuple[list[VersionChange], RolloutPlan | None]:
    """The version changes of the tenants in `slugs` (in wave order) and the rollout; ([], None) without
    a releases.yaml. `live` maps (tenant, address) to the version of the service's live deploy."""
    loaded = configuration.release
    if loaded is None:
        return [], None
    release = loaded.release
    digest = release.digest()
    scope = set(slugs)
    files = {slug: t.file for slug, t in configuration.tenants.items()}
    planned_waves = waves(release, files)
    changes: list[VersionChange] = []
    for index, wave in enumerate(planned_waves):
        for slug in wave.tenants:
            if slug not in scope:
                continue
            tenant = configuration.tenants[slug]
            locked = lockfile.tenants.get(slug)
            targets = tenant_targets(release, tenant.file, tenant.resources)
            for resource in versioned_services(tenant.resources):
                after = targets.get(resource.address)
                before = live.get((slug, resource.address))
                if after is None or before == after:
                    continue
                entry = locked.resources.get(resource.address) if locked is not None else None
                changes.append(VersionChange(tenant=slug, address=resource.address, name=resource.name,
                                             id=entry.id if entry is not None else None, before=before,
                                             after=after, ring=wave.ring, wave=index + 1))
    skew: dict[str, set[str]] = {}
    for (slug, _), version in live.items():
        if version is not None:
            skew.setdefault(version, set()).add(slug)
    failed = next((f for f in lockfile.failed_releases if f.release == digest), None)
    unpinned = [f"{slug}/{r.address}" for slug, t in configuration.tenants.items() if slug in scope
                for r in unpinned_services(t.resources)]
    rollout = RolloutPlan(
        release=digest,
        waves=[RolloutWave(ring=w.ring, tenants=list(w.tenants), max_parallel=w.max_parallel, bake=w.bake)
               for w in planned_waves],
        skew={version: sorted(tenants) for version, tenants in sorted(skew.items(), key=lambda kv: -len(kv[1]))},
        failed=(f"this release failed on {failed.tenant} ({failed.service}: {failed.reason}); it is not deployed "
                "again until releases.yaml changes") if failed else None,
        unpinned=unpinned)
    return changes, rollout
