"""The simulator's clock: real time plus an offset that tests can advance (`POST /_sim/clock/advance`).
A frozen clock (`renderer sim serve --frozen-clock`) does not move with real time: only an advance
moves it, so a benchmark's simulated time holds no processing time."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, *, frozen: bool = False) -> None:
        self.offset = 0.0
        self.frozen_at = time.time() if frozen else None

    def now(self) -> float:
        """Seconds since the epoch, simulated."""
        return (self.frozen_at if self.frozen_at is not None else time.time()) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0

    def iso(self, at: float | None = None) -> str:
        """RFC 3339 timestamp (`2026-11-30T19:36:12.123456Z`) of `at` or now."""
        moment = datetime.fromtimestamp(self.now() if at is None else at, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
