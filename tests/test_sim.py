"""The simulator behaves like Render's API where the product depends on it."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import Sim, start_sim, stop_sim


def worker_body(sim: Sim, name: str, **details: object) -> dict[str, object]:
    return {"type": "background_worker", "name": name, "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "python", "envSpecificDetails": {
                "buildCommand": "pip install .", "startCommand": "python worker.py"}, **details}}


def test_requires_a_bearer_token(sim: Sim) -> None:
    response = httpx.get(sim.api_url + "/services")
    assert response.status_code == 401
    assert "message" in response.json()


def test_owner_lists_one_workspace(sim: Sim) -> None:
    owners = sim.get("/owners").json()
    assert [o["owner"]["id"] for o in owners] == [sim.owner_id]
    assert sim.owner_id.startswith("tea-")


def test_unknown_ids_are_404(sim: Sim) -> None:
    assert sim.get("/services/srv-00000000000000000000").status_code == 404
    assert sim.get("/postgres/dpg-00000000000000000000-a").status_code == 404
    assert sim.get("/postgres/dpg-00000000000000000000-a/connection-info").status_code == 404


def test_duplicate_service_name_is_refused(sim: Sim) -> None:
    with sim.http() as http:
        assert http.post("/services", json=worker_body(sim, "w")).status_code == 201
        second = http.post("/services", json=worker_body(sim, "w"))
    assert second.status_code == 409
    assert "already exists" in second.json()["message"]


def test_bad_body_is_400_with_message(sim: Sim) -> None:
    with sim.http() as http:
        missing = http.post("/services", json={"type": "web_service", "ownerId": sim.owner_id})
        wrong = http.post("/services", json=worker_body(sim, "w", plan="free"))
        other_owner = http.post("/services", json={**worker_body(sim, "w"), "ownerId": "tea-nope"})
    assert missing.status_code == 400 and "'name' is a required property" in missing.json()["message"]
    assert wrong.status_code == 400 and "'free' is not one of" in wrong.json()["message"]
    assert other_owner.status_code == 404


def test_pagination_follows_cursor(sim: Sim) -> None:
    with sim.http() as http:
        service = http.post("/services", json=worker_body(sim, "w")).json()["service"]
        for i in range(5):
            assert http.put(f"/services/{service['id']}/env-vars/K{i}", json={"value": str(i)}).status_code == 200
        keys, cursor = [], None
        while True:
            params: dict[str, object] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/services/{service['id']}/env-vars", params=params).json()
            keys += [e["envVar"]["key"] for e in page]
            if len(page) < 2:
                break
            cursor = page[-1]["cursor"]
        for key in range(5, 105):
            http.put(f"/services/{service['id']}/env-vars/K{key}", json={"value": "x"})
        clamped = http.get(f"/services/{service['id']}/env-vars", params={"limit": 500})
        assert clamped.status_code == 200 and len(clamped.json()) == 100
        assert http.get(f"/services/{service['id']}/env-vars").json()[-1]["cursor"] == "K19"  # 20 by default
    assert keys == [f"K{i}" for i in range(5)]


def test_deploy_moves_to_live_on_the_clock(sim: Sim) -> None:
    with sim.http() as http:
        created = http.post("/services", json=worker_body(sim, "w")).json()
        sid, did = created["service"]["id"], created["deployId"]
        assert http.get(f"/services/{sid}/deploys/{did}").json()["status"] in ("created", "build_in_progress")
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        assert http.get(f"/services/{sid}/deploys/{did}").json()["status"] == "live"
        second = http.post(f"/services/{sid}/deploys", json={}).json()
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        statuses = {d["deploy"]["id"]: d["deploy"]["status"] for d in http.get(f"/services/{sid}/deploys").json()}
    assert statuses == {second["id"]: "live", did: "deactivated"}


def test_state_survives_a_kill(tmp_path: Path) -> None:
    first = start_sim(tmp_path)
    try:
        with first.http() as http:
            created = http.post("/services", json=worker_body(first, "survivor")).json()["service"]
            http.put(f"/services/{created['id']}/env-vars/A", json={"value": "1"})
    finally:
        stop_sim(first, signal.SIGKILL)
    second = start_sim(tmp_path, state=first.state)
    try:
        assert second.owner_id == first.owner_id
        assert second.get(f"/services/{created['id']}").json()["name"] == "survivor"
        assert second.get(f"/services/{created['id']}/env-vars/A").json() == {"key": "A", "value": "1"}
    finally:
        stop_sim(second)
