"""The release file, `releases.yaml` at the repository root: which application version every tenant runs
and in which order a new version reaches them (docs/releases.md).

    version:                       # the fleet's version
      commit: 8d0e4b1c2a3f...      # full Git SHA: Git-backed services deploy it (commitId)
      image: "sha256:9f86d0..."    # digest: image-backed services deploy it (imageUrl)
    services:                      # optional: another version for one blueprint service
      backboneos-worker: {commit: 2f1c3a9d...}
    rings:                         # rollout order, first to last
      - name: canary
        tenants: [acme-corp]       # by slug, and/or tenants labelled `ring: canary`
        max_parallel: 1            # tenants deployed at once
        bake: 10m                  # healthy time before the next ring (s, m, h; a number is seconds)
      - name: everyone
        max_parallel: 10
    pins:                          # optional: hold a tenant back or run it ahead
      globex: {commit: 2f1c3a9d...}

A tenant belongs to the ring that lists its slug or whose name its `ring` label gives; a tenant in no
ring is in an implicit last ring, `rest`, with the last declared ring's `max_parallel` and `bake`. A
tenant file's own `version:` pins it like `pins:` (a tenant pinned in both places is an error).

Loading reports every problem as `release`-layer findings with file, line and column (`load_release`,
`check_release`): unknown keys, a version that is not a full SHA or a `sha256:` digest, a ring listing
a tenant that does not exist, a tenant in two rings, a `ring` label naming no ring, a pin of a tenant
that does not exist.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from renderer import yamlio
from renderer.errors import Finding, ValidationFailed
from renderer.kind import Kind
from renderer.resources import DesiredResource
from renderer.tenant import DNS_LABEL, AppVersion, TenantFile
from renderer.yamlio import YamlDocument

RELEASE_FILE = Path("releases.yaml")
# Services whose code a version decides. A Git-backed cron job cannot be deployed at a commit
# (openapi.json: `commitId` "not supported for cron jobs"), so it is left out and reported as unpinned.
VERSIONED_KINDS = (Kind.WEB_SERVICE, Kind.PRIVATE_SERVICE, Kind.BACKGROUND_WORKER, Kind.CRON_JOB, Kind.STATIC_SITE)
REST_RING = "rest"
RING_LABEL = "ring"
_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


# The longest bake: a week. A bake is watched by runs that resume it; one longer than this is a typo
# (and a number of seconds too large for a timestamp once added to the clock).
MAX_DURATION = 7 * 24 * 3600


def parse_duration(value: Any) -> int:
    """Seconds from a number of seconds or a duration text (`90s`, `10m`, `1h30m`), at most
    `MAX_DURATION` (a week). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as `10m`")
    seconds: int | None = None
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = value
    elif isinstance(value, str):
        found = _DURATION.fullmatch(value.strip())
        if found and value.strip():
            seconds = int(found["h"] or 0) * 3600 + int(found["m"] or 0) * 60 + int(found["s"] or 0)
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration: use seconds (`600`) or `30s`, `10m`, `1h`, `1h30m`")
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than a week ({MAX_DURATION} s), the longest bake")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]


