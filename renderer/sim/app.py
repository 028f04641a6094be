"""The simulator's HTTP routes (starlette), under `/v1` as Render serves them, plus the `/_sim/` admin API.

Behaviour copied from Render's API: Bearer authentication (401 without a token), cursor pagination
(`limit` 1-100, default 20; lists are `[{"cursor": ..., "<resource>": {...}}]`, except GET /env-groups,
a bare array whose next page starts after the `id` given as `cursor`), errors as
`{"id": ..., "message": ...}` with a `Rndr-Id` request id header, request bodies checked against
Render's OpenAPI description when it is available (400 with the first problems), 404 for unknown IDs,
409 for a second service with the same name in the workspace, 402 for a paid plan in a workspace without
payment details, and Render's rate limits (`renderer.sim.ratelimit`).

Deploys carry a commit (the trigger's `commitId`, else the branch head) or an image (the trigger's
`imageUrl`, else the service's image; `image.sha` is the digest). `POST /v1/services/{id}/rollback` starts a
deploy of an earlier live deploy's version (trigger `rollback`, no build). `GET /v1/services/{id}/events`
derives deploy_started, build_started/ended, pre_deploy_started/ended, deploy_ended and server_failed
events from the deploys' timelines (window `startTime`-`endTime`, default the last hour; `type` filter).

Every `/v1` request first passes `SimASGI`: injected latency and faults (`renderer.sim.faults`), then the
rate limiter, then the route; it counts answers per endpoint and status for `/_sim/stats`.

Admin API (Bearer token as for `/v1`; JSON bodies):

    POST   /_sim/reset              state, faults, rate-limit windows, stats and clock back to the start
    POST   /_sim/clock/advance      {"seconds": N}: move the simulated clock on (deploys, rate windows)
    GET    /_sim/clock              {"now": RFC 3339, "offset": seconds}
    GET    /_sim/faults             the fault configuration
    POST   /_sim/faults             add fault rules / set latency (renderer.sim.faults)
    DELETE /_sim/faults             remove every fault
    GET    /_sim/stats              {"total", "byStatus", "endpoints": {"GET /v1/services": {"200": n}}}
    DELETE /_sim/stats              zero the counts
    POST   /_sim/seed               {"services", "envVarsPerService", "type", "prefix", "postgres",
                                    "keyValue", "envGroups", "serviceNames", "postgresNames", "projects",
                                    "serviceEnvironments", "postgresEnvironments", "autoDeployTrigger"}:
                                    create resources directly (projects with their environments;
                                    resources in them)
    GET    /_sim/rate-limits        {"scale": N | "off", "budgets": {...}}
    POST   /_sim/rate-limits        {"scale": N | "off", "budgets"?: {"create_postgres": 20}}: every
                                    budget times N, those named set outright; {"spend": {"get": 380}}
                                    counts requests against a budget's current window, as another client
                                    of the workspace would
    POST   /_sim/deploy-outcomes    {"outcome": "build_failed", "serviceId"?: ..., "count"?: 1}: how the
                                    next deploys end (live, build_failed, update_failed,
                                    pre_deploy_failed, canceled, deactivated).
                                    {"outcome", "commit": SHA} or {"outcome", "image": digest or ref}:
                                    every later deploy of that version ends so, on any service,
                                    until another rule for it (`live` clears it); one more outcome
                                    there, `server_failed_after_live` with "delaySeconds"? (30): the
                                    deploy goes live, then a `server_failed` event comes that long
                                    after (unless a newer deploy is live by then). Answers
                                    {"queued": [...], "versions": [...]}
    POST   /_sim/deploy-timing      {"seconds": N | null}: later deploys take N s from start to live
                                    (each step scaled alike); null: the recorded 30 s
    POST   /_sim/push               {"repo", "branch"? (main), "commit"? (random)}: a new head for the
                                    branch, which deploys without a `commitId` build; services on it
                                    with `autoDeployTrigger: commit` start a deploy (`new_commit`)
    POST   /_sim/workspace          {"paymentDetails": false}: paid plans then answer 402; {"plan": "hobby"}:
                                    the workspace plan (Hobby: one project, two environments, no network
                                    isolation; default "professional")
    GET    /_sim/network/reachable  ?from=ID&to=ID: whether resource `from` can open a private connection to
                                    `to` ({"reachable": bool, "reason": ...})
    GET    /_sim/network            every (from, to) pair that can connect privately: {"pairs": [...]}
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renderer.contract import Contract
from renderer.sim.faults import FaultError, Faults
from renderer.sim.ratelimit import BUDGETS, RateLimiter
from renderer.sim.store import JSON, SimError, Store, parse_time

Handler = Callable[[Request, Any], Any]
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DEPLOY_TIME_FILTERS = ("createdBefore", "createdAfter", "updatedBefore", "updatedAfter", "finishedBefore",
                       "finishedAfter")


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


class Stats:
    """Answers per endpoint (method and route template) and status (`dropped`, `lost` for faults)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def count(self, endpoint: str, status: int | str) -> None:
        with self.lock:
            self.counts[endpoint][str(status)] += 1

    def clear(self) -> None:
        with self.lock:
            self.counts.clear()

    def to_json(self) -> JSON:
        with self.lock:
            by_status: Counter[str] = Counter()
            for counter in self.counts.values():
                by_status.update(counter)
            return {"total": sum(by_status.values()), "byStatus": dict(sorted(by_status.items())),
                    "endpoints": {k: dict(sorted(v.items())) for k, v in sorted(self.counts.items())}}


