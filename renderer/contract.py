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
"""

from __future__ import annotations

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


class Contract:
    """Render's OpenAPI description with lookups by request and validation with `oneOf` narrowing."""

    def __init__(self, document: dict[str, Any], base_path: str = "/v1") -> None:
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
                return Operation(method.upper(), template, item[method.lower()])
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
                target = target[part]
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

    # Validation
    def _errors(self, schema: Any, instance: Any, context: dict[str, Any] | None) -> list[str]:
        narrowed = self.narrow(schema, instance, None, context)
        root = {**self._root_extra, **narrowed} if isinstance(narrowed, dict) else narrowed
        validator = _Validator(root)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]

    def validate_request(self, method: str, path: str, body: Any,
                         context: dict[str, Any] | None = None) -> list[str]:
        """Problems with a request body (empty list when it conforms). Undocumented operations are one."""
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path} is not an operation in Render's API description"]
        schema = self.request_schema(op)
        if schema is None:
            return []
        if body is None:
            required = bool((self.deref(op.spec.get("requestBody")) or {}).get("required"))
            return ["a JSON request body is required"] if required else []
        return self._errors(schema, body, context)

    def validate_response(self, method: str, path: str, status: int, body: Any,
                          context: dict[str, Any] | None = None) -> list[str]:
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
            return [f"status {status} of {op.method} {op.template} must have a JSON body"]
        return self._errors(media["schema"], body, context)
