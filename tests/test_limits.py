"""Rate-limit configuration, request classification, retry rules and the limiter itself (on a fake clock)."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

from renderer.errors import RendererError
from renderer.render_api.limits import Bucket, Budget, Limiter, RateLimits, Ticket, classify
from renderer.render_api.retry import is_idempotent, reset_seconds, retry_after_seconds


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def epoch(self) -> float:
        return 1_800_000_000.0 + self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def send(limiter: Limiter, method: str, path: str) -> Ticket:
    """Acquire a ticket and send on it, as the client does."""
    ticket = await limiter.acquire(method, path)
    assert limiter.still_current(ticket)
    return ticket


def test_render_defaults() -> None:
    limits = RateLimits.render()
    assert limits.budget(Bucket.GET) == Budget(400, 60.0)
    assert limits.budget(Bucket.WRITE) == Budget(100, 60.0)  # Ratelimit-Limit 100 in Render's recordings
    assert limits.budget(Bucket.CREATE_SERVICE) == Budget(20, 3600.0)
    assert limits.budget(Bucket.CREATE_POSTGRES) == Budget(20, 3600.0)
    assert limits.budget(Bucket.CREATE_KEY_VALUE) == Budget(20, 3600.0)
    assert limits.budget(Bucket.CREATE_CUSTOM_DOMAIN) == Budget(50, 3600.0)
    assert limits.budget(Bucket.SERVICE_ACTION) == Budget(10, 60.0)
    assert limits.describe() == ("get 400 per minute, write 100 per minute, create_service 20 per hour, "
                                 "create_postgres 20 per hour, create_key_value 20 per hour, "
                                 "create_custom_domain 50 per hour, service_action 10 per minute")


@pytest.mark.parametrize(("spec", "bucket", "budget"), [
    ("get=200/1m", Bucket.GET, Budget(200, 60.0)),
    ("create_service=5/hour", Bucket.CREATE_SERVICE, Budget(5, 3600.0)),
    ("write=10/30", Bucket.WRITE, Budget(10, 30.0)),
    ("write=10/30s,get=1/2h", Bucket.GET, Budget(1, 7200.0)),
    ("scale=2", Bucket.GET, Budget(800, 60.0)),
    ("scale=0.5,service_action=10/1m", Bucket.SERVICE_ACTION, Budget(5, 60.0)),
    ("render", Bucket.WRITE, Budget(100, 60.0)),
    ("create_postgres=5/1h", Bucket.CREATE_POSTGRES, Budget(5, 3600.0)),
])
def test_parse(spec: str, bucket: Bucket, budget: Budget) -> None:
    assert RateLimits.parse(spec).budget(bucket) == budget


def test_parse_off() -> None:
    assert RateLimits.parse("off").budgets is None
    assert RateLimits.parse("OFF").budget(Bucket.GET) is None


@pytest.mark.parametrize(("spec", "message"), [
    ("get=many", "RENDERER_RATE_LIMITS: cannot read 'get=many'"),
    ("reads=5/1m", "RENDERER_RATE_LIMITS: unknown bucket 'reads'"),
    ("get=5/1y", "RENDERER_RATE_LIMITS: cannot read the window of 'get=5/1y'"),
    ("get=0/1m", "RENDERER_RATE_LIMITS: 'get=0/1m' must allow at least 1 request in a positive window"),
    ("scale=-3", "RENDERER_RATE_LIMITS: 'scale=-3' needs a positive number"),
])
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(RendererError) as error:
        RateLimits.parse(spec)
    assert error.value.message == message
    assert error.value.hint and "create_service" in error.value.hint


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/services", (Bucket.GET, "")),
    ("GET", "/v1/services/srv-1/env-vars", (Bucket.GET, "")),
    ("POST", "/services", (Bucket.CREATE_SERVICE, "")),
    ("PATCH", "/services/srv-1", (Bucket.SERVICE_ACTION, "srv-1")),
    ("POST", "/services/srv-1/deploys", (Bucket.SERVICE_ACTION, "srv-1")),
    ("POST", "/v1/services/srv-2/suspend", (Bucket.SERVICE_ACTION, "srv-2")),
    ("POST", "/services/srv-2/resume", (Bucket.SERVICE_ACTION, "srv-2")),
    ("POST", "/services/srv-2/scale", (Bucket.SERVICE_ACTION, "srv-2")),
    ("PUT", "/services/srv-2/env-vars/A", (Bucket.WRITE, "")),
    ("DELETE", "/services/srv-2", (Bucket.WRITE, "")),
    ("POST", "/services/srv-2/custom-domains", (Bucket.CREATE_CUSTOM_DOMAIN, "")),
    ("POST", "/postgres", (Bucket.CREATE_POSTGRES, "")),
    ("POST", "/v1/key-value", (Bucket.CREATE_KEY_VALUE, "")),
    ("PATCH", "/postgres/dpg-1-a", (Bucket.WRITE, "")),
])
def test_classify(method: str, path: str, expected: tuple[Bucket, str]) -> None:
    assert classify(method, path) == expected


def test_reset_seconds_versus_epoch() -> None:
    now = 1_800_000_000.0
    assert reset_seconds("45", now) == 45.0
    assert reset_seconds("999999999", now) == 999_999_999.0  # under 10**9: seconds
    assert reset_seconds(str(int(now) + 30), now) == 30.0  # an epoch time
    assert reset_seconds(str(int(now) - 30), now) == 0.0
    assert reset_seconds("soon", now) is None and reset_seconds(None, now) is None


def test_retry_after_first_then_ratelimit_reset() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds({"retry-after": "7", "ratelimit-reset": "45"}, now) == 7.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now) == 12.0
    assert retry_after_seconds({"ratelimit-reset": "45"}, now) == 45.0
    assert retry_after_seconds({}, now) is None


@pytest.mark.parametrize(("method", "path", "idempotent"), [
    ("GET", "/services", True), ("PUT", "/services/s/env-vars/K", True), ("DELETE", "/services/s", True),
    ("PATCH", "/services/s", True), ("POST", "/services", False), ("POST", "/services/s/deploys", False),
    ("POST", "/services/s/suspend", True), ("POST", "/services/s/scale", True),
    ("POST", "/env-groups/e/services/s", True), ("POST", "/postgres/p/export", False),
    ("POST", "/services/s/custom-domains/d/verify", True), ("POST", "/services/s/custom-domains", False),
])
def test_idempotent(method: str, path: str, idempotent: bool) -> None:
    assert is_idempotent(method, path) is idempotent


def test_limiter_waits_once_for_the_next_window() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.parse("get=3/1m"), clock)

    async def request() -> None:
        limiter.done(await send(limiter, "GET", "/services"))

    async def scenario() -> None:
        await asyncio.gather(*(request() for _ in range(7)))

    asyncio.run(scenario())
    assert len(clock.slept) == 2  # one sleeper per window, the others woke with it
    assert clock.t == pytest.approx(1000.0 + 2 * 60.5)


def test_limiter_follows_remaining_and_reset() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.render(), clock)

    async def scenario() -> None:
        ticket = await send(limiter, "GET", "/owners")
        limiter.done(ticket, status=200, remaining="2", reset_in=80.0)  # someone else spent the budget
        state = limiter.state(Bucket.GET)
        assert state is not None and state.remaining == 2 and state.resets_in == pytest.approx(80.0)
        for _ in range(3):
            limiter.done(await send(limiter, "GET", "/owners"))
        assert clock.slept == [pytest.approx(80.0)]

    asyncio.run(scenario())


def test_limiter_429_empties_the_window_and_stale_answers_are_ignored() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.render(), clock)

    async def scenario() -> None:
        ticket = await send(limiter, "PUT", "/services/s/env-vars/A")
        limiter.done(ticket, status=429, remaining="0", reset_in=12.0)
        state = limiter.state(Bucket.WRITE)
        assert state is not None and state.remaining == 0 and state.resets_in == pytest.approx(12.0)
        old = await send(limiter, "GET", "/owners")
        clock.t += 61
        fresh = await send(limiter, "GET", "/owners")
        limiter.done(old, status=200, remaining="0", reset_in=0.0)  # from the window that has closed
        get = limiter.state(Bucket.GET)
        assert get is not None and get.remaining == 399
        limiter.done(fresh)

    asyncio.run(scenario())


def test_limiter_off_never_waits() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.off(), clock)

    async def scenario() -> None:
        for _ in range(1000):
            limiter.done(await send(limiter, "POST", "/services"))

    asyncio.run(scenario())
    assert clock.slept == [] and limiter.state(Bucket.CREATE_SERVICE) is None


def test_per_service_budgets_are_separate() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.render(), clock)

    async def scenario() -> None:
        for _ in range(10):
            limiter.done(await send(limiter, "POST", "/services/srv-a/deploys"))
        limiter.done(await send(limiter, "PATCH", "/services/srv-b"))
        assert clock.slept == []
        limiter.done(await send(limiter, "POST", "/services/srv-a/suspend"))
        assert len(clock.slept) == 1

    asyncio.run(scenario())


def test_a_grant_that_waited_past_its_window_is_not_sent_on_it() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.parse("get=2/1m"), clock)

    async def scenario() -> None:
        queued = await limiter.acquire("GET", "/owners")  # granted, then waits for a parallelism slot
        clock.t += 61
        assert not limiter.still_current(queued)
        again = await send(limiter, "GET", "/owners")
        state = limiter.state(Bucket.GET)
        assert state is not None and state.remaining == 1
        limiter.done(again)

    asyncio.run(scenario())
