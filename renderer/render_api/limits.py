"""Render's rate limits, and the client-side limiter that keeps renderer under them.

Render's limits, the defaults here, as Render's answers state them in `Ratelimit-Limit` and
`Ratelimit-Reset` (recorded traffic, ../shared/render/recorded/: e.g. webservice_resource__web_service,
postgres_resource__postgres, keyvalue_resource__keyvalue; https://api-docs.render.com/reference/rate-limiting
gives the service rows):

    bucket                 requests                                              budget
    get                    every GET                                             400 per minute
    write                  every other POST, PUT, PATCH and DELETE               100 per minute
    create_service         POST /services                                        20 per hour
    create_postgres        POST /postgres                                        20 per hour
    create_key_value       POST /key-value                                       20 per hour
    create_custom_domain   POST /services/{id}/custom-domains                    50 per hour
    service_action         PATCH /services/{id}, POST /services/{id}/deploys,    10 per minute per service
                           POST /services/{id}/rollback (a deploy too),
                           POST /services/{id}/suspend, .../resume, .../scale

Every Render response carries `Ratelimit-Limit`, `Ratelimit-Remaining` and `Ratelimit-Reset` for the
bucket the request fell in. The limiter counts its own requests in fixed windows and follows those
headers: a later reset moves its window end, a lower remaining lowers its count (less the requests it
has in flight), so another client spending the same budget slows renderer down instead of causing
429s. Waits go through the injected `Clock`.

Configuration (`RENDERER_RATE_LIMITS`, or `--rate-limits` on the command line), comma-separated:
`off` (no client-side limiting), `scale=N` (every budget times N), `BUCKET=N/WINDOW` (WINDOW in seconds,
or with a unit: `60s`, `1m`, `1h`, `minute`, `hour`). Example: `get=200/1m,create_service=10/hour`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from renderer.errors import RendererError
from renderer.render_api.clock import Clock

log = logging.getLogger(__name__)

ENV_VAR = "RENDERER_RATE_LIMITS"
REPORT_EVERY = 30.0  # seconds between "still waiting" lines during a create-budget wait (renderer.progress)


class Bucket(StrEnum):
    """The sets of endpoints that share one budget (see the module docstring)."""

    GET = "get"
    WRITE = "write"
    CREATE_SERVICE = "create_service"
    CREATE_POSTGRES = "create_postgres"
    CREATE_KEY_VALUE = "create_key_value"
    CREATE_CUSTOM_DOMAIN = "create_custom_domain"
    SERVICE_ACTION = "service_action"

    @property
    def hourly_create(self) -> bool:
        """One of the per-hour create budgets (`renderer.budget` plans runs around them)."""
        return self in HOURLY_CREATES


HOURLY_CREATES = (Bucket.CREATE_SERVICE, Bucket.CREATE_POSTGRES, Bucket.CREATE_KEY_VALUE,
                  Bucket.CREATE_CUSTOM_DOMAIN)
_CREATES = {"/services": Bucket.CREATE_SERVICE, "/postgres": Bucket.CREATE_POSTGRES,
            "/key-value": Bucket.CREATE_KEY_VALUE}
_DOMAINS = re.compile(r"^/services/[^/]+/custom-domains$")
_SERVICE_ACTION = re.compile(r"^/services/(?P<id>[^/]+)(?:/(?P<action>deploys|rollback|suspend|resume|scale))?$")


def classify(method: str, path: str) -> tuple[Bucket, str]:
    """The bucket a request counts against and its key (the service ID for `service_action`, else "").

    `path` is relative to the API base (`/services/srv-...`); a leading `/v1` is ignored.
    """
    method = method.upper()
    path = path.split("?", 1)[0]
    if path.startswith("/v1/"):
        path = path[3:]
    if method in ("GET", "HEAD"):
        return Bucket.GET, ""
    if method == "POST" and path in _CREATES:
        return _CREATES[path], ""
    if method == "POST" and _DOMAINS.match(path):
        return Bucket.CREATE_CUSTOM_DOMAIN, ""
    match = _SERVICE_ACTION.match(path)
    if match:
        action = match.group("action")
        if (method == "PATCH" and action is None) or (method == "POST" and action is not None):
            return Bucket.SERVICE_ACTION, match.group("id")
    return Bucket.WRITE, ""


@dataclass(frozen=True)
class Budget:
    """`requests` per `window` seconds."""

    requests: int
    window: float

    def describe(self) -> str:
        units = {60.0: "minute", 3600.0: "hour", 1.0: "second"}
        unit = units.get(float(self.window))
        return f"{self.requests} per {unit}" if unit else f"{self.requests} per {self.window:g} s"


RENDER_DEFAULTS: Mapping[Bucket, Budget] = {
    Bucket.GET: Budget(400, 60.0),
    Bucket.WRITE: Budget(100, 60.0),
    Bucket.CREATE_SERVICE: Budget(20, 3600.0),
    Bucket.CREATE_POSTGRES: Budget(20, 3600.0),
    Bucket.CREATE_KEY_VALUE: Budget(20, 3600.0),
    Bucket.CREATE_CUSTOM_DOMAIN: Budget(50, 3600.0),
    Bucket.SERVICE_ACTION: Budget(10, 60.0),
}

_WINDOW_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
                 "h": 3600.0, "hour": 3600.0}
_ITEM = re.compile(r"^(?P<bucket>[a-z_]+)=(?P<n>\d+)/(?P<w>\d*\.?\d*)(?P<unit>[a-z]*)$")
_FORMAT_HINT = ("use `off`, `scale=N` or `BUCKET=N/WINDOW` items separated by commas, e.g. "
                "`get=400/1m,create_service=20/1h`; buckets: " + ", ".join(b.value for b in Bucket))


@dataclass(frozen=True)
class RateLimits:
    """The budgets the client keeps to; `budgets` is None when client-side limiting is off."""

    budgets: Mapping[Bucket, Budget] | None = field(default_factory=lambda: dict(RENDER_DEFAULTS))

    @classmethod
    def render(cls) -> RateLimits:
        """Render's published limits (module docstring)."""
        return cls(dict(RENDER_DEFAULTS))

    @classmethod
    def off(cls) -> RateLimits:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.budgets is not None

    def scaled(self, factor: float) -> RateLimits:
        """Every budget times `factor` (at least 1 request per window)."""
        if self.budgets is None:
            return self
        return RateLimits({b: Budget(max(1, int(v.requests * factor)), v.window) for b, v in self.budgets.items()})

    def budget(self, bucket: Bucket) -> Budget | None:
        return None if self.budgets is None else self.budgets.get(bucket)

    def describe(self) -> str:
        if self.budgets is None:
            return "off"
        return ", ".join(f"{b.value} {v.describe()}" for b, v in self.budgets.items())

    @classmethod
    def parse(cls, spec: str, *, origin: str = ENV_VAR) -> RateLimits:
        """Parse a limits spec (module docstring). Raises `RendererError` naming `origin` when malformed."""
        text = spec.strip().lower()
        if text in ("", "render", "default"):
            return cls.render()
        if text == "off":
            return cls.off()
        budgets = dict(RENDER_DEFAULTS)
        scale = 1.0
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            if item.startswith("scale="):
                try:
                    scale = float(item.removeprefix("scale="))
                except ValueError:
                    scale = -1.0
                if not math.isfinite(scale) or scale <= 0:
                    raise RendererError(f"{origin}: {item!r} needs a positive number", hint=_FORMAT_HINT)
                continue
            match = _ITEM.match(item)
            if not match:
                raise RendererError(f"{origin}: cannot read {item!r}", hint=_FORMAT_HINT)
            try:
                bucket = Bucket(match.group("bucket"))
            except ValueError:
                raise RendererError(f"{origin}: unknown bucket {match.group('bucket')!r}", hint=_FORMAT_HINT) from None
            unit = _WINDOW_UNITS.get(match.group("unit"))
            number = match.group("w") or "1"
            if unit is None or number == ".":
                raise RendererError(f"{origin}: cannot read the window of {item!r}", hint=_FORMAT_HINT)
            window = float(number) * unit
            requests = int(match.group("n"))
            if requests < 1 or window <= 0:
                raise RendererError(f"{origin}: {item!r} must allow at least 1 request in a positive window",
                                    hint=_FORMAT_HINT)
            budgets[bucket] = Budget(requests, window)
        return cls(budgets).scaled(scale) if scale != 1.0 else cls(budgets)


