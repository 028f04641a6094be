"""The simulator behaves like Render's API where the product depends on it."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Sim, start_sim, stop_sim

RENDER_ID = r"[0-9a-v]{20}"


def worker_body(sim: Sim, name: str, **details: object) -> dict[str, object]:
    return {"type": "background_worker", "name": name, "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "python", "envSpecificDetails": {
                "buildCommand": "pip install .", "startCommand": "python worker.py"}, **details}}


def web_body(sim: Sim, name: str, **details: object) -> dict[str, object]:
    return {"type": "web_service", "name": name, "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "node", "plan": "starter", "envSpecificDetails": {
                "buildCommand": "npm ci", "startCommand": "node server.js"}, **details}}


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post("/services", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_requires_a_bearer_token(sim: Sim) -> None:
    response = httpx.get(sim.api_url + "/services")
    assert response.status_code == 401
    assert "message" in response.json()


def test_owner_lists_one_workspace(sim: Sim) -> None:
    owners = sim.get("/owners").json()
    assert [o["owner"]["id"] for o in owners] == [sim.owner_id]
    assert re.fullmatch(f"tea-{RENDER_ID}", sim.owner_id)
    assert sim.get(f"/owners/{sim.owner_id}").json()["type"] == "team"
    assert sim.get("/owners/tea-00000000000000000000").status_code == 404
    assert sim.get("/users").json() == {"name": "Simulated User", "email": "sim@example.com"}


def test_unknown_ids_are_404(sim: Sim) -> None:
    for path in ("/services/srv-00000000000000000000", "/postgres/dpg-00000000000000000000-a",
                 "/postgres/dpg-00000000000000000000-a/connection-info", "/key-value/red-00000000000000000000",
                 "/env-groups/evg-00000000000000000000", "/disks/dsk-00000000000000000000"):
        response = sim.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"id", "message"}


def test_duplicate_service_name_is_refused(sim: Sim) -> None:
    with sim.http() as http:
        create(http, worker_body(sim, "w"))
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


def test_paid_plan_without_payment_details_is_402(sim: Sim) -> None:
    sim.admin("/_sim/workspace", {"paymentDetails": False})
    with sim.http() as http:
        refused = http.post("/services", json=worker_body(sim, "w"))
        free_web = http.post("/services", json=web_body(sim, "free-web", plan="free"))
        paid_db = http.post("/postgres", json={"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                               "version": "16"})
    assert refused.status_code == 402
    assert refused.json()["message"].startswith("You must enter payment information")
    assert free_web.status_code == 201
    assert paid_db.status_code == 400  # POST /postgres documents no 402
    assert paid_db.json()["message"].startswith("You must enter payment information")


def test_pagination_follows_cursor_and_clamps_limit(sim: Sim) -> None:
    assert sim.admin("/_sim/seed", {"services": 1, "envVarsPerService": 105}).status_code == 200
    service = sim.get("/services").json()[0]["service"]
    keys, cursor = [], None
    with sim.http() as http:
        while True:
            params: dict[str, object] = {"limit": 40, **({"cursor": cursor} if cursor else {})}
            page = http.get(f"/services/{service['id']}/env-vars", params=params).json()
            keys += [e["envVar"]["key"] for e in page]
            if len(page) < 40:
                break
            cursor = page[-1]["cursor"]
        clamped = http.get(f"/services/{service['id']}/env-vars", params={"limit": 500})
        default = http.get(f"/services/{service['id']}/env-vars").json()
    assert keys == [f"SEED_VAR_{i}" for i in reversed(range(105))]  # newest first, as Render lists
    assert clamped.status_code == 200 and len(clamped.json()) == 100
    assert len(default) == 20  # Render's default page size


def test_ids_slug_and_urls(sim: Sim) -> None:
    with sim.http() as http:
        created = create(http, web_body(sim, "My App"))
        again = create(http, web_body(sim, "my-app"))
        private = create(http, {**worker_body(sim, "api"), "type": "private_service"})
        static = create(http, {"type": "static_site", "name": "site", "ownerId": sim.owner_id,
                               "repo": "https://github.com/acme/site", "serviceDetails": {"publishPath": "dist"}})
    service = created["service"]
    assert re.fullmatch(f"srv-{RENDER_ID}", service["id"])
    assert re.fullmatch(f"dep-{RENDER_ID}", created["deployId"])
    assert service["slug"] == "my-app"
    assert service["serviceDetails"]["url"] == "https://my-app.onrender.com"
    assert re.fullmatch(r"my-app-[a-z0-9]{4}", again["service"]["slug"])  # slugs are unique
    assert again["service"]["serviceDetails"]["url"] == f"https://{again['service']['slug']}.onrender.com"
    assert private["service"]["serviceDetails"]["url"] == "api:10000"
    assert static["service"]["serviceDetails"]["url"] == "https://site.onrender.com"
    assert service["dashboardUrl"] == f"https://dashboard.render.com/web/{service['id']}"


def test_every_service_type_can_be_created(sim: Sim) -> None:
    cron = {**worker_body(sim, "nightly"), "type": "cron_job"}
    cron["serviceDetails"] = {**cron["serviceDetails"], "schedule": "0 3 * * *"}  # type: ignore[dict-item]
    with sim.http() as http:
        for body in (web_body(sim, "web"), {**worker_body(sim, "pserv"), "type": "private_service"},
                     worker_body(sim, "worker"), cron,
                     {"type": "static_site", "name": "static", "ownerId": sim.owner_id}):
            create(http, body)
        no_schedule = http.post("/services", json={**worker_body(sim, "bad-cron"), "type": "cron_job"})
    types = sorted(s["service"]["type"] for s in sim.get("/services").json())
    assert types == ["background_worker", "cron_job", "private_service", "static_site", "web_service"]
    assert no_schedule.status_code == 400


def test_connection_strings(sim: Sim) -> None:
    with sim.http() as http:
        pg = http.post("/postgres", json={"name": "main-db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                          "version": "16", "region": "frankfurt", "databaseName": "app",
                                          "databaseUser": "app_user"}).json()
        kv = http.post("/key-value", json={"name": "cache", "ownerId": sim.owner_id, "plan": "starter"}).json()
        pg_info = http.get(f"/postgres/{pg['id']}/connection-info").json()
        kv_info = http.get(f"/key-value/{kv['id']}/connection-info").json()
    assert re.fullmatch(f"dpg-{RENDER_ID}-a", pg["id"])
    assert re.fullmatch(f"red-{RENDER_ID}", kv["id"])
    password, database = pg_info["password"], pg["databaseName"]
    assert re.fullmatch(r"app_[a-z0-9]{4}", database)  # Render suffixes the requested name
    assert pg["databaseUser"] == "app_user"
    assert pg_info["internalConnectionString"] == f"postgresql://app_user:{password}@{pg['id']}/{database}"
    assert pg_info["externalConnectionString"] == (
        f"postgresql://app_user:{password}@{pg['id']}.frankfurt-postgres.render.com/{database}")
    assert kv_info["internalConnectionString"] == f"redis://{kv['id']}:6379"
    external = kv_info["externalConnectionString"]
    assert re.fullmatch(rf"rediss://{kv['id']}:\S+@oregon-keyvalue\.render\.com:6379", external)
    assert kv_info["cliCommand"] == f"valkey-cli -u {kv_info['externalConnectionString']}"


def test_deploy_moves_to_live_on_the_clock(sim: Sim) -> None:
    with sim.http() as http:
        created = create(http, worker_body(sim, "w"))
        sid, did = created["service"]["id"], created["deployId"]
        first = http.get(f"/services/{sid}/deploys/{did}").json()
        assert first["status"] == "build_in_progress"  # Render's first status: already building
        assert first["finishedAt"] is None and first["commit"]["id"] and "image" not in first
        sim.admin("/_sim/clock/advance", {"seconds": 5})
        assert http.get(f"/services/{sid}/deploys/{did}").json()["status"] == "build_in_progress"
        sim.admin("/_sim/clock/advance", {"seconds": 20})
        assert http.get(f"/services/{sid}/deploys/{did}").json()["status"] == "update_in_progress"
        sim.admin("/_sim/clock/advance", {"seconds": 10})
        live = http.get(f"/services/{sid}/deploys/{did}").json()
        assert live["status"] == "live" and live["finishedAt"] and live["startedAt"]
        second = http.post(f"/services/{sid}/deploys", json={}).json()
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        statuses = {d["deploy"]["id"]: d["deploy"]["status"] for d in http.get(f"/services/{sid}/deploys").json()}
    assert statuses == {second["id"]: "live", did: "deactivated"}


def test_deploys_end_as_told(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, worker_body(sim, "w"))["service"]["id"]
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        outcomes = ["build_failed", "update_failed", "pre_deploy_failed", "canceled"]
        deploy_ids = []
        for outcome in outcomes:
            assert sim.admin("/_sim/deploy-outcomes", {"outcome": outcome, "serviceId": sid}).status_code == 200
            deploy_ids.append(http.post(f"/services/{sid}/deploys", json={}).json()["id"])
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        ended = [http.get(f"/services/{sid}/deploys/{d}").json()["status"] for d in deploy_ids]
        in_progress = http.post(f"/services/{sid}/deploys", json={}).json()
        canceled = http.post(f"/services/{sid}/deploys/{in_progress['id']}/cancel")
        again = http.post(f"/services/{sid}/deploys/{in_progress['id']}/cancel")
        bad = sim.admin("/_sim/deploy-outcomes", {"outcome": "exploded"})
    assert ended == outcomes
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert again.status_code == 400
    assert bad.status_code == 400


def test_env_groups_are_a_bare_array_and_link_to_services(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        group = http.post("/env-groups", json={"name": "shared", "ownerId": sim.owner_id,
                                               "envVars": [{"key": "A", "value": "1"},
                                                           {"key": "TOKEN", "generateValue": True}]}).json()
        linked = http.post(f"/env-groups/{group['id']}/services/{sid}").json()
        listed = http.get("/env-groups").json()
        put = http.put(f"/env-groups/{group['id']}/env-vars/B", json={"value": "2"}).json()
        assert http.delete(f"/env-groups/{group['id']}/services/{sid}").status_code == 204
        after = http.get(f"/env-groups/{group['id']}").json()
    assert re.fullmatch(f"evg-{RENDER_ID}", group["id"])
    assert linked["serviceLinks"] == [{"id": sid, "name": "web", "type": "web"}]
    assert [g["id"] for g in listed] == [group["id"]] and "envVars" not in listed[0]
    assert [e["key"] for e in put["envVars"]] == ["B", "TOKEN", "A"]  # newest first, as Render answers
    assert len(put["envVars"][1]["value"]) == 32  # generated
    assert after["serviceLinks"] == []


def test_custom_domains_add_the_www_companion(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        worker = create(http, worker_body(sim, "w"))["service"]["id"]
        added = http.post(f"/services/{sid}/custom-domains", json={"name": "example.com"})
        duplicate = http.post(f"/services/{sid}/custom-domains", json={"name": "www.example.com"})
        on_worker = http.post(f"/services/{worker}/custom-domains", json={"name": "other.org"})
        verify = http.post(f"/services/{sid}/custom-domains/example.com/verify")
        one = http.get(f"/services/{sid}/custom-domains/example.com").json()
    assert added.status_code == 201
    domains = added.json()
    assert [(d["name"], d["domainType"], d["redirectForName"]) for d in domains] == [
        ("example.com", "apex", ""), ("www.example.com", "subdomain", "example.com")]
    assert all(re.fullmatch(f"cdm-{RENDER_ID}", d["id"]) for d in domains)
    assert duplicate.status_code == 409
    assert on_worker.status_code == 400
    assert verify.status_code == 202 and one["verificationStatus"] == "verified"


def test_disks_belong_to_paid_services(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        free = create(http, web_body(sim, "free", plan="free"))["service"]["id"]
        disk = http.post("/disks", json={"serviceId": sid, "name": "data", "sizeGB": 10, "mountPath": "/data"})
        refused = http.post("/disks", json={"serviceId": free, "name": "data", "sizeGB": 1, "mountPath": "/d"})
        shrink = http.patch(f"/disks/{disk.json()['id']}", json={"sizeGB": 5})
        grow = http.patch(f"/disks/{disk.json()['id']}", json={"sizeGB": 20})
        service = http.get(f"/services/{sid}").json()
    assert disk.status_code == 201 and re.fullmatch(f"dsk-{RENDER_ID}", disk.json()["id"])
    assert refused.status_code == 400
    assert shrink.status_code == 400 and grow.json()["sizeGB"] == 20
    assert service["serviceDetails"]["disk"] == {"id": disk.json()["id"], "name": "data", "sizeGB": 20,
                                                  "mountPath": "/data"}


def test_postgres_export_becomes_downloadable(sim: Sim) -> None:
    with sim.http() as http:
        pg = http.post("/postgres", json={"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                          "version": "16"}).json()
        assert http.post(f"/postgres/{pg['id']}/export").status_code == 202
        fresh = http.get(f"/postgres/{pg['id']}/export").json()
        sim.admin("/_sim/clock/advance", {"seconds": 15})
        ready = http.get(f"/postgres/{pg['id']}/export").json()
    assert len(fresh) == 1 and "url" not in fresh[0]
    assert ready[0]["url"] == f"https://sim-exports.invalid/{pg['id']}/{fresh[0]['id']}.dir.tar.gz"


def test_state_survives_a_kill(tmp_path: Path) -> None:
    first = start_sim(tmp_path)
    try:
        with first.http() as http:
            created = http.post("/services", json=worker_body(first, "survivor")).json()["service"]
            http.put(f"/services/{created['id']}/env-vars/A", json={"value": "1"})
            group = http.post("/env-groups", json={"name": "g", "ownerId": first.owner_id, "envVars": []}).json()
    finally:
        stop_sim(first, signal.SIGKILL)
    second = start_sim(tmp_path, state=first.state)
    try:
        assert second.owner_id == first.owner_id
        assert second.get(f"/services/{created['id']}").json()["name"] == "survivor"
        assert second.get(f"/services/{created['id']}/env-vars/A").json() == {"key": "A", "value": "1"}
        assert second.get(f"/env-groups/{group['id']}").json()["name"] == "g"
    finally:
        stop_sim(second)
