"""Which tenants a pull request can change, and the rule that selected each.

Rules, most specific first (a tenant selected by several is shown under the first):

0. `lockfile`: `render.lock.json` changed: every tenant whose entry differs between the base and the PR.
   The lockfile is input (a copied or swapped ID would rewire or destroy another tenant's resource), and
   only the deploy workflow writes it, so any other change to it is called a hand edit (`lockfile_changes`);
1. `tenant file`: `tenants/<slug>.yaml` was added, changed or removed (a removed file plans the
   tenant's teardown; a renamed file is the old slug removed and the new one added);
2. `blueprint`: a file under `blueprints/<name>/` changed: every tenant using blueprint `<name>` (tenant
   files of the PR, and tenants only in the lockfile, i.e. being torn down);
3. `release file`: `releases.yaml` (beside `tenants/`) changed: every tenant (it decides each tenant's
   application version and the rollout's rings, docs/releases.md);
4. `renderer`: anything under `renderer/` changed: every tenant.

Changed paths come from gitpython: the diff from the merge base of the base commit and HEAD to HEAD,
so commits that landed on the base branch after the PR branched are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

import git

from renderer.errors import RendererError
from renderer.lockfile import Lockfile


class Rule(StrEnum):
    """Why a tenant is in the plan. Order is priority."""

    LOCKFILE = "lockfile"
    TENANT_FILE = "tenant file"
    BLUEPRINT = "blueprint"
    RELEASE_FILE = "release file"
    RENDERER = "renderer"


@dataclass(frozen=True)
class ChangedPath:
    """One path the PR changes. `change` is git's letter: A added, M modified, D deleted, R renamed."""

    path: str
    change: str


@dataclass(frozen=True)
class Selection:
    """One tenant's reason to be planned: the rule and the text shown in the comment."""

    rule: Rule
    why: str


@dataclass
class Affected:
    """The tenants to plan (slug -> the selections that chose it, most specific first) and the changed
    paths no rule matched (listed for the reviewer)."""

    tenants: dict[str, list[Selection]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    lockfile_edited_by_hand: bool = False

    def add(self, slug: str, rule: Rule, why: str) -> None:
        selections = self.tenants.setdefault(slug, [])
        if all(s.why != why for s in selections):
            selections.append(Selection(rule, why))
            selections.sort(key=lambda s: list(Rule).index(s.rule))

    def primary(self, slug: str) -> Selection:
        return self.tenants[slug][0]

    @property
    def slugs(self) -> list[str]:
        return sorted(self.tenants)

    def by_reason(self) -> dict[str, list[str]]:
        """Primary reason -> sorted slugs, in rule order."""
        groups: dict[str, list[str]] = {}
        for slug in sorted(self.tenants, key=lambda s: (list(Rule).index(self.primary(s).rule), s)):
            groups.setdefault(self.primary(slug).why, []).append(slug)
        return groups

    def to_json(self) -> dict[str, object]:
        return {"tenants": {slug: [{"rule": s.rule.value, "why": s.why} for s in sel]
                            for slug, sel in sorted(self.tenants.items())},
                "unmatched_paths": self.unmatched, "lockfile_edited_by_hand": self.lockfile_edited_by_hand}


_VERBS = {"A": "added", "M": "changed", "D": "removed", "T": "changed"}


def changed_paths(repo: git.Repo, base: str, head: str = "HEAD") -> list[ChangedPath]:
    """Paths changed between the merge base of `base` and `head`, and `head`. Renames give the old path
    as removed and the new one as added. Raises `RendererError` when `base` is not in the clone."""
    try:
        base_commit = repo.commit(base)
        head_commit = repo.commit(head)
    except (git.BadName, ValueError):
        raise RendererError(
            f"commit {base} is not in this clone, so the PR cannot be compared with its base",
            hint="check out with full history (actions/checkout `fetch-depth: 0`)") from None
    bases = repo.merge_base(base_commit, head_commit)
    start = bases[0] if bases else base_commit
    out: list[ChangedPath] = []
    for diff in start.diff(head_commit):
        kind = diff.change_type or "M"
        if kind == "R" and diff.a_path and diff.b_path:
            out += [ChangedPath(diff.a_path, "D"), ChangedPath(diff.b_path, "A")]
        else:
            out.append(ChangedPath(str(diff.b_path or diff.a_path), kind))
    return sorted(out, key=lambda c: c.path)


def select(
    changes: Iterable[ChangedPath], *, tenants_dir: str, blueprints_dir: str, code_dir: str = "renderer",
    tenant_blueprints: Mapping[str, str], locked_blueprints: Mapping[str, str], release_file: str | None = None,
) -> Affected:
    """Apply the rules. Directories and `release_file` are repository-relative POSIX paths;
    `tenant_blueprints` maps each tenant with a file at HEAD to its blueprint, `locked_blueprints` each
    lockfile tenant to the blueprint it was applied with."""
    affected = Affected()
    every = {**locked_blueprints, **tenant_blueprints}
    tenants_root = PurePosixPath(tenants_dir)
    blueprints_root = PurePosixPath(blueprints_dir)
    code_root = PurePosixPath(code_dir)
    for change in changes:
        path = PurePosixPath(change.path)
        if path.parent == tenants_root and path.suffix == ".yaml":
            slug = path.stem
            verb = _VERBS.get(change.change, "changed")
            why = f"`{change.path}` {verb}" + (" (teardown)" if change.change == "D" else "")
            affected.add(slug, Rule.TENANT_FILE, why)
        elif blueprints_root in path.parents:
            name = path.relative_to(blueprints_root).parts[0]
            users = sorted(slug for slug, blueprint in every.items() if blueprint == name)
            for slug in users:
                affected.add(slug, Rule.BLUEPRINT, f"blueprint `{name}` changed")
            if not users:
                affected.unmatched.append(change.path)
        elif release_file is not None and change.path == release_file:
            for slug in every:
                affected.add(slug, Rule.RELEASE_FILE, f"`{release_file}` changed")
        elif code_root in path.parents:
            for slug in every:
                affected.add(slug, Rule.RENDERER, f"`{code_dir}/` changed")
        else:
            affected.unmatched.append(change.path)
    return affected


def lockfile_changes(affected: Affected, lockfile_path: str, base: Lockfile, head: Lockfile, *,
                     by_deploy_workflow: bool) -> None:
    """Rule 0: select every tenant whose lockfile entry differs between `base` and `head`, and take the
    lockfile out of the unmatched paths. `by_deploy_workflow`: the PR is the deploy workflow's own lockfile
    pull request; any other change marks the lockfile as edited by hand."""
    if lockfile_path not in affected.unmatched:
        return
    affected.unmatched.remove(lockfile_path)
    changed = sorted(slug for slug in set(base.tenants) | set(head.tenants)
                     if (base.tenants.get(slug) is None) != (head.tenants.get(slug) is None)
                     or (slug in base.tenants and base.tenants[slug].model_dump() != head.tenants[slug].model_dump()))
    why = (f"`{lockfile_path}` updated by the deploy workflow" if by_deploy_workflow
           else f"`{lockfile_path}` edited by hand")
    for slug in changed:
        affected.add(slug, Rule.LOCKFILE, why)
    affected.lockfile_edited_by_hand = bool(changed) and not by_deploy_workflow
