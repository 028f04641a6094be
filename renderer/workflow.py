"""Plan and apply end to end: configuration + lockfile + refresh -> plan (-> apply), saved plans, import.

The CLI commands call these; each step lives in its own module and this one only wires them.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from renderer import journal as journal_io
from renderer import lockfile as lockfile_io
from renderer.budget import budget_notices
from renderer.configuration import Configuration, blueprint_schema, load_configuration
from renderer.errors import RendererError
from renderer.fingerprint import Fingerprinter, plain
from renderer.lockfile import LockedResource, LockedTenant, Lockfile
from renderer.plan.diff import TenantInput, build_plan
from renderer.plan.model import Notice, Plan, TenantSource
from renderer.plan.render_json import plan_document
from renderer.refresh import LiveResource, LiveState, find_by_name, name_key, refresh
from renderer.render_api.client import RenderClient
from renderer.resources import Kind

SAVED_PLAN_KIND = "renderer-saved-plan"


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
    lockfile_text: str = ""
    environ: Mapping[str, str] = field(default_factory=dict)
    fingerprints: Fingerprinter = field(default_factory=Fingerprinter)


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


def tenant_inputs(configuration: Configuration) -> dict[str, TenantInput]:
    return {
        slug: TenantInput(
            TenantSource(blueprint=config.blueprint.name, blueprint_digest=config.blueprint.digest,
                         tenant_file=config.file.path.as_posix(),
                         deletion_protection=config.file.tenant.deletion_protection),
            config.resources)
        for slug, config in configuration.tenants.items()
    }


def managed_ids(lockfile: Lockfile, slugs: Iterable[str]) -> dict[str, Kind]:
    return {
        entry.id: entry.kind
        for slug in slugs if slug in lockfile.tenants
        for entry in lockfile.tenants[slug].resources.values()
    }


def managed_parents(lockfile: Lockfile, slugs: Iterable[str]) -> dict[str, str]:
    """The service ID of each recorded disk and custom domain of the tenants `slugs` (for `refresh`)."""
    result: dict[str, str] = {}
    for slug in slugs:
        tenant = lockfile.tenants.get(slug)
        for entry in tenant.resources.values() if tenant else []:
            parent = lockfile.parent_id(slug, entry)
            if parent is not None:
                result[entry.id] = parent
    return result


async def make_plan(
    inputs: Inputs, client: RenderClient, *, environ: Mapping[str, str] | None = None,
    fingerprints: Fingerprinter | None = None,
) -> Planned:
    """Load, refresh the resources the lockfile records for the tenants in scope, and diff.

    `environ` supplies tenant secrets (default `os.environ`); `fingerprints` the HMAC key (default from
    RENDERER_FINGERPRINT_KEY)."""
    environ = environ if environ is not None else dict(os.environ)
    fingerprints = fingerprints or Fingerprinter.from_env()
    configuration, lockfile = load(inputs)
    slugs = scope(configuration, lockfile, inputs.only)
    live = await refresh(client, managed_ids(lockfile, slugs), parents=managed_parents(lockfile, slugs))
    journal = journal_io.journal_path(inputs.lockfile)
    interrupted = journal_io.read(journal)
    try:
        plan = build_plan(tenant_inputs(configuration), lockfile, live, slugs, lockfile_name=inputs.lockfile.name,
                          environ=environ, fingerprints=fingerprints, tenant_files=len(configuration.tenants))
    except RendererError as exc:
        if interrupted:
            raise RendererError(exc.message, hint=f"an interrupted apply left {journal}: run `renderer apply`, "
                                                  "which first records what it created") from None
        raise
    budgets = budget_notices(plan, client, lockfile.service_create_window, client.clock.epoch())
    if budgets:
        plan = plan.model_copy(update={"notices": [*plan.notices, *(Notice(tenant="", kind="rate_budget",
                                                                            message=budget) for budget in budgets)]})
    if interrupted:
        plan = plan.model_copy(update={"notices": [*plan.notices, Notice(
            tenant="", kind="interrupted_apply",
            message=f"an interrupted apply left {journal}; the next apply first "
                    "brings the lockfile up to date from it, so its plan may differ from this one")]})
    return Planned(plan, live, lockfile, configuration, lockfile.dumps() if inputs.lockfile.exists() else "",
                   environ, fingerprints)


# Saved plans (`plan --out FILE`, `apply FILE`).

def _live_fingerprint(resource: LiveResource, fingerprints: Fingerprinter) -> str:
    state: dict[str, Any] = {"fields": resource.fields, "env": resource.env_vars,
                             "connection": resource.connection.internal_connection_string.get_secret_value()
                             if resource.connection else None}
    return fingerprints.of(state, sensitive=True) or plain(state)


def _salted(planned: Planned, salt: str) -> Fingerprinter:
    return Fingerprinter((planned.fingerprints.key or b"") + b":" + salt.encode())


def _secret_fingerprints(planned: Planned, slug: str, salt: str) -> dict[str, str | None]:
    """`{KEY: fingerprint}` of the values tenant `slug`'s secrets resolve to from the environment (None when
    the variable is unset): HMAC-SHA256 keyed by RENDERER_FINGERPRINT_KEY (when set) plus the saved plan's
    random `salt`, so the plan file never holds a value nor a plain digest one could test guesses against."""
    fingerprinter = _salted(planned, salt)
    result: dict[str, str | None] = {}
    for name, ref in sorted(planned.configuration.tenants[slug].file.tenant.secrets.items()):
        value = planned.environ.get(ref.from_env)
        result[name] = fingerprinter.of(value, sensitive=True) if value is not None else None
    return result


def state_fingerprints(planned: Planned, inputs: Inputs, *, salt: str = "") -> dict[str, Any]:
    """What a saved plan was computed from: the tenant files, rendered blueprints, the values of tenant
    secrets (as keyed fingerprints salted with `salt`) and lockfile, and the live state of every managed
    resource in scope (secrets only ever as fingerprints)."""
    tenant_files: dict[str, Any] = {}
    for slug, config in planned.configuration.tenants.items():
        tenant_files[slug] = {"tenant_file": config.file.path.as_posix(),
                              "content": plain(config.file.path.read_text(encoding="utf-8")),
                              "blueprint": config.blueprint.digest,
                              "secrets": _secret_fingerprints(planned, slug, salt)}
    live = {rid: _live_fingerprint(r, planned.fingerprints) for rid, r in sorted(planned.live.resources.items())}
    key_check = _salted(planned, salt).of("RENDERER_FINGERPRINT_KEY", sensitive=True)  # tells a new key
    return {
        "inputs": {"tenants": tenant_files, "lockfile": plain(planned.lockfile_text), "key_check": key_check},
        "live": {"resources": live, "missing": sorted(planned.live.missing)},
    }


def saved_plan(planned: Planned, inputs: Inputs) -> str:
    """The saved-plan file: the JSON plan document plus `saved` (options and state fingerprints)."""
    document = plan_document(planned.plan)
    salt = random_secrets.token_hex(16)
    document["saved"] = {
        "kind": SAVED_PLAN_KIND,
        "secret_salt": salt,
        "options": {"tenants_dir": inputs.tenants_dir.as_posix(), "blueprints_dir": inputs.blueprints_dir.as_posix(),
                    "lockfile": inputs.lockfile.as_posix(), "only": list(inputs.only),
                    "schema": inputs.schema.as_posix() if inputs.schema else None},
        "fingerprints": state_fingerprints(planned, inputs, salt=salt),
    }
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


@dataclass(frozen=True)
class SavedPlan:
    path: Path
    document: dict[str, Any]

    @property
    def inputs(self) -> Inputs:
        options = self.document["saved"]["options"]
        return Inputs(tenants_dir=Path(options["tenants_dir"]), blueprints_dir=Path(options["blueprints_dir"]),
                      lockfile=Path(options["lockfile"]), only=tuple(options["only"]),
                      schema=Path(options["schema"]) if options.get("schema") else None)


def read_saved_plan(path: Path) -> SavedPlan:
    """Read a file written by `plan --out`. Raises `RendererError` when it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RendererError(f"no saved plan {path}", hint="write one with `renderer plan --out FILE`") from None
    except (OSError, ValueError) as exc:
        raise RendererError(f"cannot read saved plan {path}: {exc}") from None
    saved = document.get("saved") if isinstance(document, dict) else None
    if not isinstance(saved, dict) or saved.get("kind") != SAVED_PLAN_KIND or document.get("format_version") != "1":
        raise RendererError(f"{path} is not a saved renderer plan (format_version 1)",
                            hint="write one with `renderer plan --out FILE`")
    return SavedPlan(path, document)


