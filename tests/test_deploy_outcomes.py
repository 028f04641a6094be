"""Issue 16, "a deploy that fails is a failure everywhere": every apply (CLI and CI) waits for the deploys it
starts; a failed deploy fails the run, marks the tenant `failed` and stays a pending change (retried at its
version) until it goes live. Auto-deploy is off on every managed service, and turning it on is drift."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from renderer.kind import Kind
from renderer.kinds.service import deploy_pin
from renderer.resources import DesiredResource
from tests.ci_support import Actions, GitProject, ci_apply
from tests.conftest import Sim, run
from tests.github_fake import FakeGitHub
from tests.helpers import add_blueprint_line, apply, exchanges_since, lock, lock_id, only_tenant, plan

REPO = "https://github.com/backboneos/backboneos"  # the base_crm blueprint's repository
BAD = "b" * 40
GOOD = "9" * 40
WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"


def push(sim: Sim, commit: str) -> None:
    """A new head of the blueprint's branch (what a deploy without a pinned commit builds)."""
    assert sim.admin("/_sim/push", {"repo": REPO, "branch": "main", "commit": commit}).status_code == 200


def fail_builds_of(sim: Sim, commit: str, outcome: str = "build_failed") -> None:
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": outcome, "commit": commit}).status_code == 200


@pytest.fixture
def actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, github: FakeGitHub) -> Actions:
    return Actions(tmp_path, monkeypatch, github)


