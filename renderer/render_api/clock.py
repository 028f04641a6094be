"""The one clock the client sleeps on: the limiter's waits and the retry backoff both go through it.

Production uses `SystemClock`; tests inject a clock whose `sleep` advances simulated time instead of
waiting, so no test waits in real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """`now()` is monotonic seconds (for intervals), `epoch()` is seconds since the Unix epoch (to read
    an epoch `Ratelimit-Reset`), `sleep(seconds)` waits that long."""

    def now(self) -> float: ...

    def epoch(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: `time.monotonic`, `time.time` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def epoch(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
