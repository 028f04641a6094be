"""Render's API contract (openapi.json), compiled for checking requests and responses.

Used by the simulator (to refuse request bodies Render would refuse) and by the test suite (to check
every request and response that crosses the wire). The client does not use it: it and the simulator
share nothing but this published description.

The `oneOf` rule, in one place: Render's description has `oneOf`s without a discriminator whose
branches overlap (`serviceDetails`: a web service's details also satisfy the private service and
background worker branches; `envSpecificDetails`: docker vs native), so a real response matches several
branches and plain `oneOf` would reject it. Before validating, `narrow` replaces each such `oneOf` by the
branch the instance means:

- `serviceDetails` by the service `type` next to it (`web_service` -> `webServiceDetails[POST|PATCH]`),
  or by `context["serviceType"]` when the body has no `type` (a PATCH);
- `envSpecificDetails` by the `runtime` (or deprecated `env`) next to it: `docker` and `image` select
  `dockerDetails*`, every other runtime `nativeEnvironmentDetails*`.

When nothing selects a branch (a PATCH without context, a body without `runtime`), that `oneOf` is
checked as `anyOf`: the instance must match at least one branch.

Strict mode (`strict=True`, what the test suite uses) also reports object properties the description
does not document. Render ignores unknown fields, so without it a misspelt field in a request body would
pass silently. `UNDOCUMENTED_ALLOWED` lists the few fields Render's own clients use that the published
description has not caught up with. Query parameters are checked by `validate_query`: names the
operation documents, values of the documented type, enum and range.

Where Render's recorded answers (`../shared/render/recorded/`, real traffic) disagree with the description,
the recording wins: `RECORDED_EXCEPTIONS`, in one place, patches the description before it is compiled,
each exception with the cassette that shows it. A `null` request or response body is checked as JSON
`null` (valid where the schema is nullable).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from openapi_schema_validator import OAS30Validator

SERVICE_DETAILS = {
    "web_service": "webServiceDetails",
    "private_service": "privateServiceDetails",
    "background_worker": "backgroundWorkerDetails",
    "cron_job": "cronJobDetails",
    "static_site": "staticSiteDetails",
}
DOCKER_RUNTIMES = frozenset({"docker", "image"})
_SUFFIXES = ("", "POST", "PATCH")

# Fields the published description lags on: accepted in strict mode on the named component schemas
# (none at present; `autoDeployTrigger` is a recorded exception below, with its cassette).
UNDOCUMENTED_ALLOWED: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class RecordedException:
    """Render answered differently from its description: `change` applies at `pointer` (a JSON pointer
    into openapi.json, without the leading `#/`). Changes: `nullable`, `optional:<property>`,
    `enum:<value>` (one more allowed value), `status:<documented>-><recorded>` (a response status
    Render answers besides the documented one, with the same body), `property:<name>=<pointer>` (one more
    property, whose schema is the one at that pointer). `cassette` names the recording."""

    pointer: str
    change: str
    cassette: str
    what: str


_SVC = "components/schemas/servicePOST/properties"
_TRIGGER = "components/schemas/workflowWithCursor/properties/workflow/properties/autoDeployTrigger"
RECORDED_EXCEPTIONS: tuple[RecordedException, ...] = (
    # Render replaced `autoDeploy` (yes/no) by `autoDeployTrigger` (commit / checksPass / off) on services;
    # the description has it only on workflows.
    *(RecordedException(f"components/schemas/{schema}/properties", f"property:autoDeployTrigger={_TRIGGER}",
                        "privateservice_resource__git",
                        "services are answered with `autoDeployTrigger` (`commit`; `off` after a PATCH sending "
                        "`autoDeployTrigger: off`, which also answers `autoDeploy: no`), and POST and PATCH "
                        "/services take it")
      for schema in ("service", "servicePOST", "servicePATCH")),
    RecordedException(f"{_SVC}/envVars", "nullable", "webservice_resource__web_service_image",
                      "POST /services with `envVars: null` (201); PUT /services/{id}/env-vars with a `null` body "
                      "(200 `[]`: every variable removed; its schema is this one)"),
    RecordedException(f"{_SVC}/secretFiles", "nullable", "webservice_resource__web_service_image",
                      "POST /services with `secretFiles: null` (201)"),
    RecordedException("paths/~1services~1{serviceId}~1secret-files/put/requestBody/content/application~1json/schema",
                      "nullable", "webservice_resource__web_service_image",
                      "PUT /services/{id}/secret-files with a `null` body (200 `[]`)"),
    RecordedException("components/schemas/buildFilter/properties/paths", "nullable", "privateservice_resource__docker",
                      "`buildFilter: {paths: null, ignoredPaths: null}` accepted on POST and PATCH /services"),
    RecordedException("components/schemas/buildFilter/properties/ignoredPaths", "nullable",
                      "privateservice_resource__docker", "as `paths`"),
    RecordedException("components/schemas/readReplicasInput", "nullable", "postgres_resource__postgres",
                      "POST /postgres with `readReplicas: null` (201)"),
    RecordedException("components/schemas/registryCredentialRegistry", "enum:", "cronjob_resource__cron_job",
                      "an empty `registryCredential` (`registry: \"\"`) in a cron job's envSpecificDetails (201)"),
    RecordedException("components/schemas/keyValue/properties/ipAllowList", "nullable", "keyvalue_resource__keyvalue",
                      "an empty IP allow list is answered `null`, even right after `[]` was sent"),
    RecordedException("components/schemas/keyValueDetail/properties/ipAllowList", "nullable",
                      "keyvalue_resource__keyvalue", "as keyValue"),
    RecordedException("components/schemas/postgres/properties/ipAllowList", "nullable", "postgres_resource__postgres",
                      "an empty IP allow list is answered `null`"),
    RecordedException("components/schemas/postgresDetail/properties/ipAllowList", "nullable",
                      "postgres_resource__postgres", "as postgres"),
    RecordedException("components/schemas/postgresDetail", "optional:project", "postgres_resource__postgres",
                      "GET /postgres/{id} answers without `project`"),
    RecordedException("components/schemas/deploy/properties/commit", "nullable",
                      "webservice_resource__web_service_image", "an image-backed deploy has `commit: null`"),
    RecordedException("components/schemas/deploy/properties/finishedAt", "nullable", "webservice_resource__web_service",
                      "a deploy in progress has `finishedAt: null`"),
    *(RecordedException(f"components/schemas/environment/properties/{name}", "nullable", "project_resource__project",
                        f"an environment without such resources answers `{name}: null`")
      for name in ("databasesIds", "redisIds", "serviceIds", "envGroupIds")),
    RecordedException("paths/~1environments~1{environmentId}~1resources/post/responses", "status:200->201",
                      "privateservice_resource__private_service", "adding resources to an environment answers 201"),
    RecordedException("paths/~1services~1{serviceId}~1headers/put/responses/200/content/application~1json/schema",
                      "nullable", "staticsite_resource__static_site", "an empty PUT .../headers is answered `null`"),
    RecordedException("paths/~1services~1{serviceId}~1routes/put/responses/200/content/application~1json/schema",
                      "nullable", "staticsite_resource__static_site", "an empty PUT .../routes is answered `null`"),
)


def _pointed(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def with_recorded_exceptions(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` with `RECORDED_EXCEPTIONS` applied. Raises KeyError when a pointer does
    not exist (a description that changed under them)."""
    patched = copy.deepcopy(document)
    for exception in RECORDED_EXCEPTIONS:
        node = _pointed(patched, exception.pointer)
        kind, _, arg = exception.change.partition(":")
        if kind == "nullable":
            node["nullable"] = True
        elif kind == "optional":
            node["required"] = [name for name in node.get("required", []) if name != arg]
        elif kind == "enum":
            node["enum"] = [*node["enum"], arg]
        elif kind == "status":
            documented, _, recorded = arg.partition("->")
            node[recorded] = node[documented]
        elif kind == "property":
            name, _, schema = arg.partition("=")
            node[name] = {"$ref": "#/" + schema}
    return patched


