"""The allow-destroy convention: a destructive plan (a delete or a replace) is applied by `renderer ci
apply` only when the merged change says so explicitly, in one of three ways:

- the merged pull request carries the label `allow-destroy`;
- a commit of the push (a commit of the PR, or the merge or squash commit) has the git trailer
  `Allow-Destroy: <reason>` (any value but `no`, `false` or `0`), e.g. `Allow-Destroy: initech offboarded`;
- a manual run (`workflow_dispatch`) with the `allow_destroy` input ticked.

Scheduled runs never destroy. The plan comment on the PR says whether the PR carries an allow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import git

ALLOW_LABEL = "allow-destroy"
ALLOW_TRAILER = "Allow-Destroy"
NO_VALUES = frozenset({"", "no", "false", "0"})
ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class Allow:
    """Whether destroy is allowed and by what (for the job summary and the PR comment)."""

    allowed: bool
    by: str = ""


NOT_ALLOWED = Allow(False)


def trailer_allow(commits: Iterable[git.Commit]) -> Allow:
    """The first commit whose message has an `Allow-Destroy:` trailer with a yes-ish value."""
    for commit in commits:
        for key, value in commit.trailers_list:
            if key.lower() == ALLOW_TRAILER.lower() and value.strip().lower() not in NO_VALUES:
                return Allow(True, f"trailer `{ALLOW_TRAILER}: {value.strip()}` in {commit.hexsha[:7]}")
    return NOT_ALLOWED


def label_allow(labels: Iterable[str], number: int | None) -> Allow:
    if ALLOW_LABEL in set(labels):
        where = f" on #{number}" if number is not None else ""
        return Allow(True, f"label `{ALLOW_LABEL}`{where}")
    return NOT_ALLOWED


def first(*allows: Allow) -> Allow:
    return next((a for a in allows if a.allowed), NOT_ALLOWED)


def commits_between(repo: git.Repo, before: str | None, after: str) -> list[git.Commit]:
    """Commits reachable from `after` but not from `before` (just `after` when `before` is unknown,
    all zeros, or not in the clone)."""
    if before and before != ZERO_SHA:
        try:
            repo.commit(before)
            return list(repo.iter_commits(f"{before}..{after}"))
        except (git.BadName, ValueError, git.GitCommandError):
            pass
    return [repo.commit(after)]