def saved_plan_differences(saved: SavedPlan, planned: Planned, inputs: Inputs) -> list[str]:
    """What changed since the plan was saved, one line each ([] when nothing did)."""
    then = saved.document["saved"]["fingerprints"]
    now = state_fingerprints(planned, inputs, salt=str(saved.document["saved"].get("secret_salt", "")))
    problems: list[str] = []
    old_tenants, new_tenants = then["inputs"]["tenants"], now["inputs"]["tenants"]
    key_changed = "key_check" in then["inputs"] and then["inputs"]["key_check"] != now["inputs"]["key_check"]
    if key_changed:
        problems.append("RENDERER_FINGERPRINT_KEY changed since the plan (the secrets' fingerprints cannot be "
                        "compared)")
    for slug in sorted(set(old_tenants) | set(new_tenants)):
        old, new = old_tenants.get(slug), new_tenants.get(slug)
        if old is None:
            problems.append(f"tenant {slug} was added ({new['tenant_file']})")
        elif new is None:
            problems.append(f"tenant {slug} was removed ({old['tenant_file']})")
        elif old["content"] != new["content"]:
            problems.append(f"tenant file {new['tenant_file']} changed")
        elif old["blueprint"] != new["blueprint"]:
            problems.append(f"the rendered blueprint of tenant {slug} changed")
        if old is not None and new is not None and not key_changed:
            old_secrets, new_secrets = old.get("secrets", {}), new["secrets"]
            for name in sorted(set(old_secrets) & set(new_secrets)):
                if old_secrets[name] != new_secrets[name]:
                    problems.append(f"the secret {name} of tenant {slug} changed since the plan "
                                    "(its environment variable holds another value or is unset)")
    if then["inputs"]["lockfile"] != now["inputs"]["lockfile"]:
        problems.append(f"the lockfile {inputs.lockfile} changed")
    old_live, new_live = then["live"]["resources"], now["live"]["resources"]
    owners = {e.id: f"{slug}/{addr}" for slug, t in planned.lockfile.tenants.items()
              for addr, e in t.resources.items()}
    for rid in sorted(set(old_live) | set(new_live)):
        if old_live.get(rid) != new_live.get(rid):
            what = "is gone" if rid not in new_live else "appeared" if rid not in old_live else "changed"
            problems.append(f"live state of {owners.get(rid, rid)} ({rid}) {what} on Render")
    if then["live"]["missing"] != now["live"]["missing"]:
        problems.append("the set of lockfile resources missing on Render changed")
    if not problems:
        old_doc = {k: v for k, v in saved.document.items() if k != "saved"}
        if old_doc != plan_document(planned.plan):
            problems.append("the plan computed now differs from the saved one (environment: tenant secrets or "
                            "RENDERER_FINGERPRINT_KEY)")
    return problems


