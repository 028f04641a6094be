"""When and how long the client retries (tenacity), in one place.

- A 429 is always retried (Render refused it before doing anything). The wait is `Retry-After` when
  sent, else `Ratelimit-Reset`, else exponential backoff with jitter.
- A refused connection or an unknown host (`Unreachable`) is never retried: it fails at once with the
  URL and a hint.
- A 5xx or another transport failure (no answer: a reset, a timeout) is retried only for an idempotent
  request: GET, HEAD, PUT, DELETE, PATCH (renderer's PATCH bodies set fields to values, so repeating one
  changes nothing more) and the POSTs that set a state (suspend, resume, scale, custom-domain verify, env
  group link). Creates and deploy triggers are never blindly re-sent: `RenderClient` looks a lost create up first.
- Backoff: `initial * 2**n` seconds plus up to `jitter` seconds of random jitter, capped at `cap`.
- `attempts` counts the first try.
- `max_rate_wait(seconds)`: inside this block a 429 that asks for a longer wait is not retried but
  raised (`RateLimited`), for a caller that would rather stop than wait (apply, facing Render's hourly
  service-create budget: `renderer.budget`).

`Ratelimit-Reset`: Render's rate-limiting page (https://api-docs.render.com/reference/rate-limiting)
documents it as "UTC Epoch Seconds" but shows `Ratelimit-Reset: 45`, seconds until the reset. A value
under 10**9 (September 2001 as an epoch time) is read as seconds, anything larger as an epoch time.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from tenacity import RetryCallState
from tenacity.wait import wait_base, wait_exponential_jitter

from renderer.render_api.errors import RateLimited, ServerError, TransportError, Unreachable

EPOCH_THRESHOLD = 1e9
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})
_STATE_SETTING_POST = re.compile(
    r"^(?:/v1)?(?:/services/[^/]+/(?:suspend|resume|scale)|/services/[^/]+/custom-domains/[^/]+/verify"
    r"|/(?:postgres|key-value)/[^/]+/(?:suspend|resume)|/env-groups/[^/]+/services/[^/]+)$")


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how long between them (module docstring)."""

    attempts: int = 6
    initial: float = 0.5
    cap: float = 30.0
    jitter: float = 0.5

    def backoff(self) -> wait_exponential_jitter:
        return wait_exponential_jitter(multiplier=self.initial, max=self.cap, jitter=self.jitter)


def is_idempotent(method: str, path: str) -> bool:
    """Whether repeating the request cannot do more than doing it once (module docstring)."""
    method = method.upper()
    if method in IDEMPOTENT_METHODS:
        return True
    return method == "POST" and bool(_STATE_SETTING_POST.match(path.split("?", 1)[0]))


_MAX_RATE_WAIT: ContextVar[float | None] = ContextVar("renderer_max_rate_wait", default=None)


@contextlib.contextmanager
def max_rate_wait(seconds: float) -> Iterator[None]:
    """Within the block (this task and the coroutines it awaits), a 429 asking to wait more than
    `seconds` is raised instead of retried."""
    token = _MAX_RATE_WAIT.set(seconds)
    try:
        yield
    finally:
        _MAX_RATE_WAIT.reset(token)


def should_retry(error: BaseException, method: str, path: str) -> bool:
    if isinstance(error, RateLimited):
        limit = _MAX_RATE_WAIT.get()
        return limit is None or error.retry_after is None or error.retry_after <= limit
    if isinstance(error, Unreachable):
        return False
    if isinstance(error, ServerError | TransportError):
        return is_idempotent(method, path)
    return False


def reset_seconds(value: str | None, epoch_now: float) -> float | None:
    """Seconds until a `Ratelimit-Reset` value (seconds, or an epoch time when >= 10**9)."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number >= EPOCH_THRESHOLD:
        number -= epoch_now
    return max(0.0, number)


def retry_after_seconds(headers: Mapping[str, str], epoch_now: float) -> float | None:
    """How long a 429 asks to wait: `Retry-After` (seconds or an HTTP date), else `Ratelimit-Reset`."""
    retry_after = headers.get("retry-after")
    if retry_after:
        text = retry_after.strip()
        if text.replace(".", "", 1).isdigit():
            return float(text)
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            moment = None
        if moment is not None:
            return max(0.0, moment.timestamp() - epoch_now)
    return reset_seconds(headers.get("ratelimit-reset"), epoch_now)


class RenderWait(wait_base):
    """tenacity wait: a 429's own wait when it named one, else the policy's backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.backoff = policy.backoff()

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after
        return float(self.backoff(retry_state))

