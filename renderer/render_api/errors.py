"""The Render API exception tree, in one place.

    RenderAPIError                 any failed call; carries `status`, Render's `message` (`api_message`),
    |                              `method`, `path` and the request id
    +-- BadRequest           400   the body or parameters were refused; `message` says why (not retried)
    +-- Unauthorized         401   RENDER_API_KEY missing, wrong or revoked
    +-- PaymentRequired      402   the workspace needs payment details for this plan or resource
    +-- Forbidden            403   the key cannot reach this resource or workspace
    +-- NotFound             404   no such resource (or not visible to this key)
    |   +-- Gone             410   the resource existed and was removed
    +-- Conflict             409   the state conflicts (e.g. a service name already used in the workspace)
    +-- RateLimited          429   over a rate limit; `retry_after` seconds when Render said (Retry-After,
    |                              else Ratelimit-Reset); retried, then raised when attempts run out
    +-- ServerError          5xx   Render failed; retried only for idempotent requests
    +-- TransportError       -     no HTTP answer (connection reset, timeout); retried only for idempotent
        |                          requests
        +-- Unreachable      -     no connection at all: refused, or the host name does not resolve; never
                                   retried (a wrong RENDER_API_URL does not fix itself in 30 s)

Which requests are retried, how long the client waits and how a lost create is recovered without a
second resource: `renderer.render_api.retry`. Other 4xx statuses (405, 406, ...) raise `RenderAPIError`.

All are `RendererError`s: the CLI prints the message and hint without a traceback and exits 1. The
request id comes from Render's `Rndr-Id` response header, else the error body's `id` field
(openapi.json: components.schemas.error, `{"id": ..., "message": ...}`).
"""

from __future__ import annotations

from renderer.errors import RendererError


class RenderAPIError(RendererError):
    """A Render API call failed. `status` is None for transport failures."""

    def __init__(
        self, message: str, *, status: int | None = None, method: str = "", path: str = "",
        request_id: str | None = None, hint: str | None = None,
    ) -> None:
        where = f"{method} {path}".strip()
        code = f" {status}" if status is not None else ""
        rid = f" (request id {request_id})" if request_id else ""
        super().__init__(f"Render API{code} on {where}: {message}{rid}", hint=hint)
        self.status = status
        self.api_message = message
        self.method = method
        self.path = path
        self.request_id = request_id


class BadRequest(RenderAPIError):
    pass


class Unauthorized(RenderAPIError):
    pass


class PaymentRequired(RenderAPIError):
    pass


class Forbidden(RenderAPIError):
    pass


class NotFound(RenderAPIError):
    pass


class Gone(NotFound):
    pass


class Conflict(RenderAPIError):
    pass


class RateLimited(RenderAPIError):
    """`retry_after`: seconds Render asked to wait, None when it did not say."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(RenderAPIError):
    pass


class TransportError(RenderAPIError):
    pass


class Unreachable(TransportError):
    """The API could not be connected to: the connection was refused or the host is unknown."""


_BY_STATUS: dict[int, tuple[type[RenderAPIError], str | None]] = {
    400: (BadRequest, None),
    401: (Unauthorized, "check RENDER_API_KEY (create a key under Account Settings > API Keys)"),
    402: (PaymentRequired, "the workspace needs payment details for this: add a payment method in the "
                           "Render dashboard (Workspace Settings > Billing), or choose a free plan"),
    403: (Forbidden, "the API key cannot reach this workspace or resource; check RENDER_OWNER_ID"),
    404: (NotFound, None),
    409: (Conflict, None),
    410: (Gone, None),
    429: (RateLimited, "Render's rate limit was still reached after retrying; wait a few minutes and re-run, "
                       "or lower --parallelism / RENDERER_RATE_LIMITS"),
}


def error_for(
    status: int, message: str, *, method: str, path: str, request_id: str | None,
    retry_after: float | None = None,
) -> RenderAPIError:
    """The exception for an HTTP error status."""
    if status >= 500:
        return ServerError(message, status=status, method=method, path=path, request_id=request_id,
                           hint="Render had an internal error; re-run later")
    if status == 402 and "payment details" not in message:
        message = f"{message} (the workspace needs payment details)"
    cls, hint = _BY_STATUS.get(status, (RenderAPIError, None))
    if status == 400 and "payment information" in message:
        # POST /postgres and /key-value document no 402 (openapi.json): Render answers this refusal as a 400.
        hint = _BY_STATUS[402][1]
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after, status=status, method=method, path=path,
                           request_id=request_id, hint=hint)
    return cls(message, status=status, method=method, path=path, request_id=request_id, hint=hint)
