"""The rendered blueprint: a parsed render.yaml document plus where its parts came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from renderer import yamlio
from renderer.yamlio import PathPart

# Blueprint service `type` values that are datastores rather than services
# (render.yaml.schema.json: definitions.redisServer.type).
KEY_VALUE_TYPES = frozenset({"keyvalue", "redis"})


@dataclass(frozen=True)
class Origin:
    """Where a value in a rendered blueprint came from when it was not the template: a tenant file key."""

    file: str
    line: int | None
    column: int | None
    key: str


@dataclass(frozen=True)
class Blueprint:
    """A render.yaml document ready for validation and translation.

    `document` is the ruamel document (positions refer to `source`); `origins` maps document paths whose
    value was set from the tenant file to that file's key, so findings can point there instead.
    """

    name: str
    source: str
    text: str
    document: Any
    origins: dict[tuple[PathPart, ...], Origin] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """`sha256:<hex>` of the document's canonical JSON: stable across whitespace and key order."""
        canonical = json.dumps(yamlio.to_plain(self.document), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def resource_lists(document: Any) -> Iterator[tuple[tuple[PathPart, ...], str, list[Any]]]:
    """Yield `(path, key, items)` for every `services`, `databases` and `envVarGroups` list.

    Covers the document root, `ungrouped`, and `projects[i].environments[j]`
    (render.yaml.schema.json: the root `allOf`, definitions.project, definitions.environment).
    """
    if not isinstance(document, dict):
        return
    scopes: list[tuple[tuple[PathPart, ...], Any]] = [((), document)]
    if isinstance(document.get("ungrouped"), dict):
        scopes.append((("ungrouped",), document["ungrouped"]))
    projects = document.get("projects")
    if isinstance(projects, list):
        for i, project in enumerate(projects):
            envs = project.get("environments") if isinstance(project, dict) else None
            if isinstance(envs, list):
                for j, env in enumerate(envs):
                    if isinstance(env, dict):
                        scopes.append((("projects", i, "environments", j), env))
    for path, scope in scopes:
        for key in ("services", "databases", "envVarGroups"):
            items = scope.get(key)
            if isinstance(items, list):
                yield path, key, items
