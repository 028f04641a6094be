"""The lockfile, `render.lock.json`: which Render resource IDs belong to which tenant.

Like copier's answers file it records where each tenant's resources came from (blueprint, a digest of
the rendered blueprint). It is the only link between a tenant and its Render IDs: deletes go by these
IDs, never by name. Written deterministically (sorted keys, 2-space indent, trailing newline) and
atomically (temporary file in the same directory, fsync, rename), after every create and delete, so a
crash never loses an ID or leaves a torn file. A lockfile path that is a symbolic link is followed: the
file it points to is written, and the journal and apply lock are that file's (`target`).

Shape (format version 3):

    {"version": 3, "renderer_version": "0.1.0",
     "tenants": {"acme-corp": {
         "blueprint": "base_crm", "blueprint_digest": "sha256:...", "tenant_file": "tenants/acme-corp.yaml",
         "status": "active", "deletion_protection": false,
         "resources": {"web_service.backboneos-backend": {
             "kind": "web_service", "name": "backboneos-backend-acme-corp", "id": "srv-...",
             "env_vars": ["DATABASE_URL", "TENANT_NAME", ...],
             "applied": {"plan": "sha256:...", "envVars.DATABASE_URL": "hmac-sha256:...", ...},
             "deploy": {"id": "dep-...", "target": "<commit SHA | sha256:digest>", "status": "live"}}}}}}

A disk or custom domain records `parent`, the address of its service (`"parent":
"web_service.backboneos-backend"`); it is reached through that service's ID.

Since format version 3 a tenant's Render project and environments are resources of the kinds `project`
(`prj-...`) and `environment` (`evm-...`, with `parent` its project's address), and a service, datastore
or env group records `environment`, the address of the environment renderer put it in
(`"environment": "environment.tenant/production"`), so a resource moved out by hand is drift.

`commit` and `pull_request` (optional) record the commit and pull request that last applied the tenant,
written by `renderer ci apply` in the deploy workflow.

`env_vars` lists the keys renderer manages on that service, so a key removed from the blueprint is
deleted while keys set by hand in the dashboard are left alone. `applied` holds a fingerprint of every
field and env var value renderer last applied (`renderer.fingerprint`: never a value), so a plan can
tell a blueprint change from a change made outside renderer (drift). `status` is the tenant's
provisioning status (`provisioning`, `active`, `failed`, `deleting`); `deletion_protection` is copied
from the tenant file and keeps protecting after that file is deleted. `status`, `deletion_protection`
and `applied` were added without a format change: a file without them reads as no status, no
protection and no fingerprints.

`deploy` (a service's, since format version 3) records the last deploy renderer started on it: its ID, its
target version (the commit or image digest Render answered for it) and its status when renderer last
looked (`live`, or a failure such as `build_failed`). A service whose deploy is not `live` is a pending
change in the next plan, and apply deploys its target again.

`renderer_version` (top level, since format version 2) is the release of renderer that wrote the file,
as Terraform's state records `terraform_version` and copier's answers file the template's `_commit`: a
renderer that meets a lockfile of a newer format says which release wrote it, so the fix (upgrade to
it) is in the error. Every write records the writing release.

`service_create_window` (optional, top level) records Render's hourly service-create budget as the
last apply left it (`{"resets_at": <epoch seconds>, "used": N}`), so the next run, in a new process,
knows what is left of the window before it sends anything (`renderer.budget`).

`release` (optional, per tenant, since format version 3) is the tenant's part of the fleet release
(`renderer.rollout`, docs/releases.md): `target` and `achieved` map a service address to a version (a
40-hex commit SHA or a `sha256:` image digest), `previous` to the deploy it ran before the rollout
deployed it (what a rollback returns to), `deploys` to the deploy the rollout started, and `state` says
where the tenant is (`pending`, `deploying`, `done`, `failed`, `rolled_back`). `rollout` (optional, top
level) is the progress of the current release: its `release` digest (of releases.yaml), the index of
the `wave` under way, `state` (`in_progress`, `baking`, `done`, `failed`) and `bake_until` (epoch
seconds) while a wave bakes. `failed_releases` lists the releases that failed (digest, tenant, service,
deploy, reason): scheduled runs do not deploy them again until releases.yaml changes.

The format grows by versions: `loads` reads every earlier version and upgrades it in memory, one
migration function per version step (`MIGRATIONS`), and `dumps` writes the current one. A field a later
version adds gets its step here (`_v1_to_v2` is the first), so an older lockfile is never an error.
Version 1 (renderer 0.1 before `renderer_version`) had no `renderer_version`; it reads as unknown.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from renderer.errors import RendererError
from renderer.kind import Kind

FORMAT_VERSION: Literal[3] = 3


def _renderer_release() -> str:
    try:
        return metadata.version("renderer")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


RENDERER_VERSION = _renderer_release()
TenantStatus = Literal["provisioning", "active", "failed", "deleting"]
ReleaseState = Literal["pending", "deploying", "done", "failed", "rolled_back"]
RolloutState = Literal["in_progress", "baking", "done", "failed"]


class LockedDeploy(BaseModel):
    """The last deploy renderer started on a service (format version 3): its Render ID, its `target` (the
    version it deploys: a commit SHA, or an image digest `sha256:...`; None until Render says), and
    `status`, the deploy's status (openapi.json schemas.deployStatus) when renderer last looked."""

    model_config = ConfigDict(extra="forbid")

    id: str
    target: str | None = None
    status: str = "created"