# Import.

@dataclass
class ImportResult:
    adopted: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


async def import_tenant(inputs: Inputs, client: RenderClient, slug: str) -> ImportResult:
    """Adopt existing Render resources whose names match tenant `slug`'s desired resources into the
    lockfile (no write to Render). Services, Postgres, Key Value and env groups are matched by name in
    the workspace; a disk or custom domain by name among its service's. Raises `RendererError` when the
    tenant has no file, when a name belongs to a resource of another kind, or when the ID is already
    recorded for another tenant."""
    configuration, lockfile = load(inputs)
    config = configuration.tenants.get(slug)
    if config is None:
        raise RendererError(f"no tenant file for {slug!r} in {inputs.tenants_dir}",
                            hint="import adopts resources for a tenant that has a tenant file")
    live = await refresh(client, {})
    result = ImportResult()
    kinds = {rid: kind for rid, (kind, _) in live.inventory.items()}
    tenant = lockfile.tenants.get(slug)
    problems: list[str] = []
    adopt: list[tuple[str, LockedResource]] = []
    for resource in config.resources:
        if tenant is not None and resource.address in tenant.resources:
            result.already.append(resource.address)
            continue
        if resource.parent:
            # A disk or custom domain: looked up among its service's (adopted above, or recorded).
            parents = {address: entry.id for address, entry in adopt}
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
        adopt.append((resource.address, LockedResource(kind=resource.kind, name=resource.name, id=rid,
                                                       parent=resource.parent, env_vars=managed)))
    if problems:
        raise RendererError("cannot import tenant " + slug + ":\n  " + "\n  ".join(problems) + "\nnothing was changed",
                            hint="rename or delete the conflicting resource in the Render dashboard")
    if adopt:
        if tenant is None:
            tenant = lockfile.tenants[slug] = LockedTenant(
                blueprint=config.blueprint.name, blueprint_digest=config.blueprint.digest,
                tenant_file=config.file.path.as_posix(), deletion_protection=config.file.tenant.deletion_protection)
        for address, entry in adopt:
            tenant.resources[address] = entry
            result.adopted.append(f"{address} = {entry.id}")
        tenant.status = "active" if not result.not_found else "provisioning"
        lockfile_io.write(inputs.lockfile, lockfile)
    return result
