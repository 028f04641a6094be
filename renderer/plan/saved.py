"""The saved-plan file (`renderer plan --out FILE`, `renderer apply FILE`): its format, owned here.

A saved plan records what the plan was computed from, so `apply FILE` can refuse it when anything
changed since; apply then carries out the plan it computes again (equal to the saved one). Shape:

    {<the `--format json` plan document (renderer.plan.render_json), for a reviewer; never read back>,
     "saved": {"kind": "renderer-saved-plan", "version": 2,
               "options": {"tenants_dir", "blueprints_dir", "lockfile", "only": [slug...], "schema_file"},
               "secret_salt": "<32 hex>",
               "plan": "sha256:...",
               "state": {"inputs": {"tenants": {slug: {"tenant_file", "content", "blueprint", "secrets"}},
                                    "lockfile": "sha256:...", "key_check": "hmac-sha256:..." | null},
                         "live": {"resources": {id: fingerprint}, "missing": [id...]}}}}

`version` is this format's own, independent of the plan document's `format_version`: the JSON output
can change (gain, lose or rename a field) without making saved plans unreadable, since only `saved` is
read back and `plan` is a fingerprint of the plan model itself. Version 1 (renderer before the
`version` field) compared the embedded JSON document; such a file is refused with a hint to make a new
plan. Secrets are never in the file: tenant secrets' values appear as HMAC-SHA256 fingerprints keyed by
RENDERER_FINGERPRINT_KEY (when set) plus the random `secret_salt` (`renderer.fingerprint`).
"""

from __future__ import annotations

import json
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from renderer.configuration import Configuration
from renderer.errors import RendererError
from renderer.fingerprint import Fingerprinter, plain
from renderer.lockfile import Lockfile
from renderer.plan.model import Plan
from renderer.plan.render_json import plan_document
from renderer.refresh import LiveState

KIND: Literal["renderer-saved-plan"] = "renderer-saved-plan"
VERSION: Literal[2] = 2
MAKE_A_NEW_ONE = "make a new plan with `renderer plan --out FILE`, review it and apply that"


class PlanBasis(Protocol):
    """What a plan was computed from (`renderer.operations.plan.Planned` is one)."""

    @property
    def plan(self) -> Plan: ...
    @property
    def configuration(self) -> Configuration: ...
    @property
    def lockfile(self) -> Lockfile: ...
    @property
    def lockfile_text(self) -> str: ...
    @property
    def live(self) -> LiveState: ...
    @property
    def environ(self) -> Mapping[str, str]: ...
    @property
    def fingerprints(self) -> Fingerprinter: ...


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SavedOptions(_Model):
    """The options the plan was made with; `apply FILE` uses them (paths as given, POSIX style)."""

    tenants_dir: str
    blueprints_dir: str
    lockfile: str
    only: list[str] = Field(default_factory=list)
    schema_file: str | None = None


class TenantState(_Model):
    tenant_file: str
    content: str
    blueprint: str
    secrets: dict[str, str | None] = Field(default_factory=dict)


class InputState(_Model):
    tenants: dict[str, TenantState]
    lockfile: str
    key_check: str | None = None


class LiveFingerprints(_Model):
    resources: dict[str, str]
    missing: list[str]


class State(_Model):
    inputs: InputState
    live: LiveFingerprints


class Saved(_Model):
    """The `saved` object of the file."""

    kind: Literal["renderer-saved-plan"] = KIND
    version: Literal[2] = VERSION
    options: SavedOptions
    secret_salt: str
    plan: str
    state: State


@dataclass(frozen=True)
class SavedPlan:
    """A saved-plan file as read: where it is and its `saved` object."""

    path: Path
    saved: Saved

    @property
    def options(self) -> SavedOptions:
        return self.saved.options


def plan_fingerprint(plan: Plan) -> str:
    """A fingerprint of the plan model (not of any rendering of it). The model holds no secret value."""
    return plain(plan.model_dump(mode="json"))


def _salted(basis: PlanBasis, salt: str) -> Fingerprinter:
    return Fingerprinter((basis.fingerprints.key or b"") + b":" + salt.encode())


def _secret_fingerprints(basis: PlanBasis, slug: str, salt: str) -> dict[str, str | None]:
    """`{KEY: fingerprint}` of the values tenant `slug`'s secrets resolve to from the environment (None when
    the variable is unset): HMAC-SHA256 keyed by RENDERER_FINGERPRINT_KEY (when set) plus the saved plan's
    random `salt`, so the file never holds a value nor a plain digest one could test guesses against."""
    fingerprinter = _salted(basis, salt)
    result: dict[str, str | None] = {}
    for name, ref in sorted(basis.configuration.tenants[slug].file.tenant.secrets.items()):
        value = basis.environ.get(ref.from_env)
        result[name] = fingerprinter.of(value, sensitive=True) if value is not None else None
    return result


