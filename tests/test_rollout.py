"""Issue 16, done when: 9 tenants in 3 rings. A good version reaches every tenant in ring order (from the
simulator's deploy timestamps: no tenant of ring N+1 deploys before every tenant of ring N is live on
the target and baked); a version whose build fails on the canary stops there with later rings untouched;
a version that goes live and then emits `server_failed` in the bake is rolled back, and the canary ends on
its previous commit; a SIGKILL mid-rollout resumes and finishes with no tenant deployed twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ci_support import Actions, GitProject, ci_apply
from tests.conftest import ROOT, TLS, Sim, SimClock, run
from tests.github_fake import FakeGitHub

V1 = "1" * 40
V2 = "2" * 40
V3 = "3" * 40
V4 = "4" * 40
RINGS = {"canary": ["t1"], "early": ["t2", "t3", "t4"], "late": ["t5", "t6", "t7", "t8", "t9"]}
BAKE = 600
BLUEPRINT = """services:
  - type: web
    name: app-web
    runtime: python
    repo: https://github.com/backboneos/backboneos
    branch: main
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app.wsgi
  - type: worker
    name: app-worker
    runtime: python
    repo: https://github.com/backboneos/backboneos
    branch: main
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: celery -A app worker
"""


def _release(version: str, bake: int = BAKE) -> str:
    return (f"version:\n  commit: \"{version}\"\nrings:\n"
            f"  - name: canary\n    tenants: [t1]\n    bake: {bake}\n"
            f"  - name: early\n    tenants: [t2, t3, t4]\n    max_parallel: 2\n    bake: {bake}\n"
            f"  - name: late\n    max_parallel: 3\n    bake: {bake}\n")


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: Sim) -> Path:
    """Nine tenants of a two-service blueprint; t5..t9 join ring `late` by label."""
    root = tmp_path / "fleet"
    (root / "blueprints" / "app").mkdir(parents=True)
    (root / "blueprints" / "app" / "render.yaml.j2").write_text(BLUEPRINT)
    (root / "tenants").mkdir()
    for number in range(1, 10):
        label = "labels:\n  ring: late\n" if number >= 5 else ""
        (root / "tenants" / f"t{number}.yaml").write_text(f"name: Tenant {number}\nslug: t{number}\nblueprint: app\n"
                                                          + label)
    (root / "releases.yaml").write_text(_release(V1))
    monkeypatch.chdir(root)
    return root


def _deploys(sim: Sim, service_id: str) -> list[dict[str, Any]]:
    return [d["deploy"] for d in sim.get(f"/services/{service_id}/deploys", limit=100).json()]


def _services(root: Path) -> dict[str, dict[str, str]]:
    lock = json.loads((root / "render.lock.json").read_text())
    # A tenant's services (its project and environment are recorded beside them since issue 14).
    return {slug: {a: r["id"] for a, r in t["resources"].items() if r["kind"] not in ("project", "environment")}
            for slug, t in lock["tenants"].items()}


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _of(deploys: list[dict[str, Any]], version: str) -> list[dict[str, Any]]:
    return [d for d in deploys if (d.get("commit") or {}).get("id") == version]


def _live_version(sim: Sim, service_id: str) -> str | None:
    live = [d for d in _deploys(sim, service_id) if d["status"] == "live"]
    return (live[0].get("commit") or {}).get("id") if live else None


def _apply(*extra: str) -> Any:
    return run("apply", "--auto-approve", *extra)


def test_a_good_version_reaches_every_tenant_in_ring_order(fleet: Path, sim: Sim) -> None:
    result = _apply()
    assert result.code == 0, result.output
    assert "Rollout complete!" in result.out
    services = _services(fleet)
    done: dict[str, float] = {}  # ring -> when its last tenant went live on V1
    for ring, slugs in RINGS.items():
        starts, ends = [], []
        for slug in slugs:
            for sid in services[slug].values():
                mine = _of(_deploys(sim, sid), V1)
                assert len(mine) == 1, (slug, mine)  # one deploy per service at the target
                assert mine[0]["status"] == "live"
                starts.append(_at(mine[0]["createdAt"]))
                ends.append(_at(mine[0]["finishedAt"]))
        if done:
            previous = list(done.values())[-1]
            # no tenant of this ring deployed before every tenant of the ring before was live and baked
            assert min(starts) >= previous + BAKE, (ring, min(starts) - previous)
        done[ring] = max(ends)
    lock = json.loads((fleet / "render.lock.json").read_text())
    assert lock["rollout"]["state"] == "done"
    assert {t["release"]["state"] for t in lock["tenants"].values()} == {"done"}
    assert all(set(t["release"]["achieved"].values()) == {V1} for t in lock["tenants"].values())
    # a second run deploys nothing
    again = _apply()
    assert again.code == 0, again.output
    assert "Release: every tenant runs its target version." in again.out
    assert all(len(_of(_deploys(sim, sid), V1)) == 1 for s in services.values() for sid in s.values())
    # a version deployed by hand is a pending change, and apply brings the service back to the target
    by_hand = services["t5"]["web_service.app-web"]
    with sim.http() as http:
        assert http.post(f"/services/{by_hand}/deploys", json={"commitId": V2}).status_code == 201
    sim.admin("/_sim/clock/advance", {"seconds": 120})
    planned = run("plan")
    assert "~ version 2222222 -> 1111111  # ring late, wave 3" in planned.out
    fixed = _apply()
    assert fixed.code == 0, fixed.output
    assert _live_version(sim, by_hand) == V1 and len(_of(_deploys(sim, by_hand), V1)) == 2
    # an infrastructure change deploys each changed service at its release version, not its branch head
    blueprint = fleet / "blueprints" / "app" / "render.yaml.j2"
    blueprint.write_text(blueprint.read_text().replace("gunicorn app.wsgi", "gunicorn app.wsgi --workers 4"))
    changed = _apply()
    assert changed.code == 0, changed.output
    assert "9 updated" in changed.out
    assert all(_live_version(sim, s["web_service.app-web"]) == V1 for s in services.values())


def test_a_build_that_fails_on_the_canary_stops_there(fleet: Path, sim: Sim) -> None:
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V2))
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": V2}).status_code == 200
    result = _apply()
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    canary_web = services["t1"]["web_service.app-web"]
    failed = _of(_deploys(sim, canary_web), V2)
    assert failed and failed[0]["status"] == "build_failed"
    assert f"Rollout failed: t1: web_service.app-web: deploy {failed[0]['id']}: deploy build_failed" in result.out
    for slug in [s for ring in ("early", "late") for s in RINGS[ring]]:
        for sid in services[slug].values():
            assert _of(_deploys(sim, sid), V2) == []  # later rings untouched
            assert _live_version(sim, sid) == V1
    lock = json.loads((fleet / "render.lock.json").read_text())
    assert lock["rollout"]["state"] == "failed"
    assert lock["failed_releases"][0]["tenant"] == "t1"
    # a scheduled run does not deploy the failed release again
    before = sum(len(_deploys(sim, sid)) for s in services.values() for sid in s.values())
    again = _apply()
    assert again.code == 0, again.output
    assert "it is not deployed again until releases.yaml changes" in again.out
    assert sum(len(_deploys(sim, sid)) for s in services.values() for sid in s.values()) == before


def test_a_version_that_fails_in_the_bake_is_rolled_back(fleet: Path, sim: Sim) -> None:
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V3))
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live", "commit": V3,
                                               "delaySeconds": 120}).status_code == 200
    result = _apply()
    assert result.code == 1, result.output
    assert "server_failed" in result.out and "during the bake" in result.out
    for sid in services["t1"].values():
        deploys = _deploys(sim, sid)
        assert _of(deploys, V3), deploys  # it went live on V3 ...
        assert _live_version(sim, sid) == V1  # ... and the canary ends on its previous commit
        assert deploys[0]["trigger"] == "rollback"
    for slug in [s for ring in ("early", "late") for s in RINGS[ring]]:
        for sid in services[slug].values():
            assert _of(_deploys(sim, sid), V3) == []
    lock = json.loads((fleet / "render.lock.json").read_text())
    assert lock["tenants"]["t1"]["release"]["state"] == "failed"
    assert set(lock["tenants"]["t1"]["release"]["achieved"].values()) == {V1}


def test_a_bake_longer_than_the_run_may_wait_pauses_with_exit_4_and_resumes(fleet: Path, sim: Sim) -> None:
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V2))
    paused = _apply("--rollout-timeout", "300")
    assert paused.code == 4, paused.output
    assert "Rollout paused: ring `canary` bakes until" in paused.out
    assert all(_of(_deploys(sim, sid), V2) == [] for sid in services["t2"].values())
    sim.admin("/_sim/clock/advance", {"seconds": BAKE})
    resumed = _apply()
    assert resumed.code == 0, resumed.output
    for slug in services:
        for sid in services[slug].values():
            assert len(_of(_deploys(sim, sid), V2)) == 1


def test_sigkill_mid_rollout_resumes_without_deploying_a_tenant_twice(fleet: Path, sim: Sim) -> None:
    (fleet / "releases.yaml").write_text(_release(V1, bake=0))
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V4, bake=0))
    env = {**os.environ, "RENDERER_RATE_LIMITS": "off"}
    stop = threading.Event()

    def clock() -> None:  # the simulator's time runs 50x faster than the CLI's real-time polling
        while not stop.is_set():
            httpx.post(sim.url + "/_sim/clock/advance", json={"seconds": 5}, verify=TLS,
                       headers={"Authorization": f"Bearer {sim.api_key}"})
            time.sleep(0.1)

    ticker = threading.Thread(target=clock, daemon=True)
    ticker.start()
    process = subprocess.Popen([sys.executable, "-m", "renderer.cli.main", "apply", "--auto-approve",
                                "--poll-interval", "0.2"], cwd=fleet, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once ring `early` is deploying
            if any(_of(_deploys(sim, sid), V4) for sid in services["t2"].values()):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("ring `early` never started")
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        stop.set()
        ticker.join()
        if process.poll() is None:
            process.kill()
    late = [sid for slug in RINGS["late"] for sid in services[slug].values()]
    assert all(_of(_deploys(sim, sid), V4) == [] for sid in late)  # killed before the last ring
    resumed = _apply()
    assert resumed.code == 0, resumed.output
    for slug, ids in services.items():
        for sid in ids.values():
            assert len(_of(_deploys(sim, sid), V4)) == 1, slug  # no tenant deployed twice
            assert _live_version(sim, sid) == V4
    assert ROOT  # the repository root is not touched (the fleet is a temporary directory)


def test_plan_shows_each_version_change_and_the_rollout(fleet: Path, sim: Sim) -> None:
    """The plan's live version is the commit of each service's live deploy; a version change is an update
    of the service with its own line; the markdown (PR comment) has the waves and today's skew."""
    (fleet / "releases.yaml").write_text(_release(V1, bake=0))
    assert _apply().code == 0
    assert run("plan").out.startswith("No changes.")
    (fleet / "releases.yaml").write_text(_release(V2))
    (fleet / "tenants" / "t9.yaml").write_text((fleet / "tenants" / "t9.yaml").read_text()
                                               + f"version:\n  commit: \"{V1}\"\n")  # held back
    text = run("plan", "--detailed-exitcode")
    assert text.code == 2, text.output
    assert ('  ~ web_service.app-web  "app-web-t1" ' in text.out
            and "      ~ version 1111111 -> 2222222  # ring canary, wave 1\n" in text.out)
    assert text.out.count("~ version 1111111 -> 2222222") == 16  # 8 tenants x 2 services; t9 is pinned
    assert "Wave 3: ring late, 5 tenant(s), 3 at once, bake 600 s; deploys t5, t6, t7, t8\n" in text.out
    assert "Versions running today: 1111111 on 9 tenant(s)" in text.out
    assert text.out.endswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete. 16 to deploy at a new "
                             "version.\n")
    document = json.loads(run("plan", "--format", "json").out)
    assert {(v["tenant"], v["before"], v["after"]) for v in document["versions"]} == {
        (f"t{n}", V1, V2) for n in range(1, 9)}
    assert [w["ring"] for w in document["rollout"]["waves"]] == ["canary", "early", "late"]
    markdown = run("plan", "--format", "markdown").out
    assert "| 1 | canary | t1 | 1 | 600 s | 1 tenant(s) |" in markdown
    assert "| 3 | late | t5, t6, t7, t8, t9 | 3 | 600 s | 4 tenant(s) |" in markdown
    assert "Version skew today: `1111111` on 9 tenant(s)" in markdown
    assert "!     version 1111111 -> 2222222  # ring early, wave 2" in markdown


