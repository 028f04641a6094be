"""An async client for Render's REST API (https://api.render.com/v1; openapi.json is the contract).

Configuration comes from the environment (`Settings.from_env`):

- `RENDER_API_URL`: base URL including `/v1` (default `https://api.render.com/v1`);
- `RENDER_API_KEY`: sent as `Authorization: Bearer <key>`;
- `RENDER_OWNER_ID`: the workspace (`tea-...`) creates go to and lists are filtered by.

The client takes an optional httpx transport (the seam tests use). Every call is logged at debug level
with method, path, status, Render's request id and latency; never headers or bodies, which can hold
secrets. Errors are the tree in `renderer.render_api.errors`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from renderer.errors import RendererError
from renderer.render_api.errors import NotFound, RenderAPIError, TransportError, error_for

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.render.com/v1"
PAGE_LIMIT = 100  # the largest page Render serves (openapi.json: components.parameters.limitParam)
TIMEOUT_SECONDS = 30.0

JSON = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """Where the API is and who we are. `api_key`/`owner_id` may be None until a call needs them."""

    base_url: str = DEFAULT_API_URL
    api_key: str | None = None
    owner_id: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            base_url=os.environ.get("RENDER_API_URL") or DEFAULT_API_URL,
            api_key=os.environ.get("RENDER_API_KEY") or None,
            owner_id=os.environ.get("RENDER_OWNER_ID") or None,
        )

    def require_owner(self) -> str:
        if not self.owner_id:
            raise RendererError(
                "RENDER_OWNER_ID is not set: renderer needs the workspace to create resources in",
                hint="set RENDER_OWNER_ID to your workspace ID (tea-...), shown in the dashboard's "
                     "workspace settings or by GET /v1/owners",
            )
        return self.owner_id


class RenderClient:
    """Render API calls used by refresh and apply. Use as `async with RenderClient(settings) as c:`.

    List methods follow `cursor` pages of `PAGE_LIMIT` and return plain items (the `<resource>` of each
    `{cursor, <resource>}` entry).
    """

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not settings.api_key:
            raise RendererError(
                "RENDER_API_KEY is not set: renderer needs an API key to read and change Render",
                hint="create a key in the Render dashboard (Account Settings > API Keys) and export "
                     "RENDER_API_KEY; for a local trial run `renderer sim serve` and point "
                     "RENDER_API_URL at it",
            )
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.api_key}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            transport=transport,
        )

    async def __aenter__(self) -> RenderClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
    ) -> Any:
        """One API call. Returns the decoded JSON body (None for an empty body).

        Raises a `RenderAPIError` subclass for any status >= 400 and `TransportError` when no answer came.
        """
        started = time.monotonic()
        try:
            response = await self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            log.debug("%s %s -> transport error %s", method, path, type(exc).__name__)
            raise TransportError(
                f"no answer from {self.settings.base_url}: {type(exc).__name__}: {exc}",
                method=method, path=path, hint="check RENDER_API_URL and the network",
            ) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        request_id = response.headers.get("rndr-id")
        log.debug("%s %s -> %s (request id %s, %.0f ms)", method, path, response.status_code,
                  request_id, elapsed_ms)
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if response.status_code >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            if not request_id and isinstance(body, dict):
                request_id = body.get("id")
            retry_after = response.headers.get("retry-after")
            raise error_for(
                response.status_code, str(message or response.reason_phrase), method=method, path=path,
                request_id=request_id, retry_after=float(retry_after) if retry_after else None,
            )
        return body

    async def paginate(self, path: str, item_key: str, params: dict[str, Any] | None = None) -> AsyncIterator[JSON]:
        """Yield every `<item_key>` of a cursor-paged list endpoint, `PAGE_LIMIT` per request."""
        query = dict(params or {})
        query["limit"] = PAGE_LIMIT
        while True:
            page = await self.request("GET", path, params=query)
            if not isinstance(page, list):
                raise RenderAPIError(f"expected a list, got {type(page).__name__}", method="GET", path=path)
            for entry in page:
                yield entry[item_key]
            if len(page) < PAGE_LIMIT:
                return
            query["cursor"] = page[-1]["cursor"]

    async def _list(self, path: str, item_key: str, params: dict[str, Any] | None = None) -> list[JSON]:
        return [item async for item in self.paginate(path, item_key, params)]

    def _owner_filter(self) -> dict[str, Any]:
        return {"ownerId": self.settings.owner_id} if self.settings.owner_id else {}

    # Owners: GET /owners
    async def list_owners(self) -> list[JSON]:
        return await self._list("/owners", "owner")

    # Services: /services
    async def list_services(self, *, name: str | None = None) -> list[JSON]:
        """GET /services for the configured workspace, previews excluded."""
        params: dict[str, Any] = {**self._owner_filter(), "includePreviews": "false"}
        if name is not None:
            params["name"] = name
        return await self._list("/services", "service", params)

    async def get_service(self, service_id: str) -> JSON:
        result: JSON = await self.request("GET", f"/services/{service_id}")
        return result

    async def find_service(self, service_id: str) -> JSON | None:
        """GET /services/{id}, or None when Render answers 404."""
        try:
            return await self.get_service(service_id)
        except NotFound:
            return None

    async def create_service(self, body: JSON) -> JSON:
        """POST /services. Returns `{"service": {...}, "deployId": "dep-..."}` (schemas.serviceAndDeploy)."""
        result: JSON = await self.request("POST", "/services", json=body)
        return result

    async def update_service(self, service_id: str, body: JSON) -> JSON:
        result: JSON = await self.request("PATCH", f"/services/{service_id}", json=body)
        return result

    async def delete_service(self, service_id: str) -> None:
        await self.request("DELETE", f"/services/{service_id}")

    async def scale_service(self, service_id: str, num_instances: int) -> None:
        await self.request("POST", f"/services/{service_id}/scale", json={"numInstances": num_instances})

    # Env vars, one key at a time: never the replace-all PUT /services/{id}/env-vars.
    async def list_env_vars(self, service_id: str) -> list[JSON]:
        return await self._list(f"/services/{service_id}/env-vars", "envVar")

    async def put_env_var(self, service_id: str, key: str, *, value: str | None = None,
                          generate: bool = False) -> JSON:
        body: JSON = {"generateValue": True} if generate else {"value": value}
        result: JSON = await self.request("PUT", f"/services/{service_id}/env-vars/{key}", json=body)
        return result

    async def delete_env_var(self, service_id: str, key: str) -> None:
        await self.request("DELETE", f"/services/{service_id}/env-vars/{key}")

    # Deploys
    async def trigger_deploy(self, service_id: str) -> JSON | None:
        result: JSON | None = await self.request("POST", f"/services/{service_id}/deploys", json={})
        return result

    async def list_deploys(self, service_id: str) -> list[JSON]:
        return await self._list(f"/services/{service_id}/deploys", "deploy")

    async def get_deploy(self, service_id: str, deploy_id: str) -> JSON:
        result: JSON = await self.request("GET", f"/services/{service_id}/deploys/{deploy_id}")
        return result

    # Postgres: /postgres
    async def list_postgres(self) -> list[JSON]:
        return await self._list("/postgres", "postgres", self._owner_filter())

    async def get_postgres(self, postgres_id: str) -> JSON:
        result: JSON = await self.request("GET", f"/postgres/{postgres_id}")
        return result

    async def find_postgres(self, postgres_id: str) -> JSON | None:
        try:
            return await self.get_postgres(postgres_id)
        except NotFound:
            return None

    async def create_postgres(self, body: JSON) -> JSON:
        result: JSON = await self.request("POST", "/postgres", json=body)
        return result

    async def update_postgres(self, postgres_id: str, body: JSON) -> JSON:
        result: JSON = await self.request("PATCH", f"/postgres/{postgres_id}", json=body)
        return result

    async def delete_postgres(self, postgres_id: str) -> None:
        await self.request("DELETE", f"/postgres/{postgres_id}")

    async def postgres_connection_info(self, postgres_id: str) -> JSON:
        """GET /postgres/{id}/connection-info: password and connection strings (secrets)."""
        result: JSON = await self.request("GET", f"/postgres/{postgres_id}/connection-info")
        return result