@dataclass(frozen=True)
class Answer:
    """A handler's answer spelt out: a status other than the route's usual one (a deploy trigger's 202,
    `empty`: no body), or a JSON `null` body (an empty PUT of headers or routes)."""

    status: int
    body: Any = None
    empty: bool = False


def _split(values: list[str]) -> list[str]:
    """Form-style, non-exploded arrays (`ownerId=a,b`) and repeated parameters, flattened."""
    return [part for value in values for part in value.split(",") if part]


def paginate(request: Request, items: list[JSON], key: str | None, cursor_of: Callable[[JSON], str]) -> list[JSON]:
    """One page of `[{"cursor": ..., key: item}]` (or of bare items when `key` is None) after the item
    whose cursor is `?cursor=`.

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
    page = items[start:start + limit]
    if key is None:
        return page
    return [{"cursor": cursor_of(item), key: item} for item in page]


def _error(status: int, message: str) -> tuple[JSON, str]:
    request_id = "req-" + secrets.token_hex(8)
    return {"id": request_id, "message": message}, request_id


async def _answer(send: Send, status: int, body: JSON | None, headers: dict[str, str]) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body is not None:
        pairs += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    else:
        pairs.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})


async def _drop(send: Send) -> None:
    """Close the connection without a complete answer: the server returns after starting a response
    and never sends its body, and uvicorn closes the connection (the client sees it reset)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})