def test_status_shows_each_tenants_live_version_target_and_rollout_state(fleet: Path, sim: Sim) -> None:
    (fleet / "releases.yaml").write_text(_release(V1, bake=0))
    assert _apply().code == 0
    (fleet / "releases.yaml").write_text(_release(V2, bake=3600))
    assert _apply("--rollout-timeout", "60").code == 4  # the canary is on V2 and bakes; the rest wait
    text = run("status")
    assert text.code == 0, text.output
    assert "Tenant t1 (active, release done)" in text.out
    assert "Tenant t2 (active, release pending)" in text.out
    document = json.loads(run("status", "--format", "json").out)
    tenants = {t["slug"]: t for t in document["tenants"]}
    assert tenants["t1"]["release_state"] == "done" and tenants["t2"]["release_state"] == "pending"
    grouping = ("project.", "environment.")
    services = {slug: [r for r in tenants[slug]["resources"] if not r["address"].startswith(grouping)]
                for slug in ("t1", "t2")}
    assert {(r["version"], r["target"]) for r in services["t1"]} == {(V2, V2)}
    assert {(r["version"], r["target"]) for r in services["t2"]} == {(V1, V2)}
    assert {(r["version"], r["target"]) for r in tenants["t1"]["resources"] if r not in services["t1"]} == {
        (None, None)}  # a project and an environment run no code
    assert "1111111 -> 2222222" in text.out and "2222222  " in text.out


