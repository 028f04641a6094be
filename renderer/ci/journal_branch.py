"""The intent journal of `renderer ci apply`, kept on the branch `renderer/journal` so it outlives the runner.

`renderer apply` keeps its journal (`<lockfile>.journal`, `renderer.journal`) next to the lockfile, and the
next apply on the same machine recovers from it. A CI runner is thrown away after each job, and one that
crashes (killed, lost, timed out) commits nothing, so in CI the journal lives on the remote instead:

1. Before the first write, the run pushes `renderer/journal`: the checked-out commit plus one commit
   adding `<lockfile>.journal` with an unresolved intent line for every write the plan makes (create,
   delete, update; the lines `renderer.apply.recover` reads). It is a write-ahead record: a crash at any
   point after it leaves on the remote what may have been done.
2. After the apply, once the lockfile is committed: the branch is deleted when apply left no journal
   (everything it did is in the lockfile), or replaced by apply's own journal when it left one (a write
   whose result is unknown).
3. At the start of every run the branch, when it exists, is fetched and its journal written next to the
   lockfile; `recover` then records what the interrupted run created (by the ID its journal recorded, or
   by looking it up by owner, type and name: `GET /services?name=`, `GET /postgres`), drops what it
   deleted and deploys what it changed without deploying. Recovering twice changes nothing, so a run
   that dies after committing the lockfile but before deleting the branch is harmless.

The branch is force-pushed with a lease (`--force-with-lease`) so two runs never overwrite each other's
journal; the deploy workflow's concurrency group runs one at a time anyway.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from renderer import journal as journal_io
from renderer.ci.lockcommit import PushResult, Remote, commit_file
from renderer.plan.model import Action, Change, Plan

JOURNAL_BRANCH = "renderer/journal"


def _data(plan: Plan, change: Change, **extra: Any) -> dict[str, Any]:
    """What `renderer.apply` records for a change (tenant, address, kind, name, blueprint, managed env var keys)."""
    data: dict[str, Any] = {"tenant": change.tenant, "address": change.address, "kind": change.kind.value,
                            "name": change.name, **extra}
    source = plan.sources.get(change.tenant)
    if source is not None:
        data["blueprint"] = source.blueprint
    if change.desired is not None:
        data["env_vars"] = sorted(e.key for e in change.desired.env_vars if e.managed)
        if change.desired.parent:
            data["parent"] = change.desired.parent
    return data


def plan_intents(plan: Plan) -> str:
    """The journal text announcing every write `plan` makes, none resolved: for a replace a delete of the
    old resource then a create, for a delete a delete, for a create a create, for a service update an
    update (recovery deploys it again). Written with `renderer.journal.Journal`, so it is the journal's
    own format; the crash test hook does not count these lines."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal"
        journal = journal_io.Journal(path)
        journal.crash_after = None
        for change in plan.actionable():
            if change.action in (Action.DELETE, Action.REPLACE) and change.id is not None:
                journal.intent("delete", **_data(plan, change, id=change.id,
                                                  address=change.previous_address or change.address))
            if change.action in (Action.CREATE, Action.REPLACE):
                journal.intent("create", **_data(plan, change))
            if change.action is Action.UPDATE and change.kind.is_service and change.id is not None:
                journal.intent("update", **_data(plan, change, id=change.id))
        return path.read_text(encoding="utf-8") if path.exists() else ""


@dataclass
class JournalBranch:
    """The journal of one lockfile on the remote (module docstring). `tip` is the branch's commit as this
    run last saw or pushed it (None: no branch)."""

    remote: Remote
    journal_file: Path
    path: str  # the journal's path in the repository
    tip: str | None = None
    notes: list[str] = field(default_factory=list)

    def restore(self) -> git.Commit | None:
        """Fetch the branch; when it exists, write its journal next to the lockfile (a journal already there,
        left by a run on this machine, is kept: it is the newer one). Returns the branch's commit."""
        commit = self.remote.fetch_branch(JOURNAL_BRANCH)
        if commit is None:
            return None
        self.tip = commit.hexsha
        try:
            blob = commit.tree / self.path
        except KeyError:
            return commit
        if self.journal_file.exists():
            self.notes.append(f"`{JOURNAL_BRANCH}` holds a journal, but one was already next to the lockfile; "
                              "recovery used the local one.")
        else:
            self.journal_file.parent.mkdir(parents=True, exist_ok=True)
            self.journal_file.write_bytes(blob.data_stream.read())
            self.notes.append(f"An interrupted apply left its journal on `{JOURNAL_BRANCH}` "
                              f"({commit.hexsha[:7]}); this run recovered from it first.")
        return commit

    def save(self, parent: git.Commit, content: str, message: str) -> bool:
        """Push `content` as the journal on the branch (one commit on `parent`). False, with a note, when the
        push was declined: the run goes on, but a crash would then need `renderer import`."""
        commit = commit_file(self.remote.repo, parent, self.path, content, message)
        result = self.remote.push(commit.hexsha, JOURNAL_BRANCH, lease=self.tip or "")
        if result is not PushResult.OK:
            self.notes.append(f"The journal could not be pushed to `{JOURNAL_BRANCH}` ({result.value}); had this "
                              "run crashed, `renderer import` would have been needed. Let the workflow push that "
                              "branch (exclude `renderer/*` from branch rules).")
            return False
        self.tip = commit.hexsha
        return True

    def clear(self) -> None:
        """Delete the branch (when this run saw or pushed it)."""
        if self.tip is None:
            return
        result = self.remote.delete_branch(JOURNAL_BRANCH, lease=self.tip)
        if result is PushResult.OK:
            self.tip = None
        else:
            self.notes.append(f"`{JOURNAL_BRANCH}` could not be deleted ({result.value}); the next run recovers "
                              "from it again, which changes nothing.")
