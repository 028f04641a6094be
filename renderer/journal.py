"""The intent journal: every write apply sends to Render, recorded before it is sent and its result after.

A JSON-lines file next to the lockfile (`render.lock.json.journal`). Each line is one step:

    {"seq": 3, "phase": "intent", "op": "create", "tenant": "acme-corp", "address": "postgres.db",
     "kind": "postgres", "name": "db-acme-corp", "blueprint": "base_crm", "env_vars": [...]}
    {"seq": 3, "phase": "done", "op": "create", ..., "id": "dpg-..."}

`phase` is `intent` (about to send), `done` (Render answered with success) or `failed` (Render refused
it for certain: a 4xx). An intent with neither is unresolved: the process died, or the answer was lost,
between sending and recording. Lines hold names, keys and IDs, never a value. Each line is flushed and
fsynced before the write it announces is sent. A torn last line (a kill in the middle of a write) is
ignored when reading.

On the next `apply`, `renderer.apply.recover` reads the journal and brings the lockfile up to date
(a create's ID from its `done` line, or, when unresolved, by looking the resource up by owner, type
and name), then removes the journal. A run that ends with no unresolved intent removes it too.

Test hook: with `RENDERER_CRASH_AFTER_JOURNAL_STEP=N` the process exits at once (`os._exit`, exit code
`CRASH_EXIT_CODE`) right after writing its N-th journal line, to prove crash safety at every step.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CRASH_ENV = "RENDERER_CRASH_AFTER_JOURNAL_STEP"
CRASH_EXIT_CODE = 86

Phase = Literal["intent", "done", "failed"]


def journal_path(lockfile_path: Path) -> Path:
    """The journal that belongs to a lockfile: `<lockfile>.journal`, next to the file a symlinked lockfile
    path points to (so a link and its target share one journal)."""
    if lockfile_path.is_symlink():
        lockfile_path = lockfile_path.resolve()
    return lockfile_path.with_name(lockfile_path.name + ".journal")


@dataclass
class Step:
    """One operation of a journal: its intent line and, once known, its result line."""

    seq: int
    op: str
    data: dict[str, Any]
    phase: Phase = "intent"
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return self.phase != "intent"


def read(path: Path) -> list[Step]:
    """The steps of a journal in the order they were announced ([] when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    steps: dict[int, Step] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn line from a kill mid-write: the step it began was never sent
        if not isinstance(entry, dict) or "seq" not in entry:
            continue
        seq = int(entry["seq"])
        if entry.get("phase") == "intent":
            steps[seq] = Step(seq=seq, op=str(entry.get("op")), data=entry)
        elif seq in steps:
            steps[seq].phase = entry["phase"]
            steps[seq].result = entry
    return [steps[k] for k in sorted(steps)]


class Journal:
    """Appends steps to the journal file. `written` counts lines written by this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._seq = max((s.seq for s in read(path)), default=0)
        self._open: set[int] = set()
        crash = os.environ.get(CRASH_ENV)
        self.crash_after = int(crash) if crash and crash.isdigit() else None

    def _write(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.written += 1
        if self.crash_after is not None and self.written >= self.crash_after:
            os._exit(CRASH_EXIT_CODE)

    def intent(self, op: str, **data: Any) -> int:
        """Record that a write is about to be sent. Returns its step number."""
        self._seq += 1
        self._open.add(self._seq)
        self._write({"seq": self._seq, "phase": "intent", "op": op, **data})
        return self._seq

    def done(self, seq: int, **data: Any) -> None:
        """Record that Render accepted the write (`data`: e.g. the new `id`)."""
        self._open.discard(seq)
        self._write({"seq": seq, "phase": "done", **data})

    def failed(self, seq: int, error: str) -> None:
        """Record that Render refused the write for certain (nothing was changed)."""
        self._open.discard(seq)
        self._write({"seq": seq, "phase": "failed", "error": error})

    @property
    def unresolved(self) -> bool:
        """Whether a write of this process has no known result."""
        return bool(self._open)

    def clear(self) -> None:
        """Remove the journal file (everything in it is reflected in the lockfile)."""
        self.path.unlink(missing_ok=True)
        self._open.clear()