def test_ci_apply_pauses_a_bake_longer_than_the_job_and_the_scheduled_run_resumes_it(
        sim: Sim, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client_seam: SimClock) -> None:
    """deploy.yml: a bake longer than the job may wait ends the run with exit 4 and `Renderer-Apply:
    incomplete` (progress committed in render.lock.json); the hourly scheduled run picks the rollout up."""
    actions = Actions(tmp_path, monkeypatch, github)
    project = GitProject(tmp_path, ["globex", "initech"])
    monkeypatch.chdir(project.path)
    project.write("releases.yaml", f"version:\n  commit: \"{V1}\"\nrings:\n"
                                   "  - {name: canary, tenants: [globex], bake: 1h}\n"
                                   "  - {name: everyone, tenants: [initech]}\n")
    project.commit("Release 1111111")
    code, out = ci_apply(actions, "0" * 40, project.sha(), "--rollout-timeout", "300")
    assert code == 4, out
    tip = project.origin.commit("main")
    assert "Renderer-Apply: incomplete" in str(tip.message)
    lock = json.loads(project.origin_file("main", "render.lock.json"))
    assert lock["rollout"]["state"] == "baking" and lock["rollout"]["wave"] == 0
    assert lock["tenants"]["globex"]["release"]["state"] == "done"
    assert lock["tenants"]["initech"]["release"]["state"] == "pending"

    project.sync_main()
    client_seam.offset += 3600  # an hour later: the scheduled run
    sim.admin("/_sim/clock/advance", {"seconds": 3600})
    actions.event("schedule", {"schedule": "17 * * * *"}, sha=project.sha())
    resumed = run("ci", "apply", "--rollout-timeout", "300")
    assert resumed.code == 0, resumed.output
    tip = project.origin.commit("main")
    assert "Renderer-Apply: complete" in str(tip.message)
    lock = json.loads(project.origin_file("main", "render.lock.json"))
    assert lock["rollout"]["state"] == "done"
    assert set(lock["tenants"]["initech"]["release"]["achieved"].values()) == {V1}


