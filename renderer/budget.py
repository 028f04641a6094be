"""Render's hourly create budgets in plan and apply.

Render allows 20 `POST /services`, 20 `POST /postgres`, 20 `POST /key-value` and 50 custom-domain creates
an hour per workspace (`Ratelimit-Limit` in Render's recorded answers; `renderer.render_api.limits`,
`HOURLY_CREATES`). A fleet change with more creates of one kind than that cannot finish in one run, and
waiting an hour inside a CI job is no answer. The service budget is the one the texts below name; every
hourly bucket is kept the same way (25 new tenants with a Postgres each: 20 databases this run, 5 the
next). So:

- `renderer plan` warns up front (`budget_notice`): `45 service creates exceed Render's budget of 20 per
  hour: apply will need about 3 runs over ~2 h`;
- `renderer apply` decides before its first write which service creates fit in what is left of the
  budget (`CreateGate.for_plan`), in plan order (tenant by tenant, each tenant's changes in apply order),
  so the outcome does not depend on which tenant happens to run first. A tenant's changes run in order
  until the first service create that does not fit; that change and the rest of that tenant's changes
  wait for the next run, the tenant stays `provisioning` in the lockfile and apply exits 4
  (`incomplete: Render rate budget`). The next run plans only what is left and carries on.

A change "uses a budget" when it sends one of those creates: the create of a service of any type, a
Postgres, a Key Value or a custom domain, or the replace of one (`create_bucket`). A replace takes its
unit before its delete half is sent, so nothing is deleted for a create that cannot go out in the same
run. Only the service budget's window is recorded in the lockfile (`service_create_window`); for the
others a run knows what it spent itself, and a 429 from Render closes that budget for the run.

The client's limiter only knows the requests this process sent, so apply also records the window in the
lockfile (`service_create_window`: when it resets and how many creates it has used) after every service
create, and the next run starts from it. When Render answers 429 anyway (creates made elsewhere, or a
lockfile from another checkout), a service create is not retried after a long wait: `MAX_CREATE_WAIT` seconds is
the longest apply waits for the window to reset (`renderer.render_api.retry.max_rate_wait`); beyond that
the gate closes for the rest of the run and the remaining service creates wait for the next one.
Service creates go out one at a time (`CreateGate.slot`) so that one 429 stops every later create.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Iterable

from renderer.kinds.registry import ops_for
from renderer.lockfile import CreateWindow, Lockfile
from renderer.plan.model import Action, Change, Plan
from renderer.render_api.client import RenderClient
from renderer.render_api.errors import RateLimited
from renderer.render_api.limits import HOURLY_CREATES, RENDER_DEFAULTS, Bucket, Budget
from renderer.render_api.retry import max_rate_wait

MAX_CREATE_WAIT = 120.0
STOPPED_REASON = "Render rate budget"


NOUNS = {Bucket.CREATE_SERVICE: "service", Bucket.CREATE_POSTGRES: "Postgres",
         Bucket.CREATE_KEY_VALUE: "Key Value", Bucket.CREATE_CUSTOM_DOMAIN: "custom domain"}


class BudgetExhausted(Exception):
    """A create does not fit in what is left of its budget this run (apply stops that tenant)."""

    def __init__(self, tenant: str, bucket: Bucket = Bucket.CREATE_SERVICE) -> None:
        super().__init__(tenant)
        self.bucket = bucket


def create_bucket(change: Change) -> Bucket | None:
    """The hourly budget carrying out `change` spends a unit of (a create or replace), else None."""
    if change.action not in (Action.CREATE, Action.REPLACE):
        return None
    return ops_for(change.kind).create_bucket


def uses_create_budget(change: Change) -> bool:
    """Whether carrying out `change` spends a unit of an hourly create budget."""
    return create_bucket(change) is not None


def creates_in(changes: Iterable[Change], bucket: Bucket) -> int:
    return sum(1 for c in changes if create_bucket(c) is bucket)


def service_creates(changes: Iterable[Change]) -> int:
    return creates_in(changes, Bucket.CREATE_SERVICE)


def create_budget(client: RenderClient) -> Budget:
    """The service-create budget the client keeps to (Render's when client-side limiting is off)."""
    return client.rate_limits.budget(Bucket.CREATE_SERVICE) or RENDER_DEFAULTS[Bucket.CREATE_SERVICE]


def _duration(seconds: float) -> str:
    """A rough duration: `2 h`, `45 min`, `30 s` (rounded to the nearest unit)."""
    if seconds >= 3570:
        return f"{round(seconds / 3600):g} h"
    if seconds >= 59.5:
        return f"{round(seconds / 60):g} min"
    return f"{max(1, round(seconds)):g} s"


def budget_notices(plan: Plan, client: RenderClient, window: CreateWindow | None = None,
                   now: float | None = None) -> list[str]:
    """The plan's up-front warnings, one for each hourly budget its creates do not fit in one run."""
    found = [budget_notice(plan, create_budget(client), window, now)]
    for bucket in HOURLY_CREATES[1:]:
        found.append(budget_notice(plan, client.rate_limits.budget(bucket) or RENDER_DEFAULTS[bucket],
                                   bucket=bucket))
    return [notice for notice in found if notice]


def budget_notice(plan: Plan, budget: Budget, window: CreateWindow | None = None, now: float | None = None,
                  *, bucket: Bucket = Bucket.CREATE_SERVICE) -> str | None:
    """The plan's up-front warning when its creates of `bucket` do not fit in one run, else None.

    Without a current `window` (the lockfile's record, `now` in epoch seconds) a run has the whole
    budget: `runs` is ceil(creates / budget) and the runs are a window apart, (runs - 1) windows in all.
    With one, the first run has what is left of it, and the second can start when it resets.
    """
    creates = creates_in(plan.changes, bucket)
    left, resets_in = budget.requests, budget.window
    if window is not None and now is not None and window.resets_at > now:
        left, resets_in = max(0, budget.requests - window.used), window.resets_at - now
    if creates <= left:
        return None
    runs = 1 + math.ceil((creates - left) / budget.requests)
    span = resets_in + (runs - 2) * budget.window
    what = (f"Render's budget of {budget.describe()}" if left == budget.requests
            else f"what is left of Render's budget of {budget.describe()} ({left} until the window resets in "
                 f"~{_duration(resets_in)})")
    return (f"{creates} {NOUNS[bucket]} creates exceed {what}: apply will need about {runs} runs over "
            f"~{_duration(span)} (each run does what fits and exits 4; re-run `renderer apply` after the window "
            "resets)")


def tenant_units(plan: Plan, slug: str, bucket: Bucket = Bucket.CREATE_SERVICE) -> int:
    return creates_in((c for c in plan.changes if c.tenant == slug), bucket)


class CreateGate:
    """Which creates of one apply go out now (module docstring).

    `allowance[bucket][slug]` is how many units of that hourly budget the tenant may still take (a bucket
    absent, or None for all: no client-side limit, every create is tried and a 429 closes that budget).
    A bucket is in `closed` after a 429 that asked for a longer wait than `MAX_CREATE_WAIT`; `resets_in`
    is the longest wait in seconds Render or the windows gave for a spent budget.
    """

    def __init__(self, allowance: dict[Bucket, dict[str, int]] | None, *, max_wait: float = MAX_CREATE_WAIT,
                 resets_in: float | None = None, client: RenderClient | None = None,
                 lockfile: Lockfile | None = None) -> None:
        self.allowance = allowance
        self.client = client
        self.lockfile = lockfile
        self.max_wait = max_wait
        self.closed: set[Bucket] = set()
        self.resets_in = resets_in
        self.deferred: set[str] = set()
        self._reserved: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def for_plan(cls, plan: Plan, client: RenderClient, lockfile: Lockfile | None = None, *,
                 max_wait: float = MAX_CREATE_WAIT) -> CreateGate:
        """Share out what is left of each hourly budget over the plan's tenants, in plan order: the less
        of what the client's limiter believes and (for services) what the lockfile's window says. When a
        window resets within `max_wait` seconds, the next window's budget counts too (the limiter waits)."""
        allowance: dict[Bucket, dict[str, int]] = {}
        spent_resets: list[float] = []
        for bucket in HOURLY_CREATES:
            state = client.budget(bucket)
            if state is None:
                continue
            remaining, resets_in = state.remaining, state.resets_in
            window = lockfile.service_create_window if lockfile is not None else None
            if bucket is Bucket.CREATE_SERVICE and window is not None and window.resets_at > client.clock.epoch():
                recorded = max(0, state.limit - window.used)
                if recorded < remaining:
                    remaining, resets_in = recorded, window.resets_at - client.clock.epoch()
            available = remaining
            if resets_in <= max_wait and remaining < state.limit:
                available += state.limit
            shares: dict[str, int] = {}
            for slug in plan.tenants:
                units = min(tenant_units(plan, slug, bucket), available)
                shares[slug] = units
                available -= units
            allowance[bucket] = shares
            if remaining == 0 and creates_in(plan.changes, bucket):
                spent_resets.append(resets_in)
        return cls(allowance or None, max_wait=max_wait, resets_in=max(spent_resets) if spent_resets else None,
                   client=client, lockfile=lockfile)

    def _note(self, *, used: int | None = None, resets_in: float | None = None) -> None:
        """Record a create (or, with `used`/`resets_in`, Render's refusal) in the lockfile's window."""
        if self.lockfile is None or self.client is None:
            return
        now = self.client.clock.epoch()
        budget = create_budget(self.client)
        window = self.lockfile.service_create_window
        if used is not None:
            self.lockfile.service_create_window = CreateWindow(resets_at=round(now + (resets_in or budget.window), 3),
                                                               used=used)
        elif window is None or window.resets_at <= now:
            self.lockfile.service_create_window = CreateWindow(resets_at=round(now + budget.window, 3), used=1)
        else:
            window.used += 1

    def _take(self, slug: str, bucket: Bucket) -> None:
        if bucket in self.closed:
            raise BudgetExhausted(slug, bucket)
        shares = None if self.allowance is None else self.allowance.get(bucket)
        if shares is None:
            return
        if shares.get(slug, 0) <= 0:
            raise BudgetExhausted(slug, bucket)
        shares[slug] -= 1

    def reserve(self, change: Change) -> None:
        """Take the unit of a replace before its delete half. Raises `BudgetExhausted`."""
        key = (change.tenant, change.address)
        bucket = create_bucket(change)
        if key not in self._reserved and bucket is not None:
            self._take(change.tenant, bucket)
            self._reserved.add(key)

    @contextlib.asynccontextmanager
    async def slot(self, change: Change) -> AsyncIterator[None]:
        """Send one create of an hourly budget inside this block, alone. Raises `BudgetExhausted` when it
        does not fit, or when Render refuses it with a 429 that asks for a longer wait than `max_wait`."""
        bucket = create_bucket(change) or Bucket.CREATE_SERVICE
        key = (change.tenant, change.address)
        if key in self._reserved:
            self._reserved.discard(key)
        else:
            self._take(change.tenant, bucket)
        async with self._lock:
            if bucket in self.closed:
                raise BudgetExhausted(change.tenant, bucket)
            try:
                with max_rate_wait(self.max_wait):
                    yield
            except RateLimited as exc:
                self.closed.add(bucket)
                self.resets_in = max(self.resets_in or 0.0, exc.retry_after or 0.0) or exc.retry_after
                if self.client is not None and bucket is Bucket.CREATE_SERVICE:
                    self._note(used=create_budget(self.client).requests, resets_in=exc.retry_after)
                raise BudgetExhausted(change.tenant, bucket) from exc
            if bucket is Bucket.CREATE_SERVICE:
                self._note()


def stop_message(left: list[Change], budget: Budget, resets_in: float | None) -> str:
    """The line apply prints when it stops for the budget: what is left and when to re-run."""
    counts = [(creates_in(left, bucket), NOUNS[bucket]) for bucket in HOURLY_CREATES]
    what = ", ".join(f"{n} {noun} create{'s' if n != 1 else ''}" for n, noun in counts
                     if n or noun == "service")
    when = (f"Render's window resets in ~{_duration(resets_in)}" if resets_in
            else f"the budget ({budget.describe()}) refills within {_duration(budget.window)}")
    return (f"incomplete: Render rate budget: {what} "
            f"({len(left)} change{'s' if len(left) != 1 else ''} in all) left for the next run; {when}; "
            "re-run `renderer apply` then, it carries on where this run stopped")
