"""The schema layer: Render's official Blueprint JSON Schema, with errors a person can act on.

The schema (draft 2020-12, located by `renderer.refdata`, never shipped) is compiled once per process
with jsonschema-rs. A document is checked with one `is_valid` call; only an invalid one has its errors
collected and translated:

- errors inside an `anyOf`/`oneOf` come from the branch the document meant: a `services[]` item by its
  `type` and `runtime` (`redisServer`, `cronService`, `serverService`, `staticService`), an `envVars[]`
  item by its source key (`fromDatabase`, `fromService`, `fromGroup`, else a plain value), so a web
  service never hears "'web' is not one of ['keyvalue', 'redis']";
- an unknown key gets "did you mean ...?" from the keys the schema allows at that place;
- the verdict is exactly the schema's: an invalid document always has at least one schema-layer error.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema_rs

from renderer.blueprint.model import Blueprint, DocPath, runtime_of
from renderer.errors import Finding
from renderer.kind import DATASTORE_TYPES

_DATABASE_TYPES = frozenset({"db", "database", "postgres", "postgresql", "pg", "dpg"})
_MAX_LISTED = 10
# The schema's service definitions and what a person calls them.
_SERVICE_DEFINITIONS = {
    "serverService": "web services, private services and background workers",
    "cronService": "cron jobs",
    "staticService": "static sites",
    "redisServer": "Key Value instances",
}
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


@dataclass(frozen=True)
class _Raw:
    """A schema problem before positioning: where, which rule, what, how to fix, key or value position."""

    path: DocPath
    rule: str
    message: str
    hint: str | None = None
    at_value: bool = True


class SchemaValidator:
    """Render's Blueprint schema, compiled once. `schema` is the parsed JSON Schema document."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = jsonschema_rs.validator_for(schema)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._validator.is_valid(instance))

    def errors(self, instance: Any) -> list[jsonschema_rs.ValidationError]:
        return list(self._validator.iter_errors(instance))

    def at(self, schema_path: Sequence[str | int]) -> Any:
        """The part of the schema document at a keyword location (`["definitions", "plan"]`)."""
        node: Any = self.schema
        for part in schema_path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def properties(self, node: Any, _seen: frozenset[str] = frozenset()) -> list[str]:
        """Property names a subschema declares, following `$ref` and `allOf` (for `unevaluatedProperties`)."""
        names: list[str] = []
        if not isinstance(node, dict):
            return names
        names += list(node.get("properties", {}))
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in _seen:
            names += self.properties(self.at(ref[2:].split("/")), _seen | {ref})
        for sub in node.get("allOf", []):
            names += self.properties(sub, _seen)
        return names


@lru_cache(maxsize=4)
def _compiled(schema_json: str) -> SchemaValidator:
    return SchemaValidator(json.loads(schema_json))


def compile_schema(schema: dict[str, Any]) -> SchemaValidator:
    """A compiled validator for `schema`, cached: the same schema compiles once per process."""
    return _compiled(json.dumps(schema, sort_keys=True))


