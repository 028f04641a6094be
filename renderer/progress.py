"""Progress during long waits: deploys going live, Postgres exports, Render's rate-limit windows.

A wait must never look like a hang. `WaitProgress` follows a set of items (one per deploy or export),
each with a status, on the client's clock (`renderer.render_api.clock.Clock`: real time in use, the
simulator's clock in tests):

- on a terminal (`console.is_terminal`): a live rich display, one row per item with its status and the
  time since it started, gone when the wait ends;
- elsewhere (CI logs, a pipe): a line through `emit` when an item's status changes, and a line every
  `HEARTBEAT_SECONDS` (30) while it does not, so a log never goes silent for long.

The caller reports how each item ends (`deploy dep-... live`) itself; `WaitProgress` only shows the way
there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

from renderer.render_api.clock import Clock

HEARTBEAT_SECONDS = 30.0

Emit = Callable[[str], None]


def elapsed_text(seconds: float) -> str:
    """`45 s`, `1m 05s`, `1h 02m`: whole seconds, for humans."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


@dataclass
class _Item:
    label: str
    status: str
    started: float
    last_line: float
    task: TaskID | None = None


class WaitProgress:
    """Use as `with WaitProgress(clock, emit, console) as progress:`, then `progress.update(key, label,
    status)` after each poll and `progress.finish(key)` when an item is done (module docstring)."""

    def __init__(self, clock: Clock, emit: Emit, console: Console | None = None, *,
                 heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.clock = clock
        self.emit = emit
        self.heartbeat = heartbeat
        self.live = console is not None and console.is_terminal
        self._display = Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                                 transient=True, disable=not self.live)
        self._items: dict[str, _Item] = {}

    def __enter__(self) -> WaitProgress:
        self._display.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._display.__exit__(exc_type, exc, tb)

    def update(self, key: str, label: str, status: str) -> None:
        """Record `status` for item `key` (first call: the item starts now). Off a terminal, emits a line
        when the status changed or `heartbeat` seconds passed since the item's last line."""
        now = self.clock.now()
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = _Item(label, status, now, now)
            if self.live:
                item.task = self._display.add_task(self._row(item, now))
            else:
                self.emit(f"{label}: {status}")
            return
        if status != item.status:
            item.status, item.last_line = status, now
            if not self.live:
                self.emit(f"{label}: {status} after {elapsed_text(now - item.started)}")
        elif not self.live and now - item.last_line >= self.heartbeat:
            item.last_line = now
            self.emit(f"{label}: still {status} after {elapsed_text(now - item.started)}")
        if item.task is not None:
            self._display.update(item.task, description=self._row(item, now))

    def finish(self, key: str) -> None:
        """Stop following item `key` (its row leaves the live display)."""
        item = self._items.pop(key, None)
        if item is not None and item.task is not None:
            self._display.remove_task(item.task)

    @staticmethod
    def _row(item: _Item, now: float) -> str:
        return f"{item.label}: {item.status} ({elapsed_text(now - item.started)})"
