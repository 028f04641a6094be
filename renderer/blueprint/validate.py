"""Validating a rendered blueprint: Render's official schema first, then our semantic rules.

Every problem is reported at once as a `Finding` positioned in the file a human edits: the template (or
plain render.yaml) line, or the tenant file's key when the value came from the tenant.

Layers:
- `schema`: Render's Blueprint JSON Schema (located by `renderer.refdata`). Errors inside the schema's
  `anyOf` of service kinds come from the branch the item meant, chosen by its `type` and `runtime`.
- `semantic`: our rules (`docs/validation.md` lists them with their sources).
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import jsonschema
import referencing
from jsonschema.exceptions import ValidationError

from renderer import yamlio
from renderer.blueprint.model import KEY_VALUE_TYPES, Blueprint, resource_lists
from renderer.errors import Finding, Layer
from renderer.yamlio import PathPart

SCHEMA_ID_FALLBACK = "https://render.com/schema/render.yaml.json"


class SchemaValidator:
    """Render's Blueprint schema compiled once, plus one compiled validator per service-kind branch."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.schema_id = str(schema.get("$id") or SCHEMA_ID_FALLBACK)
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        resource = referencing.Resource.from_contents(schema, default_specification=referencing.jsonschema.DRAFT202012)
        self._registry: referencing.Registry[Any] = referencing.Registry().with_resource(self.schema_id, resource)
        self._cls = cls
        self.root = cls(schema, registry=self._registry)
        self._branches: dict[str, Any] = {}

    def definition(self, name: str) -> dict[str, Any]:
        value = self.schema.get("definitions", {}).get(name, {})
        return value if isinstance(value, dict) else {}

    def branch(self, name: str) -> Any:
        if name not in self._branches:
            self._branches[name] = self._cls(
                {"$ref": f"{self.schema_id}#/definitions/{name}"}, registry=self._registry
            )
        return self._branches[name]


@lru_cache(maxsize=4)
def _compiled(schema_json: str) -> SchemaValidator:
    import json

    return SchemaValidator(json.loads(schema_json))


def compile_schema(schema: dict[str, Any]) -> SchemaValidator:
    """A compiled validator for `schema`, cached so repeated runs compile it once."""
    import json

    return _compiled(json.dumps(schema, sort_keys=True))


def service_branch(item: Any) -> str | None:
    """The Blueprint schema definition a `services[]` item means, from its `type` and `runtime`."""
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    runtime = item.get("runtime", item.get("env"))
    if kind in KEY_VALUE_TYPES:
        return "redisServer"
    if kind == "cron":
        return "cronService"
    if kind == "web" and runtime == "static":
        return "staticService"
    if kind in ("web", "worker", "pserv"):
        return "serverService"
    return None


class _Positioner:
    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    def finding(
        self, path: Iterable[PathPart], layer: Layer, rule: str, message: str, hint: str | None = None,
        *, at_value: bool = True, severity: str = "error",
    ) -> Finding:
        path_t = tuple(path)
        origin = self.blueprint.origins.get(path_t)
        if origin is not None:
            file, line, column = origin.file, origin.line, origin.column
            message = f"{message} (value set by `{origin.key}` in the tenant file)"
        else:
            file = self.blueprint.source
            locate = yamlio.value_position if at_value else yamlio.position
            line, column = locate(self.blueprint.document, path_t)
        return Finding(file=file, line=line, column=column, path=yamlio.format_path(path_t), layer=layer,
                       rule=rule, message=message, hint=hint,
                       severity="warning" if severity == "warning" else "error")