def test_a_failure_in_a_later_ring_keeps_earlier_rings_unless_rollback_all(fleet: Path, sim: Sim) -> None:
    (fleet / "releases.yaml").write_text(_release(V1, bake=0))
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V2, bake=0))
    broken = services["t3"]["web_service.app-web"]
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "update_failed", "serviceId": broken}).status_code == 200
    kept = _apply()
    assert kept.code == 1, kept.output
    assert f"Rollout failed: t3: web_service.app-web: deploy {_of(_deploys(sim, broken), V2)[0]['id']}: deploy " \
           "update_failed" in kept.out
    assert all(_live_version(sim, sid) == V2 for sid in services["t1"].values())  # the canary keeps it
    assert all(_live_version(sim, sid) == V1 for slug in ("t2", "t3", "t4") for sid in services[slug].values())
    assert all(_of(_deploys(sim, sid), V2) == [] for slug in RINGS["late"] for sid in services[slug].values())

    (fleet / "releases.yaml").write_text(_release(V3, bake=0))
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "update_failed", "serviceId": broken}).status_code == 200
    every = _apply("--rollback-all")
    assert every.code == 1, every.output
    for slug in ("t1", "t2", "t3", "t4"):  # every ring the release reached is back on its previous version
        assert all(_live_version(sim, sid) != V3 for sid in services[slug].values()), slug
    assert all(_live_version(sim, sid) == V2 for sid in services["t1"].values())


