"""The tenant file: one customer's settings, `tenants/<slug>.yaml`.

A tenant names a blueprint and the few things that differ per customer. Loading reports every problem
at once as `tenant`-layer findings with file, line, column and a hint (see `load_tenant`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict, JsonValue

from renderer import yamlio
from renderer.errors import Finding, ValidationFailed
from renderer.yamlio import YamlDocument

# Render's regions and service instance types, in the Blueprint vocabulary
# (render.yaml.schema.json: definitions.region, definitions.plan).
Region = Literal["oregon", "ohio", "virginia", "frankfurt", "singapore"]
ServicePlan = Literal["free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra"]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A git URL we are willing to put in a shell command: https://host[:port]/path or git@host:path, and
# nothing a shell would interpret. Credentials in the URL are refused: they would land in Render's
# build command and in every plan.
_GIT_PATH = r"[A-Za-z0-9][A-Za-z0-9._~/-]*"
HTTPS_GIT_URL = re.compile(rf"^https://[A-Za-z0-9.-]+(:[0-9]{{1,5}})?/{_GIT_PATH}$")
SSH_GIT_URL = re.compile(rf"^git@[A-Za-z0-9.-]+:{_GIT_PATH}$")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")  # a commit, by its full SHA-1 (never a branch or tag that can move)
RESERVED_ENV_KEYS = frozenset({"TENANT_SLUG", "TENANT_NAME", "CUSTOM_PLUGINS_PATH"})
# Unicode's private-use area: never meaningful in a tenant file, and renderer's template machinery uses
# some of these code points internally (renderer.blueprint.template).
PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
# Control characters (Unicode category Cc, such as NUL and U+0085 NEXT LINE) and the Unicode line and
# paragraph separators are refused in every tenant string: YAML folds some into spaces, the others reach
# Render verbatim. Tab and newline are allowed (and, in the file's text, a carriage return ending a line).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]|\r(?!\n)")
# A tenant env value's size limit (UTF-8 bytes). Render publishes no per-value limit (its OpenAPI
# description's `envVarValue.value` is an unbounded string, and the docs name none), so this is
# renderer's own: 32 KiB, the size of the largest environment variable many platforms accept, far above any
# setting a tenant needs and low enough that a pasted file or a runaway value is caught at validation.
MAX_ENV_VALUE_BYTES = 32 * 1024
_RESERVED: list[JsonValue] = [*sorted(RESERVED_ENV_KEYS)]
_ENV_NAMES: JsonDict = {"pattern": ENV_KEY.pattern, "not": {"enum": _RESERVED}}


def _refuse_control(text: str) -> None:
    found = _CONTROL.search(text)
    if found:
        raise ValueError(f"the value contains the control character U+{ord(found.group()):04X} at "
                         f"character {found.start() + 1}; only tab and newline are allowed")


def _env_value(value: str) -> str:
    _refuse_control(value)
    size = len(value.encode("utf-8"))
    if size > MAX_ENV_VALUE_BYTES:
        raise ValueError(f"the value is {size:,} bytes; a tenant env value may hold at most "
                         f"{MAX_ENV_VALUE_BYTES:,} bytes (32 KiB)")
    return value


# A tenant env value: a string without control characters, at most MAX_ENV_VALUE_BYTES long.
EnvValue = Annotated[str, AfterValidator(_env_value)]


class SecretRef(BaseModel):
    """Where a tenant secret's value comes from: `from_env` names an environment variable read at apply
    time. The value itself never appears in a tenant file, a plan or the lockfile."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    from_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExpectedUsage(BaseModel):
    """What a tenant is expected to use per month, to price usage-priced parts (docs/cost.md); optional.

    - `cron_minutes`: run minutes per month of each cron job, by its blueprint name;
    - `bandwidth_gb`: outbound bandwidth in GB; `build_minutes`: build pipeline minutes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    cron_minutes: dict[str, int] = Field(
        default_factory=dict, description="Run minutes per month of each cron job, by its blueprint name.",
        json_schema_extra={"additionalProperties": {"type": "integer", "minimum": 0}})
    bandwidth_gb: int | None = Field(default=None, ge=0, description="Outbound bandwidth per month, in GB.")
    build_minutes: int | None = Field(default=None, ge=0, description="Build pipeline minutes per month.")

    @field_validator("cron_minutes")
    @classmethod
    def _minutes(cls, value: dict[str, int]) -> dict[str, int]:
        for name, minutes in value.items():
            if minutes < 0:
                raise ValueError(f"cron_minutes of {name!r} is negative")
        return value


# An application version: a full Git commit SHA (40 hex digits) or an image digest (`sha256:` and 64 hex
# digits), the forms Render's deploy objects carry (openapi.json: schemas.deploy `commit.id`, `image.sha`).
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LABEL_KEY = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$")


class AppVersion(BaseModel):
    """An application version (releases.yaml `version`, a pin): `commit` for Git-backed services (a full
    40-hex SHA, the `commitId` of POST /services/{id}/deploys), `image` for image-backed ones (a
    `sha256:` digest, sent as the service's image at that digest, `imageUrl`). At least one is set."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    commit: str | None = Field(default=None, description="A full Git commit SHA (40 lowercase hex digits).",
                               json_schema_extra={"pattern": COMMIT_SHA.pattern},
                               examples=["8d0e4b1c2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d"])
    image: str | None = Field(default=None, description="An image digest: `sha256:` and 64 lowercase hex digits.",
                              json_schema_extra={"pattern": IMAGE_DIGEST.pattern})

    @field_validator("commit")
    @classmethod
    def _full_sha(cls, value: str | None) -> str | None:
        if value is not None and not COMMIT_SHA.fullmatch(value):
            raise ValueError(f"commit {value!r} is not a full Git commit SHA (40 lowercase hex digits); a short "
                             "SHA, a branch or a tag can move")
        return value

    @field_validator("image")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_DIGEST.fullmatch(value):
            raise ValueError(f"image {value!r} is not an image digest (`sha256:` and 64 lowercase hex digits); "
                             "a tag such as `:latest` can move")
        return value

    @model_validator(mode="after")
    def _one_at_least(self) -> AppVersion:
        if self.commit is None and self.image is None:
            raise ValueError("a version needs `commit` (a full Git SHA) or `image` (a sha256: digest)")
        return self

    def for_image(self, image_backed: bool) -> str | None:
        """The version a service deploys: the digest for an image-backed one, else the commit."""
        return self.image if image_backed else self.commit