@dataclass(frozen=True)
class BudgetState:
    """What the limiter believes is left of one budget: `remaining` of `limit` requests, the window
    ending in `resets_in` seconds (0 when no window is open: the whole budget is available)."""

    bucket: Bucket
    key: str
    limit: int
    window: float
    remaining: int
    resets_in: float


@dataclass
class _Window:
    limit: int
    length: float
    end: float = -math.inf
    remaining: int = 0
    in_flight: int = 0  # sent and not answered yet
    generation: int = 0
    rolled_at: float = -math.inf
    waking: asyncio.Event | None = None


@dataclass
class Ticket:
    """One granted request: `still_current` just before sending it, `done` when it ended. `generation`
    is the window it was granted in; `sent` whether it went out on that window's count."""

    bucket: Bucket
    key: str
    counted: bool
    generation: int = 0
    sent: bool = False


class Limiter:
    """Fixed-window request budgets per (bucket, key), following Render's `Ratelimit-*` headers."""

    def __init__(self, limits: RateLimits, clock: Clock) -> None:
        self.limits = limits
        self.clock = clock
        self._windows: dict[tuple[Bucket, str], _Window] = {}

    def _window(self, bucket: Bucket, key: str) -> _Window | None:
        budget = self.limits.budget(bucket)
        if budget is None:
            return None
        window = self._windows.get((bucket, key))
        if window is None:
            window = self._windows[(bucket, key)] = _Window(budget.requests, budget.window)
        return window

    def _roll(self, window: _Window, now: float) -> None:
        if now >= window.end:
            # Our window opens when we send; Render's when the request arrives, a little later: a small
            # margin keeps our end after Render's until a response tells us Render's exact reset.
            window.end = now + window.length + min(0.5, window.length * 0.05)
            # Requests sent in the window that closed and still unanswered may land in Render's new one.
            # (Granted but unsent ones are not counted: `still_current` sends them back for a new grant.)
            window.remaining = max(0, window.limit - window.in_flight)
            window.generation += 1
            window.rolled_at = now

    async def acquire(self, method: str, path: str) -> Ticket:
        """Wait (on the clock) until the request's budget has room, then count it."""
        bucket, key = classify(method, path)
        window = self._window(bucket, key)
        if window is None:
            return Ticket(bucket, key, False)
        while True:
            now = self.clock.now()
            self._roll(window, now)
            if window.remaining > 0:
                window.remaining -= 1
                return Ticket(bucket, key, True, window.generation)
            if window.waking is not None:
                await window.waking.wait()
                continue
            # One waiter sleeps per window; the others wake with it (one clock sleep, not one each).
            wait = window.end - now
            budget = self.limits.budget(bucket)
            level = logging.WARNING if wait >= 60 else logging.INFO
            log.log(level, "waiting %.1f s for Render's rate limit on %s requests%s (%s)", wait, bucket.value,
                    f" for {key}" if key else "", budget.describe() if budget else "")
            window.waking = asyncio.Event()
            try:
                if bucket is Bucket.CREATE_SERVICE:
                    await self._sleep_reporting(wait, level, bucket)
                else:
                    await self.clock.sleep(wait)
            finally:
                waking, window.waking = window.waking, None
                waking.set()

    async def _sleep_reporting(self, wait: float, level: int, bucket: Bucket) -> None:
        """Sleep `wait` seconds in steps of at most `REPORT_EVERY`, logging what is left after each: a
        wait for Render's hourly service-create budget (up to `renderer.budget.MAX_CREATE_WAIT`) never
        looks like a hang."""
        left = wait
        while left > 0:
            step = min(left, REPORT_EVERY)
            await self.clock.sleep(step)
            left -= step
            if left >= 1:
                log.log(level, "still waiting for Render's rate limit on %s requests: %.0f s left", bucket.value,
                        left)

    def still_current(self, ticket: Ticket) -> bool:
        """Whether `ticket`'s window is still open. Call it just before sending: a request that waited
        (for a parallelism slot) past its window's end must not be sent on that window's count. When
        False the ticket is handed back and the caller acquires a new one."""
        window = self._windows.get((ticket.bucket, ticket.key)) if ticket.counted else None
        if window is None:
            return True
        self._roll(window, self.clock.now())
        if ticket.generation != window.generation:
            return False
        ticket.sent = True
        window.in_flight += 1
        return True

    def done(self, ticket: Ticket, *, status: int | None = None, limit: str | None = None,
             remaining: str | None = None, reset_in: float | None = None) -> None:
        """The request of `ticket` finished. With a response, follow its rate-limit headers:
        `remaining` (Ratelimit-Remaining) and `reset_in` (seconds until Ratelimit-Reset); a 429 empties
        the window until `reset_in`."""
        window = self._windows.get((ticket.bucket, ticket.key)) if ticket.counted else None
        if window is None or not ticket.sent:
            return
        ticket.sent = False
        window.in_flight = max(0, window.in_flight - 1)
        if reset_in is None:
            return
        now = self.clock.now()
        server_end = now + max(0.0, reset_in)
        if status == 429:
            # Render refused: nothing is left until it says the window resets.
            window.end = server_end
            window.remaining = 0
            return
        if ticket.generation != window.generation:
            # An answer to a request sent in a window that has closed since. It was counted against this
            # window too (it might have landed in Render's new one); its reset says where it landed.
            if ticket.generation == window.generation - 1 and server_end <= window.rolled_at + 1.5:
                window.remaining = min(window.limit, window.remaining + 1)
            return
        try:
            server_left = int(remaining) if remaining is not None else None
        except ValueError:
            server_left = None
        if server_left is None:
            return
        left = max(0, server_left - window.in_flight)
        if server_end > window.end + 1.5:
            # Render's window is a later one than ours: take its end and count.
            window.end = server_end
            window.remaining = left
        elif server_end >= window.end - window.length / 2:
            # The same window (Ratelimit-Reset is whole seconds, so ends differ by up to a second).
            window.end = max(window.end, server_end)
            window.remaining = min(window.remaining, left)
        # else: an answer from a window that has closed since; nothing to learn.

    def state(self, bucket: Bucket, key: str = "") -> BudgetState | None:
        """The budget as the limiter sees it now; None when that bucket is not limited."""
        budget = self.limits.budget(bucket)
        if budget is None:
            return None
        window = self._windows.get((bucket, key))
        now = self.clock.now()
        if window is None or now >= window.end:
            return BudgetState(bucket, key, budget.requests, budget.window, budget.requests, 0.0)
        return BudgetState(bucket, key, budget.requests, budget.window, window.remaining, window.end - now)
