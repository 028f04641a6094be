"""The simulator's HTTP routes (starlette), under `/v1` as Render serves them, plus `/_sim/` admin.

Behaviour copied from Render's API: Bearer authentication (401 without a token), cursor pagination
(`limit` 1-100, default 20; lists are `[{"cursor": ..., "<resource>": {...}}]`, but see each route),
errors as `{"id": ..., "message": ...}` with a `Rndr-Id` request id header, request bodies checked
against Render's OpenAPI description when it is available (a 400 otherwise would-be-silent), 404 for
unknown IDs and 409 for a second service with the same name in the workspace.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from renderer.contract import Contract
from renderer.sim.store import JSON, SimError, Store

Handler = Callable[[Request, Any], Any]
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Recorder:
    """Appends every exchange to a JSON-lines file (tests check each one against the contract)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()

    def record(self, entry: JSON) -> None:
        if self.path is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self.lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _split(values: list[str]) -> list[str]:
    """Form-style, non-exploded arrays (`ownerId=a,b`) and repeated parameters, flattened."""
    return [part for value in values for part in value.split(",") if part]


def paginate(request: Request, items: list[JSON], key: str, cursor_of: Callable[[JSON], str]) -> list[JSON]:
    """One page of `[{"cursor": ..., key: item}]` after the item whose cursor is `?cursor=`.

    Most list operations document no 400, so an out-of-range `limit` is clamped to 1-100 and an
    unknown cursor gives an empty page (the end of the list).
    """
    try:
        limit = int(request.query_params.get("limit", str(DEFAULT_LIMIT)))
    except ValueError:
        limit = DEFAULT_LIMIT
    limit = min(max(limit, 1), MAX_LIMIT)
    start = 0
    cursor = request.query_params.get("cursor")
    if cursor:
        positions = {cursor_of(item): i for i, item in enumerate(items)}
        start = positions[cursor] + 1 if cursor in positions else len(items)
    return [{"cursor": cursor_of(item), key: item} for item in items[start:start + limit]]