class Tenant(BaseModel):
    """One tenant file, `tenants/<slug>.yaml`. Unknown keys are rejected.

    - `name`: the customer's display name, any text.
    - `slug`: a DNS label, equal to the file name without `.yaml`; suffixes every Render resource name.
    - `blueprint`: a directory under `blueprints/` holding `render.yaml.j2`.
    - `region`: overrides the region of every resource in the blueprint.
    - `plan`: overrides the instance type of every service (datastores keep the blueprint's plan).
    - `custom_plugin_repo`: an `https://` or `git@host:path` git URL cloned into `./custom_plugins`.
    - `custom_plugin_ref`: the commit of `custom_plugin_repo` to build (a full SHA); unpinned is a warning.
    - `env`: extra environment variables, as the blueprint places them.
    - `secrets`: `{KEY: {from_env: VAR}}`; the value of environment variable VAR at apply time becomes
      env var KEY of every service whose blueprint entry declares KEY with `sync: false`.
    - `deletion_protection`: when true, apply refuses to delete or replace any of the tenant's resources,
      even after the tenant file is deleted, until a merged change sets it false (recorded in the lockfile).
    - `expected_usage`: stated monthly usage that prices cron minutes, bandwidth and build minutes.
    - `network_isolation`: the tenant's Render environment blocks private traffic across its boundary
      (Render's `networkIsolationEnabled`; on by default, a paid workspace feature).
    - `protected_environment`: the tenant's Render environment is protected (Render's `protectedStatus`:
      only workspace admins may change its resources, read their secrets or delete it). Not
      `deletion_protection`, which is renderer's own refusal to delete.
    Both apply to the environment renderer makes for a blueprint without `projects:`; a blueprint with
    `projects:` sets its environments' own (`networking.isolation`, `permissions.protection`).
    - `labels`: free `key: value` labels; `ring: <name>` puts the tenant in that ring of releases.yaml.
    - `version`: pins the tenant's application version (`commit` and/or `image`), holding it back or
      running it ahead of releases.yaml's (docs/releases.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, title="renderer tenant file")

    name: str = Field(min_length=1, max_length=200, description="The customer's display name, any text.",
                      examples=["Acme Corp"])
    slug: str = Field(description="A DNS label equal to the file name; suffixes every Render resource name.",
                      json_schema_extra={"pattern": DNS_LABEL.pattern}, examples=["acme-corp"])
    blueprint: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                           description="A directory under blueprints/ holding render.yaml.j2.", examples=["base_crm"])
    region: Region | None = Field(default=None, description="Overrides the region of every resource.")
    plan: ServicePlan | None = Field(
        default=None, description="Overrides the instance type of every service (datastores keep theirs).")
    custom_plugin_repo: str | None = Field(
        default=None, description="An https:// or git@host:path git URL without credentials, whitespace or shell "
                                  "metacharacters; cloned into ./custom_plugins at build time.",
        json_schema_extra={"pattern": f"{HTTPS_GIT_URL.pattern}|{SSH_GIT_URL.pattern}"},
        examples=["https://github.com/acme/custom-plugins.git"])
    custom_plugin_ref: str | None = Field(
        default=None, description="The commit of custom_plugin_repo to build, a full 40-character SHA: every build "
                                  "fetches exactly it. Without it a build takes whatever the repository's default "
                                  "branch holds that day (a validation warning).",
        json_schema_extra={"pattern": FULL_SHA.pattern}, examples=["3f9a1c0d2b4e6f8a0c1e3d5b7a9f1e2d4c6b8a0f"])
    env: dict[str, EnvValue] = Field(
        default_factory=dict, description="Extra environment variables (string values); the blueprint places them.",
        json_schema_extra={"propertyNames": _ENV_NAMES})

    secrets: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="Secrets by reference: {KEY: {from_env: VAR}}; VAR's value at apply time becomes env var KEY of "
                    "every service whose blueprint entry declares KEY with `sync: false`.")
    deletion_protection: bool = Field(
        default=False, description="When true, apply refuses to delete or replace this tenant's resources, even "
                                   "after the tenant file is deleted, until a merged change sets it false.")
    network_isolation: bool = Field(
        default=True, description="Blocks private network traffic into and out of the tenant's Render environment "
                                  "(Render: networkIsolationEnabled). Needs a Professional workspace or higher; set "
                                  "false on a Hobby workspace. Only for blueprints without `projects:`.")
    protected_environment: bool = Field(
        default=False, description="Makes the tenant's Render environment protected (Render: protectedStatus): only "
                                   "workspace admins may change its resources, read their secrets or delete it, so "
                                   "the API key's user must be a workspace admin. Not `deletion_protection`. Only "
                                   "for blueprints without `projects:`.")
    expected_usage: ExpectedUsage | None = Field(
        default=None, description="Stated monthly usage that prices cron minutes, bandwidth and build minutes "
                                  "(otherwise shown as rates).")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Free `key: value` labels; `ring: <name>` puts the tenant in that ring "
                                          "of releases.yaml.",
        json_schema_extra={"propertyNames": {"pattern": LABEL_KEY.pattern}}, examples=[{"ring": "canary"}])
    version: AppVersion | None = Field(
        default=None, description="Pins this tenant's application version (hold back or run ahead of "
                                  "releases.yaml): `commit` (a full SHA) and/or `image` (a sha256: digest).")

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not LABEL_KEY.fullmatch(key):
                raise ValueError(f"label key {key!r} is not a label name (lowercase letters, digits, '-', '_' "
                                 "and '.')")
        return value

    @field_validator("*")
    @classmethod
    def _no_private_use(cls, value: Any) -> Any:
        for text in _strings(value):
            if PRIVATE_USE.search(text):
                raise ValueError("the value contains a Unicode private-use character; remove it")
        return value

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        for text in _strings(value):
            _refuse_control(text)
        return value

    @field_validator("slug")
    @classmethod
    def _slug_is_dns_label(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"slug {value!r} is not a DNS label (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters)"
            )
        return value

    @field_validator("custom_plugin_repo")
    @classmethod
    def _safe_git_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if value.startswith("https://") and "@" in value.split("/", 3)[2]:
            raise ValueError("custom_plugin_repo must not carry credentials in the URL")
        if not (HTTPS_GIT_URL.fullmatch(value) or SSH_GIT_URL.fullmatch(value)):
            raise ValueError(
                f"custom_plugin_repo {value!r} is not an https:// or git@host:path git URL "
                "without whitespace or shell metacharacters"
            )
        return value

    @field_validator("custom_plugin_ref")
    @classmethod
    def _full_sha(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if not FULL_SHA.fullmatch(value):
            raise ValueError(f"custom_plugin_ref {value!r} is not a full commit SHA (40 lowercase hex characters)")
        if not info.data.get("custom_plugin_repo"):
            raise ValueError("custom_plugin_ref pins custom_plugin_repo, which is not set")
        return value

    @field_validator("env")
    @classmethod
    def _env_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_KEY.fullmatch(key):
                raise ValueError(f"env key {key!r} is not a valid environment variable name")
            if key in RESERVED_ENV_KEYS:
                raise ValueError(f"env key {key!r} is set by renderer itself and cannot be overridden")
        return value

    @field_validator("secrets")
    @classmethod
    def _secret_keys(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        for key in value:
            if not ENV_KEY.fullmatch(key):
                raise ValueError(f"secret key {key!r} is not a valid environment variable name")
        return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


_HINTS: dict[str, str] = {
    "slug": "use lowercase letters, digits and '-', e.g. `slug: acme-corp`, and name the file after it",
    "custom_plugin_repo": "use a plain URL such as `https://github.com/acme/custom-plugins.git`",
    "custom_plugin_ref": "the full SHA of the plugin commit to build (`git rev-parse HEAD` in the plugin repository), "
                         "with `custom_plugin_repo` set",
    "env": "use keys like `FEATURE_FLAGS` with quoted string values",
    "region": "one of oregon, ohio, virginia, frankfurt, singapore",
    "plan": "one of free, starter, standard, pro, pro plus, pro max, pro ultra",
    "blueprint": "the name of a directory under blueprints/, e.g. `blueprint: base_crm`",
    "name": "a non-empty display name, e.g. `name: Acme Corp`",
    "secrets": "map a key to an environment variable, e.g. `STRIPE_KEY: {from_env: ACME_STRIPE_KEY}`",
    "deletion_protection": "true or false",
    "network_isolation": "true (default: the tenant's environment is network-isolated, a paid workspace feature) or "
                         "false (a Hobby workspace)",
    "protected_environment": "true (only workspace admins, and an API key of a workspace admin, may change the "
                             "tenant's environment) or false (default)",
    "expected_usage": "e.g. `expected_usage: {cron_minutes: {nightly-report: 300}, bandwidth_gb: 20}`",
    "labels": "string values by label name, e.g. `labels: {ring: canary}`",
    "version": "e.g. `version: {commit: 8d0e4b1c2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d}` (a full SHA) or "
               "`version: {image: \"sha256:<64 hex digits>\"}`",
}


def suggested_slug(value: str) -> str:
    """A DNS label close to `value` (`Hooli_Inc` -> `hooli-inc`), for hints; `acme-corp` when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63].rstrip("-")
    return slug or "acme-corp"