def test_a_tenant_onboarded_during_a_rollout_starts_on_the_version_its_ring_has_reached(
        fleet: Path, sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    # 22 services: more than Render's 20 creates an hour, raised here on both sides
    assert sim.admin("/_sim/rate-limits", {"scale": 1, "budgets": {"create_service": 100}}).status_code == 200
    monkeypatch.setenv("RENDERER_RATE_LIMITS", "create_service=100/1h")
    (fleet / "releases.yaml").write_text(_release(V1, bake=0))
    assert _apply().code == 0
    (fleet / "releases.yaml").write_text(_release(V2, bake=3600).replace("tenants: [t1]", "tenants: [t1, t10]"))
    (fleet / "tenants" / "t10.yaml").write_text("name: Tenant 10\nslug: t10\nblueprint: app\n")
    (fleet / "tenants" / "t11.yaml").write_text("name: Tenant 11\nslug: t11\nblueprint: app\nlabels:\n  ring: late\n")
    paused = _apply("--rollout-timeout", "60")  # the canary ring (t1, and t10 created with it) bakes an hour
    assert paused.code == 4, paused.output
    services = _services(fleet)
    # t10 joined the ring the release is in: it has the new version; t11's ring is not reached: its ring-mates'
    assert {_live_version(sim, sid) for sid in services["t10"].values()} == {V2}
    assert {_live_version(sim, sid) for sid in services["t11"].values()} == {V1}
    assert {_live_version(sim, sid) for sid in services["t5"].values()} == {V1}


def test_a_tenant_file_pin_is_deployed_while_the_release_stays_failed(fleet: Path, sim: Sim) -> None:
    """After a failed release, pinning one tenant in its own file (docs/releases.md: hold back or run
    ahead) deploys that tenant at its pin, gated as usual, while the failed version goes nowhere."""
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V2))
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": V2}).status_code == 200
    assert _apply().code == 1
    tenant = fleet / "tenants" / "t4.yaml"
    tenant.write_text(tenant.read_text() + f"version:\n  commit: \"{V3}\"\n")
    pinned = _apply()
    assert pinned.code == 0, pinned.output
    assert "it is not deployed again until releases.yaml changes" in pinned.out
    for address, sid in services["t4"].items():
        assert _live_version(sim, sid) == V3, address
    for slug in [s for s in services if s != "t4"]:
        for sid in services[slug].values():
            assert _live_version(sim, sid) == V1
            assert [d["status"] for d in _of(_deploys(sim, sid), V2)] in ([], ["build_failed"])
    assert json.loads((fleet / "render.lock.json").read_text())["tenants"]["t4"]["release"]["achieved"] == {
        address: V3 for address in services["t4"]}


def test_an_apply_of_one_tenant_says_the_release_waits_for_a_whole_fleet_apply(fleet: Path, sim: Sim) -> None:
    """A release rolls out on whole-fleet applies only; `apply --tenant` says so instead of ending
    "Apply complete!" over a plan that listed version changes (found by a fresh-user trial)."""
    assert _apply().code == 0
    services = _services(fleet)
    (fleet / "releases.yaml").write_text(_release(V2, bake=0))
    result = _apply("--tenant", "t1")
    assert result.code == 0, result.output
    assert ("Rollout not run: releases roll out on whole-fleet applies only (without --tenant); 2 service(s) stay "
            "on their version until one runs.") in result.out
    assert all(_live_version(sim, sid) == V1 for sid in services["t1"].values())
