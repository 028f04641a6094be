"""`renderer ci plan`: plan the tenants a pull request can change and show the plan on the PR.

Steps: select the affected tenants (`affected`); for a PR from a fork, or a run without `RENDER_API_KEY`
(GitHub gives neither secrets nor a write token to those), validate every tenant (no API call) and stop
there with a job summary that says the plan was skipped and why. Otherwise bring in the tenant secrets,
plan the affected tenants against Render (a scoped plan: only they are rendered and read, see
`renderer.operations.scope`; the workflow's `renderer validate` step checks every tenant), write
`plan.json` and `affected.json` to the output directory, sync the PR comments (`comments`) and write the
same text to the job summary.
A plan that fails (a name conflict, a refused API call) is posted as the failure, then raised.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path

import git

from renderer import lockfile as lockfile_io
from renderer.ci import affected as affected_mod
from renderer.ci.allow import Allows, change_allows, needed
from renderer.ci.comments import cap_lines, split_comments, sync_comments
from renderer.ci.context import GitHubEnv, PullRequest
from renderer.ci.github import GitHubClient
from renderer.ci.lockcommit import BOT_BRANCH, lockfile_at
from renderer.ci.tenant_secrets import actions_mask, expand_tenant_secrets, scrub
from renderer.configuration import release_path
from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.operations.plan import Planned, make_plan
from renderer.operations.scope import Inputs, load
from renderer.plan.model import Plan
from renderer.plan.render_json import render_json
from renderer.plan.render_markdown import MarkdownPlan, markdown_parts
from renderer.plan.render_text import render_text
from renderer.render_api.client import RenderClient, Settings
from renderer.tenant import discover, load_tenant

Emit = Callable[[str], None]
HAND_EDIT = ("> [!CAUTION]\n> **`render.lock.json` was edited by hand in this pull request.** Only the deploy workflow "
             "writes it: a copied or swapped ID makes renderer update or delete another resource. Each changed "
             "entry is planned below and checked against Render; restore the file from the base branch unless "
             "the edit is intended.")
TITLE = "renderer plan"
DESTRUCTIVE_LIMIT = 20_000  # characters of the destructive call-out kept in the first comment
SELECTION_LIMIT = 15_000
LIST_OPEN_LIMIT = 20  # tenants listed openly; more go in a collapsed block


@dataclass(frozen=True)
class PlanRun:
    """Options of one `renderer ci plan` run. `repo` is any path inside the clone."""

    inputs: Inputs
    out_dir: Path | None = None
    repo: Path = Path(".")
    code_dir: str = "renderer"


def repo_relative(repo: git.Repo, path: Path) -> str:
    """`path` relative to the clone's top directory, POSIX style (how git names paths)."""
    top = Path(str(repo.working_tree_dir)).resolve()
    try:
        return path.resolve().relative_to(top).as_posix()
    except ValueError:
        raise RendererError(f"{path} is outside the git clone at {top}") from None


def _slug_list(slugs: list[str]) -> str:
    return ", ".join(f"`{s}`" for s in slugs)


def selection_block(affected: affected_mod.Affected, base_ref: str, base_sha: str, never_applied: list[str]) -> str:
    """Why each tenant is in the plan, grouped by the rule that selected it."""
    groups = affected.by_reason()
    lines = [f"**Why these tenants** (changes against `{base_ref}` at `{base_sha[:7]}`):", ""]
    for why, slugs in groups.items():
        shown = [s for s in slugs if s not in never_applied]
        if shown:
            lines.append(f"- {why}: {_slug_list(shown)}")
    if never_applied:
        lines.append(f"- removed before it was ever applied, nothing to tear down: {_slug_list(never_applied)}")
    if affected.unmatched:
        paths = ", ".join(f"`{p}`" for p in affected.unmatched[:20])
        more = f" and {len(affected.unmatched) - 20} more" if len(affected.unmatched) > 20 else ""
        lines.append(f"- changed, but no tenant depends on it: {paths}{more}")
    text = cap_lines("\n".join(lines), SELECTION_LIMIT,
                     "- ... and {n} more lines: `affected.json` in the artifact lists every tenant with its rule")
    if len(affected.tenants) > LIST_OPEN_LIMIT:
        text = (f"<details><summary><b>Why these {len(affected.tenants)} tenants</b></summary>\n\n"
                f"{text}\n\n</details>")
    return text