def _slug_hint(slug: Any) -> str | None:
    if not isinstance(slug, str):
        return _HINTS["slug"]
    better = suggested_slug(slug)
    return f"use lowercase letters, digits and '-': `slug: {better}`, and name the file `{better}.yaml`"


def _finding_from_error(err: Any, document: YamlDocument, filename: str) -> Finding:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind = err["type"]
    path = yamlio.format_path(loc)
    if kind == "extra_forbidden":
        line, column = document.position(loc)
        key = str(loc[-1])
        # A key inside `secrets.<KEY>` is checked against a secret reference's keys, not the top level's.
        allowed = list(SecretRef.model_fields) if len(loc) == 3 and loc[0] == "secrets" else list(Tenant.model_fields)
        if len(loc) == 2 and loc[0] == "expected_usage":
            allowed = list(ExpectedUsage.model_fields)
        if len(loc) == 2 and loc[0] == "version":
            allowed = list(AppVersion.model_fields)
        close = difflib.get_close_matches(key, allowed, n=1)
        unknown_hint = f"did you mean `{close[0]}`?" if close else "allowed keys: " + ", ".join(allowed)
        return Finding(file=filename, line=line, column=column, path=path, layer="tenant",
                       rule="unknown-key", message=f"unknown key `{key}`", hint=unknown_hint)
    if kind == "missing":
        line, column = document.position(loc)
        field = str(loc[-1])
        return Finding(file=filename, line=line, column=column, path=path, layer="tenant",
                       rule="missing-key", message=f"required key `{field}` is missing",
                       hint=_HINTS.get(str(loc[0])))
    line, column = document.value_position(loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and loc and loc[0] == "env":
        hint: str | None = "quote the value so it stays a string, e.g. `FEATURE_X: \"3.10\"`"
    elif loc == ("slug",) and isinstance(document.data, dict):
        hint = _slug_hint(document.data.get("slug"))
    else:
        hint = _HINTS.get(str(loc[0])) if loc else None
    return Finding(file=filename, line=line, column=column, path=path, layer="tenant",
                   rule=f"invalid-{loc[0]}" if loc else "invalid", message=message, hint=hint)


def _refuse_control_characters(text: str, filename: str) -> None:
    """Refuse control characters written into the file itself (YAML would fold U+0085 into a space)."""
    findings = []
    for found in _CONTROL_IN_TEXT.finditer(text.removeprefix("\ufeff")):
        before = text.removeprefix("\ufeff")[:found.start()]
        line, column = before.count("\n") + 1, found.start() - (before.rfind("\n") + 1) + 1
        findings.append(Finding(
            file=filename, line=line, column=column, path="", layer="tenant", rule="control-character",
            message=f"the file contains the control character U+{ord(found.group()):04X}; only tab and newline "
                    "are allowed in a tenant file", hint="delete the character (an editor may show it as a space "
                                                        "or not at all)"))
    if findings:
        raise ValidationFailed(findings)


def _mismatch_hint(slug: str, file_stem: str) -> str:
    """Agrees with the slug's own hint: never proposes a slug or file name that is not a DNS label."""
    if not DNS_LABEL.fullmatch(slug):
        better = suggested_slug(slug)
        return f"set `slug: {better}`" + ("" if file_stem == better else f" and rename the file to `{better}.yaml`")
    if DNS_LABEL.fullmatch(file_stem):
        return f"rename the file to {slug}.yaml or set `slug: {file_stem}`"
    return f"rename the file to {slug}.yaml"


def parse_tenant(text: str, filename: str, expected_slug: str | None) -> tuple[Tenant, YamlDocument]:
    """Parse and check tenant text. Returns the model and the parsed YAML (positions on demand).

    Raises `ValidationFailed` with every finding (YAML errors, unknown keys, bad values, slug/file-name
    mismatch).
    """
    _refuse_control_characters(text, filename)
    document = yamlio.parse(text, filename)
    if document.data is None:
        raise ValidationFailed([yamlio.empty_document_finding(filename, "a tenant file needs `name`, `slug` "
                                                                        "and `blueprint`")])
    if not isinstance(document.data, dict):
        raise ValidationFailed([
            Finding(file=filename, line=1, column=1, path="", layer="tenant", rule="not-a-mapping",
                    message="a tenant file must be a mapping of keys to values",
                    hint="start from tenants/acme-corp.yaml")
        ])
    findings: list[Finding] = []
    tenant: Tenant | None = None
    try:
        tenant = Tenant.model_validate(document.data)
    except ValidationError as exc:
        findings.extend(_finding_from_error(err, document, filename) for err in exc.errors())
    slug = document.data.get("slug")
    if expected_slug is not None and isinstance(slug, str) and slug != expected_slug:
        line, column = document.value_position(["slug"])
        findings.append(Finding(
            file=filename, line=line, column=column, path="slug", layer="tenant", rule="slug-file-name",
            message=f"slug {slug!r} does not match the file name {expected_slug!r}",
            hint=_mismatch_hint(slug, expected_slug)))
    if findings or tenant is None:
        raise ValidationFailed(findings)
    return tenant, document


@dataclass(frozen=True)
class TenantFile:
    """A loaded tenant file: the model, its path and the parsed YAML (positions for findings)."""

    path: Path
    tenant: Tenant
    document: YamlDocument


def tenant_warnings(tenant_file: TenantFile) -> list[Finding]:
    """Warnings about a valid tenant file: a `custom_plugin_repo` without `custom_plugin_ref` (each build
    clones whatever the plugin repository's default branch holds then, so a build is not reproducible)."""
    tenant = tenant_file.tenant
    if not tenant.custom_plugin_repo or tenant.custom_plugin_ref:
        return []
    line, column = tenant_file.document.value_position(["custom_plugin_repo"])
    return [Finding(
        file=str(tenant_file.path), line=line, column=column, path="custom_plugin_repo", layer="tenant",
        rule="unpinned-plugin-repo", severity="warning",
        message="custom_plugin_repo is not pinned: each build clones what its default branch holds at that moment, "
                "so two builds of one version can differ",
        hint="add `custom_plugin_ref: <full commit SHA>` (`git rev-parse HEAD` in the plugin repository); the build "
             "then fetches exactly that commit")]


def load_tenant(path: Path) -> TenantFile:
    """Load `tenants/<slug>.yaml`. Raises `ValidationFailed` (tenant layer) or `RendererError` (I/O)."""
    if path.is_symlink():
        raise ValidationFailed([Finding(
            file=str(path), line=None, column=None, path="", layer="tenant", rule="symlink",
            message=f"`{path.name}` is a symbolic link{'' if path.exists() else ' to nothing'}: a tenant file must "
                    "be a regular file in the tenants directory",
            hint="replace the link with a copy of the file it points to" if path.exists()
            else "restore the file it pointed to, or delete the link to tear the tenant down")])
    text = yamlio.read(path, "tenant file")
    tenant, document = parse_tenant(text, str(path), expected_slug=path.stem)
    return TenantFile(path=path, tenant=tenant, document=document)


def discover(tenants_dir: Path, only: Collection[str] | None = None) -> list[Path]:
    """The tenant files in `tenants_dir` (`*.yaml`), sorted by name, or only those of the slugs `only`.
    A missing directory has none. Raises `ValidationFailed` as `tenant_file_names` does."""
    return [tenants_dir / name for name in tenant_file_names(tenants_dir)
            if only is None or name.removesuffix(".yaml") in only]


def tenant_file_names(tenants_dir: Path) -> list[str]:
    """The names of the tenant files in `tenants_dir` (`<slug>.yaml`), sorted. A missing directory has none.

    Raises `ValidationFailed` (rule `tenant/misnamed-file`) when a file there is named like a tenant file
    but not `<slug>.yaml` (`globex.yml`, `INITECH.YAML`): skipping it would plan that tenant's teardown.
    """
    if not tenants_dir.is_dir():
        return []
    # A symlink (even a dangling one) is listed, so loading it reports it instead of planning a teardown.
    # os.scandir gives each entry's type with the listing: no stat per file, however large the fleet.
    with os.scandir(tenants_dir) as entries:
        names = sorted(e.name for e in entries if e.is_file() or e.is_symlink())
    suffixes = {name: os.path.splitext(name)[1] for name in names}
    misnamed = [tenants_dir / n for n in names if suffixes[n].lower() in (".yaml", ".yml") and suffixes[n] != ".yaml"]
    if misnamed:
        raise ValidationFailed([
            Finding(file=str(p), line=None, column=None, path="", layer="tenant", rule="misnamed-file",
                    message=f"`{p.name}` is not read as a tenant file: tenant files are named `<slug>.yaml`",
                    hint=f"rename it to `{p.stem.lower()}.yaml`")
            for p in misnamed])
    return [n for n in names if suffixes[n] == ".yaml"]