def _schema_findings(
    validator: SchemaValidator, instance: Any, errors: Iterable[ValidationError],
    pos: _Positioner, base: tuple[PathPart, ...] = (),
) -> Iterator[Finding]:
    for error in errors:
        path = (*base, *error.absolute_path)
        if error.validator == "anyOf" and len(path) >= 2 and path[-2] == "services":
            item = error.instance
            branch = service_branch(item)
            if branch is None:
                kind = item.get("type") if isinstance(item, dict) else None
                allowed = ["web", "worker", "pserv", "cron", "keyvalue", "redis"]
                close = difflib.get_close_matches(str(kind), allowed, n=1)
                yield pos.finding((*path, "type") if isinstance(item, dict) else path, "schema",
                                  "service-type", f"unknown service type {kind!r}",
                                  f"did you mean `{close[0]}`?" if close else "one of " + ", ".join(allowed))
                continue
            sub = validator.branch(branch)
            yield from _schema_findings(validator, item, sub.iter_errors(item), pos, path)
            continue
        if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
            if error.validator == "unevaluatedProperties" and not path:
                allowed = ["services", "databases", "envVarGroups", "previews", "projects", "ungrouped", "version"]
            known = set(allowed)
            for key in error.instance:
                if key in known:
                    continue
                close = difflib.get_close_matches(str(key), allowed, n=1)
                yield pos.finding((*path, key), "schema", "unknown-key", f"unknown key `{key}`",
                                  f"did you mean `{close[0]}`?" if close else None, at_value=False)
            continue
        if error.validator == "required":
            yield pos.finding(path, "schema", "required", error.message, at_value=False)
            continue
        hint = None
        if error.validator == "enum" and isinstance(error.validator_value, list):
            close = difflib.get_close_matches(str(error.instance), [str(v) for v in error.validator_value], n=1)
            hint = f"did you mean `{close[0]}`?" if close else None
        yield pos.finding(path, "schema", str(error.validator), error.message, hint)


def schema_findings(blueprint: Blueprint, validator: SchemaValidator) -> list[Finding]:
    """Findings of Render's official schema for `blueprint` (layer `schema`)."""
    plain = yamlio.to_plain(blueprint.document)
    pos = _Positioner(blueprint)
    return list(_schema_findings(validator, plain, validator.root.iter_errors(plain), pos))


def semantic_findings(blueprint: Blueprint) -> list[Finding]:
    """Our rules on references and names (layer `semantic`)."""
    pos = _Positioner(blueprint)
    findings: list[Finding] = []
    databases: set[str] = set()
    services: dict[str, set[str]] = defaultdict(set)
    seen: dict[tuple[str, str], tuple[PathPart, ...]] = {}
    env_items: list[tuple[tuple[PathPart, ...], Any]] = []
    for scope, key, items in resource_lists(blueprint.document):
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                continue
            path = (*scope, key, i)
            name = item["name"]
            kind = key if key != "services" else str(item.get("type"))
            if key == "databases":
                databases.add(name)
            elif key == "services":
                services[name].add(str(item.get("type")))
            if (kind, name) in seen:
                findings.append(pos.finding(
                    (*path, "name"), "semantic", "unique-name",
                    f"name {name!r} is already used by {yamlio.format_path(seen[(kind, name)])}",
                    "give each resource of a kind its own name"))
            else:
                seen[(kind, name)] = path
            for j, env in enumerate(item.get("envVars") or []):
                env_items.append(((*path, "envVars", j), env))
    for path, env in env_items:
        if not isinstance(env, dict):
            continue
        ref = env.get("fromDatabase")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"] not in databases:
            close = difflib.get_close_matches(ref["name"], sorted(databases), n=1)
            findings.append(pos.finding(
                (*path, "fromDatabase", "name"), "semantic", "from-database-ref",
                f"fromDatabase names {ref['name']!r}, which is not a database in this blueprint",
                f"did you mean `{close[0]}`?" if close else "declare it under `databases:`"))
        ref = env.get("fromService")
        if isinstance(ref, dict) and isinstance(ref.get("name"), str):
            types = services.get(ref["name"])
            if not types:
                findings.append(pos.finding(
                    (*path, "fromService", "name"), "semantic", "from-service-ref",
                    f"fromService names {ref['name']!r}, which is not a service in this blueprint",
                    "declare it under `services:` or fix the name"))
            elif ref.get("type") not in types:
                findings.append(pos.finding(
                    (*path, "fromService", "type"), "semantic", "from-service-type",
                    f"fromService says type {ref.get('type')!r} but {ref['name']!r} is {sorted(types)[0]!r}",
                    f"set `type: {sorted(types)[0]}`"))
    return findings


def validate(blueprint: Blueprint, schema: SchemaValidator | None) -> list[Finding]:
    """All findings for `blueprint`: schema layer (skipped when `schema` is None) then semantic layer."""
    findings = schema_findings(blueprint, schema) if schema is not None else []
    return findings + semantic_findings(blueprint)