class Ring(BaseModel):
    """One step of the rollout: `name`, the tenants it holds (`tenants` by slug, plus every tenant
    labelled `ring: <name>`), how many are deployed at once (`max_parallel`) and how long the ring must
    stay healthy before the next one starts (`bake`, seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The ring's name; tenants join it with the label `ring: <name>`.",
                      json_schema_extra={"pattern": DNS_LABEL.pattern}, examples=["canary"])
    tenants: list[str] = Field(default_factory=list, description="Tenant slugs in this ring.")
    max_parallel: int = Field(default=1, ge=1, description="Tenants of this ring deployed at once.")
    bake: Duration = Field(default=0, description="Seconds (or `30s`, `10m`, `1h`) the ring must stay healthy "
                                                  "before the next ring starts.",
                           json_schema_extra={"type": ["integer", "string"]})

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(f"ring name {value!r} is not a DNS label (lowercase letters, digits and '-')")
        if value == REST_RING:
            raise ValueError(f"`{REST_RING}` is the implicit last ring of tenants in no ring; choose another name")
        return value


class ReleaseFile(BaseModel):
    """releases.yaml (module docstring). Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="renderer release file")

    version: AppVersion = Field(description="The fleet's application version.")
    services: dict[str, AppVersion] = Field(
        default_factory=dict, description="Another version for a blueprint service, by its blueprint name.")
    rings: list[Ring] = Field(min_length=1, description="The rollout order, first ring first.")
    pins: dict[str, AppVersion] = Field(
        default_factory=dict, description="Tenants held back or run ahead, by slug: their version.")

    def digest(self) -> str:
        """`sha256:` of the file's meaning (not its layout): the release's identity in the lockfile. A
        failed release stays failed until this changes."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


_HINTS = {
    "version": "e.g. `version: {commit: <40 hex digits>}` or `version: {image: \"sha256:<64 hex digits>\"}`",
    "services": "a blueprint service name and its version, e.g. `backboneos-worker: {commit: <40 hex digits>}`",
    "rings": "a list of rings, e.g. `- {name: canary, tenants: [acme-corp], max_parallel: 1, bake: 10m}`",
    "pins": "a tenant slug and its version, e.g. `globex: {commit: <40 hex digits>}`",
}


@dataclass(frozen=True)
class LoadedRelease:
    """releases.yaml as loaded: the model, its path and the parsed YAML (positions for findings)."""

    path: Path
    release: ReleaseFile
    document: YamlDocument


def _finding(document: YamlDocument, filename: str, loc: tuple[str | int, ...], rule: str, message: str,
             hint: str | None, *, at_key: bool = False) -> Finding:
    line, column = document.position(loc) if at_key else document.value_position(loc)
    return Finding(file=filename, line=line, column=column, path=yamlio.format_path(loc), layer="release",
                   rule=rule, message=message, hint=hint)


def _error_finding(err: Any, document: YamlDocument, filename: str) -> Finding:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    top = str(loc[0]) if loc else ""
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        if len(loc) == 1:
            allowed = list(ReleaseFile.model_fields)
        elif top == "rings":
            allowed = list(Ring.model_fields)
        else:
            allowed = list(AppVersion.model_fields)
        close = difflib.get_close_matches(key, allowed, n=1)
        return _finding(document, filename, loc, "unknown-key", f"unknown key `{key}`",
                        f"did you mean `{close[0]}`?" if close else "allowed keys: " + ", ".join(allowed),
                        at_key=True)
    if err["type"] == "missing":
        return _finding(document, filename, loc, "missing-key", f"required key `{loc[-1]}` is missing",
                        _HINTS.get(top), at_key=True)
    message = str(err["msg"]).removeprefix("Value error, ")
    hint = _HINTS.get(top)
    if err["type"] == "string_type":  # a SHA of digits only reads as a number
        message = f"`{yamlio.format_path(loc)}` must be a string, not {type(err['input']).__name__} {err['input']!r}"
        hint = "quote the value, e.g. `commit: \"0123...\"`"
    return _finding(document, filename, loc, f"invalid-{top}" if top else "invalid", message, hint)


def parse_release(text: str, filename: str) -> tuple[ReleaseFile, YamlDocument]:
    """Parse and check the release file's text on its own. Raises `ValidationFailed` with every finding."""
    document = yamlio.parse(text, filename)
    if not isinstance(document.data, dict):
        raise ValidationFailed([Finding(
            file=filename, line=1, column=1, path="", layer="release", rule="not-a-mapping",
            message="a release file must be a mapping with `version` and `rings`",
            hint="see docs/releases.md for an example")])
    try:
        return ReleaseFile.model_validate(document.data), document
    except ValidationError as exc:
        raise ValidationFailed([_error_finding(err, document, filename) for err in exc.errors()]) from None


def load_release(path: Path) -> LoadedRelease | None:
    """Load `releases.yaml`; None when there is no such file (the fleet's versions are then not managed).
    Raises `ValidationFailed` (release layer) or `RendererError` (I/O)."""
    if not path.exists():
        return None
    release, document = parse_release(yamlio.read(path, "release file"), str(path))
    return LoadedRelease(path, release, document)


