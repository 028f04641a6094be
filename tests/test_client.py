"""The Render API client over real HTTP against the simulator: every resource renderer manages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from renderer.apply import DeployRecord, wait_for_deploys
from renderer.render_api.client import RenderClient, Settings, current_client_options
from renderer.render_api.errors import BadRequest, Conflict, Gone, NotFound, PaymentRequired
from tests.conftest import Sim

T = TypeVar("T")


def settings(sim: Sim) -> Settings:
    return Settings(base_url=sim.api_url, api_key=sim.api_key, owner_id=sim.owner_id)


def run_with(sim: Sim, scenario: Callable[[RenderClient], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        async with RenderClient(settings(sim), **options) as client:
            return await scenario(client)

    return asyncio.run(main())


def worker(sim: Sim, name: str, kind: str = "background_worker") -> dict[str, Any]:
    return {"type": kind, "name": name, "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "node", "envSpecificDetails": {"buildCommand": "npm ci",
                                                                           "startCommand": "node w.js"}}}


def test_lists_follow_cursor_past_one_page(sim: Sim) -> None:
    sim.admin("/_sim/seed", {"services": 230, "envVarsPerService": 130})
    before = sim.exchanges()

    async def scenario(client: RenderClient) -> tuple[int, int]:
        services = await client.list_services()
        env = await client.list_env_vars(services[0]["id"])
        return len(services), len(env)

    assert run_with(sim, scenario) == (230, 130)
    entries = [json.loads(line) for line in sim.record.read_text().splitlines()[before:]]
    pages = [e["query"] for e in entries if e["path"] == "/v1/services"]
    assert len(pages) == 3 and all("limit=100" in q and "includePreviews=false" in q for q in pages)
    assert sum(1 for e in entries if e["path"].endswith("/env-vars")) == 2


def test_env_groups_list_is_a_bare_array_paged_by_id(sim: Sim) -> None:
    sim.admin("/_sim/seed", {"envGroups": 150})

    async def scenario(client: RenderClient) -> list[dict[str, Any]]:
        return await client.list_env_groups()

    groups = run_with(sim, scenario)
    assert len(groups) == 150 and len({g["id"] for g in groups}) == 150
    assert all(g["id"].startswith("evg-") for g in groups)


def test_errors_carry_status_message_and_request_id(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> None:
        await client.create_service(worker(sim, "dup"))
        with pytest.raises(Conflict) as conflict:
            await client.create_service(worker(sim, "dup"))
        assert conflict.value.status == 409
        assert "already exists" in conflict.value.api_message
        assert conflict.value.request_id and conflict.value.request_id.startswith("req-")
        with pytest.raises(NotFound):
            await client.get_service("srv-00000000000000000000")
        assert await client.find_service("srv-00000000000000000000") is None

    run_with(sim, scenario)


@pytest.mark.sends_invalid_requests
def test_bad_request_message_reaches_the_caller(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> None:
        with pytest.raises(BadRequest) as bad:
            await client.create_postgres({"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb"})
        assert "'version' is a required property" in bad.value.api_message

    run_with(sim, scenario)
    assert sim.admin_get("/_sim/stats")["endpoints"]["POST /v1/postgres"] == {"400": 1}  # not retried


def test_services_of_every_type_through_their_lifecycle(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> dict[str, Any]:
        kinds = ["web_service", "private_service", "background_worker"]
        created = {k: await client.create_service(worker(sim, k.replace("_", "-"), k)) for k in kinds}
        cron = worker(sim, "cron", "cron_job")
        cron["serviceDetails"]["schedule"] = "*/5 * * * *"
        created["cron_job"] = await client.create_service(cron)
        created["static_site"] = await client.create_service(
            {"type": "static_site", "name": "site", "ownerId": sim.owner_id, "serviceDetails": {"publishPath": "out"}})
        web = created["web_service"]["service"]["id"]
        updated = await client.update_service(web, {"serviceDetails": {"healthCheckPath": "/health"},
                                                    "autoDeployTrigger": "off"})
        await client.suspend_service(web)
        suspended = await client.get_service(web)
        await client.resume_service(web)
        resumed = await client.get_service(web)
        await client.scale_service(web, 3)
        scaled = await client.get_service(web)
        autoscaling = {"enabled": True, "min": 1, "max": 4, "criteria": {
            "cpu": {"enabled": True, "percentage": 70}, "memory": {"enabled": False, "percentage": 80}}}
        echoed = await client.update_autoscaling(web, autoscaling)
        await client.delete_autoscaling(web)
        found = await client.find_service_by_name("site", "static_site")
        wrong_type = await client.find_service_by_name("site", "web_service")
        workers = await client.list_services(types=["background_worker", "cron_job"])
        await client.delete_service(created["cron_job"]["service"]["id"])
        return {"created": created, "updated": updated, "suspended": suspended, "resumed": resumed,
                "scaled": scaled, "echoed": echoed, "found": found, "wrong_type": wrong_type,
                "workers": workers, "autoscaling": autoscaling, "left": await client.list_services()}

    r = run_with(sim, scenario)
    assert {k: v["service"]["type"] for k, v in r["created"].items()} == {k: k for k in r["created"]}
    assert all(v["deployId"].startswith("dep-") for v in r["created"].values())
    assert r["updated"]["serviceDetails"]["healthCheckPath"] == "/health"
    assert (r["updated"]["autoDeploy"], r["updated"]["autoDeployTrigger"]) == ("no", "off")
    assert (r["suspended"]["suspended"], r["suspended"]["suspenders"]) == ("suspended", ["user"])
    assert r["resumed"]["suspended"] == "not_suspended"
    assert r["scaled"]["serviceDetails"]["numInstances"] == 3
    assert r["echoed"] == r["autoscaling"]
    assert r["found"]["id"] == r["created"]["static_site"]["service"]["id"] and r["wrong_type"] is None
    assert sorted(s["type"] for s in r["workers"]) == ["background_worker", "cron_job"]
    assert len(r["left"]) == 4


def test_env_vars_and_secret_files_one_at_a_time(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> dict[str, Any]:
        sid = (await client.create_service(worker(sim, "w")))["service"]["id"]
        await client.put_env_var(sid, "PLAIN", value="1")
        generated = await client.put_env_var(sid, "SECRET", generate=True)
        await client.put_env_var(sid, "PLAIN", value="2")
        await client.delete_env_var(sid, "SECRET")
        await client.put_secret_file(sid, ".npmrc", "token=abc")
        await client.put_secret_file(sid, "key.pem", "-----BEGIN-----")
        await client.delete_secret_file(sid, "key.pem")
        return {"env": await client.list_env_vars(sid), "one": await client.get_env_var(sid, "PLAIN"),
                "generated": generated, "files": await client.list_secret_files(sid),
                "file": await client.get_secret_file(sid, ".npmrc")}

    r = run_with(sim, scenario)
    assert r["env"] == [{"key": "PLAIN", "value": "2"}] and r["one"] == {"key": "PLAIN", "value": "2"}
    assert len(r["generated"]["value"]) == 32
    assert r["files"] == [{"name": ".npmrc", "content": "token=abc"}] and r["file"]["content"] == "token=abc"
    endpoints = sim.admin_get("/_sim/stats")["endpoints"]
    assert "PUT /v1/services/{serviceId}/env-vars" not in endpoints  # never the replace-all PUT
    assert endpoints["PUT /v1/services/{serviceId}/env-vars/{envVarKey}"] == {"200": 3}


def test_deploys_trigger_list_retrieve_and_wait(sim: Sim) -> None:
    """Deploys are followed with apply's one deploy-waiting routine (`renderer.apply.wait_for_deploys`)."""

    async def wait(client: RenderClient, sid: str, deploy_id: str) -> dict[str, Any]:
        record = DeployRecord("acme", "background_worker.w", sid, deploy_id)
        failed = await wait_for_deploys(client, [record], emit=lambda _: None)
        assert failed == ([record] if record.status != "live" else [])
        return {"status": record.status}

    async def scenario(client: RenderClient) -> dict[str, Any]:
        created = await client.create_service(worker(sim, "w"))
        sid = created["service"]["id"]
        first = await wait(client, sid, created["deployId"])
        sim.admin("/_sim/deploy-outcomes", {"outcome": "build_failed", "serviceId": sid})
        failing = await client.trigger_deploy(sid, clear_cache=True)
        assert failing is not None
        failed = await wait(client, sid, failing["id"])
        running = await client.trigger_deploy(sid)
        assert running is not None
        canceled = await client.cancel_deploy(sid, running["id"])
        return {"first": first, "failed": failed, "canceled": canceled, "listed": await client.list_deploys(sid),
                "one": await client.get_deploy(sid, failing["id"])}

    r = run_with(sim, scenario)
    assert r["first"]["status"] == "live"
    assert r["failed"]["status"] == "build_failed" and r["one"]["status"] == "build_failed"
    assert r["canceled"]["status"] == "canceled"
    assert [d["status"] for d in r["listed"]] == ["canceled", "build_failed", "live"]


