"""An async client for Render's REST API (https://api.render.com/v1; openapi.json is the contract).

Configuration comes from the environment (`Settings.from_env`):

- `RENDER_API_URL`: base URL including `/v1` (default `https://api.render.com/v1`);
- `RENDER_API_KEY`: sent as `Authorization: Bearer <key>`;
- `RENDER_OWNER_ID`: the workspace (`tea-...`) creates go to and lists are filtered by;
- `RENDERER_RATE_LIMITS`: the client-side budgets (`renderer.render_api.limits`; Render's by default);
- `RENDERER_PARALLELISM`: how many requests may be in flight at once (default 8).

How a client is built, most specific first: the arguments of `RenderClient(...)`, then the ambient
`ClientOptions` (`client_options(...)`: what the command line's `--rate-limits` / `--parallelism` set,
and the seam tests use to inject an httpx transport and a clock into clients the CLI builds), then
`Settings`. The transport is httpx's own seam (`httpx.AsyncBaseTransport`).

Every request passes the limiter (`limits.Limiter`), then a slot of `parallelism`, then httpx; failures
are retried as `renderer.render_api.retry` says, sleeping on the one injected `Clock`. Every call is
logged at debug level with method, path, status, Render's request id and latency; never headers, query
values or bodies, which can hold secrets. Errors are the tree in `renderer.render_api.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from renderer.errors import RendererError
from renderer.render_api.clock import Clock, SystemClock
from renderer.render_api.errors import (
    Conflict,
    NotFound,
    RenderAPIError,
    ServerError,
    TransportError,
    Unreachable,
    error_for,
)
from renderer.render_api.limits import Bucket, BudgetState, Limiter, RateLimits
from renderer.render_api.retry import RenderWait, RetryPolicy, reset_seconds, retry_after_seconds, should_retry

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.render.com/v1"
PAGE_LIMIT = 100  # the largest page Render serves (openapi.json: components.parameters.limitParam)
# Project IDs per GET /environments (`projectId=a,b,...`): about 2.3 KB of query string, well under the
# URL lengths servers commonly accept, and with one environment per project (as renderer makes them) a
# request's environments fit one page of PAGE_LIMIT.
PROJECT_IDS_PER_REQUEST = 90


def rfc3339(moment: datetime | str) -> str:
    """A query time as Render takes it (`2026-12-02T20:01:02.000123Z`): a datetime (naive means UTC)
    or a string passed as given."""
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
TIMEOUT_SECONDS = 30.0
DEFAULT_PARALLELISM = 8

JSON = dict[str, Any]
TransportFactory = Callable[[], httpx.AsyncBaseTransport]


def _parallelism(value: str, origin: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise RendererError(f"{origin} must be a whole number of at least 1, not {value!r}")
    return number


@dataclass(frozen=True)
class Settings:
    """Where the API is, who we are and how hard we may call it. `api_key`/`owner_id` may be None
    until a call needs them."""

    base_url: str = DEFAULT_API_URL
    api_key: str | None = None
    owner_id: str | None = None
    rate_limits: RateLimits = field(default_factory=RateLimits.render)
    parallelism: int = DEFAULT_PARALLELISM

    @classmethod
    def from_env(cls) -> Settings:
        """Read the environment (module docstring). Raises `RendererError` for a malformed
        RENDERER_RATE_LIMITS or RENDERER_PARALLELISM."""
        limits = os.environ.get("RENDERER_RATE_LIMITS")
        parallelism = os.environ.get("RENDERER_PARALLELISM")
        return cls(
            base_url=os.environ.get("RENDER_API_URL") or DEFAULT_API_URL,
            api_key=os.environ.get("RENDER_API_KEY") or None,
            owner_id=os.environ.get("RENDER_OWNER_ID") or None,
            rate_limits=RateLimits.parse(limits) if limits else RateLimits.render(),
            parallelism=_parallelism(parallelism, "RENDERER_PARALLELISM") if parallelism else DEFAULT_PARALLELISM,
        )

    def require_owner(self) -> str:
        if not self.owner_id:
            raise RendererError(
                "RENDER_OWNER_ID is not set: renderer needs the workspace to create resources in",
                hint="set RENDER_OWNER_ID to your workspace ID (tea-...), shown in the dashboard's "
                     "workspace settings or by GET /v1/owners (`renderer doctor` lists them)",
            )
        return self.owner_id


@dataclass(frozen=True)
class ClientOptions:
    """Ambient client options; None leaves the decision to `Settings` or the default."""

    transport_factory: TransportFactory | None = None
    rate_limits: RateLimits | None = None
    parallelism: int | None = None
    clock: Clock | None = None
    retry: RetryPolicy | None = None


_OPTIONS: ContextVar[ClientOptions | None] = ContextVar("renderer_client_options", default=None)


@contextlib.contextmanager
def client_options(**changes: Any) -> Iterator[ClientOptions]:
    """Set ambient `ClientOptions` fields (those not None) for clients built inside the block."""
    current = current_client_options()
    updated = replace(current, **{k: v for k, v in changes.items() if v is not None})
    token = _OPTIONS.set(updated)
    try:
        yield updated
    finally:
        _OPTIONS.reset(token)


def current_client_options() -> ClientOptions:
    return _OPTIONS.get() or ClientOptions()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process (httpx's defaults: the certifi CA bundle), shared by every client:
    building one loads the CA bundle, which costs about 0.1 s of CPU per client otherwise."""
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, decoded JSON body (None when empty) and headers."""

    status: int
    body: Any
    headers: httpx.Headers


class RenderClient:
    """Render API calls. Use as `async with RenderClient(settings) as client:`.

    List methods follow `cursor` pages of `PAGE_LIMIT` and return plain items (the `<resource>` of each
    `{cursor, <resource>}` entry). Creates never make a second resource when an answer is lost (see
    `_create`). Methods raise the `renderer.render_api.errors` tree.
    """

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None, *,
        rate_limits: RateLimits | None = None, parallelism: int | None = None, clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not settings.api_key:
            raise RendererError(
                "RENDER_API_KEY is not set: renderer needs an API key to read and change Render",
                hint="create a key in the Render dashboard (Account Settings > API Keys) and export "
                     "RENDER_API_KEY; for a local trial run `renderer sim serve` and point "
                     "RENDER_API_URL at it",
            )
        ambient = current_client_options()
        self.settings = settings
        self.clock: Clock = clock or ambient.clock or SystemClock()
        self.rate_limits = rate_limits or ambient.rate_limits or settings.rate_limits
        self.parallelism = max(1, parallelism or ambient.parallelism or settings.parallelism)
        self.retry = retry or ambient.retry or RetryPolicy()
        if transport is None and ambient.transport_factory is not None:
            transport = ambient.transport_factory()
        self.limiter = Limiter(self.rate_limits, self.clock)
        self._slots = asyncio.Semaphore(self.parallelism)
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            transport=transport,
            verify=tls_context(),
            limits=httpx.Limits(max_connections=self.parallelism, max_keepalive_connections=self.parallelism),
        )

    async def __aenter__(self) -> RenderClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # The wire
    async def _attempt(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> Answer:
        """One request through the limiter and a parallelism slot (in that order, and a request whose
        window closed while it waited for a slot asks the limiter again). Raises the error tree for >= 400."""
        while True:
            ticket = await self.limiter.acquire(method, path)
            try:
                await self._slots.acquire()
            except BaseException:
                self.limiter.done(ticket)
                raise
            if self.limiter.still_current(ticket):
                break
            self._slots.release()
        response: httpx.Response | None = None
        try:
            try:
                started = time.perf_counter()
                try:
                    if body is None:
                        response = await self._http.request(method, path, params=params)
                    else:
                        response = await self._http.request(method, path, params=params, json=body)
                except httpx.TransportError as exc:
                    log.debug("%s %s -> no answer (%s) after %.0f ms", method, path, type(exc).__name__,
                              (time.perf_counter() - started) * 1000)
                    raise self._no_answer(exc, method, path) from None
                elapsed_ms = (time.perf_counter() - started) * 1000
            finally:
                self._slots.release()
        finally:
            if response is None:
                self.limiter.done(ticket)
        headers = response.headers
        epoch = self.clock.epoch()
        status = response.status_code
        retry_after = retry_after_seconds(headers, epoch) if status == 429 else None
        self.limiter.done(ticket, status=status, remaining=headers.get("ratelimit-remaining"),
                          reset_in=retry_after if retry_after is not None
                          else reset_seconds(headers.get("ratelimit-reset"), epoch))
        request_id = headers.get("rndr-id")
        log.debug("%s %s -> %s (request id %s, %.0f ms)", method, path, status, request_id, elapsed_ms)
        decoded: Any = None
        if response.content:
            try:
                decoded = response.json()
            except ValueError:
                decoded = None
        if status >= 400:
            message = decoded.get("message") if isinstance(decoded, dict) else None
            if not request_id and isinstance(decoded, dict):
                request_id = decoded.get("id")
            raise error_for(status, str(message or response.reason_phrase), method=method, path=path,
                            request_id=request_id, retry_after=retry_after)
        return Answer(status, decoded, headers)

    def _no_answer(self, exc: httpx.TransportError, method: str, path: str) -> TransportError:
        """`Unreachable` for a refused connection or a host name that does not resolve (not retried),
        else `TransportError` (retried for idempotent requests)."""
        base = self.settings.base_url
        url = self._http.base_url
        causes: list[BaseException] = []
        cause: BaseException | None = exc
        while cause is not None and len(causes) < 10:
            causes.append(cause)
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, httpx.ConnectError) and any(isinstance(c, socket.gaierror) for c in causes):
            return Unreachable(
                f"no answer from {base}: unknown host {url.host}", method=method, path=path,
                hint=f"the host {url.host} cannot be resolved: check RENDER_API_URL for a typo, and the network's DNS")
        if isinstance(exc, httpx.ConnectError) and any(isinstance(c, ConnectionRefusedError) for c in causes):
            port = url.port or (443 if url.scheme == "https" else 80)
            return Unreachable(
                f"no answer from {base}: connection refused", method=method, path=path,
                hint=f"check RENDER_API_URL and the network: nothing is listening at {url.host}:{port} (for the "
                     "simulator, `renderer sim serve` prints the URL to use)")
        return TransportError(f"no answer from {base}: {type(exc).__name__}: {exc}", method=method, path=path,
                              hint="check RENDER_API_URL and the network")

    def _before_sleep(self, method: str, path: str) -> Callable[[RetryCallState], None]:
        def report(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            what = (f"{error.status}" if isinstance(error, RenderAPIError) and error.status is not None
                    else "no answer")
            wait = state.next_action.sleep if state.next_action else 0.0
            log.info("%s %s: %s, retrying in %.1f s (attempt %d of %d)", method, path, what, wait,
                     state.attempt_number + 1, self.retry.attempts)
        return report

    async def exchange(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
    ) -> Answer:
        """One API call with retries (`renderer.render_api.retry`). Returns the final `Answer`.

        Raises a `RenderAPIError` subclass for a status >= 400 that is not retried (or still failing
        after the last attempt) and `TransportError` when no answer came.
        """
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: should_retry(error, method, path)),
            wait=RenderWait(self.retry),
            stop=stop_after_attempt(self.retry.attempts),
            sleep=self.clock.sleep,
            before_sleep=self._before_sleep(method, path),
            reraise=True,
        )
        answer: Answer | None = None
        async for attempt in retrying:
            with attempt:
                answer = await self._attempt(method, path, params, json)
        assert answer is not None
        return answer

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
    ) -> Any:
        """One API call (with retries). Returns the decoded JSON body (None for an empty body)."""
        return (await self.exchange(method, path, params=params, json=json)).body

    async def _create(self, path: str, body: JSON, lookup: Callable[[], Awaitable[Any]]) -> Any:
        """POST a create without ever making a second resource.

        A create is not idempotent, so a 5xx or a lost answer is not simply re-sent: after the backoff,
        `lookup` (by owner, type and name) asks Render whether the first attempt created it. Found: that
        is the result. Not found: the create is sent again. A 409 on a re-send means an earlier attempt
        did create it after all: looked up again. At most `RetryPolicy.attempts` sends.
        """
        failures: list[RenderAPIError] = []

        async def send_or_find() -> Any:
            if failures:
                found = await lookup()
                if found is not None:
                    log.warning("POST %s: an answer was lost (%s) but the create happened; not sending it again",
                                path, failures[-1].status or "no answer")
                    return found
            try:
                return await self.request("POST", path, json=body)
            except (ServerError, TransportError) as exc:
                failures.append(exc)
                raise
            except Conflict:
                if not failures:
                    raise
                found = await lookup()
                if found is None:
                    raise
                return found

        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: isinstance(error, ServerError | TransportError)
                                     and not isinstance(error, Unreachable)),
            wait=RenderWait(self.retry),
            stop=stop_after_attempt(self.retry.attempts),
            sleep=self.clock.sleep,
            before_sleep=self._before_sleep("POST", path),
            reraise=True,
        )
        result: Any = None
        async for attempt in retrying:
            with attempt:
                result = await send_or_find()
        return result

    async def paginate(self, path: str, item_key: str | None, params: dict[str, Any] | None = None,
                       ) -> AsyncIterator[JSON]:
        """Yield every item of a cursor-paged list endpoint, `PAGE_LIMIT` per request.

        Most lists are `[{"cursor": ..., "<item_key>": {...}}]`; the next page starts at the last
        entry's cursor. `item_key=None` is a bare array of objects (GET /env-groups, schemas.envGroupMeta,
        has no cursor): the next page starts at the last object's `id`.
        """
        query = dict(params or {})
        query["limit"] = PAGE_LIMIT
        while True:
            page = await self.request("GET", path, params=query)
            if not isinstance(page, list):
                raise RenderAPIError(f"expected a list, got {type(page).__name__}", method="GET", path=path)
            for entry in page:
                yield entry if item_key is None else entry[item_key]
            if len(page) < PAGE_LIMIT:
                return
            query["cursor"] = page[-1]["id"] if item_key is None else page[-1]["cursor"]

    async def _list(self, path: str, item_key: str | None, params: dict[str, Any] | None = None) -> list[JSON]:
        return [item async for item in self.paginate(path, item_key, params)]

    def _owner_filter(self) -> dict[str, Any]:
        return {"ownerId": self.settings.owner_id} if self.settings.owner_id else {}

    @staticmethod
    def _name_filter(name: str | Sequence[str] | None) -> dict[str, Any]:
        """The `name` filter of GET /services, /postgres, /key-value, /env-groups and /projects: one name or several
        (openapi.json: an array, `style: form`, `explode: false`, so `name=a,b`). None or []: no filter."""
        if name is None:
            return {}
        names = [name] if isinstance(name, str) else list(name)
        return {"name": ",".join(names)} if names else {}

    async def _json(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> JSON:
        result: JSON = await self.request(method, path, json=body, params=params)
        return result

    async def _find(self, fetch: Awaitable[JSON]) -> JSON | None:
        try:
            return await fetch
        except NotFound:
            return None

    # Rate-limit budgets
    def budget(self, bucket: Bucket, key: str = "") -> BudgetState | None:
        """The limiter's view of a budget (None when client-side limiting is off)."""
        return self.limiter.state(bucket, key)

    def service_create_budget(self) -> BudgetState | None:
        """What is left of POST /services' budget (Render: 20 per hour) as this client sees it."""
        return self.limiter.state(Bucket.CREATE_SERVICE)

    # Owners and the key's user: GET /owners, GET /owners/{id}, GET /users
    async def list_owners(self) -> list[JSON]:
        return await self._list("/owners", "owner")

    async def get_owner(self, owner_id: str) -> JSON:
        return await self._json("GET", f"/owners/{owner_id}")

    async def get_user(self) -> JSON:
        """GET /users: the user the API key belongs to (`{"name", "email"}`)."""
        return await self._json("GET", "/users")

    # Services: /services
    async def list_services(self, *, name: str | Sequence[str] | None = None,
                            types: list[str] | None = None) -> list[JSON]:
        """GET /services for the configured workspace, previews excluded (`includePreviews=false`); with
        `name`, only the services of that name or names."""
        params: dict[str, Any] = {**self._owner_filter(), "includePreviews": "false", **self._name_filter(name)}
        if types:
            params["type"] = ",".join(types)
        return await self._list("/services", "service", params)

    async def find_service_by_name(self, name: str, service_type: str, owner_id: str | None = None) -> JSON | None:
        """The service named `name` of `service_type` in the workspace (GET /services filtered by
        ownerId, type and name, previews excluded), or None."""
        owner = owner_id or self.settings.owner_id
        params: dict[str, Any] = {"name": name, "type": service_type, "includePreviews": "false"}
        if owner:
            params["ownerId"] = owner
        for service in await self._list("/services", "service", params):
            if service.get("name") == name and service.get("type") == service_type:
                return service
        return None

    async def get_service(self, service_id: str) -> JSON:
        return await self._json("GET", f"/services/{service_id}")

    async def find_service(self, service_id: str) -> JSON | None:
        """GET /services/{id}, or None when Render answers 404."""
        return await self._find(self.get_service(service_id))

    async def create_service(self, body: JSON) -> JSON:
        """POST /services (schemas.servicePOST). Returns `{"service": {...}, "deployId": "dep-..."}`
        (schemas.serviceAndDeploy). A lost answer is recovered by owner, type and name, never re-sent
        blindly (`_create`)."""

        async def lookup() -> JSON | None:
            service = await self.find_service_by_name(str(body.get("name")), str(body.get("type")),
                                                      body.get("ownerId"))
            if service is None:
                return None
            deploys = await self.request("GET", f"/services/{service['id']}/deploys", params={"limit": 1})
            found: JSON = {"service": service}
            if deploys:
                found["deployId"] = deploys[0]["deploy"]["id"]
            return found

        result: JSON = await self._create("/services", body, lookup)
        return result

    async def update_service(self, service_id: str, body: JSON) -> JSON:
        """PATCH /services/{id} (schemas.servicePATCH)."""
        return await self._json("PATCH", f"/services/{service_id}", body)

    async def delete_service(self, service_id: str) -> None:
        await self.request("DELETE", f"/services/{service_id}")

    async def suspend_service(self, service_id: str) -> None:
        await self.request("POST", f"/services/{service_id}/suspend")

    async def resume_service(self, service_id: str) -> None:
        await self.request("POST", f"/services/{service_id}/resume")

    async def scale_service(self, service_id: str, num_instances: int) -> None:
        await self.request("POST", f"/services/{service_id}/scale", json={"numInstances": num_instances})

    async def update_autoscaling(self, service_id: str, config: JSON) -> JSON:
        """PUT /services/{id}/autoscaling: `{"enabled", "min", "max", "criteria": {"cpu", "memory"}}`."""
        return await self._json("PUT", f"/services/{service_id}/autoscaling", config)

    async def delete_autoscaling(self, service_id: str) -> None:
        await self.request("DELETE", f"/services/{service_id}/autoscaling")

    # Env vars, one key at a time: never the replace-all PUT /services/{id}/env-vars.
    async def list_env_vars(self, service_id: str) -> list[JSON]:
        return await self._list(f"/services/{service_id}/env-vars", "envVar")

    async def get_env_var(self, service_id: str, key: str) -> JSON:
        return await self._json("GET", f"/services/{service_id}/env-vars/{key}")

    async def put_env_var(self, service_id: str, key: str, *, value: str | None = None,
                          generate: bool = False) -> JSON:
        body: JSON = {"generateValue": True} if generate else {"value": value}
        return await self._json("PUT", f"/services/{service_id}/env-vars/{key}", body)

    async def delete_env_var(self, service_id: str, key: str) -> None:
        await self.request("DELETE", f"/services/{service_id}/env-vars/{key}")

    # Secret files, one at a time (their content is a secret: never logged).
    async def list_secret_files(self, service_id: str) -> list[JSON]:
        return await self._list(f"/services/{service_id}/secret-files", "secretFile")

    async def get_secret_file(self, service_id: str, name: str) -> JSON:
        return await self._json("GET", f"/services/{service_id}/secret-files/{name}")

    async def put_secret_file(self, service_id: str, name: str, content: str) -> JSON:
        return await self._json("PUT", f"/services/{service_id}/secret-files/{name}", {"content": content})

    async def delete_secret_file(self, service_id: str, name: str) -> None:
        await self.request("DELETE", f"/services/{service_id}/secret-files/{name}")

    # Deploys, rollback, events (fleet releases: deploy a given version, roll it back, watch its health)
    async def trigger_deploy(self, service_id: str, *, clear_cache: bool = False, commit_id: str | None = None,
                             image_url: str | None = None) -> JSON | None:
        """POST /services/{id}/deploys. `commit_id`: that commit of a Git-backed service (openapi.json
        `commitId`, default the branch head; not for cron jobs); `image_url`: that image of an image-backed
        service (`imageUrl`, e.g. `docker.io/acme/app@sha256:...`; host, repository and name must match
        the service's image). Returns the deploy: Render's (201), or, when Render queued it behind
        a deploy in progress (202, no body; openapi.json "Queued", recorded for private services and cron
        jobs in ../shared/render/recorded/privateservice_resource__*), the newest `queued` deploy
        (GET /services/{id}/deploys?status=queued). None when no queued deploy is listed (it started
        already, or Render dropped it as superseded). Raises `RenderAPIError` (400 for a bad version)."""
        body: JSON = {}
        if clear_cache:
            body["clearCache"] = "clear"
        if commit_id:
            body["commitId"] = commit_id
        if image_url:
            body["imageUrl"] = image_url
        result: JSON | None = await self.request("POST", f"/services/{service_id}/deploys", json=body)
        if result is None:
            queued = await self.list_deploys(service_id, statuses=["queued"])
            return queued[0] if queued else None
        return result

    async def list_deploys(self, service_id: str, *, statuses: list[str] | None = None,
                           created_after: datetime | str | None = None) -> list[JSON]:
        """GET /services/{id}/deploys (with `status` and `createdAfter` filters), newest first."""
        params: dict[str, Any] = {}
        if statuses:
            params["status"] = ",".join(statuses)
        if created_after is not None:
            params["createdAfter"] = rfc3339(created_after)
        return await self._list(f"/services/{service_id}/deploys", "deploy", params or None)

    async def get_deploy(self, service_id: str, deploy_id: str) -> JSON:
        return await self._json("GET", f"/services/{service_id}/deploys/{deploy_id}")

    async def cancel_deploy(self, service_id: str, deploy_id: str) -> JSON:
        return await self._json("POST", f"/services/{service_id}/deploys/{deploy_id}/cancel")

    async def rollback(self, service_id: str, deploy_id: str) -> JSON:
        """POST /services/{id}/rollback {deployId}: a new deploy (schemas.deploy, 201, trigger `rollback`)
        of the commit or image of `deploy_id`, an earlier deploy of the service that was live. Counts
        against the service's deploy budget. Raises `RenderAPIError` (400: that deploy never went live;
        404: no such deploy)."""
        return await self._json("POST", f"/services/{service_id}/rollback", {"deployId": deploy_id})

    async def list_events(self, service_id: str, start_time: datetime | str, end_time: datetime | str | None = None,
                          types: list[str] | None = None) -> list[JSON]:
        """GET /services/{id}/events from `start_time` to `end_time` (default now), every page, newest
        first: schemas.serviceEventWithCursor's `event` objects `{id, timestamp, serviceId, type,
        details}`. `types` filters by event type (openapi.json eventTypeParam, e.g. `server_failed`,
        `deploy_ended`). Give `start_time` always: Render's default window is the last hour only."""
        params: dict[str, Any] = {"startTime": rfc3339(start_time)}
        if end_time is not None:
            params["endTime"] = rfc3339(end_time)
        if types:
            params["type"] = list(types)  # one type per parameter, repeated (the parameter is a string)
        return await self._list(f"/services/{service_id}/events", "event", params)

    # Static site headers and routes
    async def list_headers(self, service_id: str) -> list[JSON]:
        """GET /services/{id}/headers: a static site's response headers (schemas.header)."""
        return await self._list(f"/services/{service_id}/headers", "header")

    async def replace_headers(self, service_id: str, headers: list[JSON]) -> list[JSON]:
        """PUT /services/{id}/headers: replace all of a static site's headers (schemas.headerInput)."""
        result: list[JSON] = await self.request("PUT", f"/services/{service_id}/headers", json=headers)
        return result

    async def list_routes(self, service_id: str) -> list[JSON]:
        """GET /services/{id}/routes: a static site's redirect and rewrite rules (schemas.route)."""
        return await self._list(f"/services/{service_id}/routes", "route")

    async def replace_routes(self, service_id: str, routes: list[JSON]) -> list[JSON]:
        """PUT /services/{id}/routes: replace all of a static site's routes, in priority order
        (schemas.routePut)."""
        result: list[JSON] = await self.request("PUT", f"/services/{service_id}/routes", json=routes)
        return result

    # Custom domains
    async def list_custom_domains(self, service_id: str) -> list[JSON]:
        return await self._list(f"/services/{service_id}/custom-domains", "customDomain")

    async def add_custom_domain(self, service_id: str, name: str) -> list[JSON]:
        """POST /services/{id}/custom-domains. Returns every domain Render added (adding an apex domain
        also adds its `www.` redirect, and the other way round)."""

        async def lookup() -> list[JSON] | None:
            found = [d for d in await self._list(f"/services/{service_id}/custom-domains", "customDomain")
                     if name in (d.get("name"), d.get("redirectForName"))]
            return found or None

        result: list[JSON] = await self._create(f"/services/{service_id}/custom-domains", {"name": name}, lookup)
        return result

    async def get_custom_domain(self, service_id: str, id_or_name: str) -> JSON:
        return await self._json("GET", f"/services/{service_id}/custom-domains/{id_or_name}")

    async def delete_custom_domain(self, service_id: str, id_or_name: str) -> None:
        await self.request("DELETE", f"/services/{service_id}/custom-domains/{id_or_name}")

    async def verify_custom_domain(self, service_id: str, id_or_name: str) -> None:
        await self.request("POST", f"/services/{service_id}/custom-domains/{id_or_name}/verify")

    # Disks: /disks
    async def list_disks(self, *, service_id: str | None = None) -> list[JSON]:
        params: dict[str, Any] = dict(self._owner_filter())
        if service_id:
            params["serviceId"] = service_id
        return await self._list("/disks", "disk", params)

    async def get_disk(self, disk_id: str) -> JSON:
        return await self._json("GET", f"/disks/{disk_id}")

    async def find_disk(self, disk_id: str) -> JSON | None:
        return await self._find(self.get_disk(disk_id))

    async def create_disk(self, service_id: str, name: str, size_gb: int, mount_path: str) -> JSON:
        """POST /disks: a persistent disk for a paid web service, private service or background worker."""
        body: JSON = {"serviceId": service_id, "name": name, "sizeGB": size_gb, "mountPath": mount_path}

        async def lookup() -> JSON | None:
            found = [d for d in await self._list("/disks", "disk", {"serviceId": service_id, "name": name})
                     if d.get("name") == name and d.get("serviceId") == service_id]
            return found[0] if found else None

        result: JSON = await self._create("/disks", body, lookup)
        return result

    async def update_disk(self, disk_id: str, body: JSON) -> JSON:
        """PATCH /disks/{id}: `name`, `sizeGB` (grow only), `mountPath`."""
        return await self._json("PATCH", f"/disks/{disk_id}", body)

    async def delete_disk(self, disk_id: str) -> None:
        await self.request("DELETE", f"/disks/{disk_id}")

    # Postgres: /postgres
    async def list_postgres(self, *, name: str | Sequence[str] | None = None) -> list[JSON]:
        """GET /postgres for the configured workspace; with `name`, only those of that name or names."""
        params: dict[str, Any] = {**self._owner_filter(), **self._name_filter(name)}
        return await self._list("/postgres", "postgres", params)

    async def get_postgres(self, postgres_id: str) -> JSON:
        return await self._json("GET", f"/postgres/{postgres_id}")

    async def find_postgres(self, postgres_id: str) -> JSON | None:
        return await self._find(self.get_postgres(postgres_id))

    async def create_postgres(self, body: JSON) -> JSON:
        """POST /postgres (schemas.postgresPOSTInput). Returns schemas.postgresDetail; a lost answer is
        recovered by owner and name."""

        async def lookup() -> JSON | None:
            params = {"name": body.get("name"), "ownerId": body.get("ownerId")}
            for item in await self._list("/postgres", "postgres", params):
                if item.get("name") == body.get("name"):
                    return await self.get_postgres(item["id"])
            return None

        result: JSON = await self._create("/postgres", body, lookup)
        return result

    async def update_postgres(self, postgres_id: str, body: JSON) -> JSON:
        return await self._json("PATCH", f"/postgres/{postgres_id}", body)

    async def delete_postgres(self, postgres_id: str) -> None:
        await self.request("DELETE", f"/postgres/{postgres_id}")

    async def suspend_postgres(self, postgres_id: str) -> None:
        await self.request("POST", f"/postgres/{postgres_id}/suspend")

    async def resume_postgres(self, postgres_id: str) -> None:
        await self.request("POST", f"/postgres/{postgres_id}/resume")

    async def postgres_connection_info(self, postgres_id: str) -> JSON:
        """GET /postgres/{id}/connection-info: password and connection strings (secrets)."""
        return await self._json("GET", f"/postgres/{postgres_id}/connection-info")

    async def create_postgres_export(self, postgres_id: str) -> None:
        """POST /postgres/{id}/export: start a logical backup (202; it appears in `list_postgres_exports`).
        Not retried on a 5xx or a lost answer: each POST starts another export."""
        await self.request("POST", f"/postgres/{postgres_id}/export")

    async def list_postgres_exports(self, postgres_id: str) -> list[JSON]:
        """GET /postgres/{id}/export: `[{"id", "createdAt", "url"?}]` (one unpaged array; `url` is a
        download link, a secret, present once the export is ready)."""
        result: list[JSON] = await self.request("GET", f"/postgres/{postgres_id}/export")
        return result

    # Key Value: /key-value
    async def list_key_value(self, *, name: str | Sequence[str] | None = None) -> list[JSON]:
        """GET /key-value for the configured workspace; with `name`, only those of that name or names."""
        params: dict[str, Any] = {**self._owner_filter(), **self._name_filter(name)}
        return await self._list("/key-value", "keyValue", params)

    async def get_key_value(self, key_value_id: str) -> JSON:
        return await self._json("GET", f"/key-value/{key_value_id}")

    async def find_key_value(self, key_value_id: str) -> JSON | None:
        return await self._find(self.get_key_value(key_value_id))

    async def create_key_value(self, body: JSON) -> JSON:
        """POST /key-value (schemas.keyValuePOSTInput). Returns schemas.keyValueDetail."""

        async def lookup() -> JSON | None:
            params = {"name": body.get("name"), "ownerId": body.get("ownerId")}
            for item in await self._list("/key-value", "keyValue", params):
                if item.get("name") == body.get("name"):
                    return await self.get_key_value(item["id"])
            return None

        result: JSON = await self._create("/key-value", body, lookup)
        return result

    async def update_key_value(self, key_value_id: str, body: JSON) -> JSON:
        return await self._json("PATCH", f"/key-value/{key_value_id}", body)

    async def delete_key_value(self, key_value_id: str) -> None:
        await self.request("DELETE", f"/key-value/{key_value_id}")

    async def suspend_key_value(self, key_value_id: str) -> None:
        await self.request("POST", f"/key-value/{key_value_id}/suspend")

    async def resume_key_value(self, key_value_id: str) -> None:
        await self.request("POST", f"/key-value/{key_value_id}/resume")

    async def key_value_connection_info(self, key_value_id: str) -> JSON:
        """GET /key-value/{id}/connection-info: connection strings and CLI command (secrets)."""
        return await self._json("GET", f"/key-value/{key_value_id}/connection-info")

    # Env groups: /env-groups
    async def list_env_groups(self, *, name: str | Sequence[str] | None = None) -> list[JSON]:
        """GET /env-groups: a bare array of schemas.envGroupMeta (no env vars; see `get_env_group`); with
        `name`, only those of that name or names."""
        params: dict[str, Any] = {**self._owner_filter(), **self._name_filter(name)}
        return await self._list("/env-groups", None, params)

    async def get_env_group(self, env_group_id: str) -> JSON:
        """GET /env-groups/{id}: schemas.envGroup, with `envVars`, `secretFiles` and `serviceLinks`."""
        return await self._json("GET", f"/env-groups/{env_group_id}")

    async def find_env_group(self, env_group_id: str) -> JSON | None:
        return await self._find(self.get_env_group(env_group_id))

    async def create_env_group(self, body: JSON) -> JSON:
        """POST /env-groups (schemas.envGroupPOSTInput: name, ownerId, envVars, ...)."""

        async def lookup() -> JSON | None:
            params = {"name": body.get("name"), "ownerId": body.get("ownerId")}
            for item in await self._list("/env-groups", None, params):
                if item.get("name") == body.get("name"):
                    return await self.get_env_group(item["id"])
            return None

        result: JSON = await self._create("/env-groups", body, lookup)
        return result

    async def update_env_group(self, env_group_id: str, name: str) -> JSON:
        """PATCH /env-groups/{id}: only the name can change."""
        return await self._json("PATCH", f"/env-groups/{env_group_id}", {"name": name})

    async def delete_env_group(self, env_group_id: str) -> None:
        await self.request("DELETE", f"/env-groups/{env_group_id}")

    async def link_env_group(self, env_group_id: str, service_id: str) -> JSON:
        """POST /env-groups/{id}/services/{serviceId}: the service reads the group's env vars."""
        return await self._json("POST", f"/env-groups/{env_group_id}/services/{service_id}")

    async def unlink_env_group(self, env_group_id: str, service_id: str) -> None:
        await self.request("DELETE", f"/env-groups/{env_group_id}/services/{service_id}")

    async def get_env_group_env_var(self, env_group_id: str, key: str) -> JSON:
        return await self._json("GET", f"/env-groups/{env_group_id}/env-vars/{key}")

    async def put_env_group_env_var(self, env_group_id: str, key: str, *, value: str | None = None,
                                    generate: bool = False) -> JSON:
        """PUT /env-groups/{id}/env-vars/{key}. Returns the whole env group (schemas.envGroup)."""
        body: JSON = {"generateValue": True} if generate else {"value": value}
        return await self._json("PUT", f"/env-groups/{env_group_id}/env-vars/{key}", body)

    async def delete_env_group_env_var(self, env_group_id: str, key: str) -> None:
        await self.request("DELETE", f"/env-groups/{env_group_id}/env-vars/{key}")

    async def get_env_group_secret_file(self, env_group_id: str, name: str) -> JSON:
        return await self._json("GET", f"/env-groups/{env_group_id}/secret-files/{name}")

    async def put_env_group_secret_file(self, env_group_id: str, name: str, content: str) -> JSON:
        """PUT /env-groups/{id}/secret-files/{name}. Returns the whole env group."""
        return await self._json("PUT", f"/env-groups/{env_group_id}/secret-files/{name}", {"content": content})

    async def delete_env_group_secret_file(self, env_group_id: str, name: str) -> None:
        await self.request("DELETE", f"/env-groups/{env_group_id}/secret-files/{name}")

    # Projects and environments: /projects, /environments (schemas.project, schemas.environment)
    async def list_projects(self, *, name: str | Sequence[str] | None = None) -> list[JSON]:
        """GET /projects in the workspace, optionally only those named one of `name` (openapi.json
        nameParam: `name=a,b`): schemas.project (`environmentIds`)."""
        params: dict[str, Any] = {**self._owner_filter(), **self._name_filter(name)}
        return await self._list("/projects", "project", params)

    async def get_project(self, project_id: str) -> JSON:
        return await self._json("GET", f"/projects/{project_id}")

    async def find_project(self, project_id: str) -> JSON | None:
        return await self._find(self.get_project(project_id))

    async def create_project(self, body: JSON) -> JSON:
        """POST /projects (schemas.projectPOSTInput: name, ownerId, environments). The project and its
        first environments are made together; a lost answer is recovered by owner and name."""

        async def lookup() -> JSON | None:
            for item in await self._list("/projects", "project", {"name": body.get("name"),
                                                                  "ownerId": body.get("ownerId")}):
                if item.get("name") == body.get("name"):
                    return item
            return None

        result: JSON = await self._create("/projects", body, lookup)
        return result

    async def update_project(self, project_id: str, body: JSON) -> JSON:
        """PATCH /projects/{id}: only `name` (schemas.projectPATCHInput)."""
        return await self._json("PATCH", f"/projects/{project_id}", body)

    async def delete_project(self, project_id: str) -> None:
        """DELETE /projects/{id}. Raises `Conflict` (409) while any of its environments holds a resource."""
        await self.request("DELETE", f"/projects/{project_id}")

    async def list_environments(self, project_ids: list[str], *, name: str | None = None) -> list[JSON]:
        """GET /environments of the given projects (`projectId` is required: openapi.json
        components.parameters.projectIdParam), `PROJECT_IDS_PER_REQUEST` projects a request; [] for no
        projects. Empty ID lists are answered as `null` (recorded: project_resource__project)."""
        found: list[JSON] = []
        for start in range(0, len(project_ids), PROJECT_IDS_PER_REQUEST):
            params: dict[str, Any] = {"projectId": ",".join(project_ids[start:start + PROJECT_IDS_PER_REQUEST])}
            if name is not None:
                params["name"] = name
            found += await self._list("/environments", "environment", params)
        return found

    async def get_environment(self, environment_id: str) -> JSON:
        return await self._json("GET", f"/environments/{environment_id}")

    async def find_environment(self, environment_id: str) -> JSON | None:
        return await self._find(self.get_environment(environment_id))

    async def create_environment(self, body: JSON) -> JSON:
        """POST /environments (schemas.environmentPOSTInput: name, projectId, protectedStatus,
        networkIsolationEnabled). A lost answer is recovered by project and name."""

        async def lookup() -> JSON | None:
            for item in await self.list_environments([str(body.get("projectId"))], name=str(body.get("name"))):
                if item.get("name") == body.get("name"):
                    return item
            return None

        result: JSON = await self._create("/environments", body, lookup)
        return result

    async def update_environment(self, environment_id: str, body: JSON) -> JSON:
        """PATCH /environments/{id}: name, networkIsolationEnabled, protectedStatus, ipAllowList."""
        return await self._json("PATCH", f"/environments/{environment_id}", body)

    async def delete_environment(self, environment_id: str) -> None:
        """DELETE /environments/{id}. Raises `Conflict` (409) while it holds a resource."""
        await self.request("DELETE", f"/environments/{environment_id}")

    async def add_environment_resources(self, environment_id: str, resource_ids: list[str]) -> JSON:
        """POST /environments/{id}/resources: move services, datastores and env groups (by ID) into the
        environment; IDs do not change. Returns schemas.environment."""
        return await self._json("POST", f"/environments/{environment_id}/resources", {"resourceIds": resource_ids})
