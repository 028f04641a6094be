"""Helpers for the `renderer ci` tests: a git project with a bare origin, crafted GitHub events and the
GitHub Actions environment pointing at the fake GitHub and the Render API simulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import git
import pytest

from tests.conftest import ROOT
from tests.github_fake import FakeGitHub

REPOSITORY = "acme/crm"
PROTECT_HOOK = """#!/bin/sh
# Like a GitHub branch protection rule: no direct pushes to main.
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ]; then
    echo "error: GH006: Protected branch update failed for refs/heads/main." >&2
    echo "error: Changes must be made through a pull request." >&2
    exit 1
  fi
done
exit 0
"""


class GitProject:
    """A bare `origin.git` and a clone `work/` whose main holds blueprints/ and the given tenants."""

    def __init__(self, tmp: Path, tenants: list[str]) -> None:
        self.origin_path = tmp / "origin.git"
        git.Repo.init(self.origin_path, bare=True, initial_branch="main")
        self.path = tmp / "work"
        self.repo = git.Repo.clone_from(str(self.origin_path), self.path)
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Dev Eloper")
            config.set_value("user", "email", "dev@example.test")
        shutil.copytree(ROOT / "blueprints", self.path / "blueprints")
        (self.path / "tenants").mkdir()
        for slug in tenants:
            shutil.copy(ROOT / "tenants" / f"{slug}.yaml", self.path / "tenants" / f"{slug}.yaml")
        self.repo.git.symbolic_ref("HEAD", "refs/heads/main")
        self.commit("Initial tenants and blueprints")
        self.repo.git.push("origin", "main")

    @property
    def origin(self) -> git.Repo:
        return git.Repo(self.origin_path)

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def copy_tenant(self, slug: str) -> None:
        self.write(f"tenants/{slug}.yaml", (ROOT / "tenants" / f"{slug}.yaml").read_text())

    def commit(self, message: str) -> str:
        self.repo.git.add("-A")
        self.repo.git.commit("-m", message)
        return self.repo.head.commit.hexsha

    def commit_empty(self, message: str) -> str:
        self.repo.git.commit("--allow-empty", "-m", message)
        return self.repo.head.commit.hexsha

    def branch(self, name: str) -> None:
        self.repo.git.checkout("-b", name)

    def sha(self, ref: str = "HEAD") -> str:
        return self.repo.commit(ref).hexsha

    def push(self, branch: str) -> None:
        self.repo.git.push("origin", branch)

    def merge(self, branch: str, number: int) -> tuple[str, str]:
        """Merge `branch` into main as GitHub's merge button does and push. Returns (before, after)."""
        self.repo.git.checkout("main")
        self.sync_main()
        before = self.sha()
        self.repo.git.merge("--no-ff", branch, "-m", f"Merge pull request #{number} from acme/{branch}")
        self.repo.git.push("origin", "main")
        return before, self.sha()

    def sync_main(self) -> None:
        """Drop what a deploy left in the working tree and fast-forward main to origin's."""
        self.repo.git.checkout("--", ".")
        self.repo.git.clean("-fd")
        self.repo.git.checkout("main")
        self.repo.git.pull("--ff-only", "origin", "main")

    def origin_file(self, ref: str, path: str) -> str:
        return str(self.origin.git.show(f"{ref}:{path}"))

    def protect_main(self, on: bool = True) -> None:
        hook = self.origin_path / "hooks" / "pre-receive"
        if on:
            hook.write_text(PROTECT_HOOK)
            hook.chmod(0o755)
        else:
            hook.unlink(missing_ok=True)


def pull_request_event(number: int, *, base_sha: str, head_sha: str, head_ref: str,
                       head_repo: str = REPOSITORY, labels: list[str] | None = None) -> dict[str, Any]:
    return {
        "action": "synchronize", "number": number,
        "pull_request": {
            "number": number, "title": f"Change #{number}",
            "head": {"ref": head_ref, "sha": head_sha, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "sha": base_sha, "repo": {"full_name": REPOSITORY}},
            "labels": [{"name": n} for n in labels or []],
        },
        "repository": {"full_name": REPOSITORY},
    }


def push_event(before: str, after: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": before, "after": after, "commits": [{"id": after, "message": ""}],
            "repository": {"full_name": REPOSITORY}}


class Actions:
    """The GitHub Actions environment of one job, set with monkeypatch; `summary` reads the job summary."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> None:
        self.tmp = tmp
        self.monkeypatch = monkeypatch
        self.github = github
        self.summary_path = tmp / "step-summary.md"
        self.event_path = tmp / "event.json"
        self.runs = 0

    def event(self, name: str, payload: dict[str, Any], *, sha: str | None = None, token: bool = True) -> None:
        self.runs += 1
        self.event_path.write_text(json.dumps(payload))
        self.summary_path.write_text("")
        values = {"GITHUB_EVENT_PATH": str(self.event_path), "GITHUB_EVENT_NAME": name,
                  "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": self.github.url,
                  "GITHUB_SERVER_URL": "https://github.test", "GITHUB_RUN_ID": str(1000 + self.runs),
                  "GITHUB_STEP_SUMMARY": str(self.summary_path)}
        for key, value in values.items():
            self.monkeypatch.setenv(key, value)
        self.monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
        if token:
            self.monkeypatch.setenv("GITHUB_TOKEN", self.github.token)
        else:
            self.monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        if sha:
            self.monkeypatch.setenv("GITHUB_SHA", sha)
        else:
            self.monkeypatch.delenv("GITHUB_SHA", raising=False)

    @property
    def summary(self) -> str:
        return self.summary_path.read_text()


def ci_apply(actions: Actions, before: str, after: str, *extra: str) -> tuple[int, str]:
    """`renderer ci apply` for a push of main from `before` to `after`: (exit code, output)."""
    from tests.conftest import run

    actions.event("push", push_event(before, after), sha=after)
    result = run("ci", "apply", *extra)
    return result.code, result.output


def live_ids(sim: Any) -> set[str]:
    """Every service, Postgres, project and environment ID on the simulator."""
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    projects = [p["project"] for p in sim.get("/projects", limit=100).json()]
    return ({s["service"]["id"] for s in services} | {p["postgres"]["id"] for p in databases}
            | {p["id"] for p in projects} | {e for p in projects for e in p["environmentIds"]})


def live_names(sim: Any) -> list[str]:
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    return sorted([s["service"]["name"] for s in services] + [p["postgres"]["name"] for p in databases])
