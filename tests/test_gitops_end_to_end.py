"""Issue 6, off GitHub: a PR adds a tenant, `renderer ci plan` comments the plan (edited in place on the
next run), the PR is merged, `renderer ci apply` applies it and commits render.lock.json to origin/main.
The fake GitHub (tests/github_fake.py) and the Render API simulator are real HTTP servers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import git
import pytest

from tests.ci_support import Actions, GitProject, pull_request_event, push_event
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub

LOCK = "render.lock.json"
BOT = "github-actions[bot]"


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Actions:
    return Actions(tmp_path, monkeypatch, github)


def deploy(project: GitProject, actions: Actions, before: str, after: str, *extra: str) -> tuple[int, str]:
    actions.event("push", push_event(before, after), sha=after)
    result = run("ci", "apply", "--out", str(actions.tmp / "renderer-apply"), *extra)
    return result.code, result.output


def open_pr(project: GitProject, actions: Actions, number: int, branch: str, **kwargs: object) -> None:
    event = pull_request_event(number, base_sha=project.sha("origin/main"), head_sha=project.sha(),
                               head_ref=branch, **kwargs)  # type: ignore[arg-type]
    actions.event("pull_request", event, sha=project.sha())


def live_ids(sim: Sim) -> set[str]:
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    projects = [p["project"] for p in sim.get("/projects", limit=100).json()]
    return ({s["service"]["id"] for s in services} | {p["postgres"]["id"] for p in databases}
            | {p["id"] for p in projects} | {e for p in projects for e in p["environmentIds"]})


def test_pr_plan_comment_then_merge_applies_and_commits_lockfile(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    first = project.sha()
    code, out = deploy(project, actions, "0" * 40, first)
    assert code == 0, out
    assert "globex" in json.loads(project.origin_file("main", LOCK))["tenants"]
    project.sync_main()

    project.branch("add-acme")
    project.copy_tenant("acme-corp")
    project.commit("Add tenant acme-corp")
    project.push("add-acme")
    open_pr(project, actions, 7, "add-acme")
    planned = run("ci", "plan", "--out", str(tmp_path / "renderer-plan"))
    assert planned.code == 0, planned.output

    comments = github.comments_on(7)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith("<!-- renderer:plan part=1 -->\n### renderer plan\n\n")
    assert "**1 tenant: 1 create, 0 update, 0 delete, 0 unchanged**" in body
    assert "Plan: 5 to create, 0 to update, 0 to replace, 0 to delete." in body
    assert "- `tenants/acme-corp.yaml` added: `acme-corp`" in body
    assert "<details><summary><b>acme-corp</b>: create" in body
    assert "globex</b>" not in body
    assert "+     envVars.DJANGO_SECRET_KEY = (sensitive)" in body
    assert actions.summary.startswith("## renderer plan\n\n")
    assert "<details><summary><b>acme-corp</b>: create" in actions.summary
    plan_json = json.loads((tmp_path / "renderer-plan" / "plan.json").read_text())
    assert plan_json["tenants"] == ["acme-corp"] and plan_json["summary"]["create"] == 5
    affected = json.loads((tmp_path / "renderer-plan" / "affected.json").read_text())
    assert affected["tenants"] == {"acme-corp": [{"rule": "tenant file", "why": "`tenants/acme-corp.yaml` added"}]}

    comment_id = comments[0]["id"]
    project.write("tenants/acme-corp.yaml",
                  (project.path / "tenants/acme-corp.yaml").read_text().replace("pipelines,forecasting", "pipelines"))
    project.commit("acme-corp: fewer feature flags")
    project.push("add-acme")
    open_pr(project, actions, 7, "add-acme")
    again = run("ci", "plan")
    assert again.code == 0, again.output
    comments = github.comments_on(7)
    assert [c["id"] for c in comments] == [comment_id]
    assert '+     envVars.CRM_FEATURE_FLAGS = "pipelines"\n' in comments[0]["body"]
    assert [(c.method, c.path) for c in github.writes()] == [
        ("POST", "/repos/acme/crm/issues/7/comments"), ("PATCH", f"/repos/acme/crm/issues/comments/{comment_id}")]

    before, merge = project.merge("add-acme", 7)
    github.add_pull(7, head="add-acme", merged_sha=merge)
    code, out = deploy(project, actions, before, merge)
    assert code == 0, out
    assert "Apply complete! Resources: 5 created" in out

    tip = project.origin.commit("main")
    assert tip.parents[0].hexsha == merge
    assert (tip.author.name, tip.committer.name) == (BOT, BOT)
    lock = json.loads(project.origin_file("main", LOCK))
    acme = lock["tenants"]["acme-corp"]
    ids = {addr: r["id"] for addr, r in acme["resources"].items()}
    assert sorted(ids) == ["background_worker.backboneos-worker", "environment.tenant/production",
                           "postgres.backboneos-db", "project.tenant", "web_service.backboneos-backend"]
    assert set(ids.values()) <= live_ids(sim)
    assert (acme["commit"], acme["pull_request"]) == (merge, 7)
    assert lock["tenants"]["globex"]["commit"] == first  # untouched by this apply
    message = str(tip.message)
    assert message.startswith("render.lock.json: apply acme-corp [skip ci]\n")
    for addr, rid in ids.items():
        assert f"  + {addr} {rid}" in message
    assert f"Renderer-Commit: {merge}" in message and "Renderer-Pull-Request: 7" in message
    assert "`render.lock.json` committed to `main`" in actions.summary
    assert json.loads((tmp_path / "renderer-apply" / LOCK).read_text()) == lock


def test_fork_pr_validates_only_and_never_calls_render(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    project.branch("fork-branch")
    project.copy_tenant("acme-corp")
    project.commit("Add tenant acme-corp")
    open_pr(project, actions, 9, "fork-branch", head_repo="mallory/crm")
    monkeypatch.delenv("GITHUB_TOKEN")
    before = sim.exchanges()

    result = run("ci", "plan")

    assert result.code == 0, result.output
    assert sim.exchanges() == before
    assert github.calls == []
    summary = actions.summary
    assert summary.startswith("## renderer plan skipped\n\n")
    assert "comes from the fork `mallory/crm`" in summary
    assert "read-only token and without secrets" in summary
    assert "Validation passed: 2 tenants load and render" in summary
    assert "- `tenants/acme-corp.yaml` added: `acme-corp`" in summary
    assert "plan skipped: pull request from a fork" in result.out


def test_removed_tenant_file_plans_teardown_and_deploy_needs_an_allow(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    assert deploy(project, actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    locked = json.loads(project.origin_file("main", LOCK))["tenants"]["initech"]["resources"]
    initech = {r["id"] for r in locked.values()}

    project.branch("offboard-initech")
    (project.path / "tenants/initech.yaml").unlink()
    project.commit("Offboard initech")
    open_pr(project, actions, 11, "offboard-initech")
    assert run("ci", "plan").code == 0
    body = github.comments_on(11)[0]["body"]
    assert "**1 tenant: 0 create, 0 update, 1 delete, 0 unchanged**" in body
    assert "- `tenants/initech.yaml` removed (teardown): `initech`" in body
    assert body.index("[!WARNING]") < body.index("<details><summary><b>initech</b>: delete")
    assert ("**On merge:** this plan needs an explicit allow for each item below, or the deploy stops:\n"
            "- destroy (deletes 5 resources): the `allow-destroy` label or an `Allow-Destroy: <reason>` commit "
            "trailer. Now: **not allowed**.\n"
            "- data loss (deleting initech/postgres.backboneos-db deletes the data it holds): the `allow-data-loss` "
            "label or an `Allow-Data-Loss: <reason>` commit trailer. Now: **not allowed**.") in body

    before, merge = project.merge("offboard-initech", 11)
    github.add_pull(11, head="offboard-initech", merged_sha=merge)
    code, out = deploy(project, actions, before, merge)
    assert code == 1
    assert ("the plan needs an explicit allow the merged change does not carry (destroy: deletes 5 resources; "
            "data loss: deleting initech/postgres.backboneos-db deletes the data it holds); nothing was changed") in out
    assert initech <= live_ids(sim)
    assert project.origin.commit("main").hexsha == merge  # nothing committed
    assert "**Stopped:**" in actions.summary

    # A maintainer labels it and re-runs: the teardown deletes initech's database, so data loss too.
    github.state.pulls[11]["labels"] = [{"name": "allow-destroy"}, {"name": "allow-data-loss"}]
    code, out = deploy(project, actions, before, merge)
    assert code == 0, out
    assert not initech & live_ids(sim)
    lock = json.loads(project.origin_file("main", LOCK))
    assert "initech" not in lock["tenants"]
    message = str(project.origin.commit("main").message)
    assert "initech: torn down" in message
    assert "Destroy allowed by label `allow-destroy` on #11." in actions.summary


def test_commit_trailer_allows_destroy(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    assert deploy(project, actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    before = project.sha()
    (project.path / "tenants/initech.yaml").unlink()
    after = project.commit("Offboard initech\n\nAllow-Destroy: contract ended\nAllow-Data-Loss: exported first")
    project.push("main")
    code, out = deploy(project, actions, before, after)
    assert code == 0, out
    assert "initech" not in json.loads(project.origin_file("main", LOCK))["tenants"]
    assert f"Destroy allowed by trailer `Allow-Destroy: contract ended` in {after[:7]}." in actions.summary


def test_failed_apply_still_commits_what_was_created(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator refuses the first POST /services: the apply stops after creating the database, and
    # that database's ID must reach origin/main.
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before = project.sha()
    project.copy_tenant("acme-corp")
    after = project.commit("Add acme-corp")
    project.push("main")
    rule = {"action": "status", "method": "POST", "path": "/v1/services", "nth": 1, "times": 1,
            "status": 400, "message": "refused on purpose"}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200

    code, out = deploy(project, actions, before, after)

    assert code == 1
    assert "Render API 400 on POST /services" in out
    tip = project.origin.commit("main")
    assert tip.parents[0].hexsha == after
    assert str(tip.message).startswith("render.lock.json: partial apply (failed) acme-corp [skip ci]\n")
    assert "Renderer-Apply: failed" in str(tip.message)
    resources = json.loads(project.origin_file("main", LOCK))["tenants"]["acme-corp"]["resources"]
    assert sorted(resources) == ["environment.tenant/production", "postgres.backboneos-db", "project.tenant"]
    assert resources["postgres.backboneos-db"]["id"] in live_ids(sim)
    assert "**Apply failed:**" in actions.summary


def test_protected_main_gets_the_lockfile_through_one_bot_pull_request(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    first = project.sha()
    project.protect_main()

    code, out = deploy(project, actions, "0" * 40, first)

    assert code == 0, out
    assert project.origin.commit("main").hexsha == first  # main untouched
    branch = project.origin.commit("renderer/lockfile")
    assert branch.parents[0].hexsha == first and branch.author.name == BOT
    globex = json.loads(project.origin_file("renderer/lockfile", LOCK))["tenants"]["globex"]
    assert set(r["id"] for r in globex["resources"].values()) <= live_ids(sim)
    pulls = list(github.state.pulls.values())
    assert len(pulls) == 1
    assert (pulls[0]["head"]["ref"], pulls[0]["base"]["ref"]) == ("renderer/lockfile", "main")
    assert pulls[0]["state"] == "open"
    assert pulls[0]["title"] == "render.lock.json: apply globex"
    assert "is protected" in pulls[0]["body"]
    assert f"pull request #{pulls[0]['number']}" in actions.summary

    # Another tenant is merged before anyone merges the bot PR: the next deploy must start from the bot
    # branch's lockfile (or it would try to create globex a second time) and update the same PR.
    project.protect_main(False)
    project.sync_main()
    project.copy_tenant("initech")
    second = project.commit("Add tenant initech")
    project.push("main")
    project.protect_main()
    code, out = deploy(project, actions, first, second)
    assert code == 0, out
    assert "Apply complete! Resources: 5 created" in out
    lock = json.loads(project.origin_file("renderer/lockfile", LOCK))
    assert sorted(lock["tenants"]) == ["globex", "initech"]
    assert lock["tenants"]["globex"]["resources"] == globex["resources"]
    assert project.origin.commit("renderer/lockfile").parents[0].hexsha == second
    assert len(github.state.pulls) == 1
    assert [c.method for c in github.writes()] == ["POST", "PATCH"]
    assert "Started from the lockfile of the open bot pull request" in actions.summary


def test_main_moved_during_apply_rebases_the_lockfile_commit(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    first = project.sha()
    other = git.Repo.clone_from(str(project.origin_path), tmp_path / "other")
    (Path(str(other.working_tree_dir)) / "README.md").write_text("docs\n")
    other.git.add("-A")
    other.git.commit("-m", "Docs", author="Someone <someone@example.test>")
    other.git.push("origin", "main")
    moved = other.head.commit.hexsha

    code, out = deploy(project, actions, "0" * 40, first)

    assert code == 0, out
    tip = project.origin.commit("main")
    assert tip.parents[0].hexsha == moved
    assert project.origin_file("main", "README.md") == "docs"
    assert "globex" in json.loads(project.origin_file("main", LOCK))["tenants"]


def test_scheduled_run_without_unfinished_apply_does_nothing(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    assert deploy(project, actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    before = sim.exchanges()
    actions.event("schedule", {"schedule": "17 * * * *"}, sha=project.sha())
    result = run("ci", "apply")
    assert result.code == 0, result.output
    assert sim.exchanges() == before
    assert "nothing to resume" in actions.summary
    assert re.search(r"Renderer-Apply: complete", str(project.origin.commit("main").message))


def test_scheduled_run_after_an_incomplete_apply_plans_and_records_when_nothing_is_left(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    assert deploy(project, actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    # What an apply stopped by Render's create budget leaves: a lockfile commit marked incomplete.
    lock = json.loads((project.path / LOCK).read_text())
    lock["tenants"]["globex"]["pull_request"] = 99
    project.write(LOCK, json.dumps(lock, sort_keys=True, indent=2) + "\n")
    project.commit("render.lock.json: partial apply globex [skip ci]\n\nRenderer-Apply: incomplete")
    project.push("main")

    actions.event("schedule", {"schedule": "17 * * * *"}, sha=project.sha())
    before = sim.exchanges()
    result = run("ci", "apply")
    assert result.code == 0, result.output
    assert sim.exchanges() > before  # it did plan against Render
    tip = project.origin.commit("main")
    assert str(tip.message).startswith("render.lock.json: resumed apply found nothing left to do [skip ci]\n")
    assert "Renderer-Apply: complete" in str(tip.message)

    project.sync_main()
    actions.event("schedule", {"schedule": "17 * * * *"}, sha=project.sha())
    before = sim.exchanges()
    assert run("ci", "apply").code == 0
    assert sim.exchanges() == before