class SimApp:
    """Builds the ASGI application over a `Store`."""

    def __init__(self, store: Store, *, api_key: str | None, contract: Contract | None,
                 record: Path | None = None, faults: JSON | None = None, rate_scale: float | None = 1.0) -> None:
        self.store = store
        self.api_key = api_key
        self.contract = contract
        self.recorder = Recorder(record)
        self.stats = Stats()
        self.initial_faults = faults or {}
        self.faults = Faults()
        self.faults.configure(self.initial_faults)
        self.initial_scale = rate_scale
        self.limiter = RateLimiter(store.clock, rate_scale)
        self.routes: list[Route] = []

    def endpoint(self, handler: Handler, *, status: int = 200, context: Callable[[Request], JSON] | None = None,
                 admin: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            body: Any = None
            code, payload, null_body = status, None, False
            request_id = "req-" + secrets.token_hex(8)
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
                if isinstance(payload, Answer):
                    code, payload, null_body = payload.status, payload.body, not payload.empty and payload.body is None
            except SimError as exc:
                code, payload = exc.status, {"id": request_id, "message": exc.message}
            except (KeyError, TypeError, ValueError) as exc:
                # Only reachable with a body the contract did not check (no OpenAPI description, or an
                # admin request): still a 400 with a message, never a bare 500.
                what = "admin request" if admin else "request body"
                code, payload = 400, {"id": request_id, "message": f"invalid {what}: {type(exc).__name__}: {exc}"}
            if not admin:
                self.recorder.record({
                    "method": request.method, "path": request.url.path, "query": str(request.url.query),
                    "request": body, "status": code, "response": payload,
                    "context": context(request) if context and code < 400 else None,
                })
            headers = {"Rndr-Id": request_id}
            if null_body:
                return Response(b"null", status_code=code, headers=headers, media_type="application/json")
            if payload is None:
                return Response(status_code=code, headers=headers)
            return JSONResponse(payload, status_code=code, headers=headers)

        return run

    def authorized(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        return scheme.lower() == "bearer" and bool(token) and (self.api_key is None or token == self.api_key)

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SimError(401, "unauthorized: send an API key as `Authorization: Bearer <key>`")
        if self.api_key is not None and token.strip() != self.api_key:
            raise SimError(401, "unauthorized: invalid API key")

    # Context for oneOf branch selection on bodies without `type` (see renderer.contract).
    def _service_context(self, request: Request) -> JSON:
        service = self.store.state["services"].get(request.path_params.get("serviceId", ""))
        return {"serviceType": service["type"]} if service else {}

    def label(self, scope: Scope) -> str:
        """`METHOD /v1/route/{template}` for stats."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return f"{scope['method']} {route.path}"
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return f"{scope['method']} {partial or scope['path']}"

    def reset(self) -> None:
        self.store.reset()
        self.store.clock.reset()
        self.faults = Faults()
        self.faults.configure(self.initial_faults)
        self.limiter.reset(self.initial_scale, keep_scale=False)
        self.stats.clear()

    def rate_limits_json(self) -> JSON:
        scale = self.limiter.scale
        return {"scale": "off" if scale is None else scale,
                "budgets": {} if scale is None else {
                    name: {"requests": self.limiter.limit(name)[0], "windowSeconds": BUDGETS[name][1]}
                    for name in BUDGETS}}

    def build(self) -> ASGIApp:
        s = self.store
        ep = self.endpoint

        def q(request: Request, name: str) -> list[str]:
            return _split(request.query_params.getlist(name))

        def one(request: Request, name: str) -> str | None:
            return request.query_params.get(name)

        def pp(request: Request, name: str) -> str:
            return str(request.path_params[name])

        def sid(request: Request) -> str:
            return pp(request, "serviceId")

        def by_id(item: JSON) -> str:
            return str(item["id"])

        # /v1 handlers
        def owners(request: Request, _: Any) -> Any:
            return paginate(request, [s.owner], "owner", by_id)

        def owner(request: Request, _: Any) -> Any:
            if pp(request, "ownerId") != s.owner["id"]:
                raise SimError(404, "owner not found")
            return s.owner

        def list_services(request: Request, _: Any) -> Any:
            items = s.list_services(names=q(request, "name"), types=q(request, "type"), owners=q(request, "ownerId"),
                                    suspended=q(request, "suspended"), regions=q(request, "region"),
                                    environments=q(request, "environmentId"))
            return paginate(request, items, "service", by_id)

        def create_service(request: Request, body: Any) -> Any:
            service, deploy_id = s.create_service(body)
            return {"service": service, "deployId": deploy_id}

        def env_list(request: Request, _: Any) -> Any:
            return paginate(request, s.list_env_vars(sid(request)), "envVar", lambda e: str(e["key"]))

        def env_replace(request: Request, body: Any) -> Any:
            return [{"cursor": e["key"], "envVar": e} for e in s.replace_env_vars(sid(request), body)]

        def secret_list(request: Request, _: Any) -> Any:
            return paginate(request, s.list_secret_files(sid(request)), "secretFile", lambda f: str(f["name"]))

        def secret_replace(request: Request, body: Any) -> Any:
            return [{"cursor": f["name"], "secretFile": f} for f in s.replace_secret_files(sid(request), body)]

        def deploy_list(request: Request, _: Any) -> Any:
            times = {name: parse_time(value) for name in DEPLOY_TIME_FILTERS
                     if (value := one(request, name)) is not None}
            return paginate(request, s.list_deploys(sid(request), q(request, "status"), times), "deploy", by_id)

        def event_list(request: Request, _: Any) -> Any:
            start, end = one(request, "startTime"), one(request, "endTime")
            items = s.list_events(sid(request), q(request, "type"), None if start is None else parse_time(start),
                                  None if end is None else parse_time(end))
            return paginate(request, items, "event", by_id)

        def deploy_create(request: Request, body: Any) -> Any:
            deploy = s.create_deploy(sid(request), body)
            return Answer(202, empty=True) if deploy is None else deploy

        def header_list(request: Request, _: Any) -> Any:
            return paginate(request, s.list_headers(sid(request)), "header", by_id)

        def route_list(request: Request, _: Any) -> Any:
            return paginate(request, s.list_routes(sid(request)), "route", by_id)

        def domain_list(request: Request, _: Any) -> Any:
            items = s.list_custom_domains(sid(request), names=q(request, "name"),
                                          domain_type=one(request, "domainType"),
                                          verification=one(request, "verificationStatus"))
            return paginate(request, items, "customDomain", by_id)

        def disk_list(request: Request, _: Any) -> Any:
            items = s.list_disks(owners=q(request, "ownerId"), names=q(request, "name"),
                                 service_ids=q(request, "serviceId"), disk_ids=q(request, "diskId"))
            return paginate(request, items, "disk", by_id)

        def postgres_list(request: Request, _: Any) -> Any:
            items = s.list_postgres(names=q(request, "name"), owners=q(request, "ownerId"),
                                    regions=q(request, "region"), suspended=q(request, "suspended"),
                                    environments=q(request, "environmentId"))
            return paginate(request, items, "postgres", by_id)

        def key_value_list(request: Request, _: Any) -> Any:
            items = s.list_key_value(names=q(request, "name"), owners=q(request, "ownerId"),
                                     regions=q(request, "region"), environments=q(request, "environmentId"))
            return paginate(request, items, "keyValue", by_id)

        def env_group_list(request: Request, _: Any) -> Any:
            items = s.list_env_groups(names=q(request, "name"), owners=q(request, "ownerId"),
                                      environments=q(request, "environmentId"))
            return paginate(request, items, None, by_id)

        def project_list(request: Request, _: Any) -> Any:
            return paginate(request, s.list_projects(names=q(request, "name"), owners=q(request, "ownerId")),
                            "project", by_id)

        def environment_list(request: Request, _: Any) -> Any:
            if not q(request, "projectId"):
                raise SimError(400, "projectId is required")
            items = s.list_environments(projects=q(request, "projectId"), names=q(request, "name"),
                                        environments=q(request, "environmentId"))
            return paginate(request, items, "environment", by_id)

        def reachable(request: Request, _: Any) -> Any:
            source, target = one(request, "from"), one(request, "to")
            if not source or not target:
                raise SimError(400, "from and to (resource IDs) are required")
            return s.reachable(source, target)

        def unlink(request: Request, _: Any) -> None:
            s.link_env_group(pp(request, "envGroupId"), sid(request), False)

        # admin handlers
        def reset(request: Request, _: Any) -> Any:
            self.reset()
            return {"ok": True}

        def advance(request: Request, body: Any) -> Any:
            seconds = float((body or {}).get("seconds", 0))
            if seconds < 0:
                raise SimError(400, "the clock only moves forward")
            s.clock.advance(seconds)
            return {"now": s.clock.iso(), "offset": s.clock.offset}

        def clock(request: Request, _: Any) -> Any:
            return {"now": s.clock.iso(), "offset": s.clock.offset}

        def faults_get(request: Request, _: Any) -> Any:
            return self.faults.to_json()

        def faults_post(request: Request, body: Any) -> Any:
            try:
                self.faults.configure(body or {})
            except FaultError as exc:
                raise SimError(400, str(exc)) from None
            return self.faults.to_json()

        def faults_delete(request: Request, _: Any) -> Any:
            self.faults.clear()
            return self.faults.to_json()

        def stats_delete(request: Request, _: Any) -> Any:
            self.stats.clear()
            return self.stats.to_json()

        def rate_limits_post(request: Request, body: Any) -> Any:
            body = body or {}
            spend = body.get("spend")
            if spend is not None:
                if not isinstance(spend, dict) or any(
                        name not in BUDGETS or name == "service_action" or not isinstance(n, int) or isinstance(n, bool)
                        or n < 0 for name, n in spend.items()):
                    raise SimError(400, "spend must map get, write or create_service to a whole number >= 0")
                for name, n in spend.items():
                    self.limiter.spend(name, n)
                if "scale" not in body:
                    return self.rate_limits_json()
            scale = body.get("scale")
            budgets = body.get("budgets") or {}
            if not isinstance(budgets, dict) or any(
                    name not in BUDGETS or not isinstance(n, int) or isinstance(n, bool) or n < 1
                    for name, n in budgets.items()):
                raise SimError(400, f"budgets must map budget names ({', '.join(BUDGETS)}) to requests (>= 1)")
            if scale == "off":
                self.limiter.reset(None, keep_scale=False)
            elif isinstance(scale, int | float) and not isinstance(scale, bool) and scale > 0:
                self.limiter.reset(float(scale), keep_scale=False)
                self.limiter.overrides = dict(budgets)
            else:
                raise SimError(400, 'scale must be a positive number or "off"')
            return self.rate_limits_json()

        def outcomes(request: Request, body: Any) -> Any:
            body = body or {}
            delay = body.get("delaySeconds")
            s.force_outcome(str(body.get("outcome")), body.get("serviceId"), int(body.get("count", 1)),
                            commit=body.get("commit"), image=body.get("image"),
                            delay=None if delay is None else float(delay))
            return s.outcomes_json()

        svc_ctx = self._service_context
        a = "admin"
        table: list[tuple[str, str, Handler, int, Any]] = [
            ("GET", "/v1/users", lambda r, b: s.user(), 200, None),
            ("GET", "/v1/owners", owners, 200, None),
            ("GET", "/v1/owners/{ownerId}", owner, 200, None),
            ("GET", "/v1/services", list_services, 200, None),
            ("POST", "/v1/services", create_service, 201, None),
            ("GET", "/v1/services/{serviceId}", lambda r, b: s.get_service(sid(r)), 200, None),
            ("PATCH", "/v1/services/{serviceId}", lambda r, b: s.update_service(sid(r), b), 200, svc_ctx),
            ("DELETE", "/v1/services/{serviceId}", lambda r, b: s.delete_service(sid(r)), 204, None),
            ("POST", "/v1/services/{serviceId}/suspend", lambda r, b: s.suspend_service(sid(r)), 202, None),
            ("POST", "/v1/services/{serviceId}/resume", lambda r, b: s.resume_service(sid(r)), 202, None),
            ("POST", "/v1/services/{serviceId}/scale",
             lambda r, b: s.scale_service(sid(r), int(b["numInstances"])), 202, None),
            ("PUT", "/v1/services/{serviceId}/autoscaling", lambda r, b: s.put_autoscaling(sid(r), b), 200, None),
            ("DELETE", "/v1/services/{serviceId}/autoscaling", lambda r, b: s.delete_autoscaling(sid(r)), 204, None),
            ("GET", "/v1/services/{serviceId}/env-vars", env_list, 200, None),
            ("PUT", "/v1/services/{serviceId}/env-vars", env_replace, 200, None),
            ("GET", "/v1/services/{serviceId}/env-vars/{envVarKey}",
             lambda r, b: s.get_env_var(sid(r), pp(r, "envVarKey")), 200, None),
            ("PUT", "/v1/services/{serviceId}/env-vars/{envVarKey}",
             lambda r, b: s.put_env_var(sid(r), pp(r, "envVarKey"), b), 200, None),
            ("DELETE", "/v1/services/{serviceId}/env-vars/{envVarKey}",
             lambda r, b: s.delete_env_var(sid(r), pp(r, "envVarKey")), 204, None),
            ("GET", "/v1/services/{serviceId}/secret-files", secret_list, 200, None),
            ("PUT", "/v1/services/{serviceId}/secret-files", secret_replace, 200, None),
            ("GET", "/v1/services/{serviceId}/secret-files/{secretFileName}",
             lambda r, b: s.get_secret_file(sid(r), pp(r, "secretFileName")), 200, None),
            ("PUT", "/v1/services/{serviceId}/secret-files/{secretFileName}",
             lambda r, b: s.put_secret_file(sid(r), pp(r, "secretFileName"), b), 201, None),
            ("DELETE", "/v1/services/{serviceId}/secret-files/{secretFileName}",
             lambda r, b: s.delete_secret_file(sid(r), pp(r, "secretFileName")), 204, None),
            ("GET", "/v1/services/{serviceId}/deploys", deploy_list, 200, None),
            ("POST", "/v1/services/{serviceId}/deploys", deploy_create, 201, None),
            ("GET", "/v1/services/{serviceId}/deploys/{deployId}",
             lambda r, b: s.get_deploy(sid(r), pp(r, "deployId")), 200, None),
            ("POST", "/v1/services/{serviceId}/deploys/{deployId}/cancel",
             lambda r, b: s.cancel_deploy(sid(r), pp(r, "deployId")), 200, None),
            ("POST", "/v1/services/{serviceId}/rollback", lambda r, b: s.rollback(sid(r), str(b["deployId"])), 201,
             None),
            ("GET", "/v1/services/{serviceId}/events", event_list, 200, None),
            ("GET", "/v1/services/{serviceId}/headers", header_list, 200, None),
            ("PUT", "/v1/services/{serviceId}/headers", lambda r, b: Answer(200, s.replace_headers(sid(r), b)), 200,
             None),
            ("GET", "/v1/services/{serviceId}/routes", route_list, 200, None),
            ("PUT", "/v1/services/{serviceId}/routes", lambda r, b: Answer(200, s.replace_routes(sid(r), b)), 200,
             None),
            ("GET", "/v1/services/{serviceId}/custom-domains", domain_list, 200, None),
            ("POST", "/v1/services/{serviceId}/custom-domains",
             lambda r, b: s.add_custom_domain(sid(r), str(b["name"])), 201, None),
            ("GET", "/v1/services/{serviceId}/custom-domains/{customDomainIdOrName}",
             lambda r, b: s.get_custom_domain(sid(r), pp(r, "customDomainIdOrName")), 200, None),
            ("DELETE", "/v1/services/{serviceId}/custom-domains/{customDomainIdOrName}",
             lambda r, b: s.delete_custom_domain(sid(r), pp(r, "customDomainIdOrName")), 204, None),
            ("POST", "/v1/services/{serviceId}/custom-domains/{customDomainIdOrName}/verify",
             lambda r, b: s.verify_custom_domain(sid(r), pp(r, "customDomainIdOrName")), 202, None),
            ("GET", "/v1/disks", disk_list, 200, None),
            ("POST", "/v1/disks", lambda r, b: s.create_disk(b), 201, None),
            ("GET", "/v1/disks/{diskId}", lambda r, b: s.get_disk(pp(r, "diskId")), 200, None),
            ("PATCH", "/v1/disks/{diskId}", lambda r, b: s.update_disk(pp(r, "diskId"), b), 200, None),
            ("DELETE", "/v1/disks/{diskId}", lambda r, b: s.delete_disk(pp(r, "diskId")), 204, None),
            ("GET", "/v1/postgres", postgres_list, 200, None),
            ("POST", "/v1/postgres", lambda r, b: s.create_postgres(b), 201, None),
            ("GET", "/v1/postgres/{postgresId}", lambda r, b: s.get_postgres(pp(r, "postgresId")), 200, None),
            ("PATCH", "/v1/postgres/{postgresId}", lambda r, b: s.update_postgres(pp(r, "postgresId"), b), 200, None),
            ("DELETE", "/v1/postgres/{postgresId}", lambda r, b: s.delete_postgres(pp(r, "postgresId")), 204, None),
            ("POST", "/v1/postgres/{postgresId}/suspend",
             lambda r, b: s.suspend_postgres(pp(r, "postgresId"), True), 202, None),
            ("POST", "/v1/postgres/{postgresId}/resume",
             lambda r, b: s.suspend_postgres(pp(r, "postgresId"), False), 202, None),
            ("GET", "/v1/postgres/{postgresId}/connection-info",
             lambda r, b: s.postgres_connection_info(pp(r, "postgresId")), 200, None),
            ("GET", "/v1/postgres/{postgresId}/export",
             lambda r, b: s.list_postgres_exports(pp(r, "postgresId")), 200, None),
            ("POST", "/v1/postgres/{postgresId}/export",
             lambda r, b: s.create_postgres_export(pp(r, "postgresId")), 202, None),
            ("GET", "/v1/key-value", key_value_list, 200, None),
            ("POST", "/v1/key-value", lambda r, b: s.create_key_value(b), 201, None),
            ("GET", "/v1/key-value/{keyValueId}", lambda r, b: s.get_key_value(pp(r, "keyValueId")), 200, None),
            ("PATCH", "/v1/key-value/{keyValueId}",
             lambda r, b: s.update_key_value(pp(r, "keyValueId"), b), 200, None),
            ("DELETE", "/v1/key-value/{keyValueId}", lambda r, b: s.delete_key_value(pp(r, "keyValueId")), 204, None),
            ("POST", "/v1/key-value/{keyValueId}/suspend",
             lambda r, b: s.suspend_key_value(pp(r, "keyValueId"), True), 202, None),
            ("POST", "/v1/key-value/{keyValueId}/resume",
             lambda r, b: s.suspend_key_value(pp(r, "keyValueId"), False), 202, None),
            ("GET", "/v1/key-value/{keyValueId}/connection-info",
             lambda r, b: s.key_value_connection_info(pp(r, "keyValueId")), 200, None),
            ("GET", "/v1/env-groups", env_group_list, 200, None),
            ("POST", "/v1/env-groups", lambda r, b: s.create_env_group(b), 201, None),
            ("GET", "/v1/env-groups/{envGroupId}", lambda r, b: s.get_env_group(pp(r, "envGroupId")), 200, None),
            ("PATCH", "/v1/env-groups/{envGroupId}",
             lambda r, b: s.update_env_group(pp(r, "envGroupId"), b), 200, None),
            ("DELETE", "/v1/env-groups/{envGroupId}", lambda r, b: s.delete_env_group(pp(r, "envGroupId")), 204, None),
            ("POST", "/v1/env-groups/{envGroupId}/services/{serviceId}",
             lambda r, b: s.link_env_group(pp(r, "envGroupId"), sid(r), True), 200, None),
            ("DELETE", "/v1/env-groups/{envGroupId}/services/{serviceId}", unlink, 204, None),
            ("GET", "/v1/env-groups/{envGroupId}/env-vars/{envVarKey}",
             lambda r, b: s.get_group_env_var(pp(r, "envGroupId"), pp(r, "envVarKey")), 200, None),
            ("PUT", "/v1/env-groups/{envGroupId}/env-vars/{envVarKey}",
             lambda r, b: s.put_group_env_var(pp(r, "envGroupId"), pp(r, "envVarKey"), b), 200, None),
            ("DELETE", "/v1/env-groups/{envGroupId}/env-vars/{envVarKey}",
             lambda r, b: s.delete_group_env_var(pp(r, "envGroupId"), pp(r, "envVarKey")), 204, None),
            ("GET", "/v1/env-groups/{envGroupId}/secret-files/{secretFileName}",
             lambda r, b: s.get_group_secret_file(pp(r, "envGroupId"), pp(r, "secretFileName")), 200, None),
            ("PUT", "/v1/env-groups/{envGroupId}/secret-files/{secretFileName}",
             lambda r, b: s.put_group_secret_file(pp(r, "envGroupId"), pp(r, "secretFileName"), b), 200, None),
            ("DELETE", "/v1/env-groups/{envGroupId}/secret-files/{secretFileName}",
             lambda r, b: s.delete_group_secret_file(pp(r, "envGroupId"), pp(r, "secretFileName")), 204, None),
            ("GET", "/v1/projects", project_list, 200, None),
            ("POST", "/v1/projects", lambda r, b: s.create_project(b), 201, None),
            ("GET", "/v1/projects/{projectId}", lambda r, b: s.get_project(pp(r, "projectId")), 200, None),
            ("PATCH", "/v1/projects/{projectId}", lambda r, b: s.update_project(pp(r, "projectId"), b), 200, None),
            ("DELETE", "/v1/projects/{projectId}", lambda r, b: s.delete_project(pp(r, "projectId")), 204, None),
            ("GET", "/v1/environments", environment_list, 200, None),
            ("POST", "/v1/environments", lambda r, b: s.create_environment(b), 201, None),
            ("GET", "/v1/environments/{environmentId}",
             lambda r, b: s.get_environment(pp(r, "environmentId")), 200, None),
            ("PATCH", "/v1/environments/{environmentId}",
             lambda r, b: s.update_environment(pp(r, "environmentId"), b), 200, None),
            ("DELETE", "/v1/environments/{environmentId}",
             lambda r, b: s.delete_environment(pp(r, "environmentId")), 204, None),
            ("POST", "/v1/environments/{environmentId}/resources",
             lambda r, b: s.add_environment_resources(pp(r, "environmentId"), list(b["resourceIds"])), 201, None),
            ("DELETE", "/v1/environments/{environmentId}/resources",
             lambda r, b: s.remove_environment_resources(q(r, "resourceIds")), 204, None),
            ("POST", "/_sim/reset", reset, 200, a),
            ("POST", "/_sim/clock/advance", advance, 200, a),
            ("GET", "/_sim/clock", clock, 200, a),
            ("GET", "/_sim/faults", faults_get, 200, a),
            ("POST", "/_sim/faults", faults_post, 200, a),
            ("DELETE", "/_sim/faults", faults_delete, 200, a),
            ("GET", "/_sim/stats", lambda r, b: self.stats.to_json(), 200, a),
            ("DELETE", "/_sim/stats", stats_delete, 200, a),
            ("POST", "/_sim/seed", lambda r, b: s.seed(b or {}), 200, a),
            ("GET", "/_sim/rate-limits", lambda r, b: self.rate_limits_json(), 200, a),
            ("POST", "/_sim/rate-limits", rate_limits_post, 200, a),
            ("POST", "/_sim/deploy-outcomes", outcomes, 200, a),
            ("POST", "/_sim/push", lambda r, b: s.push(b or {}), 200, a),
            ("POST", "/_sim/deploy-timing", lambda r, b: s.set_deploy_timing(b or {}), 200, a),
            ("POST", "/_sim/workspace", lambda r, b: s.set_workspace(b or {}), 200, a),
            ("GET", "/_sim/network/reachable", reachable, 200, a),
            ("GET", "/_sim/network", lambda r, b: s.network(), 200, a),
        ]
        for method, path, handler, status, extra in table:
            admin = extra == a
            context = extra if callable(extra) else None
            self.routes.append(Route(path, ep(handler, status=status, context=context, admin=admin),
                                     methods=[method]))

        async def not_found(request: Request, exc: Exception) -> Response:
            return JSONResponse({"id": "req-" + secrets.token_hex(8), "message": "not found"}, status_code=404)

        async def not_allowed(request: Request, exc: Exception) -> Response:
            return JSONResponse({"id": "req-" + secrets.token_hex(8), "message": "method not allowed"},
                                status_code=405)

        app = Starlette(routes=list(self.routes), exception_handlers={404: not_found, 405: not_allowed})
        return SimASGI(app, self)


class SimASGI:
    """Latency, faults and rate limits in front of the `/v1` routes, and the stats of every answer."""

    def __init__(self, app: ASGIApp, sim: SimApp) -> None:
        self.app = app
        self.sim = sim

    def _record(self, method: str, path: str, status: int, body: JSON | None) -> None:
        self.sim.recorder.record({"method": method, "path": path, "query": "", "request": None, "status": status,
                                  "response": body, "context": None})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        method, path = str(scope["method"]), str(scope["path"])
        label = sim.label(scope)
        if sim.faults.latency_ms > 0:
            await asyncio.sleep(sim.faults.latency_ms / 1000)
        rule = sim.faults.pick(method, path)
        if rule is not None and rule.action == "latency":
            await asyncio.sleep(rule.latency_ms / 1000)
            rule = None
        if rule is not None and rule.action == "drop":
            sim.stats.count(label, "dropped")
            await _drop(send)
            return
        if rule is not None and rule.action in ("status", "rate_limit"):
            default = "rate limit exceeded" if rule.status == 429 else "injected fault"
            body, request_id = _error(rule.status, rule.message or default)
            headers = {"Rndr-Id": request_id}
            if rule.action == "rate_limit":
                if rule.retry_after is not None:
                    headers["Retry-After"] = f"{rule.retry_after:g}"
                else:
                    headers.update({"Ratelimit-Limit": "1", "Ratelimit-Remaining": "0", "Ratelimit-Reset": "1"})
            sim.stats.count(label, rule.status)
            self._record(method, path, rule.status, body)
            await _answer(send, rule.status, body, headers)
            return
        extra: dict[str, str] = {}
        request_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if sim.authorized(request_headers):
            verdict = sim.limiter.check(method, path)
            if verdict is not None:
                extra = verdict.headers
                if not verdict.allowed:
                    body, request_id = _error(429, f"rate limit exceeded: {extra['Ratelimit-Limit']} requests in "
                                                   f"this window; it resets in {extra['Ratelimit-Reset']} s")
                    sim.stats.count(label, 429)
                    self._record(method, path, 429, body)
                    await _answer(send, 429, body, {"Rndr-Id": request_id, **extra})
                    return
        statuses: list[int] = []
        encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        if rule is not None and rule.action == "lose_response":
            async def swallow(message: Message) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(int(message["status"]))

            await self.app(scope, receive, swallow)
            sim.stats.count(label, "lost")
            await _drop(send)
            return

        async def forward(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(int(message["status"]))
                message = {**message, "headers": [*message.get("headers", []), *encoded]}
            await send(message)

        await self.app(scope, receive, forward)
        sim.stats.count(label, statuses[0] if statuses else "none")