def allow_line(plan: Plan, allows: Allows) -> str:
    """What the deploy needs to carry this plan out: each allow it needs, and whether the PR gives it."""
    lines = []
    protected = sorted({c.tenant for c in plan.changes if c.protected})
    if protected:
        lines.append(f"**On merge:** the deploy refuses this plan: {', '.join(f'`{s}`' for s in protected)} "
                     "has `deletion_protection: true`, which no allow lifts. Set it to `false` and deploy that first.")
    need = needed(plan)
    if need:
        lines.append("**On merge:** this plan needs an explicit allow for each item below, or the deploy stops:")
        for kind, why in need.items():
            allow = allows[kind]
            state = f"allowed by {allow.by}" if allow.allowed else "**not allowed**"
            lines.append(f"- {kind.words} ({why}): the `{kind.label}` label or an `{kind.trailer}: <reason>` commit "
                         f"trailer. Now: {state}.")
    return "\n".join(lines)


def context_line(gh: GitHubEnv, pr: PullRequest, head_sha: str) -> str:
    line = f"Plan of `{head_sha[:7]}` (#{pr.number}: `{pr.head.ref}` into `{pr.base.ref}`)"
    if gh.run_url:
        line += f" · [workflow run]({gh.run_url})"
    return line


def comment_head(context: str, parts: MarkdownPlan | None, extra: list[str]) -> str:
    blocks = [context]
    if parts is None:
        blocks.append("**No tenant is affected by this pull request.** Nothing to plan.")
    else:
        blocks.append(parts.summary)
        if parts.destructive:
            blocks.append(cap_lines(parts.destructive, DESTRUCTIVE_LIMIT,
                                    "- ... and {n} more: each is in its tenant's section below"))
    blocks += [b for b in extra if b]
    return "\n\n".join(blocks)


def skipped_summary(reason: str, affected: affected_mod.Affected, configuration_size: int, base_ref: str,
                    base_sha: str, never_applied: list[str]) -> str:
    return "\n\n".join([
        "## renderer plan skipped",
        reason,
        f"Validation passed: {configuration_size} tenant{'s' if configuration_size != 1 else ''} load and render "
        "(the validate step annotates any problem on the diff). No call was made to Render.",
        selection_block(affected, base_ref, base_sha, never_applied) if affected.tenants else
        "No tenant is affected by this pull request.",
    ]) + "\n"


def blueprints_of(tenants_dir: Path) -> dict[str, str]:
    """slug -> blueprint of each tenant file that parses (tenant layer only: no rendering). A broken file
    is left out here; planning then reports it with file, line and column."""
    found: dict[str, str] = {}
    for path in discover(tenants_dir):
        try:
            found[path.stem] = load_tenant(path).tenant.blueprint
        except RendererError:
            continue
    return found


async def _plan(inputs: Inputs, last_applied: list[Lockfile]) -> Planned:
    async with RenderClient(Settings.from_env()) as client:
        return await make_plan(inputs, client, last_applied=last_applied)


def _write(out_dir: Path | None, name: str, text: str) -> None:
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / name).write_text(text, encoding="utf-8")


