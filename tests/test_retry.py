"""Every retry path of the client, against faults injected into the simulator, and the client-side
limiter keeping under Render's limits (all waits on the simulator clock, none in real time)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderer.render_api.client import RenderClient, client_options, current_client_options
from renderer.render_api.errors import RateLimited, ServerError
from renderer.render_api.limits import Bucket, Budget, RateLimits
from renderer.render_api.retry import RetryPolicy
from tests.conftest import Sim, SimClock, run
from tests.test_client import InFlight, run_with, settings, worker


def stats(sim: Sim, endpoint: str) -> dict[str, int]:
    counts: dict[str, int] = sim.admin_get("/_sim/stats")["endpoints"].get(endpoint, {})
    return counts


def fault(sim: Sim, **rule: Any) -> None:
    response = sim.admin("/_sim/faults", {"rules": [rule]})
    assert response.status_code == 200, response.text


def test_429_burst_is_waited_out(sim: Sim, client_seam: SimClock) -> None:
    fault(sim, action="rate_limit", method="GET", path="/v1/services", times=3, retryAfter=2)

    async def scenario(client: RenderClient) -> list[dict[str, Any]]:
        return await client.list_services()

    assert run_with(sim, scenario) == []
    assert stats(sim, "GET /v1/services") == {"200": 1, "429": 3}
    assert client_seam.slept == [2.0, 2.0, 2.0]


def test_429_without_retry_after_waits_for_ratelimit_reset(sim: Sim, client_seam: SimClock) -> None:
    sim.admin("/_sim/rate-limits", {"scale": 0.01})  # GET: 4 per minute

    async def scenario(client: RenderClient) -> None:
        for _ in range(6):
            await client.list_owners()

    run_with(sim, scenario, rate_limits=RateLimits.off())
    assert stats(sim, "GET /v1/owners") == {"200": 6, "429": 1}
    assert len(client_seam.slept) == 1 and 55 <= client_seam.slept[0] <= 60  # the window's Ratelimit-Reset


def test_limiter_follows_headers_and_meets_no_429(sim: Sim, client_seam: SimClock) -> None:
    sim.admin("/_sim/rate-limits", {"scale": 0.01})  # Render says 4 GETs per minute; the client thinks 400

    async def scenario(client: RenderClient) -> None:
        for _ in range(10):
            await client.list_owners()

    run_with(sim, scenario, parallelism=1)
    assert stats(sim, "GET /v1/owners") == {"200": 10}
    assert len(client_seam.slept) == 2  # two waits for a new window, no retry


def test_limiter_keeps_render_budget_without_429(sim: Sim, client_seam: SimClock) -> None:
    async def scenario(client: RenderClient) -> None:
        sid = (await client.create_service(worker(sim, "w")))["service"]["id"]
        await asyncio.gather(*(client.put_env_var(sid, f"KEY_{i}", value=str(i)) for i in range(115)))

    run_with(sim, scenario)  # Render's write budget: 100 a minute
    assert stats(sim, "PUT /v1/services/{serviceId}/env-vars/{envVarKey}") == {"200": 115}
    # Waits for the next window only. (Simulated time can jump while granted requests still queue for a
    # parallelism slot; they are then granted again in the new window, so a run may take more windows
    # than it would in real time. Never a 429.)
    assert client_seam.slept and all(59 <= s <= 61 for s in client_seam.slept)


def test_writes_spent_elsewhere_slow_the_client_down(sim: Sim, client_seam: SimClock) -> None:
    with sim.http() as http:
        sid = http.post("/services", json=worker(sim, "w")).json()["service"]["id"]
        for i in range(95):  # of Render's 100 writes a minute
            assert http.put(f"/services/{sid}/env-vars/OTHER_{i}", json={"value": "x"}).status_code == 200

    async def scenario(client: RenderClient) -> None:
        for i in range(10):
            await client.put_env_var(sid, f"MINE_{i}", value="y")

    run_with(sim, scenario, parallelism=1)
    assert stats(sim, "PUT /v1/services/{serviceId}/env-vars/{envVarKey}") == {"200": 105}
    assert len(client_seam.slept) == 1


def test_429_still_failing_after_every_attempt_is_raised(sim: Sim) -> None:
    fault(sim, action="rate_limit", method="GET", path="/v1/owners", times=0, retryAfter=1)

    async def scenario(client: RenderClient) -> None:
        with pytest.raises(RateLimited) as error:
            await client.list_owners()
        assert error.value.retry_after == 1.0

    run_with(sim, scenario, retry=RetryPolicy(attempts=3))
    assert stats(sim, "GET /v1/owners") == {"429": 3}


def test_503_on_get_is_retried(sim: Sim, client_seam: SimClock) -> None:
    fault(sim, action="status", status=503, method="GET", path="/v1/services", times=2)

    async def scenario(client: RenderClient) -> list[dict[str, Any]]:
        return await client.list_services()

    assert run_with(sim, scenario) == []
    assert stats(sim, "GET /v1/services") == {"200": 1, "503": 2}
    first, second = client_seam.slept
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 1.5  # exponential backoff with jitter


def test_dropped_connection_on_get_is_retried(sim: Sim) -> None:
    fault(sim, action="drop", method="GET", path="/v1/owners")

    async def scenario(client: RenderClient) -> int:
        return len(await client.list_owners())

    assert run_with(sim, scenario) == 1
    assert stats(sim, "GET /v1/owners") == {"200": 1, "dropped": 1}


def test_5xx_on_a_deploy_trigger_is_not_retried(sim: Sim) -> None:
    fault(sim, action="status", status=503, method="POST", path="/v1/services/*/deploys")

    async def scenario(client: RenderClient) -> None:
        sid = (await client.create_service(worker(sim, "w")))["service"]["id"]
        with pytest.raises(ServerError) as error:
            await client.trigger_deploy(sid)
        assert error.value.status == 503

    run_with(sim, scenario)
    assert stats(sim, "POST /v1/services/{serviceId}/deploys") == {"503": 1}


def test_lost_create_leads_to_exactly_one_service(sim: Sim) -> None:
    fault(sim, action="lose_response", method="POST", path="/v1/services")

    async def scenario(client: RenderClient) -> dict[str, Any]:
        return await client.create_service(worker(sim, "only-one"))

    created = run_with(sim, scenario)
    live = sim.get("/services").json()
    assert [s["service"]["id"] for s in live] == [created["service"]["id"]]
    assert created["deployId"] == sim.get(f"/services/{created['service']['id']}/deploys").json()[0]["deploy"]["id"]
    assert stats(sim, "POST /v1/services") == {"lost": 1}  # found by owner, type and name: never re-sent
    lookups = [json.loads(line) for line in sim.record.read_text().splitlines()]
    assert any(e["path"] == "/v1/services" and e["method"] == "GET" and "name=only-one" in e["query"]
               and "type=background_worker" in e["query"] and f"ownerId={sim.owner_id}" in e["query"]
               and "includePreviews=false" in e["query"] for e in lookups)


def test_create_refused_with_500_is_looked_up_then_sent_again(sim: Sim) -> None:
    fault(sim, action="status", status=500, method="POST", path="/v1/services")

    async def scenario(client: RenderClient) -> dict[str, Any]:
        return await client.create_service(worker(sim, "w"))

    created = run_with(sim, scenario)
    assert [s["service"]["id"] for s in sim.get("/services").json()] == [created["service"]["id"]]
    assert stats(sim, "POST /v1/services") == {"201": 1, "500": 1}


def test_lost_postgres_create_is_found_by_name(sim: Sim) -> None:
    fault(sim, action="lose_response", method="POST", path="/v1/postgres")

    async def scenario(client: RenderClient) -> dict[str, Any]:
        return await client.create_postgres({"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                             "version": "16"})

    created = run_with(sim, scenario)
    assert [p["postgres"]["id"] for p in sim.get("/postgres").json()] == [created["id"]]
    # The create's answer as Render gives it (postgres_resource__postgres: no `project`), suffixed name.
    assert "project" not in created and created["databaseName"].startswith("db_")


def test_lost_create_during_apply_makes_exactly_one_service(sim: Sim, project: Path) -> None:
    fault(sim, action="lose_response", method="POST", path="/v1/services", nth=2)
    result = run("apply", "--auto-approve")
    assert result.code == 0, result.output
    names = [s["service"]["name"] for s in sim.get("/services", limit=100).json()]
    assert len(names) == 6 and len(set(names)) == 6
    lock = json.loads((project / "render.lock.json").read_text())
    locked = {r["id"] for t in lock["tenants"].values() for r in t["resources"].values()
              if r["kind"] not in ("project", "environment")}
    live = {s["service"]["id"] for s in sim.get("/services", limit=100).json()} | {
        p["postgres"]["id"] for p in sim.get("/postgres", limit=100).json()}
    assert locked == live
    assert stats(sim, "POST /v1/services") == {"201": 5, "lost": 1}


def test_400_is_not_retried_and_its_message_reaches_the_user(sim: Sim, project: Path) -> None:
    message = "serviceDetails.plan: this instance type is not offered in the frankfurt region"
    fault(sim, action="status", status=400, method="POST", path="/v1/services", message=message)
    result = run("apply", "--auto-approve", "--tenant-parallelism", "1")  # one create in all
    assert result.code == 1
    assert f"Render API 400 on POST /services: {message} (request id req-" in result.err
    assert "Traceback" not in result.output
    assert stats(sim, "POST /v1/services") == {"400": 1}


def test_402_says_the_workspace_needs_payment_details(sim: Sim, project: Path) -> None:
    fault(sim, action="status", status=402, method="POST", path="/v1/services",
          message="You must enter payment information to perform this request.")
    result = run("apply", "--auto-approve", "--tenant-parallelism", "1")  # one create in all
    assert result.code == 1
    assert ("Render API 402 on POST /services: You must enter payment information to perform this request. "
            "(the workspace needs payment details)") in result.err
    assert "hint: the workspace needs payment details for this: add a payment method" in result.err
    assert stats(sim, "POST /v1/services") == {"402": 1}


def test_service_create_budget_is_exposed(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> tuple[int, int, float, float]:
        fresh = client.service_create_budget()
        assert fresh is not None and fresh.remaining == 20 and fresh.resets_in == 0
        for i in range(2):
            await client.create_service(worker(sim, f"w{i}"))
        state = client.service_create_budget()
        assert state is not None
        return state.limit, state.remaining, state.window, state.resets_in

    limit, remaining, window, resets_in = run_with(sim, scenario)
    assert (limit, remaining, window) == (20, 18, 3600.0)
    assert 3590 < resets_in <= 3601


def test_rate_limits_from_the_environment_and_the_command_line(sim: Sim, project: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 client_seam: SimClock) -> None:
    monkeypatch.setenv("RENDERER_RATE_LIMITS", "get=4/1m")
    assert settings(sim).rate_limits.budget(Bucket.GET) == Budget(400, 60.0)  # Settings() alone: Render's
    from renderer.render_api.client import Settings

    assert Settings.from_env().rate_limits.budget(Bucket.GET) == Budget(4, 60.0)
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.output
    assert any(55 <= s <= 61 for s in client_seam.slept)  # the client built by the CLI waited for a window
    monkeypatch.setenv("RENDERER_RATE_LIMITS", "get=lots")
    bad = run("plan")
    assert bad.code == 1 and "RENDERER_RATE_LIMITS: cannot read 'get=lots'" in bad.err
    assert "hint: use `off`, `scale=N`" in bad.err
    monkeypatch.delenv("RENDERER_RATE_LIMITS")
    flag = run("--rate-limits", "nonsense", "plan")
    assert flag.code == 1 and "--rate-limits: cannot read 'nonsense'" in flag.err
    assert run("--parallelism", "0", "plan").code == 1
    monkeypatch.setenv("RENDERER_PARALLELISM", "many")
    assert "RENDERER_PARALLELISM must be a whole number" in run("plan").err


def test_parallelism_flag_reaches_the_client_the_cli_builds(sim: Sim, project: Path) -> None:
    assert run("apply", "--auto-approve").code == 0
    counter: dict[str, Any] = {}
    checked = current_client_options().transport_factory
    assert checked is not None

    def counting_transport() -> httpx.AsyncBaseTransport:
        counter["transport"] = InFlight(checked())
        return counter["transport"]

    with client_options(transport_factory=counting_transport):
        sim.admin("/_sim/faults", {"latencyMs": 30})
        assert run("--parallelism", "2", "plan").code == 0
    assert counter["transport"].max == 2


def test_a_paid_postgres_without_payment_details_gets_the_payment_hint(sim: Sim, project: Path) -> None:
    sim.admin("/_sim/workspace", {"paymentDetails": False})
    result = run("apply", "--auto-approve", "--tenant", "globex")
    assert result.code == 1
    assert "Render API 400 on POST /postgres: You must enter payment information" in result.err
    assert "hint: the workspace needs payment details for this: add a payment method" in result.err
    assert "Traceback" not in result.output
