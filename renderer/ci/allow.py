"""The allow conventions: `renderer ci apply` carries out a plan that destroys something only when the
merged change says so explicitly. Three kinds, each asked for on its own, matching `renderer apply`'s flags:

    kind          the plan...                              label               trailer              manual-run input
    destroy       deletes or replaces anything             allow-destroy       Allow-Destroy:       allow_destroy
    data-loss     replaces a database (its data is lost)   allow-data-loss     Allow-Data-Loss:     allow_data_loss
    mass-destroy  trips the mass-delete breaker            allow-mass-destroy  Allow-Mass-Destroy:  allow_mass_destroy

A plan needs every kind that applies to it: replacing a database needs `destroy` and `data-loss`, tearing
down many tenants needs `destroy` and `mass-destroy` (as `renderer apply` needs `--allow-replace
--allow-data-loss`, `--allow-destroy --allow-mass-destroy`). An allow is given by a label on the merged
pull request, a trailer with a reason in any commit of the push (any value but `no`, `false` or `0`,
e.g. `Allow-Data-Loss: region move, data restored from the 02:00 backup`), or the input of a manual run.
Scheduled runs only resume, with the allows of the run they resume (`Renderer-Allow` trailer).
Deletion protection in a tenant file cannot be allowed here at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import git

from renderer.plan.model import Action, Plan

NO_VALUES = frozenset({"", "no", "false", "0"})
ZERO_SHA = "0" * 40
RECORD_TRAILER = "Renderer-Allow"  # on renderer's own commits: the allows the run used (for a resume)


class AllowKind(StrEnum):
    DESTROY = "destroy"
    DATA_LOSS = "data-loss"
    MASS_DESTROY = "mass-destroy"

    @property
    def label(self) -> str:
        return f"allow-{self.value}"

    @property
    def trailer(self) -> str:
        return "-".join(part.capitalize() for part in self.label.split("-"))

    @property
    def input(self) -> str:
        return self.label.replace("-", "_")

    @property
    def words(self) -> str:
        return self.value.replace("-", " ")


@dataclass(frozen=True)
class Allow:
    """Whether one kind is allowed and by what (for the job summary and the PR comment)."""

    allowed: bool
    by: str = ""


NOT_ALLOWED = Allow(False)


@dataclass(frozen=True)
class Allows:
    """The allow of each kind for one run."""

    given: Mapping[AllowKind, Allow] = field(default_factory=dict)

    def __getitem__(self, kind: AllowKind) -> Allow:
        return self.given.get(kind, NOT_ALLOWED)

    def allowed(self, kind: AllowKind) -> bool:
        return self[kind].allowed

    @property
    def kinds(self) -> list[AllowKind]:
        return [k for k in AllowKind if self.allowed(k)]

    def merged(self, other: Allows) -> Allows:
        """Each kind from `self` when allowed there, else from `other`."""
        return Allows({k: self[k] if self.allowed(k) else other[k] for k in AllowKind})


NONE = Allows()


def needed(plan: Plan) -> dict[AllowKind, str]:
    """The kinds `plan` needs, each with why (in the order of `AllowKind`)."""
    need: dict[AllowKind, str] = {}
    destructive = [c for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE)]
    if destructive:
        deletes = sum(1 for c in destructive if c.action is Action.DELETE)
        replaces = len(destructive) - deletes
        parts = [f"deletes {deletes} resource{'s' if deletes != 1 else ''}" if deletes else "",
                 f"replaces {replaces} resource{'s' if replaces != 1 else ''}" if replaces else ""]
        need[AllowKind.DESTROY] = " and ".join(p for p in parts if p)
    data_loss = [f"{c.tenant}/{c.address}" for c in destructive if c.data_loss]
    if data_loss:
        need[AllowKind.DATA_LOSS] = f"replacing {', '.join(data_loss)} deletes the database and all its data"
    breaker = plan.mass_destroy()
    if breaker:
        need[AllowKind.MASS_DESTROY] = breaker
    return need


def missing(plan: Plan, allows: Allows) -> dict[AllowKind, str]:
    """The kinds `plan` needs that `allows` does not give."""
    return {k: why for k, why in needed(plan).items() if not allows.allowed(k)}


def how_to_allow(kinds: Iterable[AllowKind]) -> str:
    """The hint for a refused plan: the labels, trailers and inputs that would allow `kinds`."""
    kinds = list(kinds)
    labels = ", ".join(f"`{k.label}`" for k in kinds)
    trailers = ", ".join(f"`{k.trailer}: <reason>`" for k in kinds)
    inputs = ", ".join(f"`{k.input}`" for k in kinds)
    return (f"if intended, add the label{'s' if len(kinds) > 1 else ''} {labels} to the merged pull request and re-run "
            f"this job, push a commit with {trailers}, or run the deploy workflow by hand with {inputs} ticked")


def trailer_allow(commits: Iterable[git.Commit], kind: AllowKind = AllowKind.DESTROY) -> Allow:
    """The first commit whose message has `kind`'s trailer with a yes-ish value."""
    for commit in commits:
        for key, value in commit.trailers_list:
            if key.lower() == kind.trailer.lower() and value.strip().lower() not in NO_VALUES:
                return Allow(True, f"trailer `{kind.trailer}: {value.strip()}` in {commit.hexsha[:7]}")
    return NOT_ALLOWED


def label_allow(labels: Iterable[str], number: int | None, kind: AllowKind = AllowKind.DESTROY) -> Allow:
    if kind.label in set(labels):
        where = f" on #{number}" if number is not None else ""
        return Allow(True, f"label `{kind.label}`{where}")
    return NOT_ALLOWED


def first(*allows: Allow) -> Allow:
    return next((a for a in allows if a.allowed), NOT_ALLOWED)


def change_allows(labels: Iterable[str], number: int | None, commits: Iterable[git.Commit]) -> Allows:
    """The allows of a change: the PR's labels first, then the commits' trailers."""
    labels, commits = list(labels), list(commits)
    return Allows({k: first(label_allow(labels, number, k), trailer_allow(commits, k)) for k in AllowKind})


def input_allows(flag: Mapping[str, bool]) -> Allows:
    """The allows of a manual run: `flag` maps an input name (`allow_destroy`, ...) to its value."""
    return Allows({k: Allow(True, f"the `{k.input}` input of this manual run") for k in AllowKind
                   if flag.get(k.input)})


def record(allows: Allows) -> str | None:
    """`Renderer-Allow: destroy, data-loss` for renderer's own commit, or None when nothing is allowed."""
    return f"{RECORD_TRAILER}: {', '.join(k.value for k in allows.kinds)}" if allows.kinds else None


def recorded(commit: git.Commit | None) -> Allows:
    """The allows a renderer commit recorded (`record`), for the scheduled run that resumes it."""
    if commit is None:
        return NONE
    values = commit.trailers_dict.get(RECORD_TRAILER, [])
    words = {w.strip() for v in values for w in v.split(",")}
    return Allows({k: Allow(True, f"`{RECORD_TRAILER}` of {commit.hexsha[:7]}, the apply this run resumes")
                   for k in AllowKind if k.value in words})


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
