"""Drift: a refresh-only report of what changed on Render outside renderer.

Compares live state with what renderer last applied (the lockfile's `applied` fingerprints and managed
env var keys), not with the configuration: a blueprint change waiting to be applied is not drift. It
reports, per tenant:

- `changed`: a managed field or env var whose live value no longer matches what renderer applied
  (secrets only when RENDERER_FINGERPRINT_KEY is set, since their fingerprints are keyed);
- `missing`: a resource in the lockfile that Render answers 404 for (deleted outside renderer);
- `unmanaged`: a service or database not in the lockfile whose name ends with a tenant's suffix
  (`-<slug>`), e.g. created by hand or left behind. Only a full refresh (every tenant) lists the whole
  workspace; a run scoped to some tenants reads their recorded resources by ID and cannot see these
  (`DriftReport.unmanaged_checked` False).

Needs the lockfile and the API only (tenant files are used just for their slugs). Never writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from renderer.errors import ExitCode
from renderer.fingerprint import Fingerprinter
from renderer.kinds.registry import live_value, requested_forms
from renderer.lockfile import Lockfile
from renderer.refresh import LiveState

FORMAT_VERSION = "1"
DriftKind = Literal["changed", "missing", "unmanaged"]


@dataclass(frozen=True)
class DriftItem:
    """One finding. `address` is "" for an unmanaged resource; `details` name the changed fields."""

    tenant: str
    kind: DriftKind
    address: str
    name: str
    id: str
    details: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.address} {self.name} ({self.id}): deleted outside renderer (Render answers 404)"
        if self.kind == "unmanaged":
            return (f"{self.name} ({self.id}): carries the tenant suffix -{self.tenant} but is not in the lockfile "
                    "(adopt it with `renderer import` or delete it)")
        return f"{self.address} {self.name} ({self.id}): changed outside renderer: {'; '.join(self.details)}"


@dataclass
class DriftReport:
    """All findings for the tenants looked at. `exit_code(detailed)`: 0 none, 2 drift (when detailed).
    `unmanaged_checked`: whether unmanaged resources were looked for (the whole workspace was listed)."""

    tenants: list[str]
    items: list[DriftItem] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    unmanaged_checked: bool = True

    @property
    def checked(self) -> list[str]:
        """The tenants drift could compare: those the lockfile records, plus any with an unmanaged
        resource (a tenant file alone, never applied, has nothing renderer applied to drift from)."""
        return sorted(set(self.recorded) | {i.tenant for i in self.items})

    @property
    def has_drift(self) -> bool:
        return bool(self.items)

    def exit_code(self, detailed: bool) -> ExitCode:
        return ExitCode.CHANGES if detailed and self.has_drift else ExitCode.OK

    def document(self) -> dict[str, Any]:
        """`{"format_version": "1", "tenants": [...], "recorded_tenants": [...], "drift": bool,
        "unmanaged_checked": bool, "items": [{"tenant", "kind", "address", "name", "id", "details"}]}`; no
        values of secrets, only names of fields. `tenants` are those looked at, `recorded_tenants` those of
        them the lockfile records; `unmanaged_checked` false: a scoped run, unmanaged resources not looked for."""
        return {
            "format_version": FORMAT_VERSION, "tenants": self.tenants, "recorded_tenants": self.recorded,
            "drift": self.has_drift, "unmanaged_checked": self.unmanaged_checked,
            "items": [{"tenant": i.tenant, "kind": i.kind, "address": i.address, "name": i.name, "id": i.id,
                       "details": list(i.details)} for i in self.items],
        }


def _suffix_owner(name: str, slugs: list[str]) -> str | None:
    """The tenant whose suffix `name` carries; the longest slug wins (`x-a-b` is `a-b`'s, not `b`'s)."""
    for slug in sorted(slugs, key=len, reverse=True):
        if name.endswith(f"-{slug}"):
            return slug
    return None


def detect_drift(
    lockfile: Lockfile, live: LiveState, scope: list[str], known_slugs: list[str], fingerprints: Fingerprinter,
) -> DriftReport:
    """The drift of the tenants in `scope` (live state must cover their lockfile IDs; unmanaged resources
    are reported only when it lists the whole workspace, `LiveState.whole_workspace`)."""
    report = DriftReport(tenants=sorted(scope), recorded=sorted(s for s in scope if s in lockfile.tenants),
                         unmanaged_checked=live.whole_workspace)
    for slug in report.tenants:
        tenant = lockfile.tenants.get(slug)
        for address, entry in sorted(tenant.resources.items()) if tenant else []:
            if entry.id in live.missing:
                report.items.append(DriftItem(slug, "missing", address, entry.name, entry.id))
                continue
            resource = live.resources.get(entry.id)
            if resource is None:
                continue
            env = resource.env_vars or {}
            details: list[str] = []
            for path, fp in sorted(entry.applied.items()):
                if path.startswith("envVars."):
                    key = path.removeprefix("envVars.")
                    if key not in env:
                        details.append(f"env var {key} deleted")
                    elif fingerprints.matches(fp, env[key]) is False:
                        details.append(f"env var {key} changed")
                    continue
                value = live_value(resource.kind, resource.fields, path)
                forms = requested_forms(resource.kind, path, value)
                if all(fingerprints.matches(fp, form) is False for form in forms):
                    details.append(f"{path} is now {value!r}")
            for key in sorted(set(entry.env_vars) - {p.removeprefix("envVars.") for p in entry.applied}):
                if resource.env_vars is not None and key not in env:
                    details.append(f"env var {key} deleted")
            if details:
                report.items.append(DriftItem(slug, "changed", address, entry.name, entry.id, tuple(details)))
    managed = lockfile.ids()
    in_scope = set(report.tenants)
    for rid, (_, name) in sorted(live.inventory.items(), key=lambda kv: kv[1][1]):
        owner = _suffix_owner(name, known_slugs)
        if rid not in managed and owner in in_scope:
            report.items.append(DriftItem(owner, "unmanaged", "", name, rid))
    report.items.sort(key=lambda i: (i.tenant, i.kind != "missing", i.kind, i.address, i.name))
    return report