def state_of(basis: PlanBasis, salt: str) -> State:
    """What a plan was computed from: the tenant files, rendered blueprints, the values of tenant secrets
    (keyed fingerprints salted with `salt`) and lockfile, and the live state of every managed resource in
    scope (secrets only ever as fingerprints)."""
    tenants = {
        slug: TenantState(tenant_file=config.file.path.as_posix(),
                          content=plain(config.file.path.read_text(encoding="utf-8")),
                          blueprint=config.blueprint.digest, secrets=_secret_fingerprints(basis, slug, salt))
        for slug, config in basis.configuration.tenants.items()
    }
    live: dict[str, str] = {}
    for rid, resource in sorted(basis.live.resources.items()):
        seen: dict[str, Any] = {"fields": resource.fields, "env": resource.env_vars,
                                "connection": resource.connection.internal_connection_string.get_secret_value()
                                if resource.connection else None}
        live[rid] = basis.fingerprints.of(seen, sensitive=True) or plain(seen)
    key_check = _salted(basis, salt).of("RENDERER_FINGERPRINT_KEY", sensitive=True)  # tells a new key
    return State(inputs=InputState(tenants=tenants, lockfile=plain(basis.lockfile_text), key_check=key_check),
                 live=LiveFingerprints(resources=live, missing=sorted(basis.live.missing)))


def saved_plan_text(basis: PlanBasis, options: SavedOptions) -> str:
    """The saved-plan file's text (module docstring): sorted keys, 2-space indent, trailing newline."""
    salt = random_secrets.token_hex(16)
    saved = Saved(options=options, secret_salt=salt, plan=plan_fingerprint(basis.plan), state=state_of(basis, salt))
    document = plan_document(basis.plan)
    document["saved"] = saved.model_dump(mode="json")
    return json.dumps(document, sort_keys=True, indent=2) + "\n"


def read_saved_plan(path: Path) -> SavedPlan:
    """Read a file written by `plan --out`. Raises `RendererError` when it is missing, is not a saved
    plan, or is one in another version of the format (with how to make a new one)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RendererError(f"no saved plan {path}", hint="write one with `renderer plan --out FILE`") from None
    except (OSError, ValueError) as exc:
        raise RendererError(f"cannot read saved plan {path}: {exc}") from None
    saved = document.get("saved") if isinstance(document, dict) else None
    if not isinstance(saved, dict) or saved.get("kind") != KIND:
        raise RendererError(f"{path} is not a saved renderer plan", hint="write one with `renderer plan --out FILE`")
    version = saved.get("version", 1)
    if version != VERSION:
        age = "an older" if isinstance(version, int) and version < VERSION else "a newer"
        raise RendererError(
            f"{path} is a saved plan in {age} format (saved-plan version {version}) than this renderer reads "
            f"(version {VERSION}); nothing was changed", hint=MAKE_A_NEW_ONE)
    try:
        return SavedPlan(path, Saved.model_validate(saved))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RendererError(f"{path} is a damaged saved plan: {first['msg']} at saved.{where}",
                            hint=MAKE_A_NEW_ONE) from None


def saved_plan_differences(saved: SavedPlan, basis: PlanBasis) -> list[str]:
    """What changed since the plan was saved, one line each ([] when nothing did)."""
    then = saved.saved.state
    now = state_of(basis, saved.saved.secret_salt)
    problems: list[str] = []
    old_tenants, new_tenants = then.inputs.tenants, now.inputs.tenants
    key_changed = then.inputs.key_check != now.inputs.key_check
    if key_changed:
        problems.append("RENDERER_FINGERPRINT_KEY changed since the plan (the secrets' fingerprints cannot be "
                        "compared)")
    for slug in sorted(set(old_tenants) | set(new_tenants)):
        old, new = old_tenants.get(slug), new_tenants.get(slug)
        if old is None:
            assert new is not None
            problems.append(f"tenant {slug} was added ({new.tenant_file})")
        elif new is None:
            problems.append(f"tenant {slug} was removed ({old.tenant_file})")
        elif old.content != new.content:
            problems.append(f"tenant file {new.tenant_file} changed")
        elif old.blueprint != new.blueprint:
            problems.append(f"the rendered blueprint of tenant {slug} changed")
        if old is not None and new is not None and not key_changed:
            for name in sorted(set(old.secrets) & set(new.secrets)):
                if old.secrets[name] != new.secrets[name]:
                    problems.append(f"the secret {name} of tenant {slug} changed since the plan "
                                    "(its environment variable holds another value or is unset)")
    if then.inputs.lockfile != now.inputs.lockfile:
        problems.append(f"the lockfile {saved.options.lockfile} changed")
    old_live, new_live = then.live.resources, now.live.resources
    owners = {e.id: f"{slug}/{addr}" for slug, t in basis.lockfile.tenants.items()
              for addr, e in t.resources.items()}
    for rid in sorted(set(old_live) | set(new_live)):
        if old_live.get(rid) != new_live.get(rid):
            what = "is gone" if rid not in new_live else "appeared" if rid not in old_live else "changed"
            problems.append(f"live state of {owners.get(rid, rid)} ({rid}) {what} on Render")
    if then.live.missing != now.live.missing:
        problems.append("the set of lockfile resources missing on Render changed")
    if not problems and saved.saved.plan != plan_fingerprint(basis.plan):
        problems.append("the plan computed now differs from the saved one (environment: tenant secrets or "
                        "RENDERER_FINGERPRINT_KEY)")
    return problems
