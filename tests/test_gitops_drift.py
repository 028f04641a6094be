"""Issue 6, `renderer ci drift` (drift.yml): ONE GitHub issue listing drifted tenants, opened when drift
appears, edited in place while it remains, closed when it is gone. Real HTTP against the fake GitHub and
the Render API simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ci_support import Actions, GitProject, push_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub
from tests.helpers import put_env

LOCK = "render.lock.json"
WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
SCHEDULE = {"schedule": "41 6 * * *"}


@pytest.fixture
def applied(sim: Sim, github: FakeGitHub, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> tuple[GitProject, Actions]:
    """globex and initech applied by `renderer ci apply`, their lockfile on origin/main and checked out."""
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "test-fingerprint-key")
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    actions = Actions(tmp_path, monkeypatch, github)
    actions.event("push", push_event("0" * 40, project.sha()), sha=project.sha())
    result = run("ci", "apply")
    assert result.code == 0, result.output
    project.sync_main()
    github.reset()
    return project, actions


def drift_run(actions: Actions) -> str:
    actions.event("schedule", SCHEDULE)
    result = run("ci", "drift", "--out", str(actions.tmp / "renderer-drift"))
    assert result.code == 0, result.output
    return result.out


def resource_id(project: GitProject, slug: str, address: str) -> str:
    return str(json.loads((project.path / LOCK).read_text())["tenants"][slug]["resources"][address]["id"])


def test_drift_opens_one_issue_updates_it_and_closes_it_when_gone(
        sim: Sim, github: FakeGitHub, applied: tuple[GitProject, Actions]) -> None:
    project, actions = applied
    web = resource_id(project, "globex", WEB)
    worker = resource_id(project, "initech", WORKER)

    out = drift_run(actions)  # no drift, no issue: nothing written to GitHub
    assert "no drift and no open drift issue: nothing to do" in out
    assert github.writes() == [] and github.state.issues == {}

    put_env(sim, web, "TENANT_NAME", "Hacked Corp")
    out = drift_run(actions)
    assert [(c.method, c.path) for c in github.writes()] == [("POST", "/repos/acme/crm/issues")]
    [issue] = github.state.issues.values()
    number = issue["number"]
    assert issue["state"] == "open"
    assert issue["title"] == "Drift: 1 tenant changed on Render outside renderer"
    assert issue["labels"] == [{"name": "renderer-drift"}]
    body = issue["body"]
    assert body.startswith("<!-- renderer:drift -->\n**1 finding in 1 of 2 tenants:** `globex`\n\n#### globex\n")
    assert (f"- changed: {WEB} backboneos-backend-globex ({web}): changed outside renderer: "
            "env var TENANT_NAME changed") in body
    assert "Hacked Corp" not in body
    assert "Checked by [this run](https://github.test/acme/crm/actions/runs/" in body
    assert f"drift issue #{number} opened" in out
    assert actions.summary.startswith("## renderer drift\n\n**1 finding in 1 of 2 tenants:** `globex`")
    report = json.loads((actions.tmp / "renderer-drift" / "drift.json").read_text())
    assert (report["drift"], [i["tenant"] for i in report["items"]]) == (True, ["globex"])

    put_env(sim, worker, "TENANT_NAME", "Someone Else")  # more drift: the same issue is edited, no second one
    out = drift_run(actions)
    assert [(c.method, c.path) for c in github.writes()][1:] == [("PATCH", f"/repos/acme/crm/issues/{number}")]
    assert list(github.state.issues) == [number]
    issue = github.state.issues[number]
    assert issue["title"] == "Drift: 2 tenants changed on Render outside renderer"
    assert "**2 findings in 2 of 2 tenants:** `globex`, `initech`" in issue["body"]
    assert "#### initech\n- changed: " in issue["body"]
    assert f"drift issue #{number} updated" in out

    put_env(sim, web, "TENANT_NAME", "Globex Corporation")  # drift undone on Render
    put_env(sim, worker, "TENANT_NAME", "Initech")
    out = drift_run(actions)
    issue = github.state.issues[number]
    assert (issue["state"], issue["state_reason"]) == ("closed", "completed")
    assert issue["body"].startswith("<!-- renderer:drift -->\nNo drift: Render matches what renderer last "
                                    "applied for 2 tenants.")
    assert f"drift issue #{number} closed (the drift is gone)" in out
    writes = len(github.writes())

    drift_run(actions)  # still no drift: the closed issue is left alone
    assert len(github.writes()) == writes

    put_env(sim, web, "TENANT_NAME", "Hacked again")  # drift comes back: a new issue
    drift_run(actions)
    assert sorted(github.state.issues) == [number, number + 1]
    assert github.state.issues[number + 1]["state"] == "open"


def test_an_issue_with_the_label_but_not_the_marker_is_left_alone(
        sim: Sim, github: FakeGitHub, applied: tuple[GitProject, Actions]) -> None:
    project, actions = applied
    github.state.issues[5] = {"number": 5, "state": "open", "title": "Drift in staging?", "body": "by a human",
                              "labels": [{"name": "renderer-drift"}], "html_url": "https://github.test/x/5"}
    put_env(sim, resource_id(project, "globex", WEB), "TENANT_NAME", "Hacked Corp")
    drift_run(actions)
    assert github.state.issues[5]["body"] == "by a human"
    assert [n for n, i in github.state.issues.items() if i["body"].startswith("<!-- renderer:drift -->")] != []
    assert len(github.state.issues) == 2


def test_the_issue_is_found_by_its_marker_when_its_label_was_removed(
        sim: Sim, github: FakeGitHub, applied: tuple[GitProject, Actions]) -> None:
    project, actions = applied
    put_env(sim, resource_id(project, "globex", WEB), "TENANT_NAME", "Hacked Corp")
    drift_run(actions)
    [number] = github.state.issues
    github.state.issues[number]["labels"] = []  # someone took the label off
    drift_run(actions)
    assert list(github.state.issues) == [number]
    assert github.writes()[-1].path == f"/repos/acme/crm/issues/{number}"


def test_drift_needs_the_repository_and_token(
        sim: Sim, github: FakeGitHub, applied: tuple[GitProject, Actions], monkeypatch: pytest.MonkeyPatch) -> None:
    _, actions = applied
    actions.event("schedule", SCHEDULE, token=False)
    result = run("ci", "drift")
    assert result.code == 1
    assert "GITHUB_TOKEN is not set: renderer ci needs it to open, edit and close the drift issue" in result.output
    assert github.calls == []


def test_with_protected_main_drift_compares_with_the_open_bot_pull_requests_lockfile(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    project.protect_main()
    actions = Actions(tmp_path, monkeypatch, github)
    actions.event("push", push_event("0" * 40, project.sha()), sha=project.sha())
    assert run("ci", "apply").code == 0
    assert project.origin.commit("main").hexsha == project.sha()
    project.sync_main()
    assert not (project.path / LOCK).exists()  # the IDs are only in the bot pull request so far

    out = drift_run(actions)

    # Against main's (absent) lockfile, globex's three resources would be `unmanaged` drift.
    assert "Compared with the lockfile of the open bot pull request #101." in actions.summary
    assert "No drift: Render matches what renderer last applied for 1 tenant." in out
    assert github.state.issues == {}


def test_ci_drift_and_drift_agree_on_a_tenant_with_custom_domains(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both refresh through `renderer.operations.scope.refresh_scope`, so a custom domain (reached through
    its service's ID) is found by both; `renderer ci drift` once refreshed without the parents and
    reported every managed custom domain as deleted outside renderer."""
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "test-fingerprint-key")
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    blueprint = project.path / "blueprints" / "base_crm" / "render.yaml.j2"
    blueprint.write_text(blueprint.read_text().replace(
        "    healthCheckPath: /healthz\n",
        "    healthCheckPath: /healthz\n    domains:\n      - app.{{ tenant.slug }}.example.com\n"
        "      - crm.{{ tenant.slug }}.example.com\n"))
    project.commit("Custom domains")
    project.push("main")
    actions = Actions(tmp_path, monkeypatch, github)
    actions.event("push", push_event("0" * 40, project.sha()), sha=project.sha())
    applied = run("ci", "apply")
    assert applied.code == 0, applied.output
    project.sync_main()
    github.reset()
    domains = [a for a in json.loads((project.path / LOCK).read_text())["tenants"]["globex"]["resources"]
               if a.startswith("custom_domain.")]
    assert domains == ["custom_domain.backboneos-backend/app.globex.example.com",
                       "custom_domain.backboneos-backend/crm.globex.example.com"]

    out = drift_run(actions)
    assert "No drift: Render matches what renderer last applied for 1 tenant." in out
    assert "deleted outside renderer" not in out
    assert github.state.issues == {}
    local = run("drift", "--detailed-exitcode")
    assert local.code == 0, local.output
    assert "No drift: Render matches what renderer last applied for 1 tenant." in local.out
    report = json.loads((actions.tmp / "renderer-drift" / "drift.json").read_text())
    assert report == json.loads(run("drift", "--format", "json").out)