def _ring_of_label(tenant: TenantFile) -> str | None:
    return tenant.tenant.labels.get(RING_LABEL)


def check_release(loaded: LoadedRelease, tenants: Mapping[str, TenantFile],
                  known: Collection[str] | None = None) -> list[Finding]:
    """The release file against the tenants (by slug): every finding (module docstring), errors only.
    `known`: every tenant's slug when `tenants` holds only some of them (a scoped plan); rings and pins
    naming a tenant are checked against it, labels only on the tenants given."""
    release, document, filename = loaded.release, loaded.document, str(loaded.path)
    exists = set(tenants) if known is None else set(known)
    findings: list[Finding] = []
    names = [ring.name for ring in release.rings]
    member: dict[str, str] = {}
    for index, ring in enumerate(release.rings):
        if ring.name in names[:index]:
            findings.append(_finding(document, filename, ("rings", index, "name"), "duplicate-ring",
                                     f"ring `{ring.name}` is declared twice", "give each ring its own name"))
        for position, slug in enumerate(ring.tenants):
            loc: tuple[str | int, ...] = ("rings", index, "tenants", position)
            if slug not in exists:
                close = difflib.get_close_matches(slug, sorted(exists), n=1)
                findings.append(_finding(
                    document, filename, loc, "unknown-tenant", f"ring `{ring.name}` lists `{slug}`, which is not a "
                    "tenant (no tenants/" + slug + ".yaml)",
                    f"did you mean `{close[0]}`?" if close else "remove it, or add its tenant file"))
            elif slug in member:
                findings.append(_finding(
                    document, filename, loc, "tenant-in-two-rings",
                    f"tenant `{slug}` is in ring `{member[slug]}` and in ring `{ring.name}`",
                    "a tenant belongs to one ring: remove it from one of them"))
            else:
                member[slug] = ring.name
    for slug, tenant in tenants.items():
        label = _ring_of_label(tenant)
        if label is None:
            continue
        line, column = tenant.document.value_position(("labels", RING_LABEL))
        where = {"file": str(tenant.path), "line": line, "column": column, "path": f"labels.{RING_LABEL}",
                 "layer": "release"}
        if label not in names:
            close = difflib.get_close_matches(label, names, n=1)
            findings.append(Finding(
                **where, rule="unknown-ring", message=f"label `ring: {label}` names no ring of {filename}",
                hint=(f"did you mean `{close[0]}`? " if close else "") + "rings: " + ", ".join(names)))
        elif member.get(slug, label) != label:
            findings.append(Finding(
                **where, rule="tenant-in-two-rings",
                message=f"tenant `{slug}` is labelled `ring: {label}` but ring `{member[slug]}` of {filename} lists it",
                hint="a tenant belongs to one ring: change the label or the ring's `tenants`"))
    for slug in release.pins:
        if slug not in exists:
            findings.append(_finding(document, filename, ("pins", slug), "unknown-tenant",
                                     f"`pins` pins `{slug}`, which is not a tenant (no tenants/{slug}.yaml)",
                                     "remove the pin, or add the tenant file", at_key=True))
        elif slug in tenants and tenants[slug].tenant.version is not None:
            findings.append(_finding(document, filename, ("pins", slug), "pinned-twice",
                                     f"tenant `{slug}` is pinned here and by `version:` in its tenant file",
                                     "keep one of the two pins", at_key=True))
    return findings


@dataclass(frozen=True)
class Wave:
    """One ring as the rollout runs it: its tenants (in slug order), `max_parallel` and `bake` seconds."""

    ring: str
    tenants: tuple[str, ...]
    max_parallel: int
    bake: int


