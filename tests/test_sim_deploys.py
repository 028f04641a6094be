"""The simulator's deploys of a given version, forced outcomes per version, rollback and service events,
over real HTTP, and the client methods fleet releases call (`trigger_deploy`, `rollback`, `list_events`)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from renderer.render_api.client import RenderClient
from renderer.render_api.errors import BadRequest, NotFound
from tests.conftest import Sim, run
from tests.test_client import run_with
from tests.test_sim import create, web_body, worker_body

GOOD = "1" * 40
BAD = "2" * 40
OTHER = "3" * 40


def git_body(sim: Sim, name: str) -> dict[str, Any]:
    return {**web_body(sim, name), "repo": "https://github.com/acme/app", "branch": "main"}


def image_body(sim: Sim, name: str, image: str = "ghcr.io/acme/app:1.0") -> dict[str, Any]:
    return {"type": "web_service", "name": name, "ownerId": sim.owner_id,
            "image": {"imagePath": image, "ownerId": sim.owner_id},
            "serviceDetails": {"runtime": "image", "plan": "starter"}}


def advance(sim: Sim, seconds: float) -> None:
    assert sim.admin("/_sim/clock/advance", {"seconds": seconds}).status_code == 200


def deploy(http: httpx.Client, sid: str, **body: str) -> dict[str, Any]:
    response = http.post(f"/services/{sid}/deploys", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def status(http: httpx.Client, sid: str, deploy_id: str) -> str:
    return str(http.get(f"/services/{sid}/deploys/{deploy_id}").json()["status"])


def events(http: httpx.Client, sid: str, **params: Any) -> list[dict[str, Any]]:
    response = http.get(f"/services/{sid}/events", params=params)
    assert response.status_code == 200, response.text
    return [entry["event"] for entry in response.json()]


def test_a_deploy_carries_the_requested_commit_else_the_branch_head(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        pinned = deploy(http, sid, commitId=GOOD)
        head = deploy(http, sid)
        pushed = sim.admin("/_sim/push", {"repo": "https://github.com/acme/app", "commit": OTHER}).json()
        after_push = deploy(http, sid)
    assert pinned["commit"]["id"] == GOOD and pinned["status"] == "build_in_progress"
    assert head["commit"]["id"] == hashlib.sha1(b"https://github.com/acme/app@main").hexdigest()
    assert pushed["commit"] == OTHER and len(pushed["deployIds"]) == 1  # auto-deploy is on
    assert after_push["commit"]["id"] == OTHER


def test_a_push_deploys_only_services_with_auto_deploy_on(sim: Sim) -> None:
    with sim.http() as http:
        on = create(http, git_body(sim, "on"))["service"]["id"]
        off = create(http, {**git_body(sim, "off"), "autoDeploy": "no", "autoDeployTrigger": "off"})["service"]["id"]
        pushed = sim.admin("/_sim/push", {"repo": "https://github.com/acme/app", "commit": OTHER}).json()
        on_deploys = [d["deploy"] for d in http.get(f"/services/{on}/deploys").json()]
        off_deploys = [d["deploy"] for d in http.get(f"/services/{off}/deploys").json()]
    assert len(pushed["deployIds"]) == 1
    assert (on_deploys[0]["trigger"], on_deploys[0]["commit"]["id"]) == ("new_commit", OTHER)
    assert all(d["commit"]["id"] != OTHER for d in off_deploys)


def test_a_deploy_carries_the_requested_image(sim: Sim) -> None:
    digest = "sha256:" + "a" * 64
    with sim.http() as http:
        sid = create(http, image_body(sim, "img"))["service"]["id"]
        by_digest = deploy(http, sid, imageUrl=f"ghcr.io/acme/app@{digest}")
        by_tag = deploy(http, sid, imageUrl="ghcr.io/acme/app:2.0")
        configured = deploy(http, sid)
        other_repo = http.post(f"/services/{sid}/deploys", json={"imageUrl": "ghcr.io/acme/other:1.0"})
        commit_on_image = http.post(f"/services/{sid}/deploys", json={"commitId": GOOD})
    assert by_digest["image"] == {"ref": f"ghcr.io/acme/app@{digest}", "sha": digest}
    assert by_digest["commit"] is None
    assert by_tag["image"]["ref"] == "ghcr.io/acme/app:2.0" and by_tag["image"]["sha"].startswith("sha256:")
    assert configured["image"]["ref"] == "ghcr.io/acme/app:1.0"
    assert other_repo.status_code == 400 and "must match" in other_repo.json()["message"]
    assert commit_on_image.status_code == 400


def test_a_commit_set_to_fail_its_build_fails_on_every_service(sim: Sim) -> None:
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": BAD}).status_code == 200
    with sim.http() as http:
        first = create(http, git_body(sim, "a"))["service"]["id"]
        second = create(http, git_body(sim, "b"))["service"]["id"]
        bad = [deploy(http, sid, commitId=BAD)["id"] for sid in (first, second)]
        good = deploy(http, first, commitId=GOOD)["id"]
        advance(sim, 20)
        failed = [status(http, sid, d) for sid, d in zip((first, second), bad, strict=True)]
        advance(sim, 10)
        live = status(http, first, good)
        sim.admin("/_sim/deploy-outcomes", {"outcome": "live", "commit": BAD})  # cleared
        again = deploy(http, first, commitId=BAD)["id"]
        advance(sim, 30)
        cleared = status(http, first, again)
    assert failed == ["build_failed", "build_failed"]
    assert live == "live"
    assert cleared == "live"


def test_a_commit_set_to_fail_its_deploy_and_an_image_set_to_fail(sim: Sim) -> None:
    digest = "sha256:" + "b" * 64
    sim.admin("/_sim/deploy-outcomes", {"outcome": "update_failed", "commit": BAD})
    sim.admin("/_sim/deploy-outcomes", {"outcome": "update_failed", "image": digest})
    with sim.http() as http:
        git = create(http, git_body(sim, "git"))["service"]["id"]
        img = create(http, image_body(sim, "img"))["service"]["id"]
        bad_git = deploy(http, git, commitId=BAD)["id"]
        bad_img = deploy(http, img, imageUrl=f"ghcr.io/acme/app@{digest}")["id"]
        advance(sim, 20)
        midway = status(http, git, bad_git)
        advance(sim, 10)
        ended = (status(http, git, bad_git), status(http, img, bad_img))
    assert midway == "update_in_progress"  # the build passed
    assert ended == ("update_failed", "update_failed")


def test_admin_outcome_selectors_are_checked(sim: Sim) -> None:
    both = sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": BAD, "image": "sha256:x"})
    no_version = sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live"})
    negative = sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live", "commit": BAD,
                                                   "delaySeconds": -1})
    listed = sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live", "commit": BAD,
                                                 "delaySeconds": 45}).json()
    assert [r.status_code for r in (both, no_version, negative)] == [400, 400, 400]
    assert listed["versions"] == [{"commit": BAD, "outcome": "server_failed_after_live", "delaySeconds": 45.0}]


def test_server_failed_after_live_emits_a_server_failed_event(sim: Sim) -> None:
    sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live", "commit": BAD, "delaySeconds": 60})
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        bad = deploy(http, sid, commitId=BAD)["id"]
        advance(sim, 30)
        went_live = status(http, sid, bad)
        before = events(http, sid, type="server_failed")
        advance(sim, 60)
        after = events(http, sid, type="server_failed")
        still = status(http, sid, bad)
    assert went_live == "live" and still == "live"  # Render keeps the deploy live; the server fails
    assert before == []
    assert len(after) == 1 and after[0]["serviceId"] == sid
    assert after[0]["details"]["instanceID"].startswith(sid + "-")
    assert after[0]["id"].startswith("evt-")


def test_events_follow_a_deploy_newest_first(sim: Sim) -> None:
    sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": BAD})
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        advance(sim, 30)
        bad = deploy(http, sid, commitId=BAD)["id"]
        advance(sim, 20)
        listed = events(http, sid)
    first_build = [(e["type"], e["details"].get("buildStatus") or e["details"].get("deployStatus"))
                   for e in reversed(listed)]
    assert first_build == [("deploy_started", None), ("build_started", None), ("build_ended", "succeeded"),
                           ("deploy_ended", "succeeded"),
                           ("deploy_started", None), ("build_started", None), ("build_ended", "failed"),
                           ("deploy_ended", "failed")]
    assert listed[0]["details"]["deployId"] == bad
    assert listed[0]["details"]["reason"]["buildFailed"]["id"] == listed[1]["details"]["buildId"]
    assert listed[-1]["details"]["trigger"]["firstBuild"] is True
    stamps = [e["timestamp"] for e in listed]
    assert stamps == sorted(stamps, reverse=True)


def test_events_window_type_filter_and_cursor(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        for _ in range(3):
            advance(sim, 40)
            deploy(http, sid)
        advance(sim, 40)
        now = datetime.fromisoformat(sim.admin_get("/_sim/clock")["now"].replace("Z", "+00:00"))
        everything = events(http, sid)
        ended = events(http, sid, type="deploy_ended")
        two_types = events(http, sid, type=["deploy_started", "deploy_ended"])
        recent = events(http, sid, startTime=(now - timedelta(seconds=45)).isoformat())
        page = http.get(f"/services/{sid}/events", params={"limit": 3}).json()
        rest = http.get(f"/services/{sid}/events", params={"limit": 100, "cursor": page[-1]["cursor"]}).json()
        advance(sim, 3600)
        default_window = events(http, sid)
        old = events(http, sid, startTime=(now - timedelta(seconds=200)).isoformat())
        bad_time = http.get(f"/services/{sid}/events", params={"startTime": "yesterday"})
    assert len(everything) == 16 and len(ended) == 4 and len(two_types) == 8
    assert {e["type"] for e in recent} == {"deploy_started", "build_started", "build_ended", "deploy_ended"}
    assert len(recent) == 4  # the last deploy only
    assert [e["cursor"] for e in page] == [e["id"] for e in everything[:3]]
    assert [e["event"]["id"] for e in rest] == [e["id"] for e in everything[3:]]
    assert default_window == []  # Render's default window is the last hour
    assert len(old) == 16
    assert bad_time.status_code == 400


def test_rollback_deploys_an_earlier_live_version_without_a_build(sim: Sim) -> None:
    sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "commit": BAD})
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        good = deploy(http, sid, commitId=GOOD)["id"]
        advance(sim, 30)
        newer = deploy(http, sid, commitId=OTHER)["id"]
        failed = deploy(http, sid, commitId=BAD)["id"]
        advance(sim, 30)
        rolled = http.post(f"/services/{sid}/rollback", json={"deployId": good})
        to_failed = http.post(f"/services/{sid}/rollback", json={"deployId": failed})
        unknown = http.post(f"/services/{sid}/rollback", json={"deployId": "dep-00000000000000000000"})
        back = rolled.json()
        advance(sim, 30)
        final = status(http, sid, back["id"])
        superseded = status(http, sid, newer)
        started = events(http, sid, type="deploy_started")[0]
    assert rolled.status_code == 201
    assert back["trigger"] == "rollback" and back["commit"]["id"] == GOOD
    assert back["status"] == "update_in_progress"  # the build is reused
    assert to_failed.status_code == 400 and "never went live" in to_failed.json()["message"]
    assert unknown.status_code == 404
    assert final == "live" and superseded == "deactivated"
    assert started["details"]["trigger"]["rollback"] is True
    assert started["details"]["trigger"]["rollbackTargetDeployId"] == good


def test_deploy_list_filters_by_time(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, worker_body(sim, "w"))["service"]["id"]
        advance(sim, 100)
        middle = sim.admin_get("/_sim/clock")["now"]
        advance(sim, 100)
        later = deploy(http, sid)["id"]
        after = [d["deploy"]["id"] for d in http.get(f"/services/{sid}/deploys",
                                                     params={"createdAfter": middle}).json()]
        before = http.get(f"/services/{sid}/deploys", params={"createdBefore": middle}).json()
        finished = http.get(f"/services/{sid}/deploys", params={"finishedAfter": middle}).json()
    assert after == [later]
    assert len(before) == 1 and before[0]["deploy"]["id"] != later
    assert finished == []  # the later deploy is still building


def test_client_deploys_a_version_rolls_back_and_reads_events(sim: Sim) -> None:
    sim.admin("/_sim/deploy-outcomes", {"outcome": "server_failed_after_live", "commit": BAD, "delaySeconds": 10})

    async def scenario(client: RenderClient) -> dict[str, Any]:
        created = await client.create_service(git_body(sim, "web"))
        sid = created["service"]["id"]
        start = datetime.now(UTC) - timedelta(hours=2)
        advance(sim, 30)
        good = await client.trigger_deploy(sid, commit_id=GOOD)
        assert good is not None
        advance(sim, 30)
        bad = await client.trigger_deploy(sid, commit_id=BAD)
        assert bad is not None
        advance(sim, 45)
        failures = await client.list_events(sid, start, types=["server_failed"])
        back = await client.rollback(sid, good["id"])
        try:
            await client.rollback(sid, "dep-00000000000000000000")
            missing = False
        except NotFound:
            missing = True
        for _ in range(3):
            await client.trigger_deploy(sid)
        advance(sim, 7200)
        everything = await client.list_events(sid, start)
        recent = await client.list_deploys(sid, created_after=start + timedelta(hours=2, seconds=70))
        return {"failures": failures, "back": back, "missing": missing, "everything": everything,
                "recent": recent, "good": good, "bad": bad}

    r = run_with(sim, scenario)
    assert [e["type"] for e in r["failures"]] == ["server_failed"]
    assert r["back"]["trigger"] == "rollback" and r["back"]["commit"]["id"] == GOOD
    assert r["missing"] is True
    assert len(r["everything"]) > 20  # more than one page of 20 at Render's default; every page is read
    assert {e["type"] for e in r["everything"]} >= {"deploy_started", "deploy_ended", "server_failed"}
    assert r["bad"]["id"] not in [d["id"] for d in r["recent"]] and len(r["recent"]) == 4


def test_client_image_url_and_bad_version(sim: Sim) -> None:
    digest = "sha256:" + "c" * 64

    async def scenario(client: RenderClient) -> dict[str, Any]:
        sid = (await client.create_service(image_body(sim, "img")))["service"]["id"]
        pinned = await client.trigger_deploy(sid, image_url=f"ghcr.io/acme/app@{digest}")
        try:
            await client.trigger_deploy(sid, image_url="ghcr.io/acme/other@" + digest)
        except BadRequest as exc:
            return {"pinned": pinned, "refused": str(exc)}
        raise AssertionError("a foreign image was accepted")

    r = run_with(sim, scenario)
    assert r["pinned"]["image"]["sha"] == digest
    assert "must match" in r["refused"]


def test_the_deploy_outcome_command_sets_a_version_rule(sim: Sim) -> None:
    url = ["--url", sim.url, "--api-key", sim.api_key]
    done = run("sim", "deploy-outcome", "server_failed_after_live", "--commit", BAD, "--delay", "5", *url)
    assert done.code == 0
    assert '"delaySeconds": 5.0' in done.out and '"outcome": "server_failed_after_live"' in done.out


def test_deploy_timing_rescales_later_deploys(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, git_body(sim, "web"))["service"]["id"]
        assert sim.admin("/_sim/deploy-timing", {"seconds": 600}).json() == {"seconds": 600}
        slow = deploy(http, sid, commitId=GOOD)["id"]
        advance(sim, 30)
        early = (status(http, sid, slow), http.get(f"/services/{sid}/deploys").json()[-1]["deploy"]["status"])
        advance(sim, 370)
        midway = status(http, sid, slow)
        advance(sim, 200)
        done = status(http, sid, slow)
        refused = sim.admin("/_sim/deploy-timing", {"seconds": 0})
    assert early == ("build_in_progress", "live")  # the deploy made before keeps Render's 30 s
    assert midway == "update_in_progress" and done == "live"
    assert refused.status_code == 400