def run_plan(run: PlanRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str] | None = None) -> int:
    """Run `renderer ci plan` (module docstring). Returns the exit code (0); raises `RendererError`."""
    env = os.environ if environ is None else environ
    pr = gh.pull_request_event().pull_request
    repo = git.Repo(run.repo, search_parent_directories=True)
    lockfile = lockfile_io.load(run.inputs.lockfile)
    tenant_blueprints = blueprints_of(run.inputs.tenants_dir)
    head = repo.head.commit
    try:
        base_commit = repo.commit(pr.base.sha)
    except (git.BadName, ValueError):
        raise RendererError(
            f"the base commit {pr.base.sha[:12]} of #{pr.number} is not in this clone",
            hint="check out with full history (actions/checkout `fetch-depth: 0`)") from None
    merge_bases = repo.merge_base(base_commit, head)
    start = merge_bases[0] if merge_bases else base_commit
    changes = affected_mod.changed_paths(repo, start.hexsha, head.hexsha)
    affected = affected_mod.select(
        changes, tenants_dir=repo_relative(repo, run.inputs.tenants_dir),
        blueprints_dir=repo_relative(repo, run.inputs.blueprints_dir), code_dir=run.code_dir,
        tenant_blueprints=tenant_blueprints,
        locked_blueprints={slug: t.blueprint for slug, t in lockfile.tenants.items()},
        release_file=repo_relative(repo, release_path(run.inputs.tenants_dir)))
    lock_in_repo = repo_relative(repo, run.inputs.lockfile)
    base_lockfile = lockfile_at(start, lock_in_repo)
    affected_mod.lockfile_changes(affected, lock_in_repo, base_lockfile, lockfile,
                                  by_deploy_workflow=pr.head.ref == BOT_BRANCH and pr.fork_repository is None)
    known = set(tenant_blueprints) | set(lockfile.tenants)
    never_applied = [s for s in affected.slugs if s not in known]
    slugs = tuple(s for s in affected.slugs if s in known)
    _write(run.out_dir, "affected.json", json.dumps(affected.to_json(), indent=2, sort_keys=True) + "\n")
    emit(f"affected tenants: {', '.join(slugs) if slugs else 'none'}")

    fork = pr.fork_repository
    if fork is not None or not env.get("RENDER_API_KEY"):
        reason = (
            f"This pull request comes from the fork `{fork}`. GitHub runs workflows for fork pull requests with "
            "a read-only token and without secrets, so renderer cannot read Render or comment here; only "
            "validation ran. A maintainer sees the plan once the branch is pushed to this repository."
            if fork is not None else
            "`RENDER_API_KEY` is not available to this run (GitHub gives no Actions secrets to Dependabot pull "
            "requests, and the repository may not define it), so the plan was skipped; only validation ran.")
        configuration, _ = load(run.inputs)  # validation only: raises ValidationFailed, no API call
        gh.write_summary(skipped_summary(reason, affected, len(configuration.tenants), pr.base.ref, pr.base.sha,
                                         never_applied))
        emit("plan skipped: " + ("pull request from a fork" if fork else "no RENDER_API_KEY"))
        return 0

    secret_names = expand_tenant_secrets(env, actions_mask if gh.on_actions else None)
    repository = gh.require_repository()
    token = gh.require_token("comment the plan on the pull request")
    allows = change_allows(pr.label_names, pr.number, repo.iter_commits(f"{start.hexsha}..{head.hexsha}"))
    context = context_line(gh, pr, head.hexsha)
    selection = selection_block(affected, pr.base.ref, pr.base.sha, never_applied)
    if affected.lockfile_edited_by_hand:
        context += "\n\n" + HAND_EDIT

    parts: MarkdownPlan | None = None
    plan: Plan | None = None
    failure: RendererError | None = None
    if slugs:
        try:
            planned = asyncio.run(_plan(replace(run.inputs, only=slugs), [base_lockfile]))
        except RendererError as exc:
            failure = exc
        else:
            plan = planned.plan
            parts = markdown_parts(plan)
            _write(run.out_dir, "plan.json", render_json(plan))
            emit(render_text(plan).plain.rstrip("\n"))
    if failure is not None:
        head_text = "\n\n".join([context, f"**The plan failed.**\n\n```\n{failure}\n```", selection])
        sections: list[tuple[str, str]] = []
    else:
        head_text = comment_head(context, parts, [allow_line(plan, allows) if plan else "", selection])
        sections = parts.sections if parts else []
    bodies = [scrub(b, env, secret_names) for b in split_comments(TITLE, head_text, sections)]
    with GitHubClient(gh.api_url, repository, token) as client:
        result = sync_comments(client, pr.number, bodies)
    summary_parts = [f"## {TITLE}", head_text, *(text for _, text in sections)]
    summary_parts.append(f"_Posted on #{pr.number} as {len(bodies)} comment{'s' if len(bodies) != 1 else ''}._")
    gh.write_summary(scrub("\n\n".join(summary_parts), env, secret_names))
    emit(f"plan comment{'s' if len(bodies) != 1 else ''} on #{pr.number}: {len(result.created)} created, "
         f"{len(result.updated)} updated, {len(result.unchanged)} unchanged, {len(result.deleted)} deleted")
    if failure is not None:
        raise failure
    return 0
