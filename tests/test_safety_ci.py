"""Issue 11 in CI: a pull request that edits render.lock.json is planned and called a hand edit (except the
deploy workflow's own lockfile pull request), the deploy refuses swapped IDs, and a lockfile edit that
lifts deletion protection cannot tear a tenant down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from renderer.ci.lockcommit import BOT_BRANCH
from tests.ci_support import Actions, GitProject, ci_apply, live_ids, pull_request_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub
from tests.helpers import writes_since

LOCK = "render.lock.json"
DB = "postgres.backboneos-db"


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Actions:
    return Actions(tmp_path, monkeypatch, github)


def _deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, actions: Actions, tenants: list[str]) -> GitProject:
    project = GitProject(tmp_path, tenants)
    monkeypatch.chdir(project.path)
    code, out = ci_apply(actions, "0" * 40, project.sha())
    assert code == 0, out
    project.sync_main()
    return project


def _swap_databases(project: GitProject, a: str, b: str) -> tuple[str, str]:
    data = json.loads((project.path / LOCK).read_text())
    first, second = (data["tenants"][s]["resources"][DB] for s in (a, b))
    first["id"], second["id"] = second["id"], first["id"]
    (project.path / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return second["id"], first["id"]


def _plan_pr(project: GitProject, actions: Actions, github: FakeGitHub, number: int, branch: str) -> str:
    github.add_pull(number, head=branch)
    actions.event("pull_request", pull_request_event(number, base_sha=project.sha("origin/main"),
                                                     head_sha=project.sha(), head_ref=branch), sha=project.sha())
    result = run("ci", "plan")
    assert result.code == 0, result.output
    return str(github.comments_on(number)[0]["body"])


def test_a_pull_request_that_only_edits_the_lockfile_is_planned_and_called_a_hand_edit(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _deployed(tmp_path, monkeypatch, actions, ["globex", "acme-corp"])
    ids = live_ids(sim)
    project.branch("swap")
    acme_db, _ = _swap_databases(project, "acme-corp", "globex")
    project.commit("Tidy the lockfile")
    project.push("swap")
    body = _plan_pr(project, actions, github, 31, "swap")
    assert "No tenant is affected" not in body
    assert "**`render.lock.json` was edited by hand in this pull request.**" in body
    assert "- `render.lock.json` edited by hand: `acme-corp`, `globex`" in body
    assert (f'globex/{DB} records {acme_db} as postgres "backboneos-db-globex", but on Render {acme_db} is postgres '
            '"backboneos-db-acme-corp"') in body
    # the rewiring apply refuses; `!` is the markdown diff block's prefix for a changed value (issue 13)
    assert "!     envVars.DATABASE_URL = (sensitive value changed)" in body

    before, merge = project.merge("swap", 31)
    github.add_pull(31, head="swap", merged_sha=merge)
    start = sim.exchanges()
    code, out = ci_apply(actions, before, merge)
    assert code == 1
    assert "the lockfile does not match Render; nothing was changed" in out
    assert writes_since(sim, start) == []
    assert live_ids(sim) == ids
    assert project.origin.commit("main").hexsha == merge  # nothing committed


def test_the_deploy_workflows_own_lockfile_pull_request_is_not_a_hand_edit(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _deployed(tmp_path, monkeypatch, actions, ["globex"])
    project.branch(BOT_BRANCH)
    data = json.loads((project.path / LOCK).read_text())
    data["tenants"]["globex"]["commit"] = "0" * 40
    (project.path / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    project.commit("renderer: record the lockfile")
    project.push(BOT_BRANCH)
    body = _plan_pr(project, actions, github, 32, BOT_BRANCH)
    assert "edited by hand" not in body
    assert "- `render.lock.json` updated by the deploy workflow: `globex`" in body


def test_a_merged_lockfile_edit_cannot_lift_deletion_protection(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["initech"])
    monkeypatch.chdir(project.path)
    tenant = project.path / "tenants" / "initech.yaml"
    tenant.write_text(tenant.read_text() + "deletion_protection: true\n")
    first = project.commit("Protect initech")
    project.push("main")
    assert ci_apply(actions, "0" * 40, first)[0] == 0
    project.sync_main()
    ids = live_ids(sim)
    before = project.sha()
    data = json.loads((project.path / LOCK).read_text())
    data["tenants"]["initech"]["deletion_protection"] = False
    (project.path / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tenant.unlink()
    after = project.commit("Offboard initech\n\nAllow-Destroy: contract ended\nAllow-Data-Loss: exported\n"
                           "Allow-Mass-Destroy: the last tenant")
    project.push("main")
    code, out = ci_apply(actions, before, after)
    assert code == 1
    assert "deletion protection: the plan would delete or replace initech/" in out
    assert live_ids(sim) == ids
    assert project.origin.commit("main").hexsha == after