def waves(release: ReleaseFile, tenants: Mapping[str, TenantFile]) -> list[Wave]:
    """The rollout's waves in ring order (tenants by slug and by `ring` label), with the implicit last ring
    `rest` for tenants in no ring when there are any. Only tenants in `tenants` are placed."""
    placed: dict[str, str] = {}
    for ring in release.rings:
        for slug in ring.tenants:
            if slug in tenants:
                placed.setdefault(slug, ring.name)
    for slug, tenant in tenants.items():
        label = _ring_of_label(tenant)
        if label is not None and slug not in placed:
            placed[slug] = label
    out = [Wave(ring.name, tuple(sorted(s for s, r in placed.items() if r == ring.name)), ring.max_parallel,
                ring.bake) for ring in release.rings]
    rest = tuple(sorted(s for s in tenants if s not in placed))
    if rest:
        last = release.rings[-1]
        out.append(Wave(REST_RING, rest, last.max_parallel, last.bake))
    return out


def tenant_version(release: ReleaseFile, tenant: TenantFile) -> AppVersion | None:
    """The tenant's pin (its file's `version:` or releases.yaml `pins:`), or None when it follows the fleet."""
    return tenant.tenant.version or release.pins.get(tenant.tenant.slug)


def service_target(release: ReleaseFile, tenant: TenantFile, service: str, image_backed: bool) -> str | None:
    """The version one service of the tenant should run (a 40-hex SHA or a `sha256:` digest), by its
    blueprint name; None when neither the pin nor the release gives one for its kind of source."""
    pin = tenant_version(release, tenant)
    if pin is not None:
        return pin.for_image(image_backed)
    chosen = release.services.get(service, release.version)
    return chosen.for_image(image_backed)


def short(version: str | None) -> str:
    """A version as the plan and status show it: 7 hex digits of a SHA or digest; `-` for none."""
    if not version:
        return "-"
    return version.removeprefix("sha256:")[:7] if version.startswith("sha256:") else version[:7]


def image_backed(resource: DesiredResource) -> bool:
    return resource.fields.get("runtime") == "image"


def deploy_version(deploy: dict[str, Any]) -> str | None:
    """The version a deploy carries (schemas.deploy): `image.sha` for an image, else `commit.id`."""
    image = deploy.get("image")
    if isinstance(image, dict) and image.get("sha"):
        return str(image["sha"])
    commit = deploy.get("commit")
    if isinstance(commit, dict) and commit.get("id"):
        return str(commit["id"])
    return None


def versioned_services(resources: list[DesiredResource]) -> list[DesiredResource]:
    """The tenant's services a version decides, in dependency order (a service after those it reads);
    Git-backed cron jobs are left out (`VERSIONED_KINDS`)."""
    services = [r for r in resources if r.kind in VERSIONED_KINDS
                and not (r.kind is Kind.CRON_JOB and not image_backed(r))]
    return [r for level in dependency_levels(services) for r in level]


def unpinned_services(resources: list[DesiredResource]) -> list[DesiredResource]:
    """Git-backed cron jobs: their code follows the branch (no deploy takes a commit for them)."""
    return [r for r in resources if r.kind is Kind.CRON_JOB and not image_backed(r)]


def dependency_levels(services: list[DesiredResource]) -> list[list[DesiredResource]]:
    """Services grouped so that each reads only services of earlier groups; a group deploys together."""
    by_address = {s.address: s for s in services}
    levels: list[list[DesiredResource]] = []
    done: set[str] = set()
    left = list(services)
    while left:
        ready = [s for s in left if not (s.depends_on() & set(by_address)) - done]
        if not ready:  # a cycle (validation refuses them): keep blueprint order
            ready = left
        levels.append(ready)
        done |= {s.address for s in ready}
        left = [s for s in left if s.address not in done]
    return levels


def tenant_targets(release: ReleaseFile, tenant: TenantFile, resources: list[DesiredResource]) -> dict[str, str]:
    """Address -> target version of each versioned service (services with no target for their kind of
    source, e.g. an image-backed one when the release names only a commit, keep what they run)."""
    out: dict[str, str] = {}
    for resource in versioned_services(resources):
        target = service_target(release, tenant, resource.blueprint_name, image_backed(resource))
        if target is not None:
            out[resource.address] = target
    return out


def release_schema() -> dict[str, Any]:
    """The JSON Schema of releases.yaml (docs/release.schema.json holds a copy)."""
    schema = ReleaseFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "renderer release file"
    return schema
