"""`renderer ci apply`: on a push to main (or a scheduled or manual run), plan every tenant, apply, and
commit `render.lock.json` back.

1. The event: `push` to the deploy branch (the merged PR is looked up for its number and labels),
   `schedule` (only resumes: an apply whose last lockfile commit says `Renderer-Apply: incomplete`, or
   one that left its journal on `renderer/journal`; otherwise it ends without calling Render) or
   `workflow_dispatch` (inputs `allow_destroy`, `allow_data_loss`, `allow_mass_destroy`).
2. The starting lockfile: the checkout's, or, while a bot lockfile PR is open (main is protected), that
   branch's, so nothing applied is forgotten. An interrupted run's journal is fetched (`journal_branch`).
3. The tenant secrets are brought in, then `renderer.operations.apply.apply_run`, the sequence
   `renderer apply` runs: under the apply lock, recover from that journal, plan (`plan.json` goes to
   the output directory), the plan checks once (every flag given: only deletion protection refuses).
4. Its `permit` is this run's: a plan that needs an allow the change does not carry (`allow`: destroy,
   data loss, mass destroy) stops (exit 1, `PlanRefused`) before any write.
5. The plan's writes are pushed to `renderer/journal` (write-ahead), then apply; a plan without changes
   is not applied. Whatever happens (success, a refused call half-way, a stop with work left, a crash
   of the process), the lockfile as apply left it is stamped with provenance (`commit`, `pull_request`
   on each tenant this run changed) and committed (`lockcommit`), and the journal branch is deleted or
   replaced by what apply left.
6. Apply waits for the deploys it started (unless `--no-wait`): a deploy that fails fails the run
   (exit 1, the tenant `failed` in the lockfile; the next plan shows it pending).
7. The outcome: `complete` (exit 0); `incomplete` (exit 4: apply stopped early with work left, its
   `ApplyReport.exit_code` 4, or Render's rate limit refused a write even after retrying; the hourly
   scheduled run resumes it); `failed` (the apply's error is raised again, exit 1).
8. The job summary shows the plan, the outcome and where the lockfile went; the output directory gets a
   copy of the final lockfile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from renderer import journal as journal_io
from renderer import lockfile as lockfile_io
from renderer.apply import DEFAULT_LOCK_TIMEOUT, DEFAULT_WAIT_TIMEOUT, ApplyReport
from renderer.ci.allow import (
    NONE,
    AllowKind,
    Allows,
    change_allows,
    commits_between,
    how_to_allow,
    input_allows,
    missing,
    needed,
    record,
    recorded,
)
from renderer.ci.context import GitHubEnv
from renderer.ci.github import GitHubClient, PullRequestInfo
from renderer.ci.journal_branch import JOURNAL_BRANCH, JournalBranch, plan_intents
from renderer.ci.lockcommit import BOT_BRANCH, Published, PushMode, Remote, lockfile_at, publish
from renderer.ci.pr_plan import repo_relative
from renderer.ci.tenant_secrets import actions_mask, expand_tenant_secrets, scrub
from renderer.errors import ExitCode, RendererError
from renderer.lockfile import Lockfile
from renderer.operations.apply import Applied, ApplyOptions, PlanRefused, apply_run
from renderer.operations.plan import Planned
from renderer.operations.scope import Inputs
from renderer.plan.model import Action, Plan
from renderer.plan.render_json import render_json
from renderer.plan.render_markdown import render_markdown
from renderer.plan.render_text import render_text
from renderer.render_api.errors import RateLimited
from renderer.rollout import RolloutReport, rollout_summary

Emit = Callable[[str], None]
STATUS_TRAILER = "Renderer-Apply"
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
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    wait: bool = True
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    # Seconds the release rollout may wait in this job (a longer bake pauses it: incomplete, resumed).
    rollout_timeout: float | None = None


@dataclass
class Outcome:
    """What happened, filled in as the run goes."""

    plan: Plan | None = None
    before: Lockfile | None = None
    report: ApplyReport | None = None
    rollout: RolloutReport | None = None
    refused: bool = False
    started: bool = False
    recovered: list[str] = field(default_factory=list)
    error: BaseException | None = None
    published: Published | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """`complete`, `incomplete` (stopped early with work left: resumed later) or `failed`."""
        if self.error is None:
            code = ExitCode(self.report.exit_code) if self.report is not None else ExitCode.OK
            if code == ExitCode.OK and self.rollout is not None:
                code = self.rollout.exit_code
            return {ExitCode.OK: "complete", ExitCode.INCOMPLETE: "incomplete"}.get(code, "failed")
        if isinstance(self.error, RendererError) and self.error.exit_code == ExitCode.INCOMPLETE:
            return "incomplete"
        # Render refused a write on its rate limit even after the client waited and retried: nothing is
        # wrong with the change, the budget is spent. Resume later, as for a stop on the create budget.
        if self.started and isinstance(self.error, RateLimited):
            return "incomplete"
        return "failed"

    @property
    def exit_code(self) -> ExitCode:
        """0 complete, 4 incomplete, 1 failed (refused plans included)."""
        return {"complete": ExitCode.OK, "incomplete": ExitCode.INCOMPLETE}.get(self.status, ExitCode.ERROR)

    def stopped_why(self) -> str:
        """One line on why an incomplete or failed run stopped."""
        if self.rollout is not None and self.rollout.exit_code and self.error is None:
            return rollout_summary(self.rollout)
        if self.report is not None and self.error is None:
            return self.report.summary()
        first_line = str(self.error).splitlines()[0] if self.error is not None else "stopped before the end"
        return f"stopped before the end ({first_line}); this records what was done."


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
                   pull: int | None, run_url: str | None, allows: Allows = NONE) -> str:
    names = ", ".join(tenants[:SUBJECT_TENANTS])
    if len(tenants) > SUBJECT_TENANTS:
        names += f" and {len(tenants) - SUBJECT_TENANTS} more"
    verb = {"complete": "apply", "incomplete": "partial apply (stopped early, resumes)",
            "failed": "partial apply (failed)"}[outcome.status]
    subject = f"render.lock.json: {verb} {names} [skip ci]" if names else (
        "render.lock.json: resumed apply found nothing left to do [skip ci]")
    source = f"{sha[:7]}" + (f" (#{pull})" if pull else "")
    body = outcome.report.summary() if outcome.report is not None and outcome.error is None else (
        outcome.stopped_why() if outcome.started else "recorded what an interrupted apply had done.")
    lines = [subject, "", f"renderer ci apply of {source}: {body}"]
    if outcome.recovered:
        lines.append(f"Recovered from the journal of an interrupted apply: {len(outcome.recovered)} step"
                     f"{'s' if len(outcome.recovered) != 1 else ''}.")
    if run_url:
        lines.append(run_url)
    lines.append("")
    for slug in tenants:
        lines.append(f"{slug}:" if slug in after.tenants else f"{slug}: torn down")
        lines += id_lines(slug, before, after, outcome.plan)
    lines += ["", f"Renderer-Commit: {sha}"]
    if pull:
        lines.append(f"Renderer-Pull-Request: {pull}")
    allowed = record(allows)
    if allowed:
        lines.append(allowed)
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
        journal_file = journal_io.journal_path(self.lock_path)
        self.journal = JournalBranch(self.remote, journal_file, repo_relative(self.repo, journal_file))
        self.client: GitHubClient | None = None
        if gh.token and gh.repository:
            self.client = GitHubClient(gh.api_url, gh.require_repository(), gh.token)
        self.secret_names: list[str] = []
        self.allows = NONE
        self.outcome = Outcome()
        self._started_from_pending = False
        self.last_applied: list[Lockfile] = []

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
            self._started_from_pending = True
            return start, pending
        # Our lockfile commits carry the status trailer (a resume that changed nothing has no lockfile diff).
        last = next(self.repo.iter_commits(self.head, grep=f"^{STATUS_TRAILER}: ", max_count=1), None)
        return lockfile_io.load(self.lock_path), last

    def _event(self) -> tuple[Allows, int | None, bool]:
        """(allows, merged PR number, resume-only) for this event."""
        name = self.gh.event_name
        if name == "push":
            event = self.gh.push_event()
            if event.ref != f"refs/heads/{self.run.branch}":
                raise RendererError(f"renderer ci apply deploys {self.run.branch}; this push is to {event.ref}",
                                    hint="trigger the deploy workflow on pushes to the deploy branch only")
            pull = self._merged_pull(event.after)
            allows = change_allows(pull.label_names if pull else [], pull.number if pull else None,
                                   commits_between(self.repo, event.before, event.after))
            return allows, pull.number if pull else pull_number_from_message(str(self.head.message)), False
        if name == "workflow_dispatch":
            dispatch = self.gh.dispatch_event()
            return input_allows({k.input: dispatch.flag(k.input) for k in AllowKind}), None, False
        if name == "schedule":
            return NONE, None, True
        raise RendererError(f"renderer ci apply runs on push, schedule or workflow_dispatch events, not {name}")

    def _last_applied(self, start: Lockfile, last_commit: git.Commit | None,
                      interrupted: git.Commit | None) -> list[Lockfile]:
        """Lockfiles the change being deployed cannot have edited, for deletion protection: the one of the
        push's `before` commit, of renderer's last lockfile commit, of the open bot pull request, and of the
        journal branch when resuming. A tenant protected in any of them stays protected (issue 11)."""
        commits = [c for c in (last_commit, interrupted) if c is not None]
        if self.gh.event_name == "push":
            before = self.gh.push_event().before
            if before.strip("0"):
                with contextlib.suppress(git.BadName, ValueError):  # not in a shallow clone: HEAD's rules
                    commits.append(self.repo.commit(before))
        trusted = [lockfile_at(c, self.lock_in_repo) for c in commits]
        if self._started_from_pending:
            trusted.append(start)
        return trusted

    def _merged_pull(self, sha: str) -> PullRequestInfo | None:
        if self.client is None:
            self.outcome.notes.append("No GITHUB_TOKEN: the merged pull request's labels were not read.")
            return None
        return merged_pull(self.client.pulls_for_commit(sha), sha)

    # The run: `renderer.operations.apply.apply_run` with every flag given (only deletion protection can
    # refuse there, and no flag lifts it); this run's allows are its `permit`.
    def _show(self, planned: Planned) -> None:
        plan = self.outcome.plan = planned.plan
        if self.run.out_dir is not None:
            self.run.out_dir.mkdir(parents=True, exist_ok=True)
            (self.run.out_dir / "plan.json").write_text(render_json(plan), encoding="utf-8")
        self.emit(render_text(plan).plain.rstrip("\n"))

    def _permit(self, plan: Plan) -> None:
        """Raise `PlanRefused` when the plan needs an allow the change does not carry."""
        lacking = missing(plan, self.allows)
        if lacking:
            reasons = "; ".join(f"{kind.words}: {why}" for kind, why in lacking.items())
            raise PlanRefused(
                f"the plan needs an explicit allow the merged change does not carry ({reasons}); "
                "nothing was changed", hint=how_to_allow(lacking))

    def _confirm(self, planned: Planned) -> bool:
        """Push the plan's writes to the journal branch (write-ahead), then go on."""
        self.journal.save(self.head, plan_intents(planned.plan), self._journal_message())
        return True

    def _journal_message(self) -> str:
        lines = [f"renderer ci apply of {self.sha[:7]} in progress: its journal [skip ci]", ""]
        if self.gh.run_url:
            lines += [self.gh.run_url, ""]
        lines.append(f"Renderer-Commit: {self.sha}")
        allowed = record(self.allows)
        if allowed:
            lines.append(allowed)
        return "\n".join(lines) + "\n"

    def _apply(self) -> None:
        applied = Applied()
        options = ApplyOptions(allow_destroy=True, allow_replace=True, allow_data_loss=True, allow_mass_destroy=True,
                               lock_timeout=self.run.lock_timeout, apply_unchanged=False, wait=self.run.wait,
                               wait_timeout=self.run.wait_timeout,
                               last_applied=tuple(self.last_applied), rollout_timeout=self.run.rollout_timeout)
        try:
            asyncio.run(apply_run(self.run.inputs, options, emit=self.emit, show=self._show, confirm=self._confirm,
                                  permit=self._permit, applied=applied))
        finally:
            self.outcome.recovered, self.outcome.started = applied.recovered, applied.started
            self.outcome.report = applied.report
            self.outcome.rollout = applied.rollout
        if applied.report is not None:
            self.emit(applied.report.summary())
        if applied.rollout is not None:
            self.emit(rollout_summary(applied.rollout))

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
        before = self.outcome.before = start
        after, tenants = self._stamp(before, pull)
        message = scrub(commit_message(self.outcome, tenants, before, after, self.sha, pull, self.gh.run_url,
                                       self.allows), self.env, self.secret_names)
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

    def _settle_journal(self, lockfile_recorded: bool) -> None:
        """Leave on `renderer/journal` what the next run must recover from, and nothing else."""
        local = self.journal.journal_file
        if local.exists():
            self.journal.save(self.head, local.read_text(encoding="utf-8"), self._journal_message())
            self.outcome.notes.append(f"Apply left its journal (a write whose result is unknown); it is on "
                                      f"`{JOURNAL_BRANCH}` and the next run recovers from it.")
        elif lockfile_recorded:
            self.journal.clear()

    def execute(self) -> int:
        self.allows, pull, resume_only = self._event()
        start, last_commit = self._source()
        interrupted = self.journal.restore()
        self.last_applied = self._last_applied(start, last_commit, interrupted)
        if resume_only:
            if last_status(last_commit) != "incomplete" and interrupted is None:
                self.emit("scheduled run: the last apply completed; nothing to resume")
                self.gh.write_summary("## renderer apply\n\nScheduled run: the last apply completed, nothing to "
                                      "resume. No call was made to Render.\n")
                return ExitCode.OK
            self.allows = recorded(interrupted if interrupted is not None else last_commit)
        self.secret_names = expand_tenant_secrets(self.env, actions_mask if self.gh.on_actions else None)
        try:
            self._apply()
        except BaseException as exc:  # recorded; the lockfile is committed, then this is raised again
            self.outcome.error = exc
            self.outcome.refused = isinstance(exc, PlanRefused)
        publish_error: RendererError | None = None
        plan = self.outcome.plan
        # A resume that finds nothing left records that, so later scheduled runs stop planning.
        resumed_clean = resume_only and self.outcome.error is None and plan is not None and not plan.has_changes
        if self.outcome.started or resumed_clean or self.outcome.recovered:
            try:
                self._publish(start, pull, allow_empty=resumed_clean)
            except RendererError as exc:
                publish_error = exc
        self._settle_journal(lockfile_recorded=publish_error is None)
        if self.run.out_dir is not None and self.lock_path.exists():
            self.run.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.lock_path, self.run.out_dir / "render.lock.json")
        self.gh.write_summary(scrub(self.summary(publish_error), self.env, self.secret_names))
        self._emit_publication()
        if self.outcome.error is not None and self.outcome.status == "failed":
            raise self.outcome.error
        if publish_error is not None:
            raise publish_error
        if self.outcome.status == "incomplete":
            self.emit(f"apply stopped early with work left: {self.outcome.stopped_why()} Progress is committed; "
                      "the scheduled deploy run resumes it.")
        return self.outcome.exit_code

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

    def summary(self, publish_error: RendererError | None) -> str:
        out = self.outcome
        blocks = ["## renderer apply"]
        if out.recovered:
            blocks.append("**Recovered from an interrupted apply:**\n\n" + "\n".join(f"- {n}" for n in out.recovered))
        if out.plan is not None:
            blocks.append(render_markdown(out.plan).rstrip("\n"))
        if out.refused:
            blocks.append(f"**Stopped:** {out.error}")
        elif out.status == "incomplete":
            blocks.append(f"**Apply stopped early with work left; the scheduled run resumes it:**\n\n```\n"
                          f"{out.stopped_why()}\n```")
        elif out.error is not None:
            blocks.append(f"**Apply failed:**\n\n```\n{out.error}\n```")
        elif out.rollout is not None and out.rollout.failure is not None:
            blocks.append(f"**{out.report.summary() if out.report else ''}**\n\n**{rollout_summary(out.rollout)}**")
        elif out.report is not None:
            blocks.append(f"**{out.report.summary()}**")
            if out.rollout is not None:
                blocks.append(f"**{rollout_summary(out.rollout)}**")
        if out.plan is not None:
            for kind in AllowKind:
                allow = self.allows[kind]
                if allow.allowed and kind in needed(out.plan):
                    blocks.append(f"{kind.words.capitalize()} allowed by {allow.by}.")
        published = out.published
        if published is not None and published.how == "main":
            blocks.append(f"`render.lock.json` committed to `{self.run.branch}` as `{published.commit}`.")
        elif published is not None and published.how == "pull-request":
            blocks.append(f"`{self.run.branch}` is protected: `render.lock.json` is in pull request "
                          f"#{published.pull_request} ({published.url}); merge it to record the IDs.")
        if publish_error is not None:
            blocks.append(f"**The lockfile could not be committed:** {publish_error}. The run's artifact holds it; "
                          f"the journal on `{JOURNAL_BRANCH}` lets the next run recover.")
        blocks += out.notes + self.journal.notes
        return "\n\n".join(blocks) + "\n"


def run_apply(run: ApplyRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str] | None = None) -> int:
    """Run `renderer ci apply` (module docstring). Returns 0 (complete) or 4 (incomplete, progress
    committed); raises the apply's error after committing what it did, or the refusal of a plan."""
    deploy = Deploy(run, gh, emit, os.environ if environ is None else environ)
    try:
        return deploy.execute()
    finally:
        deploy.close()
