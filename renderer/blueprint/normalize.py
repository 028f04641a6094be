"""Deprecated Blueprint forms Render still deploys, rewritten to the normal form everything else reads.

`normalize(raw, source_text)` returns a normalised deep copy, the raw path of every key it moved and a
`Change` per rewrite. The forms (Render's Blueprint spec and render.yaml.schema.json):

| raw form                                   | normal form                               | schema accepts raw? |
|--------------------------------------------|-------------------------------------------|---------------------|
| service `env: docker`                      | `runtime: docker`                         | no                  |
| both `env` and `runtime`, disagreeing      | an error (`env-runtime-conflict`)         | no                  |
| env var `value: true` (a boolean)          | `value: "true"` (the text as written)     | no                  |
| env var `value: 3.10` (a number)           | `value: "3.10"` (the text as written)     | yes (not reported)  |
| `postgresMajorVersion: 16` (a number)      | `postgresMajorVersion: "16"`              | no                  |
| `type: redis` (service, `fromService`)     | `type: keyvalue`                          | yes                 |
| root `previewsEnabled`, `previewsExpireAfterDays` | `previews.generation`, `previews.expireAfterDays` | yes      |
| service `pullRequestPreviewsEnabled`, `previewPlan` | `previews.generation`, `previews.plan` | yes             |

Render reads an environment variable's value as text, so numbers keep the characters that were written
(`3.10` stays `3.10`, never `3.1`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from renderer.blueprint.model import (
    Change,
    DocPath,
    resource_kind,
    resource_lists,
)
from renderer.kind import DATASTORE_TYPES, Kind

SourceText = Callable[[DocPath], str | None]


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


def _rename(item: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """`item` with key `old` renamed to `new`, keeping the key's place."""
    return {(new if k == old else k): v for k, v in item.items()}


