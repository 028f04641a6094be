"""`renderer ci plan`, `renderer ci apply` and `renderer ci drift`: the steps of the GitHub Actions workflows.

Both read GitHub's environment (GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL,
GITHUB_STEP_SUMMARY; see `renderer.ci.context`) when they run, never at import, so `--help` works
anywhere. The logic lives in `renderer.ci.pr_plan`, `renderer.ci.deploy` and `renderer.ci.drift_issue`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from renderer.apply import DEFAULT_LOCK_TIMEOUT, DEFAULT_WAIT_TIMEOUT
from renderer.ci.context import GitHubEnv
from renderer.ci.deploy import ApplyRun, run_apply
from renderer.ci.drift_issue import DriftRun, run_drift
from renderer.ci.lockcommit import PushMode
from renderer.ci.pr_plan import PlanRun, run_plan
from renderer.cli.options import configuration_options, inputs, tenants_dir_given
from renderer.cli.output import stdout

F = TypeVar("F", bound=Callable[..., Any])


def _emit(line: str) -> None:
    stdout.print(line, markup=False)


def _lockfile_option(func: F) -> F:
    return click.option("--lockfile", "lockfile", type=click.Path(path_type=Path, dir_okay=False),
                        default=Path("render.lock.json"), show_default=True, help="The lockfile.")(func)


def _out_option(default: str) -> Callable[[F], F]:
    return click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                        help=f"Directory for the run's files to upload as an artifact (e.g. {default}).")


@click.group()
def ci() -> None:
    """GitHub Actions steps: plan a pull request, apply on merge, report drift (README: 'Set up in your
    repository')."""


@ci.command("plan")
@configuration_options
@_lockfile_option
@_out_option("renderer-plan: plan.json, affected.json")
def plan(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, out_dir: Path | None) -> int:
    """Plan the tenants this pull request can change and post the plan as a PR comment.

    Tenants are selected from the diff against the PR's base: changed tenant files, every tenant using
    a changed blueprint, all tenants when renderer/ changed. The comment is edited in place on later
    runs (split at tenant boundaries when long) and also written to the job summary. A PR from a fork
    gets validation only and a job summary saying why the plan was skipped.

    Reads GITHUB_EVENT_PATH (a pull_request event), GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL,
    GITHUB_STEP_SUMMARY, RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID, RENDERER_TENANT_SECRETS.
    Exit 0 when the plan was posted (or skipped), 1 on any error.
    """
    run = PlanRun(inputs=inputs(tenants_dir, blueprints_dir, schema, lockfile), out_dir=out_dir)
    return run_plan(run, GitHubEnv.from_environ(), _emit)


@ci.command("apply")
@configuration_options
@_lockfile_option
@_out_option("renderer-apply: plan.json, render.lock.json")
@click.option("--branch", default="main", show_default=True, help="The deploy branch the lockfile is committed to.")
@click.option("--remote", default="origin", show_default=True, help="The git remote to push to.")
@click.option("--lockfile-push", "push_mode", type=click.Choice([m.value for m in PushMode]),
              default=PushMode.AUTO.value, show_default=True,
              help="auto: commit to the branch, or open a bot pull request when the branch is protected; "
                   "direct: only commit to the branch; pull-request: always through a bot pull request.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=DEFAULT_LOCK_TIMEOUT, show_default=True,
              help="Seconds to wait for the apply lock held by another apply or import of this lockfile.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow the deploys apply started until each is live or failed (a failed one fails the run, "
                   "marks its tenant failed and records the outcome `failed`, not `complete`).")
@click.option("--wait-timeout", type=click.FloatRange(min=0), default=DEFAULT_WAIT_TIMEOUT, show_default=True,
              help="Seconds to wait for deploys.")
@click.option("--rollout-timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Seconds the release rollout may wait in this job; a bake that ends later pauses the rollout "
                   "(exit 4, progress committed) and the scheduled run resumes it.")
def apply(tenants_dir: Path, blueprints_dir: Path, schema: Path | None, lockfile: Path, out_dir: Path | None,
          branch: str, remote: str, push_mode: str, lock_timeout: float, wait: bool, wait_timeout: float,
          rollout_timeout: float | None) -> int:
    """Plan every tenant, apply, and commit render.lock.json back to the deploy branch.

    First, under the apply lock, an apply interrupted earlier is recovered from its journal (kept on
    the branch renderer/journal). A plan that destroys needs an explicit allow from the merged change:
    the PR label allow-destroy / allow-data-loss / allow-mass-destroy, a commit trailer
    Allow-Destroy: / Allow-Data-Loss: / Allow-Mass-Destroy: <reason>, or the manual run's input of the
    same name; deletion protection is never lifted. The lockfile is committed (by github-actions[bot],
    [skip ci]) even when apply fails or stops half-way, through a bot pull request when the branch is
    protected. A scheduled run only resumes an apply that stopped with work left (exit 4) or was
    interrupted. Apply waits for the deploys it starts (unless --no-wait): a failed deploy fails the run.

    Reads GITHUB_EVENT_PATH (push, schedule or workflow_dispatch), GITHUB_REPOSITORY, GITHUB_TOKEN,
    GITHUB_API_URL, GITHUB_STEP_SUMMARY, GITHUB_SHA, RENDER_API_URL, RENDER_API_KEY, RENDER_OWNER_ID,
    RENDERER_FINGERPRINT_KEY, RENDERER_TENANT_SECRETS. Exit 0 when applied (or nothing to resume), 1 on
    error, a refused plan or a failed release (its ring rolled back), 4 when apply stopped with work left
    or the release rollout paused in a bake (progress committed; resumed later).
    """
    run = ApplyRun(inputs=inputs(tenants_dir, blueprints_dir, schema, lockfile), out_dir=out_dir, branch=branch,
                   remote=remote, push_mode=PushMode(push_mode), lock_timeout=lock_timeout, wait=wait,
                   wait_timeout=wait_timeout, rollout_timeout=rollout_timeout)
    return run_apply(run, GitHubEnv.from_environ(), _emit)


@ci.command("drift")
@click.option("--tenants", "tenants_dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path("tenants"), show_default=True, callback=tenants_dir_given,
              help="Tenant files directory (for tenant slugs).")
@_lockfile_option
@_out_option("renderer-drift: drift.json")
@click.option("--branch", default="main", show_default=True,
              help="The deploy branch (its open bot lockfile pull request, if any, supplies the lockfile).")
@click.option("--remote", default="origin", show_default=True, help="The git remote to fetch the bot branch from.")
def drift(tenants_dir: Path, lockfile: Path, out_dir: Path | None, branch: str, remote: str) -> int:
    """Report drift for every tenant and keep it in ONE GitHub issue.

    Opens the issue (label `renderer-drift`, hidden marker) when drift appears, edits it in place while
    drift remains, and closes it when the drift is gone. The report is also written to the job summary.

    Reads GITHUB_REPOSITORY, GITHUB_TOKEN, GITHUB_API_URL, GITHUB_STEP_SUMMARY, RENDER_API_URL,
    RENDER_API_KEY, RENDER_OWNER_ID, RENDERER_FINGERPRINT_KEY (secrets are compared only with it),
    RENDERER_TENANT_SECRETS. Exit 0 with or without drift (the issue is the signal), 1 on error.
    """
    run = DriftRun(tenants_dir=tenants_dir, lockfile=lockfile, out_dir=out_dir, remote=remote, branch=branch)
    return run_drift(run, GitHubEnv.from_environ(require_event=False), _emit)
