"""Applying independent tenants concurrently, with output in plan order.

Tenants share nothing on Render (every resource carries its tenant's suffix), so apply may work on
several at once (`apply --tenant-parallelism N`). What stays single:

- the requests: one `RenderClient`, whose limiter and parallelism slots keep every tenant's calls
  within Render's rate budgets together;
- the writers: the intent journal and the lockfile are written by one `Applier` on one event loop,
  each write a synchronous append or atomic replace with no `await` inside, so two tenants' writes
  never interleave within a line or a file;
- the output: `OrderedOutput` prints the lines of the first unfinished tenant (in plan order) as they
  come and holds every other tenant's lines until the tenants before it are done, so the output is the
  same as a sequential run's whatever the timing.

`run_tenants` starts tenants in plan order, at most `parallelism` at a time. When one fails, no further
tenant is started; those already running finish, as in Terraform.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar

Emit = Callable[[str], None]

DEFAULT_TENANT_PARALLELISM = 4

_CURRENT: ContextVar[str | None] = ContextVar("renderer_apply_tenant", default=None)


class OrderedOutput:
    """An `emit` that keeps each tenant's lines together and the tenants in `order`."""

    def __init__(self, emit: Emit, order: list[str]) -> None:
        self._emit = emit
        self._order = list(order)
        self._next = 0
        self._held: dict[str, list[str]] = {}
        self._finished: set[str] = set()

    @contextlib.contextmanager
    def tenant(self, slug: str) -> Iterator[None]:
        """Lines emitted inside the block (in this task) belong to `slug`."""
        token = _CURRENT.set(slug)
        try:
            yield
        finally:
            _CURRENT.reset(token)

    def __call__(self, line: str) -> None:
        slug = _CURRENT.get()
        if slug is None or self._current() == slug:
            self._emit(line)
        else:
            self._held.setdefault(slug, []).append(line)

    def _current(self) -> str | None:
        return self._order[self._next] if self._next < len(self._order) else None

    def finish(self, slug: str) -> None:
        """`slug` has no more lines: print the held lines of the tenants after it, in order."""
        self._finished.add(slug)
        while (current := self._current()) is not None:
            for line in self._held.pop(current, []):
                self._emit(line)
            if current not in self._finished:
                break
            self._next += 1

    def flush(self) -> None:
        """Print whatever is still held (tenants that never finished), in order."""
        for slug in self._order:
            for line in self._held.pop(slug, []):
                self._emit(line)


async def run_tenants(slugs: list[str], work: Callable[[str], Awaitable[None]], *, parallelism: int,
                      output: OrderedOutput) -> list[tuple[str, BaseException]]:
    """Run `work(slug)` for each slug, in order, at most `parallelism` at once. Returns the failures
    (slug, exception) in plan order; after the first failure no further tenant starts. A cancellation
    (Ctrl-C) propagates once the running tenants have stopped."""
    queue = list(slugs)
    failures: dict[str, BaseException] = {}
    stop = asyncio.Event()

    async def worker() -> None:
        while queue and not stop.is_set():
            slug = queue.pop(0)
            try:
                with output.tenant(slug):
                    await work(slug)
            except BaseException as exc:
                failures[slug] = exc
                stop.set()
                if not isinstance(exc, Exception):
                    raise
            finally:
                output.finish(slug)

    try:
        await asyncio.gather(*(worker() for _ in range(max(1, min(parallelism, len(slugs))))))
    finally:
        output.flush()
    return [(slug, failures[slug]) for slug in slugs if slug in failures]
