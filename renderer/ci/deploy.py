"""`renderer ci apply`: on a push to main (or a scheduled or manual run), plan every tenant, apply, and
commit `render.lock.json` back.

1. The event: `push` to the deploy branch (the merged PR is looked up for its number and labels),
   `schedule` (only resumes an apply whose last lockfile commit says `Renderer-Apply: incomplete`; otherwise
   it ends without calling Render) or `workflow_dispatch` (input `allow_destroy`).
2. The starting lockfile: the checkout's, or, while a bot lockfile PR is open (main is protected), that
   branch's, so nothing applied is forgotten.
3. Tenant secrets (`tenant_secrets`), then plan; `plan.json` goes to the output directory.
4. A plan that deletes or replaces stops (exit 1) unless allowed (`allow`).
5. Apply. Whatever happens (success, a refused call half-way, exit 4 on Render's create budget, a
   crash), the lockfile as apply left it is stamped with provenance (`commit`, `pull_request` on each
   tenant this run changed) and committed (`lockcommit`); then the apply's own error is raised again.
6. The job summary shows the plan, the outcome and where the lockfile went; the output directory gets a
   copy of the final lockfile.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from renderer import lockfile as lockfile_io
from renderer.apply import ApplyReport, apply_plan
from renderer.ci.allow import (
    ALLOW_LABEL,
    ALLOW_TRAILER,
    NOT_ALLOWED,
    Allow,
    commits_between,
    first,
    label_allow,
    trailer_allow,
)
from renderer.ci.context import GitHubEnv
from renderer.ci.github import GitHubClient, PullRequestInfo
from renderer.ci.lockcommit import BOT_BRANCH, Published, PushMode, Remote, lockfile_at, publish
from renderer.ci.pr_plan import repo_relative
from renderer.ci.tenant_secrets import actions_mask, expand_tenant_secrets, scrub
from renderer.errors import RendererError
from renderer.lockfile import Lockfile
from renderer.plan.model import Action, Plan
from renderer.plan.render_json import render_json
from renderer.plan.render_markdown import render_markdown
from renderer.plan.render_text import render_text
from renderer.render_api.client import RenderClient, Settings
from renderer.workflow import Inputs, make_plan

Emit = Callable[[str], None]
STATUS_TRAILER = "Renderer-Apply"
INCOMPLETE_EXIT = 4  # apply stopped early with work left (Render's create budget): resume later
SUBJECT_TENANTS = 3


@dataclass(frozen=True)
class ApplyRun:
    """Options of one `renderer ci apply` run."""

    inputs: Inputs
    out_dir: Path | None = None
    repo: Path = Path(".")
    remote: str = "origin"
    branch: str = "main"
    push_mode: PushMode = PushMode.AUTO


@dataclass
class Outcome:
    """What happened, filled in as the run goes."""

    plan: Plan | None = None
    before: Lockfile | None = None
    report: ApplyReport | None = None
    refused: bool = False
    started: bool = False
    error: BaseException | None = None
    published: Published | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.error is None:
            return "complete"
        if isinstance(self.error, RendererError) and self.error.exit_code == INCOMPLETE_EXIT:
            return "incomplete"
        return "failed"


def merged_pull(pulls: list[PullRequestInfo], sha: str) -> PullRequestInfo | None:
    """The pull request merged as `sha` (or, failing that, any merged PR containing it)."""
    merged = [p for p in pulls if p.merged_at]
    return next((p for p in merged if p.merge_commit_sha == sha), merged[0] if merged else None)


PR_IN_MESSAGE = re.compile(r"(?:^Merge pull request #(\d+)\b|\(#(\d+)\)\s*$)", re.MULTILINE)


def pull_number_from_message(message: str) -> int | None:
    """`Merge pull request #12 from ...` (merge commit) or `Title (#12)` (squash merge)."""
    match = PR_IN_MESSAGE.search(message.splitlines()[0] if message else "")
    if not match:
        return None
    return int(match.group(1) or match.group(2))


def last_status(commit: git.Commit | None) -> str | None:
    if commit is None:
        return None
    values = commit.trailers_dict.get(STATUS_TRAILER)
    return values[-1].strip() if values else None


def changed_tenants(before: Lockfile, after: Lockfile) -> list[str]:
    slugs = set(before.tenants) | set(after.tenants)
    return sorted(s for s in slugs if (before.tenants.get(s) is None) != (after.tenants.get(s) is None)
                  or (s in before.tenants and before.tenants[s].model_dump() != after.tenants[s].model_dump()))


def id_lines(slug: str, before: Lockfile, after: Lockfile, plan: Plan | None) -> list[str]:
    """`  + address id` per created resource, `~` updated, `-` destroyed, for the commit message."""
    old = before.tenants[slug].resources if slug in before.tenants else {}
    new = after.tenants[slug].resources if slug in after.tenants else {}
    updated = {c.address for c in plan.changes if c.tenant == slug and c.action is Action.UPDATE} if plan else set()
    lines = []
    for addr, entry in sorted(new.items()):
        if addr not in old or old[addr].id != entry.id:
            lines.append(f"  + {addr} {entry.id}")
        elif addr in updated:
            lines.append(f"  ~ {addr} {entry.id}")
    lines += [f"  - {addr} {entry.id}" for addr, entry in sorted(old.items())
              if addr not in new or new[addr].id != entry.id]
    return lines


def commit_message(outcome: Outcome, tenants: list[str], before: Lockfile, after: Lockfile, sha: str,
                   pull: int | None, run_url: str | None) -> str:
    names = ", ".join(tenants[:SUBJECT_TENANTS])
    if len(tenants) > SUBJECT_TENANTS:
        names += f" and {len(tenants) - SUBJECT_TENANTS} more"
    verb = {"complete": "apply", "incomplete": "partial apply (Render create budget, resumes)",
            "failed": "partial apply (failed)"}[outcome.status]
    subject = f"render.lock.json: {verb} {names} [skip ci]" if names else (
        "render.lock.json: resumed apply found nothing left to do [skip ci]")
    source = f"{sha[:7]}" + (f" (#{pull})" if pull else "")
    lines = [subject, "", f"renderer ci apply of {source}: " + (
        outcome.report.summary() if outcome.report else "stopped before the end; this records what was done.")]
    if run_url:
        lines.append(run_url)
    lines.append("")
    for slug in tenants:
        lines.append(f"{slug}:" if slug in after.tenants else f"{slug}: torn down")
        lines += id_lines(slug, before, after, outcome.plan)
    lines += ["", f"Renderer-Commit: {sha}"]
    if pull:
        lines.append(f"Renderer-Pull-Request: {pull}")
    lines.append(f"{STATUS_TRAILER}: {outcome.status}")
    return "\n".join(lines) + "\n"


class Deploy:
    """One `renderer ci apply` run (module docstring)."""

    def __init__(self, run: ApplyRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str]) -> None:
        self.run = run
        self.gh = gh
        self.emit = emit
        self.env = environ
        self.repo = git.Repo(run.repo, search_parent_directories=True)
        self.lock_path = run.inputs.lockfile
        self.lock_in_repo = repo_relative(self.repo, self.lock_path)
        self.head = self.repo.head.commit
        self.sha = gh.sha or self.head.hexsha
        self.remote = Remote.for_repo(self.repo, name=run.remote, branch=run.branch, server_url=gh.server_url,
                                      token=gh.token)
        self.client: GitHubClient | None = None
        if gh.token and gh.repository:
            self.client = GitHubClient(gh.api_url, gh.require_repository(), gh.token)
        self.secret_names: list[str] = []
        self.outcome = Outcome()

    def close(self) -> None:
        if self.client is not None:
            self.client.__exit__()

    # Where the run starts from
    def _pending_lockfile(self) -> git.Commit | None:
        """The bot branch's tip while its PR into the deploy branch is open."""
        if self.client is None or self.client.find_open_pull(BOT_BRANCH, self.run.branch) is None:
            return None
        return self.remote.fetch_branch(BOT_BRANCH)

    def _source(self) -> tuple[Lockfile, git.Commit | None]:
        """The starting lockfile (written to the working tree) and the last commit of `renderer ci apply`."""
        pending = self._pending_lockfile()
        if pending is not None:
            start = lockfile_at(pending, self.lock_in_repo)
            lockfile_io.write(self.lock_path, start)
            self.outcome.notes.append(f"Started from the lockfile of the open bot pull request (`{BOT_BRANCH}`), "
                                      f"since {self.run.branch} is protected and has not merged it yet.")
            return start, pending
        # Our lockfile commits carry the status trailer (a resume that changed nothing has no lockfile diff).
        last = next(self.repo.iter_commits(self.head, grep=f"^{STATUS_TRAILER}: ", max_count=1), None)
        return lockfile_io.load(self.lock_path), last

    def _event(self) -> tuple[Allow, int | None, bool]:
        """(allow, merged PR number, resume-only) for this event."""
        name = self.gh.event_name
        if name == "push":
            event = self.gh.push_event()
            if event.ref != f"refs/heads/{self.run.branch}":
                raise RendererError(f"renderer ci apply deploys {self.run.branch}; this push is to {event.ref}",
                                    hint="trigger the deploy workflow on pushes to the deploy branch only")
            pull = self._merged_pull(event.after)
            labels = label_allow(pull.label_names, pull.number) if pull else NOT_ALLOWED
            allow = first(labels, trailer_allow(commits_between(self.repo, event.before, event.after)))
            return allow, pull.number if pull else pull_number_from_message(str(self.head.message)), False
        if name == "workflow_dispatch":
            flag = self.gh.dispatch_event().flag("allow_destroy")
            return (Allow(True, "the `allow_destroy` input of this manual run") if flag else NOT_ALLOWED), None, False
        if name == "schedule":
            return NOT_ALLOWED, None, True
        raise RendererError(f"renderer ci apply runs on push, schedule or workflow_dispatch events, not {name}")

    def _merged_pull(self, sha: str) -> PullRequestInfo | None:
        if self.client is None:
            self.outcome.notes.append("No GITHUB_TOKEN: the merged pull request's labels were not read.")
            return None
        return merged_pull(self.client.pulls_for_commit(sha), sha)

    # The run
    async def _plan_and_apply(self, allow: Allow) -> None:
        async with RenderClient(Settings.from_env()) as client:
            planned = await make_plan(self.run.inputs, client)
            plan = self.outcome.plan = planned.plan
            self.outcome.before = planned.lockfile.model_copy(deep=True)
            if self.run.out_dir is not None:
                self.run.out_dir.mkdir(parents=True, exist_ok=True)
                (self.run.out_dir / "plan.json").write_text(render_json(plan), encoding="utf-8")
            self.emit(render_text(plan).plain.rstrip("\n"))
            if not plan.has_changes:
                return
            if plan.is_destructive and not allow.allowed:
                self.outcome.refused = True
                n = sum(1 for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE))
                raise RendererError(
                    f"the plan deletes or replaces {n} resource{'s' if n != 1 else ''} and the merged change "
                    "does not allow it; nothing was changed",
                    hint=f"add the `{ALLOW_LABEL}` label to the merged pull request and re-run this job, push a "
                         f"commit with an `{ALLOW_TRAILER}: <reason>` trailer, or run the workflow by hand with "
                         "`allow_destroy`")
            self.outcome.started = True
            self.outcome.report = await apply_plan(
                plan, client, planned.lockfile, self.lock_path, planned.live, emit=self.emit,
                allow_destroy=allow.allowed, allow_replace=allow.allowed)
            self.emit(self.outcome.report.summary())

    def _stamp(self, before: Lockfile, pull: int | None) -> tuple[Lockfile, list[str]]:
        """The lockfile as apply left it, with `commit`/`pull_request` set on each tenant this run changed."""
        after = lockfile_io.load(self.lock_path)
        touched = set(changed_tenants(before, after))
        if self.outcome.report is not None and self.outcome.plan is not None:
            touched |= {c.tenant for c in self.outcome.plan.actionable() if c.tenant in after.tenants}
        for slug in touched:
            if slug in after.tenants:
                after.tenants[slug].commit = self.sha
                after.tenants[slug].pull_request = pull
        lockfile_io.write(self.lock_path, after)
        return after, sorted(touched)

    def _open_pull(self, commit: str, title: str, body: str) -> tuple[int, str]:
        assert self.client is not None
        existing = self.client.find_open_pull(BOT_BRANCH, self.run.branch)
        if existing is not None:
            updated = self.client.update_pull(existing.number, title=title, body=body)
            return updated.number, updated.html_url
        created = self.client.create_pull(head=BOT_BRANCH, base=self.run.branch, title=title, body=body)
        return created.number, created.html_url

    def _publish(self, start: Lockfile, pull: int | None, *, allow_empty: bool = False) -> None:
        before = self.outcome.before or start
        after, tenants = self._stamp(before, pull)
        message = scrub(commit_message(self.outcome, tenants, before, after, self.sha, pull, self.gh.run_url),
                        self.env, self.secret_names)
        # The merge base for a rebase is what the checked-out commit holds: with a pending bot branch that
        # is older than `start`, and every pending entry must count as this run's.
        self.outcome.published = publish(
            self.remote, path=self.lock_in_repo, start=lockfile_at(self.head, self.lock_in_repo), ours=after,
            parent=self.head, message=message,
            mode=self.run.push_mode, open_pull=self._open_pull if self.client is not None else None,
            allow_empty=allow_empty)
        if self.outcome.published.content is not None:
            self.lock_path.write_text(self.outcome.published.content, encoding="utf-8")
        if self.outcome.published.conflicts:
            self.outcome.notes.append("Both this run and main changed the lockfile entries of "
                                      + ", ".join(self.outcome.published.conflicts) + "; this run's entries were kept.")

    def execute(self) -> int:
        allow, pull, resume_only = self._event()
        start, last_commit = self._source()
        if resume_only and last_status(last_commit) != "incomplete":
            self.emit("scheduled run: the last apply completed; nothing to resume")
            self.gh.write_summary("## renderer apply\n\nScheduled run: the last apply completed, nothing to resume. "
                                  "No call was made to Render.\n")
            return 0
        self.secret_names = expand_tenant_secrets(self.env, actions_mask if self.gh.on_actions else None)
        try:
            asyncio.run(self._plan_and_apply(allow))
        except BaseException as exc:  # recorded; the lockfile is committed, then this is raised again
            self.outcome.error = exc
        publish_error: RendererError | None = None
        plan = self.outcome.plan
        # A resume that finds nothing left records that, so later scheduled runs stop planning.
        resumed_clean = resume_only and self.outcome.error is None and plan is not None and not plan.has_changes
        if self.outcome.started or resumed_clean:
            try:
                self._publish(start, pull, allow_empty=resumed_clean)
            except RendererError as exc:
                if self.outcome.error is None:
                    raise
                publish_error = exc
        if self.run.out_dir is not None and self.lock_path.exists():
            self.run.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.lock_path, self.run.out_dir / "render.lock.json")
        self.gh.write_summary(scrub(self.summary(allow, publish_error), self.env, self.secret_names))
        self._emit_publication()
        if self.outcome.error is not None:
            raise self.outcome.error
        return 0

    def _emit_publication(self) -> None:
        published = self.outcome.published
        if published is None:
            return
        if published.how == "main":
            self.emit(f"render.lock.json committed to {self.run.branch} as {published.commit}")
        elif published.how == "pull-request":
            self.emit(f"{self.run.branch} is protected: render.lock.json is in pull request #{published.pull_request} "
                      f"({published.url})")
        else:
            self.emit("render.lock.json unchanged")

    def summary(self, allow: Allow, publish_error: RendererError | None) -> str:
        out = self.outcome
        blocks = ["## renderer apply"]
        if out.plan is not None:
            blocks.append(render_markdown(out.plan).rstrip("\n"))
        if out.refused:
            blocks.append(f"**Stopped:** {out.error}")
        elif out.error is not None:
            verb = ("stopped early with work left; a scheduled run resumes it" if out.status == "incomplete"
                    else "failed")
            blocks.append(f"**Apply {verb}:**\n\n```\n{out.error}\n```")
        elif out.report is not None:
            blocks.append(f"**{out.report.summary()}**")
        if allow.allowed and out.plan is not None and out.plan.is_destructive:
            blocks.append(f"Destroy allowed by {allow.by}.")
        published = out.published
        if published is not None and published.how == "main":
            blocks.append(f"`render.lock.json` committed to `{self.run.branch}` as `{published.commit}`.")
        elif published is not None and published.how == "pull-request":
            blocks.append(f"`{self.run.branch}` is protected: `render.lock.json` is in pull request "
                          f"#{published.pull_request} ({published.url}); merge it to record the IDs.")
        if publish_error is not None:
            blocks.append(f"**The lockfile could not be committed:** {publish_error}. The run's artifact holds it.")
        blocks += out.notes
        return "\n\n".join(blocks) + "\n"


def run_apply(run: ApplyRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str] | None = None) -> int:
    """Run `renderer ci apply` (module docstring). Returns 0; raises the apply's error after committing."""
    deploy = Deploy(run, gh, emit, os.environ if environ is None else environ)
    try:
        return deploy.execute()
    finally:
        deploy.close()