def service_branch(item: Any) -> str | None:
    """The Blueprint schema definition a `services[]` item means, from its `type` and `runtime`."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind in DATASTORE_TYPES:
        return "redisServer"
    if kind == "cron":
        return "cronService"
    if kind == "web" and (runtime_of(item) == "static" or ("runtime" not in item and "staticPublishPath" in item)):
        return "staticService"
    if kind in ("web", "worker", "pserv"):
        return "serverService"
    return None


def env_var_branch(item: Any) -> str:
    """The definition an `envVars[]` item means, from the source key it uses."""
    if isinstance(item, dict):
        for key, definition in (("fromDatabase", "envVarFromDatabase"), ("fromService", "envVarFromService"),
                                ("fromGroup", "envVarFromGroup")):
            if key in item:
                return definition
    return "envVarFromKeyValue"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _listing(values: list[Any]) -> str:
    shown = [str(v) for v in values[:_MAX_LISTED]]
    more = f" and {len(values) - _MAX_LISTED} more" if len(values) > _MAX_LISTED else ""
    return ", ".join(shown) + more


def _did_you_mean(value: Any, options: list[str]) -> str | None:
    text = str(value)
    lowered = {o.lower(): o for o in options}
    if text.lower() in lowered:
        return f"did you mean `{lowered[text.lower()]}`? (values are case-sensitive)"
    close = difflib.get_close_matches(text, options, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


class _Translator:
    def __init__(self, validator: SchemaValidator) -> None:
        self.validator = validator
        self.keys_of = {name: set(validator.properties(validator.at(["definitions", name])))
                        for name in _SERVICE_DEFINITIONS}
        self.service_keys = set().union(*self.keys_of.values()) | {"env"}

    def _branch_names(self, error: jsonschema_rs.ValidationError) -> list[str | None]:
        branches = self.validator.at(list(error.schema_path))
        names: list[str | None] = []
        for branch in branches if isinstance(branches, list) else []:
            ref = branch.get("$ref") if isinstance(branch, dict) else None
            names.append(ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None)
        return names

    def _choice(self, error: jsonschema_rs.ValidationError, path: DocPath) -> Iterator[_Raw]:
        context: list[list[jsonschema_rs.ValidationError]] = list(getattr(error.kind, "context", []))
        instance = error.instance
        names = self._branch_names(error)
        wanted: str | None = None
        if len(path) >= 2 and path[-2] == "services" and isinstance(path[-1], int):
            wanted = service_branch(instance)
            if wanted is None:
                yield self._unknown_service_type(instance, path)
                return
        elif len(path) >= 2 and path[-2] == "envVars" and isinstance(path[-1], int):
            wanted = env_var_branch(instance)
        elif path and path[-1] in ("value", "previewValue"):
            yield _Raw(path, "env-value-type",
                       f"an env var {path[-1]} must be a string or a number, not {_json_type(instance)}",
                       f'quote it: `{path[-1]}: "{_show(instance)}"`')
            return
        if wanted in names and names.index(wanted) < len(context):
            branch = context[names.index(wanted)]
        elif context:
            branch = min(context, key=len)  # the branch that came closest
        else:
            branch = []
        if not branch:
            yield _Raw(path, error.kind.name, error.message)
            return
        for sub in branch:
            yield from self.translate(sub)

    def _unknown_service_type(self, item: Any, path: DocPath) -> _Raw:
        if not isinstance(item, dict):
            return _Raw(path, "type", f"a service must be a mapping, not {_json_type(item)}")
        if "type" not in item:
            return _Raw(path, "required", "required key `type` is missing",
                        "add `type:` (web, worker, pserv, cron or keyvalue)", at_value=False)
        kind = item.get("type")
        allowed = ["web", "worker", "pserv", "cron", "keyvalue"]
        if str(kind).lower() in _DATABASE_TYPES:
            hint = "a Postgres database belongs under `databases:` (without `type:`), not under `services:`"
        else:
            hint = _did_you_mean(kind, allowed) or "one of " + ", ".join(allowed)
        return _Raw((*path, "type"), "service-type", f"unknown service type `{_show(kind)}`", hint)

    def _key_hint(self, path: DocPath, key: str, allowed: list[str], definition: str | None) -> str | None:
        if not path and key in self.service_keys:
            return f"`{key}` belongs to a service: move it into an entry under `services:`"
        if key == "env" and "runtime" in allowed:
            return "`env:` is the deprecated name of `runtime:`; write `runtime:`"
        if definition == "database" and (key == "type" or key in self.keys_of["redisServer"]):
            return ("Postgres is the only kind under `databases:`; a Key Value belongs under `services:` with "
                    "`type: keyvalue`")
        if key == "key" and definition == "envVarFromGroup":
            return "`fromGroup:` brings in every variable of the group and takes no `key:`; write `- fromGroup: NAME`"
        if definition in _SERVICE_DEFINITIONS:
            owners = [label for name, label in _SERVICE_DEFINITIONS.items() if key in self.keys_of[name]]
            if owners:
                return (f"`{key}` is not a setting of {_SERVICE_DEFINITIONS[definition]} (it is one of "
                        f"{' and '.join(owners)}); delete it")
        close = difflib.get_close_matches(str(key), allowed, n=1)
        if close:
            return f"did you mean `{close[0]}`?"
        return "allowed keys here: " + _listing(sorted(allowed)) if allowed else None

    def _unknown_keys(self, path: DocPath, keys: list[str], allowed: list[str],
                      schema_path: list[str | int]) -> Iterator[_Raw]:
        here = schema_path[:-1]
        definition = str(here[1]) if len(here) == 2 and here[0] == "definitions" else None
        for key in keys:
            yield _Raw((*path, key), "unknown-key", f"unknown key `{key}`",
                       self._key_hint(path, key, allowed, definition), at_value=False)

    def _required_hint(self, key: str, schema_path: list[str | int]) -> str:
        if key == "ipAllowList":
            return ("add `ipAllowList: []` to accept connections from your Render services only, or list the "
                    "`source:` CIDR blocks allowed to connect from outside")
        prop = self.validator.at([*schema_path[:-1], "properties", key])
        ref = prop.get("$ref") if isinstance(prop, dict) else None
        if isinstance(ref, str) and ref.startswith("#/"):
            prop = self.validator.at(ref[2:].split("/"))
        options = prop.get("enum") if isinstance(prop, dict) else None
        if isinstance(options, list):
            return f"add `{key}:` (one of {_listing([str(o) for o in options])})"
        return f"add `{key}:`"

    def translate(self, error: jsonschema_rs.ValidationError) -> Iterator[_Raw]:
        kind = error.kind
        name = type(kind).__name__
        path: DocPath = tuple(error.instance_path)
        if name in ("AnyOf", "OneOfNotValid"):
            yield from self._choice(error, path)
        elif name == "AdditionalProperties":
            allowed = self.validator.properties(self.validator.at(list(error.schema_path)[:-1]))
            yield from self._unknown_keys(path, list(getattr(kind, "unexpected", [])), allowed,
                                          list(error.schema_path))
        elif name == "UnevaluatedProperties":
            allowed = self.validator.properties(self.validator.at(list(error.schema_path)[:-1]))
            unknown = [k for k in getattr(kind, "unexpected", []) if k not in allowed]
            yield from self._unknown_keys(path, unknown, allowed, list(error.schema_path))  # known: failed elsewhere
        elif name == "Required":
            key = str(getattr(kind, "property", ""))
            yield _Raw(path, "required", f"required key `{key}` is missing",
                       self._required_hint(key, list(error.schema_path)), at_value=False)
        elif name == "Enum":
            options = [str(o) for o in getattr(kind, "options", [])]
            yield _Raw(path, "enum", f"`{_show(error.instance)}` is not one of: {_listing(options)}",
                       _did_you_mean(error.instance, options))
        elif name == "Constant":
            expected = getattr(kind, "expected_value", None)
            yield _Raw(path, "const", f"must be `{_show(expected)}`, not `{_show(error.instance)}`")
        elif name == "Type":
            names = [str(t) for t in getattr(kind, "types", [])]
            types = " or ".join(_TYPE_WORDS.get(t, t) for t in names)
            scalar = not isinstance(error.instance, dict | list) and error.instance is not None
            hint = f'quote it: `"{_show(error.instance)}"`' if "string" in names and scalar else None
            got = f"{_json_type(error.instance)} `{_show(error.instance)}`" if scalar else _json_type(error.instance)
            yield _Raw(path, "type", f"must be {types}, not {got}", hint)
        else:
            yield _Raw(path, kind.name, error.message if len(error.message) <= 200 else error.message[:197] + "...")


def _deduplicate(raws: list[_Raw]) -> list[_Raw]:
    typed = {r.path for r in raws if r.rule == "type"}
    seen: set[tuple[DocPath, str, str]] = set()
    out: list[_Raw] = []
    for raw in raws:
        if raw.rule in ("enum", "const") and raw.path in typed:
            continue  # "must be a string" already says it
        key = (raw.path, raw.rule, raw.message)
        if key not in seen:
            seen.add(key)
            out.append(raw)
    return out


def schema_findings(blueprint: Blueprint, validator: SchemaValidator, *, strict: bool = False) -> list[Finding]:
    """Findings of Render's official schema (layer `schema`): on `blueprint.raw` as parsed with `strict`
    (the schema's own verdict), else on the normal form `blueprint.document`.
    """
    instance = blueprint.raw if strict else blueprint.document
    if validator.is_valid(instance):
        return []
    errors = validator.errors(instance)
    translator = _Translator(validator)
    raws = _deduplicate([raw for error in errors for raw in translator.translate(error)])
    if not raws:  # the schema said no; say so even if no error could be translated
        raws = [_Raw(tuple(e.instance_path), e.kind.name, e.message) for e in errors] or [
            _Raw((), "schema", "Render's Blueprint schema rejects this document")]
    return [blueprint.finding(r.path, "schema", r.rule, r.message, r.hint, at_value=r.at_value, raw=strict)
            for r in raws]