def test_custom_domains_disks_postgres_key_value(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> dict[str, Any]:
        web = (await client.create_service(worker(sim, "web", "web_service")))["service"]["id"]
        domains = await client.add_custom_domain(web, "www.acme.example")
        await client.verify_custom_domain(web, "www.acme.example")
        one = await client.get_custom_domain(web, "www.acme.example")
        await client.delete_custom_domain(web, "acme.example")
        disk = await client.create_disk(web, "data", 5, "/var/data")
        grown = await client.update_disk(disk["id"], {"sizeGB": 8})
        disks = await client.list_disks(service_id=web)
        await client.delete_disk(disk["id"])
        pg = await client.create_postgres({"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                           "version": "16"})
        info = await client.postgres_connection_info(pg["id"])
        await client.create_postgres_export(pg["id"])
        exports = await client.list_postgres_exports(pg["id"])
        await client.suspend_postgres(pg["id"])
        suspended_pg = await client.get_postgres(pg["id"])
        await client.resume_postgres(pg["id"])
        kv = await client.create_key_value({"name": "cache", "ownerId": sim.owner_id, "plan": "free"})
        kv_info = await client.key_value_connection_info(kv["id"])
        kv_updated = await client.update_key_value(kv["id"], {"maxmemoryPolicy": "noeviction"})
        await client.suspend_key_value(kv["id"])
        await client.resume_key_value(kv["id"])
        listed = (await client.list_postgres(name="db"), await client.list_key_value(name="cache"))
        await client.delete_key_value(kv["id"])
        return {"domains": domains, "one": one, "left": await client.list_custom_domains(web), "disk": disk,
                "grown": grown, "disks": disks, "gone": await client.find_disk(disk["id"]), "pg": pg, "info": info,
                "exports": exports, "suspended_pg": suspended_pg, "kv": kv, "kv_info": kv_info,
                "kv_updated": kv_updated, "listed": listed, "kv_gone": await client.find_key_value(kv["id"])}

    r = run_with(sim, scenario)
    assert [d["name"] for d in r["domains"]] == ["www.acme.example", "acme.example"]
    assert r["one"]["verificationStatus"] == "verified"
    assert [d["name"] for d in r["left"]] == ["www.acme.example"]
    assert r["disk"]["id"].startswith("dsk-") and r["grown"]["sizeGB"] == 8
    assert [d["id"] for d in r["disks"]] == [r["disk"]["id"]] and r["gone"] is None
    assert r["info"]["internalConnectionString"].startswith("postgresql://")
    assert len(r["exports"]) == 1 and r["exports"][0]["id"].startswith("exp-")
    assert r["suspended_pg"]["status"] == "suspended"
    assert r["kv"]["id"].startswith("red-") and r["kv_info"]["internalConnectionString"] == f"redis://{r['kv']['id']}:6379"
    assert r["kv_updated"]["options"]["maxmemoryPolicy"] == "noeviction"
    assert [x["id"] for x in r["listed"][0]] == [r["pg"]["id"]] and [x["id"] for x in r["listed"][1]] == [r["kv"]["id"]]
    assert r["kv_gone"] is None


def test_env_groups_vars_files_and_links(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> dict[str, Any]:
        sid = (await client.create_service(worker(sim, "w")))["service"]["id"]
        group = await client.create_env_group({"name": "shared", "ownerId": sim.owner_id,
                                               "envVars": [{"key": "A", "value": "1"}]})
        linked = await client.link_env_group(group["id"], sid)
        with_var = await client.put_env_group_env_var(group["id"], "B", value="2")
        await client.put_env_group_env_var(group["id"], "TOKEN", generate=True)
        await client.delete_env_group_env_var(group["id"], "A")
        one = await client.get_env_group_env_var(group["id"], "B")
        await client.put_env_group_secret_file(group["id"], "cert.pem", "PEM")
        file = await client.get_env_group_secret_file(group["id"], "cert.pem")
        await client.delete_env_group_secret_file(group["id"], "cert.pem")
        renamed = await client.update_env_group(group["id"], "shared-2")
        await client.unlink_env_group(group["id"], sid)
        final = await client.get_env_group(group["id"])
        await client.delete_env_group(group["id"])
        return {"linked": linked, "with_var": with_var, "one": one, "file": file, "renamed": renamed,
                "final": final, "gone": await client.find_env_group(group["id"])}

    r = run_with(sim, scenario)
    assert [link["type"] for link in r["linked"]["serviceLinks"]] == ["worker"]
    assert [e["key"] for e in r["with_var"]["envVars"]] == ["B", "A"]  # newest first, as Render answers
    assert r["one"] == {"key": "B", "value": "2"} and r["file"] == {"name": "cert.pem", "content": "PEM"}
    assert r["renamed"]["name"] == "shared-2"
    assert [e["key"] for e in r["final"]["envVars"]] == ["TOKEN", "B"]
    assert r["final"]["serviceLinks"] == [] and r["final"]["secretFiles"] == []
    assert r["gone"] is None


def test_owners_and_user(sim: Sim) -> None:
    async def scenario(client: RenderClient) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        return await client.list_owners(), await client.get_owner(sim.owner_id), await client.get_user()

    owners, owner, user = run_with(sim, scenario)
    assert [o["id"] for o in owners] == [sim.owner_id] and owner["type"] == "team"
    assert user["email"] == "sim@example.com"


def test_payment_required_is_its_own_error(sim: Sim) -> None:
    sim.admin("/_sim/workspace", {"paymentDetails": False})

    async def scenario(client: RenderClient) -> None:
        with pytest.raises(PaymentRequired) as refused:
            await client.create_service(worker(sim, "w"))
        assert refused.value.status == 402
        assert "the workspace needs payment details" in str(refused.value)

    run_with(sim, scenario)


def test_gone_is_a_not_found() -> None:
    assert issubclass(Gone, NotFound)


class InFlight(httpx.AsyncBaseTransport):
    """Counts requests in flight around the transport the test session gives clients."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        factory = current_client_options().transport_factory
        assert inner is not None or factory is not None
        self.inner = inner or factory()  # type: ignore[misc]
        self.now = self.max = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.now += 1
        self.max = max(self.max, self.now)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.now -= 1


def test_parallelism_bounds_requests_in_flight(sim: Sim) -> None:
    sim.admin("/_sim/seed", {"services": 12, "envVarsPerService": 1})
    sim.admin("/_sim/faults", {"latencyMs": 50})
    counter = InFlight()

    async def scenario(client: RenderClient) -> None:
        services = await client.list_services()
        await asyncio.gather(*(client.list_env_vars(s["id"]) for s in services))

    run_with(sim, scenario, transport=counter, parallelism=3)
    assert counter.max == 3


def test_debug_log_has_method_path_status_request_id_and_no_secrets(sim: Sim, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="renderer.render_api")

    async def scenario(client: RenderClient) -> str:
        sid = (await client.create_service(worker(sim, "w")))["service"]["id"]
        await client.put_env_var(sid, "DB_PASSWORD", value="hunter2-very-secret")
        await client.put_secret_file(sid, "id_rsa", "PRIVATE-KEY-MATERIAL")
        pg = await client.create_postgres({"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                           "version": "16"})
        info = await client.postgres_connection_info(pg["id"])
        return f"{sid}|{info['password']}"

    sid, password = run_with(sim, scenario).split("|")
    text = caplog.text
    for secret in ("hunter2-very-secret", "PRIVATE-KEY-MATERIAL", password, sim.api_key):
        assert secret not in text
    lines = [r.getMessage() for r in caplog.records]
    put = next(line for line in lines if line.startswith(f"PUT /services/{sid}/env-vars/DB_PASSWORD -> 200"))
    assert put.startswith(f"PUT /services/{sid}/env-vars/DB_PASSWORD -> 200 (request id req-")
    assert put.endswith(" ms)")