def _items(validator: Any, items: Any, instance: Any, schema: Any) -> Any:
    """`items` that also takes a list of schemas, one per item (how `narrow` gives each item its branch)."""
    if not validator.is_type(instance, "array"):
        return
    if isinstance(items, list):
        for index, (item, subschema) in enumerate(zip(instance, items, strict=False)):
            yield from validator.descend(item, subschema, path=index, schema_path=index)
    else:
        for index, item in enumerate(instance):
            yield from validator.descend(item, items, path=index)


_Validator = jsonschema.validators.extend(OAS30Validator, {"items": _items})  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: dict[str, Any]
    shared_parameters: tuple[Any, ...] = ()


class Contract:
    """Render's OpenAPI description with lookups by request and validation with `oneOf` narrowing."""

    def __init__(self, document: dict[str, Any], base_path: str = "/v1") -> None:
        document = with_recorded_exceptions(document)
        self.document = document
        self.base_path = base_path
        routes = []
        for template, item in document.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            routes.append((template.count("{"), pattern, template, item))
        self._routes = sorted(routes, key=lambda r: (r[0], r[2]))
        self._root_extra = {"components": document.get("components", {}), "paths": document.get("paths", {})}

    # Lookups
    def operation(self, method: str, path: str) -> Operation | None:
        """The operation for `method` and a concrete `path` (with or without the `/v1` prefix)."""
        if path.startswith(self.base_path + "/"):
            path = path[len(self.base_path):]
        for _, pattern, template, item in self._routes:
            if pattern.match(path) and method.lower() in item:
                return Operation(method.upper(), template, item[method.lower()],
                                 tuple(item.get("parameters", ())))
        return None

    def deref(self, node: Any) -> Any:
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 32:
            ref = str(node["$ref"])
            if not ref.startswith("#/"):
                return node
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~").replace("%7B", "{").replace("%7D", "}")
                target = target[int(part)] if isinstance(target, list) else target[part]
            node = target
            seen += 1
        return node

    def _ref_name(self, node: Any) -> str | None:
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            return str(node["$ref"]).rsplit("/", 1)[-1]
        return None

    def request_schema(self, op: Operation) -> dict[str, Any] | None:
        body = self.deref(op.spec.get("requestBody"))
        if not isinstance(body, dict):
            return None
        media = body.get("content", {}).get("application/json")
        return media.get("schema") if isinstance(media, dict) else None

    def response_spec(self, op: Operation, status: int) -> dict[str, Any] | None:
        responses = op.spec.get("responses", {})
        spec = responses.get(str(status), responses.get("default"))
        resolved = self.deref(spec)
        return resolved if isinstance(resolved, dict) else None

    # Narrowing
    def _select(self, branches: list[Any], parent: Any, context: dict[str, Any]) -> Any | None:
        names = [self._ref_name(b) or "" for b in branches]
        parent = parent if isinstance(parent, dict) else {}
        if names and all(any(n.startswith(p) for p in SERVICE_DETAILS.values()) for n in names):
            prefix = SERVICE_DETAILS.get(str(parent.get("type") or context.get("serviceType")))
            for branch, name in zip(branches, names, strict=True):
                if prefix and name.removeprefix(prefix) in _SUFFIXES:
                    return branch
            return None
        if names and all(n.startswith(("dockerDetails", "nativeEnvironmentDetails")) for n in names):
            runtime = parent.get("runtime") or parent.get("env") or context.get("runtime")
            if runtime is None:
                return None
            wanted = "dockerDetails" if runtime in DOCKER_RUNTIMES else "nativeEnvironmentDetails"
            for branch, name in zip(branches, names, strict=True):
                if name.removeprefix(wanted) in _SUFFIXES:
                    return branch
        return None

    def narrow(self, schema: Any, instance: Any, parent: Any = None, context: dict[str, Any] | None = None,
               depth: int = 0) -> Any:
        """`schema` with every overlapping `oneOf` replaced by the branch `instance` means (see module doc)."""
        context = context or {}
        node = self.deref(schema)
        if not isinstance(node, dict) or depth > 40:
            return node
        if "oneOf" in node:
            chosen = self._select(node["oneOf"], parent, context)
            if chosen is not None:
                return self.narrow(chosen, instance, parent, context, depth + 1)
            rest = {k: v for k, v in node.items() if k != "oneOf"}
            branches = [self.narrow(b, instance, parent, context, depth + 1) for b in node["oneOf"]]
            return {**rest, "anyOf": branches}
        out = dict(node)
        if "allOf" in node:
            out["allOf"] = [self.narrow(s, instance, parent, context, depth + 1) for s in node["allOf"]]
        if isinstance(instance, dict) and isinstance(node.get("properties"), dict):
            out["properties"] = {
                key: self.narrow(sub, instance[key], instance, context, depth + 1) if key in instance else sub
                for key, sub in node["properties"].items()
            }
        if isinstance(instance, list) and "items" in node and instance:
            # Tuple form so that each item is narrowed on its own (a list can mix service types).
            out["items"] = [self.narrow(node["items"], item, parent, context, depth + 1) for item in instance]
        return out

    # Strict mode: properties the description does not document
    def _parts(self, schema: Any, parent: Any, context: dict[str, Any], depth: int = 0,
               ) -> tuple[list[dict[str, Any]], set[str]]:
        """The object schemas `schema` stands for (itself, its allOf parts, the oneOf branch the instance
        means or every branch when none is selected, anyOf branches) and the component names met."""
        names: set[str] = set()
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            names.add(self._ref_name(schema) or "")
            schema = self._deref_once(schema)
            seen += 1
        if not isinstance(schema, dict) or depth > 40:
            return [], names
        parts = [schema]
        subs: list[Any] = []
        if "oneOf" in schema:
            chosen = self._select(schema["oneOf"], parent, context)
            subs += [chosen] if chosen is not None else list(schema["oneOf"])
        subs += list(schema.get("anyOf", [])) + list(schema.get("allOf", []))
        for sub in subs:
            more, more_names = self._parts(sub, parent, context, depth + 1)
            parts += more
            names |= more_names
        return parts, names

    def _deref_once(self, node: dict[str, Any]) -> Any:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~").replace("%7B", "{").replace("%7D", "}")
            target = target[int(part)] if isinstance(target, list) else target[part]
        return target

    def undocumented(self, schema: Any, instance: Any, context: dict[str, Any] | None = None,
                     parent: Any = None, where: str = "", depth: int = 0) -> list[str]:
        """Object properties in `instance` that `schema` does not document (see `UNDOCUMENTED_ALLOWED`).

        An object schema is open (anything goes) when it sets `additionalProperties` or documents no
        property at all; `required` names count as documented even without a `properties` entry.
        """
        if depth > 60:
            return []
        context = context or {}
        parts, names = self._parts(schema, parent, context)
        problems: list[str] = []
        if isinstance(instance, dict):
            properties: dict[str, list[Any]] = {}
            required: set[str] = set()
            open_object = False
            for part in parts:
                for key, sub in (part.get("properties") or {}).items():
                    properties.setdefault(key, []).append(sub)
                required |= set(part.get("required") or [])
                if part.get("additionalProperties") not in (None, False):
                    open_object = True
            if not properties and not required:
                open_object = True
            for key, value in instance.items():
                at = f"{where}/{key}" if where else key
                if key in properties:
                    # Several branches (an unselected oneOf) may document the key: the one that fits best.
                    candidates: list[list[str]] = [self.undocumented(sub, value, context, instance, at, depth + 1)
                                                   for sub in properties[key]]
                    fewest = sorted(candidates, key=len)[0]
                    problems += fewest
                elif not open_object and key not in required and not any(
                        (name, key) in UNDOCUMENTED_ALLOWED for name in names):
                    problems.append(f"{at}: not in Render's API description")
        elif isinstance(instance, list):
            items = next((part["items"] for part in parts if "items" in part), None)
            if items is not None:
                for index, item in enumerate(instance):
                    problems += self.undocumented(items, item, context, parent,
                                                  f"{where}/{index}" if where else str(index), depth + 1)
        return problems

    # Query parameters
    def validate_query(self, method: str, path: str, query: list[tuple[str, str]]) -> list[str]:
        """Problems with query parameters: names the operation does not document, values not of the
        documented type (`integer`, `boolean` as `true`/`false`, arrays as comma-separated or repeated
        values), outside `enum`, `minimum` or `maximum`."""
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path} is not an operation in Render's API description"]
        documented: dict[str, Any] = {}
        for param in (*op.shared_parameters, *op.spec.get("parameters", ())):
            param = self.deref(param)
            if isinstance(param, dict) and param.get("in") == "query":
                documented[str(param["name"])] = param
        problems: list[str] = []
        for name, value in query:
            param = documented.get(name)
            if param is None:
                problems.append(f"query parameter {name!r} is not documented for {op.method} {op.template}")
                continue
            schema = self.deref(param.get("schema") or {})
            values = [value]
            if schema.get("type") == "array":
                values = value.split(",") if param.get("explode") is False else [value]
                schema = self.deref(schema.get("items") or {})
            problems += [f"query parameter {name}={value!r}: {p}" for v in values for p in self._scalar(schema, v)]
        return problems

    def _scalar(self, schema: dict[str, Any], value: str) -> list[str]:
        kind = schema.get("type")
        parsed: Any = value
        if kind == "integer":
            try:
                parsed = int(value)
            except ValueError:
                return ["not an integer"]
        elif kind == "boolean":
            if value not in ("true", "false"):
                return ["not true or false"]
            return []
        if "enum" in schema and parsed not in schema["enum"]:
            return [f"not one of {schema['enum']}"]
        if "minimum" in schema and parsed < schema["minimum"]:
            return [f"less than the minimum {schema['minimum']}"]
        if "maximum" in schema and parsed > schema["maximum"]:
            return [f"more than the maximum {schema['maximum']}"]
        return []

    # Validation
    def _errors(self, schema: Any, instance: Any, context: dict[str, Any] | None, strict: bool = False) -> list[str]:
        narrowed = self.narrow(schema, instance, None, context)
        root = {**self._root_extra, **narrowed} if isinstance(narrowed, dict) else narrowed
        validator = _Validator(root)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        found = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]
        if strict:
            found += self.undocumented(schema, instance, context)
        return found

    def validate_request(self, method: str, path: str, body: Any,
                         context: dict[str, Any] | None = None, *, strict: bool = False) -> list[str]:
        """Problems with a request body (empty list when it conforms). Undocumented operations are one."""
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path} is not an operation in Render's API description"]
        schema = self.request_schema(op)
        if schema is None:
            return [f"{op.method} {op.template} takes no request body"] if strict and body is not None else []
        if body is None:
            required = bool((self.deref(op.spec.get("requestBody")) or {}).get("required"))
            nullable = bool((self.deref(schema) or {}).get("nullable"))
            return ["a JSON request body is required"] if required and not nullable else []
        return self._errors(schema, body, context, strict)

    def validate_response(self, method: str, path: str, status: int, body: Any,
                          context: dict[str, Any] | None = None, *, strict: bool = False) -> list[str]:
        """Problems with a response (status documented for the operation, body matching its schema)."""
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path} is not an operation in Render's API description"]
        spec = self.response_spec(op, status)
        if spec is None:
            return [f"status {status} is not documented for {op.method} {op.template}"]
        media = spec.get("content", {}).get("application/json")
        if not isinstance(media, dict) or "schema" not in media:
            return [] if body is None else [f"status {status} of {op.method} {op.template} has no body"]
        if body is None:
            if (self.deref(media["schema"]) or {}).get("nullable"):
                return []
            return [f"status {status} of {op.method} {op.template} must have a JSON body"]
        return self._errors(media["schema"], body, context, strict)