def test_ci_apply_with_a_failing_build_fails_and_the_next_plan_shows_it_pending(
        sim: Sim, github: FakeGitHub, actions: Actions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-when: `renderer ci apply` with builds set to fail exits non-zero, does not record `complete`,
    leaves the tenant `failed`, and the next plan shows the deploy pending; a re-apply retries it."""
    project = GitProject(tmp_path, [])
    monkeypatch.chdir(project.path)
    before = project.sha()
    project.copy_tenant("globex")
    after = project.commit("Add globex")
    project.push("main")
    push(sim, BAD)
    fail_builds_of(sim, BAD)

    code, out = ci_apply(actions, before, after)

    assert code == 1, out
    tip = project.origin.commit("main")
    assert "Renderer-Apply: failed" in str(tip.message)
    assert "Renderer-Apply: complete" not in str(tip.message)
    committed = json.loads(project.origin_file("main", "render.lock.json"))
    globex = committed["tenants"]["globex"]
    assert globex["status"] == "failed"
    web = globex["resources"][WEB]
    assert web["deploy"]["status"] == "build_failed" and web["deploy"]["target"] == BAD
    assert f"globex/{WEB} (deploy {web['deploy']['id']} build_failed: the build failed)" in out
    assert "**Apply failed!" in actions.summary

    project.sync_main()
    planned = plan("--detailed-exitcode")
    assert planned.code == 2, planned.output  # not `No changes.`
    assert (f'~ {WEB}  "backboneos-backend-globex" {web["id"]}  (deploy not live: {web["deploy"]["id"]} '
            f"build_failed (the build failed); apply deploys bbbbbbb again)") in planned.out
    assert '~ deploy = "build_failed bbbbbbb" -> "live bbbbbbb"' in planned.out

    fail_builds_of(sim, BAD, "live")  # the failure was not the commit's (a flaky build): the retry succeeds
    push(sim, GOOD)  # main moved on meanwhile: the retry still deploys the version that failed
    retried = apply("--auto-approve")
    assert retried.code == 0, retried.output
    assert lock(project.path)["tenants"]["globex"]["status"] == "active"
    deploys = sim.get(f"/services/{web['id']}/deploys").json()
    assert deploys[0]["deploy"]["commit"]["id"] == BAD and deploys[0]["deploy"]["status"] == "live"
    assert lock(project.path)["tenants"]["globex"]["resources"][WEB]["deploy"]["status"] == "live"
    assert plan("--detailed-exitcode").code == 0


def test_apply_waits_by_default_and_a_failure_marks_the_tenant_failed(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    push(sim, BAD)
    fail_builds_of(sim, BAD, "update_failed")
    result = apply()  # no flag: apply waits
    assert result.code == 1, result.output
    data = lock(project)["tenants"]["globex"]
    assert data["status"] == "failed"
    assert {data["resources"][a]["deploy"]["status"] for a in (WEB, WORKER)} == {"update_failed"}
    assert "Apply failed! Resources: 3 created" in result.out
    assert ("(deploy " in result.out and "update_failed: the new version did not start (update failed))"
            in result.out)

    again = plan()
    assert again.code == 2, again.output  # changes: both services' deploys are pending
    assert again.out.count("(deploy not live: dep-") == 2
    assert "Plan: 0 to create, 2 to update, 0 to replace, 0 to delete." in again.out


def test_no_wait_leaves_deploys_running_and_the_next_plan_reads_how_they_ended(
        sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert apply("--no-wait").code == 0
    web = lock(project)["tenants"]["globex"]["resources"][WEB]
    assert web["deploy"]["status"] == "created"  # as started: nobody looked since
    running = plan("--detailed-exitcode")
    assert running.code == 0 and "No changes. Render matches the configuration of 1 tenant." in running.out
    assert (f"globex: {WEB}: deploy {web['deploy']['id']} of (version unknown) is build_in_progress; a plan after "
            "it ends shows whether it went live") in running.out

    assert sim.admin("/_sim/clock/advance", {"seconds": 60}).status_code == 200
    settled = plan("--detailed-exitcode")
    assert settled.code == 0 and "is build_in_progress" not in settled.out

    push(sim, BAD)
    fail_builds_of(sim, BAD)
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    assert apply("--no-wait").code == 0  # nobody waited: the run cannot know
    assert sim.admin("/_sim/clock/advance", {"seconds": 60}).status_code == 200
    failed = plan("--detailed-exitcode")
    assert failed.code == 2
    assert failed.out.count("(deploy not live: dep-") == 1  # the web service; the worker had no change
    assert '~ deploy = "build_failed bbbbbbb" -> "live bbbbbbb"' in failed.out


def test_wait_is_still_accepted(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    result = apply("--wait")
    assert result.code == 0, result.output
    assert lock(project)["tenants"]["globex"]["resources"][WEB]["deploy"]["status"] == "live"


def test_auto_deploy_is_off_and_turning_it_on_is_drift_apply_restores(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    sid = lock_id(project, "globex", WEB)
    service = sim.get(f"/services/{sid}").json()
    assert (service["autoDeploy"], service["autoDeployTrigger"]) == ("no", "off")
    pushed = sim.admin("/_sim/push", {"repo": REPO, "branch": "main", "commit": GOOD}).json()
    assert pushed["deployIds"] == []  # a push to main deploys no managed service

    with sim.http() as http:
        assert http.patch(f"/services/{sid}", json={"autoDeployTrigger": "commit"}).status_code == 200
    drifted = plan("--detailed-exitcode")
    assert drifted.code == 2
    assert f'~ {WEB}  "backboneos-backend-globex" {sid}  (drift: changed outside renderer)' in drifted.out
    assert '~ autoDeployTrigger = "commit" -> "off"  # changed outside renderer' in drifted.out
    assert '~ autoDeploy        = "yes" -> "no"  # changed outside renderer' in drifted.out
    assert apply("--auto-approve").code == 0
    service = sim.get(f"/services/{sid}").json()
    assert (service["autoDeploy"], service["autoDeployTrigger"]) == ("no", "off")
    assert plan("--detailed-exitcode").code == 0


def test_validation_warns_of_an_unpinned_plugin_repo_and_a_mutable_image_tag(project: Path) -> None:
    acme = project / "tenants" / "acme-corp.yaml"
    acme.write_text("\n".join(line for line in acme.read_text().splitlines()
                              if not line.startswith("custom_plugin_ref")) + "\n")
    add_blueprint_line(project, "services:", "  - type: pserv\n    name: cache\n    runtime: image\n"
                                             "    image:\n      url: ghcr.io/acme/cache\n")
    blueprint = project / "blueprints" / "base_crm" / "render.yaml.j2"
    result = run("validate", "tenants/acme-corp.yaml")
    assert result.code == 0, result.output  # warnings only
    assert ("tenants/acme-corp.yaml:5:21: warning: custom_plugin_repo is not pinned: each build clones what its "
            "default branch holds at that moment") in result.output
    assert "add `custom_plugin_ref: <full commit SHA>`" in result.output
    assert "image `ghcr.io/acme/cache` is given by a mutable tag (`:latest` or no tag)" in result.output
    assert "pin the digest: `ghcr.io/acme/cache@sha256:<digest>`" in result.output

    blueprint.write_text(blueprint.read_text().replace("ghcr.io/acme/cache", "ghcr.io/acme/cache@sha256:" + "a" * 64))
    acme.write_text(acme.read_text() + "custom_plugin_ref: main\n")
    refused = run("validate", "tenants/acme-corp.yaml")
    assert refused.code == 1
    assert "custom_plugin_ref 'main' is not a full commit SHA" in refused.output
    assert "mutable tag" not in refused.output


def test_deploy_pin_by_kind_and_source() -> None:
    def service(kind: Kind, **fields: str) -> DesiredResource:
        return DesiredResource(tenant="t", kind=kind, blueprint_name="x", name="x-t", fields=fields)

    digest = "sha256:" + "c" * 64
    assert deploy_pin(service(Kind.WEB_SERVICE, runtime="python"), BAD) == {"commit_id": BAD}
    assert deploy_pin(service(Kind.WEB_SERVICE, runtime="image", image="nginx:1.27"), digest) == {
        "image_url": f"docker.io/library/nginx@{digest}"}
    assert deploy_pin(service(Kind.CRON_JOB, runtime="python"), BAD) == {}  # commitId: not for cron jobs
    assert deploy_pin(service(Kind.CRON_JOB, runtime="image", image="ghcr.io/a/b:1"), digest) == {
        "image_url": f"ghcr.io/a/b@{digest}"}
    assert deploy_pin(service(Kind.WEB_SERVICE, runtime="python"), None) == {}


def test_a_failed_image_deploy_is_retried_at_its_digest(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    digest = "sha256:" + "d" * 64
    add_blueprint_line(project, "services:", "  - type: pserv\n    name: cache\n    runtime: image\n    image:\n"
                                             f"      url: ghcr.io/acme/cache@{digest}\n")
    fail_builds_of_image = {"outcome": "update_failed", "image": digest}
    assert sim.admin("/_sim/deploy-outcomes", fail_builds_of_image).status_code == 200
    failed = apply()
    assert failed.code == 1, failed.output
    cache = lock(project)["tenants"]["globex"]["resources"]["private_service.cache"]
    assert cache["deploy"]["target"] == digest and cache["deploy"]["status"] == "update_failed"
    planned = plan()
    assert f"apply deploys {digest[:19]} again" in planned.out

    assert sim.admin("/_sim/deploy-outcomes", {**fail_builds_of_image, "outcome": "live"}).status_code == 200
    start = sim.exchanges()
    assert apply("--auto-approve").code == 0
    triggers = [e for e in exchanges_since(sim, start)
                if (e["method"], e["path"]) == ("POST", f"/v1/services/{cache['id']}/deploys")]
    assert [t["request"] for t in triggers] == [{"imageUrl": f"ghcr.io/acme/cache@{digest}"}]
    assert lock(project)["tenants"]["globex"]["resources"]["private_service.cache"]["deploy"]["status"] == "live"


def test_a_git_backed_cron_job_is_reported_unpinned(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    add_blueprint_line(project, "services:", "  - type: cron\n    name: nightly\n    runtime: python\n"
                                             f"    repo: {REPO}\n    schedule: \"0 3 * * *\"\n"
                                             "    buildCommand: pip install .\n    startCommand: python nightly.py\n")
    planned = plan()
    assert ("globex: cron_job.nightly: a Git-backed cron job runs its branch head: Render takes no commit for a "
            "cron job's deploy") in planned.out
    assert "web_service.backboneos-backend: a Git-backed cron job" not in planned.out
