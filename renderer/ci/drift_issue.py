"""`renderer ci drift`: the drift report of every tenant (`renderer.drift`, as `renderer drift` runs it),
kept in ONE GitHub issue.

- drift found, no open drift issue: open one (title `Drift: N tenants changed on Render outside renderer`,
  label `renderer-drift`, body starting with the hidden marker `<!-- renderer:drift -->`);
- drift found, the issue is open: edit it in place (title and body; never a second issue);
- no drift, the issue is open: edit the body to say so and close it (`state_reason: completed`);
- no drift, no issue: no write to GitHub at all.

The report is `renderer.operations.drift.drift`'s, exactly as `renderer drift` computes it.

The issue is found by its label and marker together: GET /repos/{owner}/{repo}/issues?labels=renderer-drift
&state=open, keeping the oldest whose body starts with the marker (an issue someone else labelled is
left alone); failing that, by the marker among all open issues (the label was removed by hand, or GitHub
dropped it: it sets labels only for tokens with push access). Drift that comes back after the issue was
closed opens a new issue.

The lockfile compared is the checkout's, or, while a bot lockfile pull request is open (the deploy branch
is protected, `renderer.ci.lockcommit`), that branch's: it holds the IDs of what apply created since,
which would otherwise show as unmanaged. The body names fields and keys, never a secret's value (tenant
secret values are scrubbed as in every `renderer ci` output) and is cut at line boundaries below
GitHub's 65,536-character limit. The same report goes to the job summary and, with `--out`, to
`drift.json` (the format of `renderer drift --format json`).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import git

from renderer import lockfile as lockfile_io
from renderer.ci.comments import cap_lines
from renderer.ci.context import GitHubEnv
from renderer.ci.github import GitHubClient, Issue
from renderer.ci.lockcommit import BOT_BRANCH, Remote, lockfile_at
from renderer.ci.pr_plan import repo_relative
from renderer.ci.tenant_secrets import actions_mask, expand_tenant_secrets, scrub
from renderer.drift import DriftReport
from renderer.lockfile import Lockfile
from renderer.operations.drift import drift

Emit = Callable[[str], None]
MARKER = "<!-- renderer:drift -->"
LABEL = "renderer-drift"
BODY_LIMIT = 60_000  # under GitHub's 65,536-character limit for an issue body, with room for the footer


@dataclass(frozen=True)
class DriftRun:
    """The options of one `renderer ci drift` run."""

    tenants_dir: Path
    lockfile: Path
    out_dir: Path | None = None
    remote: str = "origin"
    branch: str = "main"


@dataclass(frozen=True)
class IssueOutcome:
    """What happened to the drift issue: `opened`, `updated`, `closed` or `none` (no drift, no issue)."""

    action: str
    issue: Issue | None = None


def title(report: DriftReport) -> str:
    n = len({i.tenant for i in report.items})
    return f"Drift: {n} tenant{'s' if n != 1 else ''} changed on Render outside renderer"


def report_markdown(report: DriftReport) -> str:
    """The findings, one section per drifted tenant (a heading and one bullet per finding)."""
    if not report.has_drift:
        n = len(report.tenants)
        return f"No drift: Render matches what renderer last applied for {n} tenant{'s' if n != 1 else ''}."
    drifted = sorted({i.tenant for i in report.items})
    lines = [f"**{len(report.items)} finding{'s' if len(report.items) != 1 else ''} in {len(drifted)} of "
             f"{len(report.tenants)} tenants:** {', '.join(f'`{s}`' for s in drifted)}", ""]
    for slug in drifted:
        lines.append(f"#### {slug}")
        lines += [f"- {item.kind}: {item.describe()}" for item in report.items if item.tenant == slug]
        lines.append("")
    return "\n".join(lines).rstrip("\n")


HOW_TO_FIX = (
    "To fix: `changed` is restored by the next apply (run the deploy workflow by hand, or `renderer apply`); "
    "a `missing` resource is created again by the next apply; an `unmanaged` one is adopted with "
    "`renderer import` or deleted in the Render dashboard. If a change made on Render is meant to stay, put "
    "it in the tenant file or blueprint instead.")


def issue_body(report: DriftReport, run_url: str | None, source: str) -> str:
    checked = f"Checked by [this run]({run_url})" if run_url else "Checked by `renderer ci drift`"
    footer = (f"\n\n{checked} against {source}. This issue is kept by `renderer ci drift` (scheduled "
              "`drift.yml`): it is edited on every run that finds drift and closed when the drift is gone.")
    text = report_markdown(report)
    if report.has_drift:
        text += "\n\n" + HOW_TO_FIX
    more = "\n_{n} more lines: see the job summary and drift.json._"
    return MARKER + "\n" + cap_lines(text, BODY_LIMIT, more) + footer


def find_issue(client: GitHubClient) -> Issue | None:
    """The open drift issue: the oldest open issue with the label whose body starts with the marker, else
    (the label was removed, or GitHub dropped it at creation) the oldest open issue with the marker."""
    for labels in (LABEL, None):
        found = next((i for i in client.list_issues(labels=labels) if (i.body or "").startswith(MARKER)), None)
        if found is not None:
            return found
    return None


def sync_issue(client: GitHubClient, report: DriftReport, body: str) -> IssueOutcome:
    """Open, edit or close the one drift issue for `report` (module docstring)."""
    issue = find_issue(client)
    if report.has_drift:
        if issue is None:
            return IssueOutcome("opened", client.create_issue(title=title(report), body=body, labels=[LABEL]))
        return IssueOutcome("updated", client.update_issue(issue.number, title=title(report), body=body))
    if issue is None:
        return IssueOutcome("none")
    return IssueOutcome("closed", client.update_issue(issue.number, body=body, state="closed",
                                                      state_reason="completed"))


class DriftCheck:
    """One `renderer ci drift` run (module docstring)."""

    def __init__(self, run: DriftRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str]) -> None:
        self.run = run
        self.gh = gh
        self.emit = emit
        self.env = environ

    def _lockfile(self, client: GitHubClient) -> tuple[Lockfile, str]:
        """The lockfile to compare and where it came from (module docstring)."""
        pending = client.find_open_pull(BOT_BRANCH, self.run.branch)
        if pending is not None:
            repo = git.Repo(self.run.lockfile.parent, search_parent_directories=True)
            remote = Remote.for_repo(repo, name=self.run.remote, branch=self.run.branch,
                                     server_url=self.gh.server_url, token=self.gh.token)
            tip = remote.fetch_branch(BOT_BRANCH)
            if tip is not None:
                path = repo_relative(repo, self.run.lockfile)
                return lockfile_at(tip, path), f"the lockfile of the open bot pull request #{pending.number}"
        return lockfile_io.load(self.run.lockfile), f"`{self.run.lockfile}`"

    def execute(self) -> int:
        repository = self.gh.require_repository()
        token = self.gh.require_token("open, edit and close the drift issue")
        names = expand_tenant_secrets(self.env, actions_mask if self.gh.on_actions else None)
        with GitHubClient(self.gh.api_url, repository, token) as client:
            lockfile, source = self._lockfile(client)
            report = asyncio.run(drift(self.run.tenants_dir, lockfile))
            body = scrub(issue_body(report, self.gh.run_url, source), self.env, names)
            outcome = sync_issue(client, report, body)
        if self.run.out_dir is not None:
            self.run.out_dir.mkdir(parents=True, exist_ok=True)
            (self.run.out_dir / "drift.json").write_text(json.dumps(report.document(), sort_keys=True, indent=2)
                                                         + "\n", encoding="utf-8")
        where = {"opened": "opened", "updated": "updated", "closed": "closed (the drift is gone)"}
        line = (f"drift issue #{outcome.issue.number} {where[outcome.action]}: {outcome.issue.html_url}"
                if outcome.issue is not None else "no drift and no open drift issue: nothing to do")
        self.emit(scrub(report_markdown(report), self.env, names))
        self.emit(line)
        summary = ["## renderer drift", scrub(report_markdown(report), self.env, names),
                   f"Compared with {source}.", line[0].upper() + line[1:] + "."]
        self.gh.write_summary("\n\n".join(summary) + "\n")
        return 0


def run_drift(run: DriftRun, gh: GitHubEnv, emit: Emit, environ: MutableMapping[str, str] | None = None) -> int:
    """Run `renderer ci drift` (module docstring). Returns 0 whether or not there is drift (the issue is
    the signal); raises `RendererError` (exit 1) when GitHub or Render cannot be reached or the
    environment lacks GITHUB_REPOSITORY / GITHUB_TOKEN."""
    return DriftCheck(run, gh, emit, os.environ if environ is None else environ).execute()