class LockedResource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: str
    id: str
    env_vars: list[str] = Field(default_factory=list)
    applied: dict[str, str] = Field(default_factory=dict)
    # A disk's or custom domain's service, an environment's project (its address in the same tenant).
    parent: str | None = None
    # A service's last deploy renderer started (format version 3; None before or never).
    deploy: LockedDeploy | None = None
    # The environment renderer created or moved it into (its address in the same tenant; format 3).
    environment: str | None = None


class TenantRelease(BaseModel):
    """A tenant's part of the fleet release (module docstring): versions and deploys by service address."""

    model_config = ConfigDict(extra="forbid")

    state: ReleaseState = "pending"
    target: dict[str, str] = Field(default_factory=dict)
    achieved: dict[str, str] = Field(default_factory=dict)
    previous: dict[str, str] = Field(default_factory=dict)
    deploys: dict[str, str] = Field(default_factory=dict)


class Rollout(BaseModel):
    """The progress of the release under way or last run (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    release: str
    state: RolloutState = "in_progress"
    wave: int = 0
    bake_until: float | None = None


class FailedRelease(BaseModel):
    """A release that failed: where and why. Not deployed again until releases.yaml changes."""

    model_config = ConfigDict(extra="forbid")

    release: str
    tenant: str
    service: str
    deploy: str | None = None
    reason: str


class LockedTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blueprint: str
    blueprint_digest: str | None = None
    tenant_file: str | None = None
    status: TenantStatus | None = None
    deletion_protection: bool = False
    resources: dict[str, LockedResource] = Field(default_factory=dict)
    # Provenance, set by `renderer ci apply`: the commit and pull request that last applied the tenant.
    commit: str | None = None
    pull_request: int | None = None
    # The tenant's part of the fleet release (format version 3).
    release: TenantRelease | None = None


class CreateWindow(BaseModel):
    """Render's service-create budget as renderer last saw it (`renderer.budget`): `used` creates in the
    window that ends at `resets_at` (seconds since the Unix epoch)."""

    model_config = ConfigDict(extra="forbid")

    resets_at: float
    used: int


class Lockfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[3] = FORMAT_VERSION
    # The renderer release that wrote the file as read (None: written before format version 2).
    renderer_version: str | None = None
    tenants: dict[str, LockedTenant] = Field(default_factory=dict)
    service_create_window: CreateWindow | None = None
    rollout: Rollout | None = None
    failed_releases: list[FailedRelease] = Field(default_factory=list)

    def ids(self) -> set[str]:
        return {r.id for t in self.tenants.values() for r in t.resources.values()}

    def owner_of(self, resource_id: str) -> tuple[str, str] | None:
        """(tenant slug, address) of the resource with this Render ID, or None."""
        for slug, tenant in self.tenants.items():
            for addr, entry in tenant.resources.items():
                if entry.id == resource_id:
                    return slug, addr
        return None

    def parent_id(self, slug: str, entry: LockedResource) -> str | None:
        """The Render ID of a child resource's service, or None."""
        tenant = self.tenants.get(slug)
        parent = tenant.resources.get(entry.parent) if tenant is not None and entry.parent else None
        return parent.id if parent is not None else None

    def dumps(self) -> str:
        """The file's text in the current format, `renderer_version` this release: sorted keys, 2-space
        indent, trailing newline."""
        data = self.model_dump(mode="json")
        data["renderer_version"] = RENDERER_VERSION
        for optional in ("service_create_window", "rollout"):
            if data.get(optional) is None:
                del data[optional]
        if not data["failed_releases"]:
            del data["failed_releases"]
        for tenant in data["tenants"].values():
            if tenant["release"] is None:
                del tenant["release"]
            for resource in tenant["resources"].values():
                resource["env_vars"] = sorted(resource["env_vars"])
                if resource["parent"] is None:
                    del resource["parent"]
                if resource["deploy"] is None:
                    del resource["deploy"]
                if resource["environment"] is None:
                    del resource["environment"]
        return json.dumps(data, sort_keys=True, indent=2) + "\n"


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 adds `renderer_version`; a version-1 file does not say which release wrote it."""
    return {**data, "version": 2, "renderer_version": None}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 adds the kinds `project` and `environment`, a resource's optional `environment`, a
    service's optional `deploy` and the fleet release's `release`, `rollout` and `failed_releases`, all
    optional: a version-2 file has none of them (its tenants' resources sit at the workspace root, no
    deploy or release recorded) and reads as it is."""
    return {**data, "version": 3}


