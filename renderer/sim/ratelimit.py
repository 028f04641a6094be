"""The simulator's rate limits: Render's published budgets, enforced in fixed windows.

The budgets Render's answers carry in `Ratelimit-Limit` and `Ratelimit-Reset` (recorded in
../shared/render/recorded/, e.g. webservice_resource__web_service: POST /services `20` resetting in
2144 s, custom domains `50` in 2142 s, PATCH of a service `10` in 35 s, other writes `100`, GETs `400`).
The simulator shares no code with the client, so the client's limiter is checked against an independent
implementation:

    POST /v1/services, POST /v1/postgres, POST /v1/key-value (each)            20 per hour
    POST /v1/services/{id}/custom-domains                                      50 per hour
    PATCH /v1/services/{id}, POST .../deploys, .../rollback (a deploy too),
    .../suspend, .../resume, .../scale                                         10 per minute per service
    every other POST, PUT, PATCH, DELETE                                       100 per minute
    every GET                                                                  400 per minute

A window opens with the first request that counts against a budget and lasts the budget's period.
Each answer carries `Ratelimit-Limit`, `Ratelimit-Remaining` and `Ratelimit-Reset` (whole seconds until
the window closes, rounded up: what Render sends, although its page documents an epoch time). Over
budget: 429 with `{"id", "message"}` and those headers. `scale` multiplies every budget; None is off.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from renderer.sim.clock import Clock

HOUR, MINUTE = 3600.0, 60.0
BUDGETS: dict[str, tuple[int, float]] = {
    "create_service": (20, HOUR),
    "create_postgres": (20, HOUR),
    "create_key_value": (20, HOUR),
    "create_custom_domain": (50, HOUR),
    "service_action": (10, MINUTE),
    "write": (100, MINUTE),
    "get": (400, MINUTE),
}
_CREATES = {"/v1/services": "create_service", "/v1/postgres": "create_postgres", "/v1/key-value": "create_key_value"}
_ACTION = re.compile(r"^/v1/services/([^/]+)(/deploys|/rollback|/suspend|/resume|/scale)?$")
_DOMAINS = re.compile(r"^/v1/services/[^/]+/custom-domains$")


def bucket_of(method: str, path: str) -> tuple[str, str]:
    """The budget a request counts against and its key (the service ID for per-service budgets)."""
    if method in ("GET", "HEAD"):
        return "get", ""
    if method == "POST" and path in _CREATES:
        return _CREATES[path], ""
    if method == "POST" and _DOMAINS.match(path):
        return "create_custom_domain", ""
    match = _ACTION.match(path)
    if match and ((method == "PATCH" and not match.group(2)) or (method == "POST" and match.group(2))):
        return "service_action", match.group(1)
    return "write", ""


@dataclass
class _Window:
    end: float
    used: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]


class RateLimiter:
    """Fixed windows per (budget, key); thread-safe."""

    def __init__(self, clock: Clock, scale: float | None = 1.0) -> None:
        self.clock = clock
        self.scale = scale
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()
        self.overrides: dict[str, int] = {}  # budgets set outright (requests per window), not scaled

    def limit(self, bucket: str) -> tuple[int, float]:
        requests, period = BUDGETS[bucket]
        if bucket in self.overrides:
            return self.overrides[bucket], period
        return max(1, int(requests * (self.scale or 1.0))), period

    def reset(self, scale: float | None = None, *, keep_scale: bool = True) -> None:
        with self._lock:
            self._windows.clear()
            if not keep_scale:
                self.scale = scale
                self.overrides = {}

    def spend(self, bucket: str, requests: int) -> None:
        """Count `requests` against `bucket` (a name in `BUDGETS`, not a per-service one) in its current
        window, as if another client had sent them (`/_sim/rate-limits` `spend`). Raises `KeyError` for an
        unknown bucket."""
        _, period = BUDGETS[bucket]
        now = self.clock.now()
        with self._lock:
            window = self._windows.get((bucket, ""))
            if window is None or now >= window.end:
                window = self._windows[(bucket, "")] = _Window(now + period, 0)
            window.used += requests

    def check(self, method: str, path: str) -> Verdict | None:
        """Count the request. None when limits are off; else whether it is allowed, and its headers."""
        if self.scale is None:
            return None
        bucket, key = bucket_of(method, path)
        limit, period = self.limit(bucket)
        now = self.clock.now()
        with self._lock:
            window = self._windows.get((bucket, key))
            if window is None or now >= window.end:
                window = self._windows[(bucket, key)] = _Window(now + period, 0)
            allowed = window.used < limit
            if allowed:
                window.used += 1
            remaining = limit - window.used
            reset = max(1, math.ceil(window.end - now))
        return Verdict(allowed, {"Ratelimit-Limit": str(limit), "Ratelimit-Remaining": str(remaining),
                                 "Ratelimit-Reset": str(reset)})