def _scalar_text(value: Any, path: DocPath, source_text: SourceText) -> str:
    """The text of a number or boolean as written in the file (`3.10`, `True`), else its usual form."""
    written = source_text(path)
    if written is not None:
        return written
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Normalizer:
    def __init__(self, source_text: SourceText) -> None:
        self.source_text = source_text
        self.aliases: dict[DocPath, DocPath] = {}
        self.changes: list[Change] = []

    def change(self, path: DocPath, rule: str, message: str, hint: str | None, *,
               severity: str = "warning", schema_accepts: bool = False) -> None:
        self.changes.append(Change(path, rule, message, hint, "error" if severity == "error" else "warning",
                                   schema_accepts))

    def move(self, scope: dict[str, Any], path: DocPath, old: str, new: tuple[str, str], value: Any) -> None:
        """Move `scope[old]` to `scope[new[0]][new[1]]` unless the new place is already set."""
        target = scope.get(new[0])
        if target is not None and not isinstance(target, dict):
            return  # the schema layer reports the malformed `previews`; keep the legacy key as written
        del scope[old]
        if target is None:
            scope[new[0]] = target = {}
        if new[1] in target:
            self.change((*path, new[0], new[1]), "deprecated-preview-key",
                        f"`{old}` is deprecated and ignored because `{new[0]}.{new[1]}` is set",
                        f"delete `{old}`", schema_accepts=True)
            return
        target[new[1]] = value
        self.aliases[(*path, new[0], new[1])] = (*path, old)
        self.change((*path, new[0], new[1]), "deprecated-preview-key",
                    f"`{old}` is deprecated; renderer reads it as `{new[0]}.{new[1]}: {_show(value)}`",
                    f"write `{new[0]}:` with `{new[1]}: {_show(value)}` instead of `{old}`",
                    schema_accepts=True)

    def env_vars(self, items: Any, path: DocPath) -> None:
        if not isinstance(items, list):
            return
        for j, env in enumerate(items):
            if not isinstance(env, dict):
                continue
            env_path = (*path, "envVars", j)
            for key in ("value", "previewValue"):
                value = env.get(key)
                if isinstance(value, bool):
                    text = _scalar_text(value, (*env_path, key), self.source_text)
                    env[key] = text
                    self.change((*env_path, key), "env-value-boolean",
                                f"env var `{env.get('key')}` has the boolean {text} as its {key}; "
                                f"renderer reads it as the string \"{text}\"",
                                f'quote it: `{key}: "{text}"`')
                elif isinstance(value, int | float):
                    env[key] = _scalar_text(value, (*env_path, key), self.source_text)
            ref = env.get("fromService")
            if isinstance(ref, dict) and ref.get("type") == "redis":
                ref["type"] = "keyvalue"
                self.change((*env_path, "fromService", "type"), "deprecated-redis",
                            "`type: redis` is the deprecated name of `type: keyvalue`", "write `type: keyvalue`",
                            schema_accepts=True)

    def service(self, scope_items: list[Any], i: int, path: DocPath) -> None:
        item = scope_items[i]
        if "env" in item:
            if "runtime" in item:
                if item["env"] != item["runtime"]:
                    self.change((*path, "runtime"), "env-runtime-conflict",
                                f"`env: {item['env']}` and `runtime: {item['runtime']}` disagree",
                                "delete `env:` (the deprecated name of `runtime:`) and keep the runtime you mean",
                                severity="error")
                else:
                    self.change((*path, "runtime"), "deprecated-env",
                                "`env:` is the deprecated name of `runtime:` and repeats it", "delete `env:`")
                item = {k: v for k, v in item.items() if k != "env"}
            else:
                self.change((*path, "runtime"), "deprecated-env",
                            f"`env: {item['env']}` is deprecated; renderer reads it as `runtime: {item['env']}`",
                            f"write `runtime: {item['env']}`")
                item = _rename(item, "env", "runtime")
                self.aliases[(*path, "runtime")] = (*path, "env")
            scope_items[i] = item
        if item.get("type") == "redis":
            item["type"] = "keyvalue"
            self.change((*path, "type"), "deprecated-redis",
                        "`type: redis` is the deprecated name of `type: keyvalue`", "write `type: keyvalue`",
                        schema_accepts=True)
        if item.get("type") not in DATASTORE_TYPES:
            if isinstance(item.get("pullRequestPreviewsEnabled"), bool):
                enabled = item["pullRequestPreviewsEnabled"]
                self.move(item, path, "pullRequestPreviewsEnabled", ("previews", "generation"),
                          "automatic" if enabled else "off")
            if "previewPlan" in item and resource_kind("services", item) is not Kind.STATIC_SITE:
                self.move(item, path, "previewPlan", ("previews", "plan"), item["previewPlan"])
        self.env_vars(item.get("envVars"), path)

    def database(self, item: dict[str, Any], path: DocPath) -> None:
        version = item.get("postgresMajorVersion")
        if isinstance(version, int | float) and not isinstance(version, bool):
            text = _scalar_text(version, (*path, "postgresMajorVersion"), self.source_text)
            item["postgresMajorVersion"] = text
            self.change((*path, "postgresMajorVersion"), "postgres-version-number",
                        f"`postgresMajorVersion` is the number {text}; Render's schema wants the string \"{text}\"",
                        f'quote it: `postgresMajorVersion: "{text}"`')

    def root(self, document: dict[str, Any]) -> None:
        if isinstance(document.get("previewsEnabled"), bool):
            enabled = document["previewsEnabled"]
            self.move(document, (), "previewsEnabled", ("previews", "generation"), "automatic" if enabled else "off")
        if "previewsExpireAfterDays" in document:
            self.move(document, (), "previewsExpireAfterDays", ("previews", "expireAfterDays"),
                      document["previewsExpireAfterDays"])


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def normalize(raw: Any, source_text: SourceText) -> tuple[Any, dict[DocPath, DocPath], list[Change]]:
    """The normal form of `raw` (a deep copy), the raw path of each moved key, and what was changed.

    `source_text(path)` gives the text as written of the number or boolean at a raw path (see
    `YamlDocument.source_text`). `raw` is left untouched.
    """
    document = _copy(raw)
    normalizer = _Normalizer(source_text)
    if isinstance(document, dict):
        normalizer.root(document)
    for scope, key, items in resource_lists(document):
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            path = (*scope, key, i)
            if key == "services":
                normalizer.service(items, i, path)
            elif key == "databases":
                normalizer.database(item, path)
                normalizer.env_vars(item.get("envVars"), path)
            else:
                normalizer.env_vars(item.get("envVars"), path)
    return document, normalizer.aliases, normalizer.changes