# Version N -> the function that turns a version-N document into a version-N+1 one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}

RESTORE_HINT = "restore it from Git (`git checkout -- render.lock.json`); never edit IDs by hand"


def upgrade(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """`data` (a parsed lockfile of any known format version) in the current version, through each
    migration step in turn. `origin` names the file in errors. Raises `RendererError` for a version that
    is missing, unknown, or newer than this renderer reads."""
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RendererError(f"lockfile {origin} is not a valid renderer lockfile: no format version "
                            f"(`version`: {version!r})", hint=RESTORE_HINT)
    if version > FORMAT_VERSION:
        wrote = data.get("renderer_version")
        raise RendererError(
            f"lockfile {origin} is format version {version}"
            + (f", written by renderer {wrote}" if isinstance(wrote, str) else "")
            + f"; this renderer ({RENDERER_VERSION}) reads format versions up to {FORMAT_VERSION}",
            hint=f"upgrade renderer{f' to {wrote} or later' if isinstance(wrote, str) else ''}; an older "
                 "renderer must not rewrite a newer lockfile")
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version = data["version"]
    return data


def loads(text: str | bytes, origin: str) -> Lockfile:
    """Parse a lockfile of any known format version into the current model (`origin` names it in
    errors). Raises `RendererError` when it is not JSON, not a lockfile, or of a newer format."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RendererError(f"lockfile {origin} is not valid JSON: {exc}", hint=RESTORE_HINT) from None
    if not isinstance(data, dict):
        raise RendererError(f"lockfile {origin} is not a valid renderer lockfile: not a JSON object",
                            hint=RESTORE_HINT)
    try:
        return Lockfile.model_validate(upgrade(data, origin))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RendererError(
            f"lockfile {origin} is not a valid renderer lockfile: {first['msg']} at {where or 'top level'}",
            hint=RESTORE_HINT) from None


def load(path: Path) -> Lockfile:
    """Read the lockfile (any known format version); a missing file is an empty lockfile. Raises
    `RendererError` when it is broken, of a newer format, or records one Render ID under two addresses."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lockfile()
    except OSError as exc:
        raise RendererError(f"cannot read lockfile {path}: {exc}") from None
    lockfile = loads(text, str(path))
    _refuse_shared_ids(path, lockfile)
    return lockfile


def _refuse_shared_ids(path: Path, lockfile: Lockfile) -> None:
    """One Render ID under two addresses would let a write meant for one resource reach another's."""
    seen: dict[str, str] = {}
    shared: list[str] = []
    for slug, tenant in sorted(lockfile.tenants.items()):
        for address, entry in sorted(tenant.resources.items()):
            where = f"{slug}/{address}"
            if entry.id in seen:
                shared.append(f"{entry.id} is recorded as both {seen[entry.id]} and {where}")
            else:
                seen[entry.id] = where
    if shared:
        raise RendererError(
            f"lockfile {path} records one Render ID under two addresses: {'; '.join(shared)}; nothing was changed",
            hint="the lockfile was edited by hand: restore render.lock.json from Git (`git log -p render.lock.json`), "
                 "or remove the wrong entry and adopt the resource with `renderer import SLUG`")


def committed_when_changed(path: Path) -> Lockfile | None:
    """The lockfile as committed at `HEAD` when the file at `path` has uncommitted changes (gitpython);
    None when it has none, is not in a git work tree or not committed. The last applied state of a local
    run: a hand edit of the working copy cannot lift deletion protection (issue 11)."""
    import git

    file = target(path).absolute()
    try:
        repo = git.Repo(file.parent, search_parent_directories=True)
        relative = file.resolve().relative_to(Path(str(repo.working_tree_dir)).resolve()).as_posix()
        blob = repo.head.commit.tree / relative
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, KeyError):
        return None
    text = blob.data_stream.read().decode("utf-8")
    try:
        if file.read_text(encoding="utf-8") == text:
            return None
    except FileNotFoundError:
        pass
    try:
        return loads(text, f"{relative} at HEAD")
    except RendererError:
        return None


def protected_tenants(lockfile: Lockfile | None) -> set[str]:
    """The tenants `lockfile` records with `deletion_protection: true`."""
    return {slug for slug, t in lockfile.tenants.items() if t.deletion_protection} if lockfile else set()


def target(path: Path) -> Path:
    """The file a lockfile path names: `path` itself, or, when `path` is a symbolic link, the file it points
    to (followed through every link, even when that file does not exist yet). A symlinked lockfile is
    followed, never replaced: writes, the journal and the apply lock all belong to the target."""
    return path.resolve() if path.is_symlink() else path


def write(path: Path, lockfile: Lockfile) -> None:
    """Write atomically: readers see the old file or the new one, never a part of either. A symlink at
    `path` is followed (`target`): the file it points to is replaced and the link stays a link."""
    path = target(path)
    text = lockfile.dumps()
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # A process killed between creating its temporary file and the rename leaves that file behind;
    # writers hold the apply lock, so any other one is such a leftover.
    for stale in directory.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
