"""The rendered blueprint: a render.yaml document, and the way from any part of it to the line to fix.

A `Blueprint` holds the document twice: `raw` as it was parsed (tenant overrides applied), which is what
`--strict` checks against Render's official schema, and `document`, the normal form the rest of renderer
reads (deprecated forms rewritten, see `renderer.blueprint.normalize`). `finding(path, ...)` positions a
finding for either: at the tenant file's key when the value came from the tenant (a `region`/`plan`
override or a `tenant.*` value interpolated by the template), else at the template's line (or the plain
render.yaml's).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from renderer import yamlio
from renderer.blueprint.template import RenderedTemplate
from renderer.errors import Finding, Layer
from renderer.kind import Kind, blueprint_kind
from renderer.yamlio import PathPart, YamlDocument

DocPath = tuple[PathPart, ...]

def runtime_of(item: Any) -> Any:
    """A service's runtime: `runtime`, or the deprecated `env` when only that is set."""
    return item.get("runtime", item.get("env")) if isinstance(item, dict) else None


def resource_kind(list_key: str, item: Any) -> Kind | None:
    """The kind of one entry of `services`, `databases` or `envVarGroups`; None when its type is unknown
    (`renderer.kind.blueprint_kind`)."""
    return blueprint_kind(list_key, item)


def resource_lists(document: Any) -> Iterator[tuple[DocPath, str, list[Any]]]:
    """Yield `(scope path, key, items)` for every `services`, `databases` and `envVarGroups` list.

    Covers the document root, `ungrouped`, and `projects[i].environments[j]`
    (render.yaml.schema.json: the root `allOf`, definitions.project, definitions.environment).
    """
    for path, scope in scopes(document):
        for key in ("services", "databases", "envVarGroups"):
            items = scope.get(key)
            if isinstance(items, list):
                yield path, key, items


def scopes(document: Any) -> list[tuple[DocPath, dict[str, Any]]]:
    """The mappings that hold resource lists: the root, `ungrouped`, each project environment."""
    if not isinstance(document, dict):
        return []
    found: list[tuple[DocPath, dict[str, Any]]] = [((), document)]
    if isinstance(document.get("ungrouped"), dict):
        found.append((("ungrouped",), document["ungrouped"]))
    projects = document.get("projects")
    if isinstance(projects, list):
        for i, project in enumerate(projects):
            envs = project.get("environments") if isinstance(project, dict) else None
            if isinstance(envs, list):
                for j, env in enumerate(envs):
                    if isinstance(env, dict):
                        found.append((("projects", i, "environments", j), env))
    return found


def resources(document: Any) -> Iterator[tuple[DocPath, str, Any]]:
    """Every resource entry: `(path, list key, item)`, e.g. `(("services", 0), "services", {...})`."""
    for scope, key, items in resource_lists(document):
        for i, item in enumerate(items):
            yield (*scope, key, i), key, item


@dataclass
class Origin:
    """A value the tenant file set: which file and key (`region`, `env.CRM_FEATURE_FLAGS`)."""

    file: str
    key: DocPath
    tenant: YamlDocument | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return yamlio.format_path(self.key)

    def position(self) -> tuple[int | None, int | None]:
        return self.tenant.value_position(self.key) if self.tenant is not None else (None, None)

    @property
    def line(self) -> int | None:
        return self.position()[0]

    @property
    def column(self) -> int | None:
        return self.position()[1]


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Change:
    """One deprecated form rewritten (or refused) by normalisation, to be reported as a finding.

    `schema_accepts`: Render's official schema accepts the original form, so `--strict` still reports
    the deprecation (as a warning); otherwise the strict schema layer reports it as an error itself.
    """

    path: DocPath
    rule: str
    message: str
    hint: str | None
    severity: Severity = "warning"
    schema_accepts: bool = False


@dataclass
class Blueprint:
    """A render.yaml document ready for validation and translation.

    - `name`: the blueprint (template directory) name, or the file stem of a plain render.yaml.
    - `source`: the file a human edits (the `.j2` template, or the render.yaml itself).
    - `text`: the rendered YAML text; `parsed`: it, parsed (positions on demand).
    - `raw`: the parsed document with the tenant's overrides; `document`: its normal form.
    - `origins`: document paths whose value the tenant file set (`region`, `plan` overrides).
    - `aliases`: normal-form path -> raw path where normalisation moved a key (`runtime` -> `env`).
    - `changes`: what normalisation did, for findings. `template`: the map back to template lines.
    """

    name: str
    source: str
    text: str
    parsed: YamlDocument
    raw: Any
    document: Any
    origins: dict[DocPath, Origin] = field(default_factory=dict)
    aliases: dict[DocPath, DocPath] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    template: RenderedTemplate | None = None
    tenant: YamlDocument | None = None
    tenant_file: str | None = None

    @property
    def digest(self) -> str:
        """`sha256:<hex>` of the normal form's canonical JSON: stable across whitespace and key order."""
        canonical = json.dumps(self.document, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def raw_path(self, path: Iterable[PathPart]) -> DocPath:
        """The raw-document path of a normal-form path (follows keys normalisation renamed or moved)."""
        path = tuple(path)
        for length in range(len(path), 0, -1):
            target = self.aliases.get(path[:length])
            if target is not None:
                return (*target, *path[length:])
        return path

    def locate(self, path: Iterable[PathPart], *, at_value: bool = True, raw: bool = False
               ) -> tuple[str, int | None, int | None, str | None]:
        """`(file, line, column, note)` of the node at `path` in the file to edit.

        `path` is a normal-form path (a `raw` one with `raw=True`). `note` names the tenant key when the
        value came from the tenant file, else None.
        """
        path = tuple(path)
        origin = self.origins.get(path)
        if origin is not None:
            line, column = origin.position()
            return origin.file, line, column, f"set by `{origin.label}` in the tenant file"
        raw_path = path if raw else self.raw_path(path)
        line, column = self.parsed.value_position(raw_path) if at_value else self.parsed.position(raw_path)
        if self.template is None:
            return self.source, line, column, None
        where = self.template.locate(line, column)
        if where is None:
            return self.source, None, None, None
        if where.tenant_key is not None and self.tenant is not None and self.tenant_file is not None:
            tline, tcolumn = self.tenant.value_position(where.tenant_key)
            label = yamlio.format_path(where.tenant_key)
            return self.tenant_file, tline, tcolumn, (
                f"the value comes from `{label}` in the tenant file, used at {self.source}:{where.line}")
        return self.source, where.line, where.column, None

    def finding(self, path: Iterable[PathPart], layer: Layer, rule: str, message: str,
                hint: str | None = None, *, at_value: bool = True, severity: Severity = "error",
                raw: bool = False) -> Finding:
        """A finding about the node at `path` (normal form; raw with `raw=True`), positioned where the
        user fixes it."""
        path = tuple(path)
        file, line, column, note = self.locate(path, at_value=at_value, raw=raw)
        if note:
            message = f"{message} ({note})"
        return Finding(file=file, line=line, column=column, path=yamlio.format_path(path), layer=layer,
                       rule=rule, message=message, hint=hint, severity=severity)