class SimApp:
    """Builds the starlette application over a `Store`."""

    def __init__(self, store: Store, *, api_key: str | None, contract: Contract | None,
                 record: Path | None = None) -> None:
        self.store = store
        self.api_key = api_key
        self.contract = contract
        self.recorder = Recorder(record)

    def endpoint(self, handler: Handler, *, status: int = 200, context: Callable[[Request], JSON] | None = None,
                 admin: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            request_id = "req-" + secrets.token_hex(8)
            body: Any = None
            code, payload = status, None
            try:
                self._authorize(request)
                raw = await request.body()
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise SimError(400, "the request body is not valid JSON") from None
                if self.contract is not None and not admin and request.method in ("POST", "PUT", "PATCH"):
                    ctx = context(request) if context else None
                    problems = self.contract.validate_request(request.method, request.url.path, body, ctx)
                    if problems:
                        raise SimError(400, "invalid request body: " + "; ".join(problems[:3]))
                payload = handler(request, body)
            except SimError as exc:
                code, payload = exc.status, {"id": request_id, "message": exc.message}
            if not admin:
                self.recorder.record({
                    "method": request.method, "path": request.url.path, "query": str(request.url.query),
                    "request": body, "status": code, "response": payload,
                    "context": context(request) if context and code < 400 else None,
                })
            headers = {"Rndr-Id": request_id}
            if payload is None:
                return Response(status_code=code, headers=headers)
            return JSONResponse(payload, status_code=code, headers=headers)

        return run

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SimError(401, "unauthorized: send an API key as `Authorization: Bearer <key>`")
        if self.api_key is not None and token.strip() != self.api_key:
            raise SimError(401, "unauthorized: invalid API key")

    # Context for oneOf branch selection on bodies without `type` (see renderer.contract).
    def _service_context(self, request: Request) -> JSON:
        service = self.store.state["services"].get(request.path_params.get("service_id", ""))
        return {"serviceType": service["type"]} if service else {}

    def build(self) -> Starlette:
        s = self.store
        ep = self.endpoint

        def owners(request: Request, _: Any) -> Any:
            return paginate(request, [s.owner], "owner", lambda o: str(o["id"]))

        def owner(request: Request, _: Any) -> Any:
            if request.path_params["owner_id"] != s.owner["id"]:
                raise SimError(404, "owner not found")
            return s.owner

        def list_services(request: Request, _: Any) -> Any:
            q = request.query_params
            items = s.list_services(names=_split(q.getlist("name")), types=_split(q.getlist("type")),
                                    owners=_split(q.getlist("ownerId")))
            return paginate(request, items, "service", lambda i: str(i["id"]))

        def create_service(request: Request, body: Any) -> Any:
            service, deploy_id = s.create_service(body)
            return {"service": service, "deployId": deploy_id}

        def sid(request: Request) -> str:
            return str(request.path_params["service_id"])

        def pid(request: Request) -> str:
            return str(request.path_params["postgres_id"])

        def env_list(request: Request, _: Any) -> Any:
            return paginate(request, s.env_vars(sid(request)), "envVar", lambda e: str(e["key"]))

        def env_replace(request: Request, body: Any) -> Any:
            return [{"cursor": e["key"], "envVar": e} for e in s.replace_env_vars(sid(request), body)]

        def list_postgres(request: Request, _: Any) -> Any:
            q = request.query_params
            items = s.list_postgres(names=_split(q.getlist("name")), owners=_split(q.getlist("ownerId")))
            return paginate(request, items, "postgres", lambda p: str(p["id"]))

        def reset(request: Request, _: Any) -> Any:
            s.reset()
            return {"ok": True}

        def advance(request: Request, body: Any) -> Any:
            s.clock.advance(float((body or {}).get("seconds", 0)))
            return {"now": s.clock.iso()}

        svc_ctx = self._service_context
        routes = [
            Route("/v1/owners", ep(owners), methods=["GET"]),
            Route("/v1/owners/{owner_id}", ep(owner), methods=["GET"]),
            Route("/v1/services", ep(list_services), methods=["GET"]),
            Route("/v1/services", ep(create_service, status=201), methods=["POST"]),
            Route("/v1/services/{service_id}", ep(lambda r, b: s.get_service(sid(r))), methods=["GET"]),
            Route("/v1/services/{service_id}", ep(lambda r, b: s.update_service(sid(r), b), context=svc_ctx),
                  methods=["PATCH"]),
            Route("/v1/services/{service_id}", ep(lambda r, b: s.delete_service(sid(r)), status=204),
                  methods=["DELETE"]),
            Route("/v1/services/{service_id}/scale",
                  ep(lambda r, b: s.scale_service(sid(r), int(b["numInstances"])), status=202), methods=["POST"]),
            Route("/v1/services/{service_id}/env-vars", ep(env_list), methods=["GET"]),
            Route("/v1/services/{service_id}/env-vars", ep(env_replace), methods=["PUT"]),
            Route("/v1/services/{service_id}/env-vars/{key}",
                  ep(lambda r, b: s.get_env_var(sid(r), r.path_params["key"])), methods=["GET"]),
            Route("/v1/services/{service_id}/env-vars/{key}",
                  ep(lambda r, b: s.put_env_var(sid(r), r.path_params["key"], b)), methods=["PUT"]),
            Route("/v1/services/{service_id}/env-vars/{key}",
                  ep(lambda r, b: s.delete_env_var(sid(r), r.path_params["key"]), status=204), methods=["DELETE"]),
            Route("/v1/services/{service_id}/deploys",
                  ep(lambda r, b: paginate(r, s.list_deploys(sid(r)), "deploy", lambda d: str(d["id"]))),
                  methods=["GET"]),
            Route("/v1/services/{service_id}/deploys", ep(lambda r, b: s.create_deploy(sid(r)), status=201),
                  methods=["POST"]),
            Route("/v1/services/{service_id}/deploys/{deploy_id}",
                  ep(lambda r, b: s.get_deploy(sid(r), r.path_params["deploy_id"])), methods=["GET"]),
            Route("/v1/postgres", ep(list_postgres), methods=["GET"]),
            Route("/v1/postgres", ep(lambda r, b: s.create_postgres(b), status=201), methods=["POST"]),
            Route("/v1/postgres/{postgres_id}", ep(lambda r, b: s.get_postgres(pid(r))), methods=["GET"]),
            Route("/v1/postgres/{postgres_id}", ep(lambda r, b: s.update_postgres(pid(r), b)), methods=["PATCH"]),
            Route("/v1/postgres/{postgres_id}", ep(lambda r, b: s.delete_postgres(pid(r)), status=204),
                  methods=["DELETE"]),
            Route("/v1/postgres/{postgres_id}/connection-info",
                  ep(lambda r, b: s.postgres_connection_info(pid(r))), methods=["GET"]),
            Route("/_sim/reset", ep(reset, admin=True), methods=["POST"]),
            Route("/_sim/clock/advance", ep(advance, admin=True), methods=["POST"]),
        ]

        async def not_found(request: Request, exc: Exception) -> Response:
            return JSONResponse({"message": "not found"}, status_code=404)

        async def not_allowed(request: Request, exc: Exception) -> Response:
            return JSONResponse({"message": "method not allowed"}, status_code=405)

        return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
