"""Issue 6 (phase B): `renderer ci apply` with the reconciler's safety: a partial apply (Render's rate
limit) commits its progress and the scheduled run resumes it; an interrupted run is recovered from the
journal it pushed to `renderer/journal`; the apply lock; the allow conventions for data loss and mass
destroy. Real git (a bare origin and clones), the fake GitHub and the Render API simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import git
import pytest

from renderer.apply import ApplyReport
from renderer.ci.deploy import Outcome, commit_message
from renderer.journal import CRASH_ENV, CRASH_EXIT_CODE
from renderer.lockfile import Lockfile
from renderer.render_api.retry import RetryPolicy
from tests.ci_support import Actions, GitProject, ci_apply, live_ids, live_names, pull_request_event
from tests.conftest import ROOT, Sim, run
from tests.github_fake import FakeGitHub

LOCK = "render.lock.json"
JOURNAL_BRANCH = "renderer/journal"
SCHEDULE = {"schedule": "17 * * * *"}
ACME = ["backboneos-backend-acme-corp", "backboneos-db-acme-corp", "backboneos-worker-acme-corp"]


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Actions:
    return Actions(tmp_path, monkeypatch, github)


def add_acme(project: GitProject) -> tuple[str, str]:
    before = project.sha()
    project.copy_tenant("acme-corp")
    after = project.commit("Add tenant acme-corp")
    project.push("main")
    return before, after


def origin_lock(project: GitProject, ref: str = "main") -> dict[str, object]:
    return json.loads(project.origin_file(ref, LOCK))  # type: ignore[no-any-return]


def resources(project: GitProject, slug: str, ref: str = "main") -> dict[str, str]:
    tenants = origin_lock(project, ref)["tenants"]
    assert isinstance(tenants, dict)
    return {addr: r["id"] for addr, r in tenants[slug]["resources"].items()}


def scheduled(actions: Actions, project: GitProject) -> tuple[int, str]:
    actions.event("schedule", SCHEDULE, sha=project.sha())
    result = run("ci", "apply")
    return result.code, result.output


def test_rate_limited_apply_commits_progress_and_the_scheduled_run_finishes(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Render refuses the service create with 429 for as long as the client keeps retrying: apply stops
    # after the database with work left.
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before, after = add_acme(project)
    rule = {"action": "rate_limit", "method": "POST", "path": "/v1/services", "times": RetryPolicy().attempts,
            "retryAfter": 1}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200

    code, out = ci_apply(actions, before, after)

    assert code == 4, out
    assert "apply stopped early with work left" in out and "the scheduled deploy run resumes it" in out
    tip = project.origin.commit("main")
    assert tip.parents[0].hexsha == after
    message = str(tip.message)
    assert message.startswith("render.lock.json: partial apply (stopped early, resumes) acme-corp [skip ci]\n")
    assert "Renderer-Apply: incomplete" in message
    partial = resources(project, "acme-corp")
    assert sorted(partial) == ["environment.tenant/production", "postgres.backboneos-db", "project.tenant"]
    assert live_names(sim) == ["backboneos-db-acme-corp"]
    assert "**Apply stopped early with work left; the scheduled run resumes it:**" in actions.summary
    # The refused create stays unresolved in apply's journal (a 429 is not a certain refusal to apply):
    # it waits on renderer/journal for the next run, which finds nothing by that name.
    [pending] = [json.loads(line) for line in project.origin_file(JOURNAL_BRANCH, LOCK + ".journal").splitlines()
                 if json.loads(line)["phase"] == "intent" and json.loads(line)["op"] == "create"
                 and json.loads(line)["kind"] not in ("postgres", "project")]
    assert pending["name"] in ("backboneos-backend-acme-corp", "backboneos-worker-acme-corp")

    # Later the budget is back (the fault has fired its last): the scheduled run resumes from the
    # committed lockfile.
    project.sync_main()
    code, out = scheduled(actions, project)
    assert code == 0, out
    assert "Apply complete! Resources: 2 created, 0 updated, 0 replaced, 0 destroyed." in out
    done = resources(project, "acme-corp")
    assert done["postgres.backboneos-db"] == partial["postgres.backboneos-db"]  # not created twice
    assert set(done.values()) == live_ids(sim) and live_names(sim) == ACME
    message = str(project.origin.commit("main").message)
    assert message.startswith("render.lock.json: apply acme-corp [skip ci]\n")
    assert f"Renderer-Commit: {project.sha()}" in message and "Renderer-Apply: complete" in message
    assert JOURNAL_BRANCH not in [h.name for h in project.origin.heads]

    # The plan is clean: the next scheduled run ends without calling Render.
    project.sync_main()
    calls = sim.exchanges()
    code, out = scheduled(actions, project)
    assert code == 0, out
    assert sim.exchanges() == calls
    assert "nothing to resume" in actions.summary


def test_an_incomplete_report_is_exit_4_and_a_resumable_commit() -> None:
    # What apply returns when it stops on Render's hourly create budget (`ApplyReport.exit_code` 4).
    report = ApplyReport(created=["acme-corp/postgres.backboneos-db"], stopped_reason="Render rate budget",
                         remaining=["acme-corp/web_service.backboneos-backend"])
    outcome = Outcome(report=report, started=True)
    assert (outcome.status, outcome.exit_code) == ("incomplete", 4)
    message = commit_message(outcome, ["acme-corp"], Lockfile(), Lockfile(), "a" * 40, 7, None)
    assert message.startswith("render.lock.json: partial apply (stopped early, resumes) acme-corp [skip ci]\n\n"
                              f"renderer ci apply of aaaaaaa (#7): {report.summary()}\n")
    assert "Apply incomplete (Render rate budget)! Resources: 1 created" in message
    assert message.endswith("Renderer-Apply: incomplete\n")
    assert (Outcome(report=ApplyReport(), started=True).exit_code,
            Outcome(report=ApplyReport(failed=["x"]), started=True).exit_code) == (0, 1)


def test_a_crashed_run_is_recovered_by_the_next_run_from_the_journal_branch(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before, after = add_acme(project)
    actions.event("push", {"ref": "refs/heads/main", "before": before, "after": after,
                           "repository": {"full_name": "acme/crm"}}, sha=after)
    # The runner dies right after Render created the database (journal line 4: its `done`, after the
    # project's), before any lockfile commit: all that outlives it is what it pushed to renderer/journal first.
    crashed = subprocess.run([sys.executable, "-m", "renderer.cli.main", "ci", "apply"], cwd=project.path,
                             env={**os.environ, "PYTHONPATH": str(ROOT), CRASH_ENV: "4"},
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stdout + crashed.stderr
    assert project.origin.commit("main").hexsha == after
    assert live_names(sim) == ["backboneos-db-acme-corp"]
    journal = project.origin.commit(JOURNAL_BRANCH)
    assert journal.parents[0].hexsha == after
    assert "Renderer-Commit: " + after in str(journal.message)
    intents = [json.loads(line) for line in project.origin_file(JOURNAL_BRANCH, LOCK + ".journal").splitlines()]
    assert [(i["op"], i["address"]) for i in intents] == [
        ("create", "project.tenant"), ("create", "environment.tenant/production"),
        ("create", "postgres.backboneos-db"), ("create", "background_worker.backboneos-worker"),
        ("create", "web_service.backboneos-backend")]
    [db_id] = [rid for rid in live_ids(sim) if rid.startswith("dpg-")]

    # A new runner: a fresh clone of main. The scheduled run recovers (the database is recorded, not
    # created again), finishes the apply and deletes the journal branch.
    runner = git.Repo.clone_from(str(project.origin_path), tmp_path / "runner2")
    monkeypatch.chdir(str(runner.working_tree_dir))
    actions.event("schedule", SCHEDULE, sha=after)
    result = run("ci", "apply")
    assert result.code == 0, result.output
    assert f"acme-corp: postgres.backboneos-db: recorded {db_id} (backboneos-db-acme-corp) from an interrupted apply" \
        in result.out
    assert "Apply complete! Resources: 2 created" in result.out
    assert live_names(sim) == ACME
    done = resources(project, "acme-corp")
    assert done["postgres.backboneos-db"] == db_id and set(done.values()) == live_ids(sim)
    message = str(project.origin.commit("main").message)
    assert "Recovered from the journal of an interrupted apply: 5 steps." in message  # and the project, environment
    assert "Renderer-Apply: complete" in message
    assert JOURNAL_BRANCH not in [h.name for h in project.origin.heads]
    assert "**Recovered from an interrupted apply:**" in actions.summary


def test_the_apply_lock_held_elsewhere_stops_the_run_before_any_write(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before, after = add_acme(project)
    lock_path = project.path / (LOCK + ".apply-lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom filelock import FileLock\n"
         f"lock = FileLock({str(lock_path)!r})\nlock.acquire()\nprint('held', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        code, out = ci_apply(actions, before, after, "--lock-timeout", "0.2")
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    assert "another renderer apply or import is running on render.lock.json" in out
    assert live_names(sim) == []
    assert project.origin.commit("main").hexsha == after
    assert ci_apply(actions, before, after)[0] == 0  # released when that process ended


def test_replacing_a_database_needs_the_data_loss_allow_as_well(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex"])
    monkeypatch.chdir(project.path)
    assert ci_apply(actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    old_db = resources(project, "globex")["postgres.backboneos-db"]
    before = project.sha()
    template = project.path / "blueprints" / "base_crm" / "render.yaml.j2"
    template.write_text(template.read_text().replace('postgresMajorVersion: "16"', 'postgresMajorVersion: "17"'))
    after = project.commit("Postgres 17\n\nAllow-Destroy: upgrade")
    project.push("main")

    code, out = ci_apply(actions, before, after)
    assert code == 1
    assert ("the plan needs an explicit allow the merged change does not carry (data loss: replacing "
            "globex/postgres.backboneos-db deletes the data it holds); nothing was changed") in out
    assert "`allow-data-loss`" in out and "`Allow-Data-Loss: <reason>`" in out
    assert old_db in live_ids(sim)
    assert project.origin.commit("main").hexsha == after

    project.sync_main()
    after2 = project.commit_empty("Really\n\nAllow-Data-Loss: restored from the nightly backup")
    project.push("main")
    code, out = ci_apply(actions, before, after2)
    assert code == 0, out
    new_db = resources(project, "globex")["postgres.backboneos-db"]
    assert new_db != old_db and old_db not in live_ids(sim) and new_db in live_ids(sim)
    assert "Data loss allowed by trailer `Allow-Data-Loss: restored from the nightly backup`" in actions.summary
    message = str(project.origin.commit("main").message)
    assert "Renderer-Allow: destroy, data-loss" in message


def test_tearing_down_every_tenant_needs_the_mass_destroy_allow(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    assert ci_apply(actions, "0" * 40, project.sha())[0] == 0
    project.sync_main()
    ids = live_ids(sim)
    project.branch("offboard-all")
    for slug in ("globex", "initech"):
        (project.path / "tenants" / f"{slug}.yaml").unlink()
    project.commit("Offboard everyone")
    project.push("offboard-all")
    actions.event("pull_request", pull_request_event(21, base_sha=project.sha("origin/main"), head_sha=project.sha(),
                                                     head_ref="offboard-all", labels=["allow-destroy"]))
    assert run("ci", "plan").code == 0
    body = github.comments_on(21)[0]["body"]
    assert ("- destroy (deletes 10 resources): the `allow-destroy` label or an `Allow-Destroy: <reason>` commit "
            "trailer. Now: allowed by label `allow-destroy` on #21.") in body
    assert ("- mass destroy (the tenants directory has no tenant files, so every one of the 2 tenants in the "
            "lockfile would be torn down): the `allow-mass-destroy` label or an `Allow-Mass-Destroy: <reason>` "
            "commit trailer. Now: **not allowed**.") in body
    before, merge = project.merge("offboard-all", 21)
    github.add_pull(21, head="offboard-all", merged_sha=merge, labels=["allow-destroy"])

    code, out = ci_apply(actions, before, merge)
    assert code == 1
    assert "mass destroy: the tenants directory has no tenant files" in out
    assert live_ids(sim) == ids

    github.state.pulls[21]["labels"] = [{"name": "allow-destroy"}, {"name": "allow-data-loss"},
                                        {"name": "allow-mass-destroy"}]
    code, out = ci_apply(actions, before, merge)
    assert code == 0, out
    assert live_ids(sim) == set()
    assert origin_lock(project)["tenants"] == {}
    assert "Mass destroy allowed by label `allow-mass-destroy` on #21." in actions.summary


def test_with_protected_main_a_partial_apply_and_its_resume_go_through_the_bot_pull_request(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before, after = add_acme(project)
    project.protect_main()
    rule = {"action": "rate_limit", "method": "POST", "path": "/v1/services", "times": RetryPolicy().attempts,
            "retryAfter": 1}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200

    code, out = ci_apply(actions, before, after)

    assert code == 4, out
    assert project.origin.commit("main").hexsha == after  # main refused the push
    bot = project.origin.commit("renderer/lockfile")
    assert bot.parents[0].hexsha == after and "Renderer-Apply: incomplete" in str(bot.message)
    partial = resources(project, "acme-corp", "renderer/lockfile")
    assert sorted(partial) == ["environment.tenant/production", "postgres.backboneos-db", "project.tenant"]
    [pull] = github.state.pulls.values()
    assert (pull["head"]["ref"], pull["state"]) == ("renderer/lockfile", "open")

    # The scheduled resume starts from the bot branch's lockfile (main has none) and updates the same PR.
    code, out = scheduled(actions, project)
    assert code == 0, out
    assert "Apply complete! Resources: 2 created" in out
    done = resources(project, "acme-corp", "renderer/lockfile")
    assert done["postgres.backboneos-db"] == partial["postgres.backboneos-db"]
    assert set(done.values()) == live_ids(sim) and live_names(sim) == ACME
    assert "Renderer-Apply: complete" in str(project.origin.commit("renderer/lockfile").message)
    assert list(github.state.pulls) == [pull["number"]]
    assert project.origin.commit("main").hexsha == after

    calls = sim.exchanges()
    assert scheduled(actions, project)[0] == 0  # complete: nothing to resume
    assert sim.exchanges() == calls
