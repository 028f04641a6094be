"""Fault injection for the simulator: what `/_sim/faults` and the `sim serve` fault flags configure.

A fault rule matches requests by method and path (shell-style `*` patterns, e.g. `/v1/services/*`;
the `/v1` prefix may be left out) and does one thing to them:

- `status`: answer `status` (default 500) with `{"id", "message"}` without touching state;
- `rate_limit`: answer 429 with `Ratelimit-*` headers, and `Retry-After` when `retryAfter` is set;
- `drop`: close the connection without an answer, state untouched;
- `lose_response`: carry the request out (a create happens), then close the connection without the
  answer ("the create succeeded but the response was lost");
- `latency`: wait `latencyMs` before answering.

When it fires: from the `nth` matching request on (1 = the first), `times` times (0 = every time after),
each time with `probability` (a seeded random draw, so runs repeat). Rules are tried in order; the first
that fires applies. `latencyMs` at the top level delays every API request.

JSON form: `{"latencyMs": 20, "seed": 1, "rules": [{"action": "status", "method": "POST",
"path": "/v1/services", "status": 500, "nth": 2}]}`.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIONS = ("status", "rate_limit", "drop", "lose_response", "latency")


class FaultError(ValueError):
    """A fault description that cannot be used; the message says why."""


@dataclass
class FaultRule:
    action: str
    method: str = "*"
    path: str = "*"
    status: int = 500
    message: str | None = None
    nth: int = 1
    times: int = 1
    probability: float = 1.0
    retry_after: float | None = None
    latency_ms: float = 0.0
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        if not isinstance(data, dict):
            raise FaultError("a fault rule is an object")
        names = {"action", "method", "path", "status", "message", "nth", "times", "probability", "retryAfter",
                 "latencyMs"}
        unknown = sorted(set(data) - names)
        if unknown:
            raise FaultError(f"unknown fault rule field {unknown[0]!r} (known: {', '.join(sorted(names))})")
        action = data.get("action")
        if action not in ACTIONS:
            raise FaultError(f"action must be one of {', '.join(ACTIONS)}")
        try:
            rule = cls(
                action=str(action), method=str(data.get("method", "*")).upper(), path=str(data.get("path", "*")),
                status=int(data.get("status", 429 if action == "rate_limit" else 500)),
                message=data.get("message"), nth=int(data.get("nth", 1)), times=int(data.get("times", 1)),
                probability=float(data.get("probability", 1.0)),
                retry_after=float(data["retryAfter"]) if data.get("retryAfter") is not None else None,
                latency_ms=float(data.get("latencyMs", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise FaultError(f"bad fault rule value: {exc}") from None
        if rule.nth < 1 or rule.times < 0 or not 0.0 <= rule.probability <= 1.0 or not 100 <= rule.status <= 599:
            raise FaultError("need nth >= 1, times >= 0, 0 <= probability <= 1 and a status 100-599")
        return rule

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retryAfter"] = data.pop("retry_after")
        data["latencyMs"] = data.pop("latency_ms")
        return data

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        pattern = self.path if self.path.startswith("/v1") or self.path == "*" else "/v1" + self.path
        return fnmatch.fnmatchcase(path, pattern)


@dataclass
class Faults:
    latency_ms: float = 0.0
    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def configure(self, data: Any) -> None:
        """Add the rules of a JSON body and set `latencyMs` / `seed` when given. Raises `FaultError`."""
        if not isinstance(data, dict):
            raise FaultError("the faults body is an object")
        unknown = sorted(set(data) - {"latencyMs", "rules", "seed"})
        if unknown:
            raise FaultError(f"unknown field {unknown[0]!r} (known: latencyMs, rules, seed)")
        rules = [FaultRule.from_json(item) for item in data.get("rules") or []]
        with self._lock:
            if "latencyMs" in data:
                try:
                    self.latency_ms = max(0.0, float(data["latencyMs"]))
                except (TypeError, ValueError):
                    raise FaultError("latencyMs must be a number") from None
            if "seed" in data:
                self.seed = int(data["seed"])
                self._random = random.Random(self.seed)
            self.rules += rules

    def clear(self) -> None:
        with self._lock:
            self.latency_ms = 0.0
            self.rules = []
            self._random = random.Random(self.seed)

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, counting it against every matching rule."""
        chosen = None
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                due = rule.seen >= rule.nth and (rule.times == 0 or rule.fired < rule.times)
                if chosen is None and due and (rule.probability >= 1.0 or self._random.random() < rule.probability):
                    rule.fired += 1
                    chosen = rule
        return chosen

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"latencyMs": self.latency_ms, "seed": self.seed, "rules": [r.to_json() for r in self.rules]}
