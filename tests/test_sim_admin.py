"""The simulator's rate limits, fault injection and admin API, and the `renderer sim` commands for them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import Sim, run, start_sim, stop_sim
from tests.test_sim import worker_body


def put_env(http: httpx.Client, service_id: str, key: str) -> httpx.Response:
    return http.put(f"/services/{service_id}/env-vars/{key}", json={"value": "v"})


def test_rate_limit_headers_and_429(sim: Sim) -> None:
    with sim.http() as http:
        first = http.get("/owners")
        sid = http.post("/services", json=worker_body(sim, "w")).json()["service"]["id"]
        writes = [put_env(http, sid, f"K{i}") for i in range(101)]
        sim.admin("/_sim/clock/advance", {"seconds": 61})
        after_reset = put_env(http, sid, "LATE")
    assert first.headers["Ratelimit-Limit"] == "400"
    assert first.headers["Ratelimit-Remaining"] == "399"
    assert first.headers["Ratelimit-Reset"] == "60"
    assert [w.status_code for w in writes] == [200] * 100 + [429]  # Render's 100 writes a minute
    refused = writes[-1]
    assert refused.headers["Ratelimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Ratelimit-Reset"]) <= 60
    assert "rate limit exceeded" in refused.json()["message"]
    assert after_reset.status_code == 200 and after_reset.headers["Ratelimit-Remaining"] == "99"


def test_per_service_and_create_budgets(sim: Sim) -> None:
    with sim.http() as http:
        created = [http.post("/services", json=worker_body(sim, f"w{i}")) for i in range(21)]
        sid = created[0].json()["service"]["id"]
        deploys = [http.post(f"/services/{sid}/deploys", json={}) for _ in range(11)]
        other = http.post(f"/services/{created[1].json()['service']['id']}/deploys", json={})
    assert [c.status_code for c in created] == [201] * 20 + [429]
    assert created[0].headers["Ratelimit-Limit"] == "20"
    assert int(created[-1].headers["Ratelimit-Reset"]) > 3000  # an hour's window
    assert [d.status_code for d in deploys] == [201] * 10 + [429]
    assert other.status_code == 201  # 10 per minute per service


def test_rate_scale_and_off(sim: Sim) -> None:
    scaled = sim.admin("/_sim/rate-limits", {"scale": 2}).json()
    assert scaled["budgets"]["get"] == {"requests": 800, "windowSeconds": 60.0}
    assert sim.get("/owners").headers["Ratelimit-Limit"] == "800"
    assert sim.admin("/_sim/rate-limits", {"scale": "off"}).json() == {"scale": "off", "budgets": {}}
    assert "Ratelimit-Limit" not in sim.get("/owners").headers
    assert sim.admin("/_sim/rate-limits", {"scale": -1}).status_code == 400
    sim.admin("/_sim/reset")
    assert sim.get("/owners").headers["Ratelimit-Limit"] == "400"  # reset restores the start-up scale


def test_spend_counts_requests_against_a_budget_without_sending_them(sim: Sim) -> None:
    assert sim.admin("/_sim/rate-limits", {"spend": {"get": 398, "write": 100}}).status_code == 200
    with sim.http() as http:
        owners = [http.get("/owners") for _ in range(3)]
        write = http.put("/env-groups/evg-x/env-vars/K", json={"value": "v"})
    assert [o.status_code for o in owners] == [200, 200, 429]
    assert owners[1].headers["Ratelimit-Remaining"] == "0"
    assert write.status_code == 429
    assert sim.admin("/_sim/rate-limits", {"spend": {"service_action": 1}}).status_code == 400
    assert sim.admin("/_sim/rate-limits", {"spend": {"get": -1}}).status_code == 400


def test_fail_the_nth_matching_request(sim: Sim) -> None:
    rule = {"action": "status", "method": "POST", "path": "/v1/services", "nth": 2, "status": 500,
            "message": "boom"}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200
    with sim.http() as http:
        answers = [http.post("/services", json=worker_body(sim, f"w{i}")) for i in range(3)]
    assert [a.status_code for a in answers] == [201, 500, 201]
    assert answers[1].json()["message"] == "boom"
    assert len(sim.get("/services").json()) == 2  # the failed one changed nothing


def test_error_rate_is_seeded_and_repeats(sim: Sim) -> None:
    def statuses() -> list[int]:
        sim.admin("/_sim/faults", {"seed": 7, "rules": [
            {"action": "status", "status": 503, "probability": 0.3, "times": 0, "path": "/v1/owners"}]})
        with sim.http() as http:
            return [http.get("/owners").status_code for _ in range(40)]

    first = statuses()
    sim.admin("/_sim/reset")
    second = statuses()
    assert first == second
    assert 3 <= first.count(503) <= 25 and set(first) == {200, 503}


def test_429_burst_drop_lost_response_and_latency(sim: Sim) -> None:
    sim.admin("/_sim/faults", {"rules": [
        {"action": "rate_limit", "path": "/v1/owners", "times": 2, "retryAfter": 3},
        {"action": "drop", "path": "/v1/users"},
        {"action": "lose_response", "method": "POST", "path": "/v1/services"},
        {"action": "latency", "path": "/v1/owners/*", "latencyMs": 150},
    ]})
    with sim.http() as http:
        burst = [http.get("/owners") for _ in range(3)]
        try:
            http.get("/users")
            dropped = False
        except httpx.TransportError:
            dropped = True
        try:
            http.post("/services", json=worker_body(sim, "lost"))
            lost = False
        except httpx.TransportError:
            lost = True
        started = time.monotonic()
        slow = http.get(f"/owners/{sim.owner_id}")
        elapsed = time.monotonic() - started
    assert [b.status_code for b in burst] == [429, 429, 200]
    assert burst[0].headers["Retry-After"] == "3"
    assert dropped and lost
    assert [s["service"]["name"] for s in sim.get("/services").json()] == ["lost"]  # created, answer lost
    assert slow.status_code == 200 and elapsed >= 0.15
    stats = sim.admin_get("/_sim/stats")
    assert stats["endpoints"]["GET /v1/owners"] == {"200": 1, "429": 2}
    assert stats["endpoints"]["GET /v1/users"] == {"dropped": 1}
    assert stats["endpoints"]["POST /v1/services"] == {"lost": 1}


def test_bad_fault_rules_are_400(sim: Sim) -> None:
    for body in ({"rules": [{"action": "explode"}]}, {"rules": [{"action": "status", "nth": 0}]},
                 {"rules": [{"action": "drop", "colour": "red"}]}, {"latency": 5}):
        response = sim.admin("/_sim/faults", body)
        assert response.status_code == 400, body
        assert response.json()["message"]


def test_stats_count_per_endpoint_and_status_and_reset_clears(sim: Sim) -> None:
    sim.get("/services")
    sim.get("/services")
    sim.get("/services/srv-00000000000000000000")
    stats = sim.admin_get("/_sim/stats")
    assert stats["endpoints"] == {"GET /v1/services": {"200": 2}, "GET /v1/services/{serviceId}": {"404": 1}}
    assert stats["total"] == 3 and stats["byStatus"] == {"200": 2, "404": 1}
    sim.admin("/_sim/faults", {"latencyMs": 5})
    sim.admin("/_sim/reset")
    assert sim.admin_get("/_sim/stats")["total"] == 0
    assert sim.admin_get("/_sim/faults") == {"latencyMs": 0.0, "seed": 0, "rules": []}


def test_seed_creates_thousands_directly(sim: Sim) -> None:
    started = time.monotonic()
    seeded = sim.admin("/_sim/seed", {"services": 2000, "envVarsPerService": 3, "postgres": 2, "keyValue": 1,
                                      "envGroups": 120}).json()
    assert seeded == {"created": {"services": 2000, "postgres": 2, "keyValue": 1, "envGroups": 120},
                      "envVars": 6000}
    assert time.monotonic() - started < 30
    with sim.http() as http:
        page = http.get("/services", params={"limit": 100}).json()
        groups = http.get("/env-groups", params={"limit": 100}).json()
        rest = http.get("/env-groups", params={"limit": 100, "cursor": groups[-1]["id"]}).json()
        env = http.get(f"/services/{page[0]['service']['id']}/env-vars").json()
    assert len(page) == 100 and len(groups) == 100 and len(rest) == 20
    assert [e["envVar"]["key"] for e in env] == ["SEED_VAR_2", "SEED_VAR_1", "SEED_VAR_0"]  # newest first
    assert sim.admin_get("/_sim/stats")["total"] == 4  # seeding made no API requests


def test_seed_puts_resources_in_projects_environments(sim: Sim) -> None:
    isolated = {"name": "production", "networkIsolationEnabled": True, "protectedStatus": "unprotected"}
    seeded = sim.admin("/_sim/seed", {"projects": [{"name": "bench-a", "environments": [isolated]},
                                                   {"name": "bench-b", "environments": [isolated]}]}).json()
    assert [p["name"] for p in seeded["projects"]] == ["bench-a", "bench-b"]
    assert seeded["created"]["projects"] == 2
    envs = [p["environments"][0]["id"] for p in seeded["projects"]]
    sim.admin("/_sim/seed", {"type": "background_worker", "envVarsPerService": 1, "autoDeployTrigger": "off",
                             "serviceNames": ["worker-a", "worker-b"], "serviceEnvironments": envs,
                             "postgresNames": ["db-a", "db-b"], "postgresEnvironments": envs})
    unknown = sim.admin("/_sim/seed", {"serviceNames": ["web-c"], "serviceEnvironments": ["evm-nope"]})
    mismatched = sim.admin("/_sim/seed", {"serviceNames": ["web-c", "web-d"], "serviceEnvironments": envs[:1]})
    with sim.http() as http:
        project = http.get(f"/projects/{seeded['projects'][0]['id']}").json()
        environment = http.get(f"/environments/{envs[0]}").json()
        workers = http.get("/services", params={"environmentId": envs[1]}).json()
        databases = http.get("/postgres", params={"environmentId": envs[0]}).json()
        services = http.get("/services", params={"limit": 100}).json()
    assert project["name"] == "bench-a" and project["environmentIds"] == [envs[0]]
    assert environment["name"] == "production" and environment["networkIsolationEnabled"] is True
    assert environment["protectedStatus"] == "unprotected" and environment["projectId"] == project["id"]
    assert len(environment["serviceIds"]) == 1 and len(environment["databasesIds"]) == 1
    assert [(w["service"]["name"], w["service"]["environmentId"]) for w in workers] == [("worker-b", envs[1])]
    assert (workers[0]["service"]["autoDeploy"], workers[0]["service"]["autoDeployTrigger"]) == ("no", "off")
    assert [(d["postgres"]["name"], d["postgres"]["environmentId"]) for d in databases] == [("db-a", envs[0])]
    assert unknown.status_code == 400 and "evm-nope" in unknown.text
    assert mismatched.status_code == 400
    assert len(services) == 2  # the refused seeds made nothing


def test_serve_flags(tmp_path: Path) -> None:
    flags = ["--rate-scale", "off", "--seed-services", "3", "--seed-env-vars", "2", "--latency-ms", "1",
             "--fail", "POST /v1/postgres 1 503", "--lose-create-response", "2", "--deploy-outcome", "build_failed"]
    sim = start_sim(tmp_path, extra=flags)
    try:
        faults = sim.admin_get("/_sim/faults")
        assert faults["latencyMs"] == 1.0
        assert [(r["action"], r["method"], r["path"], r["nth"]) for r in faults["rules"]] == [
            ("lose_response", "POST", "/v1/services", 2), ("status", "POST", "/v1/postgres", 1)]
        assert sim.admin_get("/_sim/rate-limits") == {"scale": "off", "budgets": {}}
        services = sim.get("/services").json()
        assert len(services) == 3
        sid = services[0]["service"]["id"]
        assert len(sim.get(f"/services/{sid}/env-vars").json()) == 2
        with sim.http() as http:
            deploy = http.post(f"/services/{sid}/deploys", json={}).json()
        sim.admin("/_sim/clock/advance", {"seconds": 60})
        assert sim.get(f"/services/{sid}/deploys/{deploy['id']}").json()["status"] == "build_failed"
    finally:
        stop_sim(sim)
    assert run("sim", "serve", "--state", str(tmp_path / "x.json"), "--rate-scale", "fast").code == 1
    assert run("sim", "serve", "--state", str(tmp_path / "x.json"), "--fail", "POST 2").code == 1


def test_admin_commands_drive_a_running_simulator(sim: Sim) -> None:
    url = ["--url", sim.url, "--api-key", sim.api_key]
    assert run("sim", "seed", "--services", "5", "--env-vars", "1", *url).code == 0
    assert len(sim.get("/services").json()) == 5
    faulted = run("sim", "fault", "--fail", "GET /v1/owners 1 503", "--latency-ms", "2", *url)
    assert faulted.code == 0 and '"latencyMs": 2.0' in faulted.out
    assert sim.get("/owners").status_code == 503
    stats = run("sim", "stats", *url)
    assert stats.code == 0 and '"GET /v1/owners": {\n      "503": 1\n    }' in stats.out
    assert run("sim", "rate-limits", "3", *url).code == 0
    assert sim.get("/owners").headers["Ratelimit-Limit"] == "1200"
    assert run("sim", "advance", "90", *url).code == 0
    assert sim.admin_get("/_sim/clock")["offset"] == 90.0
    assert run("sim", "deploy-outcome", "canceled", "--count", "2", *url).code == 0
    assert run("sim", "workspace", "--no-payment-details", *url).code == 0
    assert run("sim", "fault", "--clear", *url).code == 0
    assert sim.admin_get("/_sim/faults")["rules"] == []
    assert run("sim", "reset", *url).code == 0
    assert sim.get("/services").json() == []
    unreachable = run("sim", "stats", "--url", "http://127.0.0.1:9")
    assert unreachable.code == 1 and "no answer from the simulator at http://127.0.0.1:9" in unreachable.err
