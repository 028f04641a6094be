"""The contract checker itself: oneOf branches chosen by type and runtime, real mistakes still caught."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from openapi_schema_validator import OAS30Validator

from renderer.contract import Contract
from tests.conftest import OPENAPI, ContractLedger, ContractTransport, Sim


def web_service(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "id": "srv-0123456789abcdefghij", "name": "web", "ownerId": "tea-0123456789abcdefghij",
        "type": "web_service", "createdAt": "2026-11-30T00:00:00.000000Z", "updatedAt": "2026-11-30T00:00:00.000000Z",
        "dashboardUrl": "https://dashboard.render.com/web/srv-0123456789abcdefghij", "suspended": "not_suspended",
        "suspenders": [], "autoDeploy": "yes", "notifyOnFail": "default", "slug": "web", "rootDir": "",
        "serviceDetails": {
            "env": "python", "runtime": "python", "plan": "starter", "region": "oregon", "numInstances": 1,
            "buildPlan": "starter", "healthCheckPath": "", "openPorts": [{"port": 10000, "protocol": "TCP"}],
            "url": "https://web.onrender.com",
            "envSpecificDetails": {"buildCommand": "make", "startCommand": "run"},
        },
    }
    service.update(overrides)
    return service


def test_plain_oneof_rejects_a_real_web_service_but_narrowing_accepts_it(contract: Contract) -> None:
    document = json.loads(OPENAPI.read_text())
    plain = OAS30Validator({**document, "$ref": "#/components/schemas/service"})
    assert any("oneOf" in e.message or e.validator == "oneOf" for e in plain.iter_errors(web_service()))
    assert contract.validate_response("GET", "/v1/services/srv-x", 200, web_service()) == []


def test_branch_chosen_by_type_reports_that_branch(contract: Contract) -> None:
    broken = web_service()
    del broken["serviceDetails"]["healthCheckPath"]
    problems = contract.validate_response("GET", "/v1/services/srv-x", 200, broken)
    assert problems == ["serviceDetails: 'healthCheckPath' is a required property"]


def test_env_specific_details_by_runtime(contract: Contract) -> None:
    docker = web_service()
    docker["serviceDetails"].update(runtime="docker", env="docker")
    problems = contract.validate_response("GET", "/v1/services/srv-x", 200, docker)
    assert "serviceDetails/envSpecificDetails: 'dockerCommand' is a required property" in problems


def test_lists_narrow_each_item(contract: Contract) -> None:
    worker = web_service(type="background_worker")
    for key in ("healthCheckPath", "openPorts", "url"):
        del worker["serviceDetails"][key]
    page = [{"cursor": "a", "service": web_service()}, {"cursor": "b", "service": worker}]
    assert contract.validate_response("GET", "/v1/services", 200, page) == []


def test_patch_without_type_uses_context_or_any_branch(contract: Contract) -> None:
    body = {"serviceDetails": {"healthCheckPath": "/ok"}}
    assert contract.validate_request("PATCH", "/v1/services/srv-x", body) == []
    assert contract.validate_request("PATCH", "/v1/services/srv-x", body, {"serviceType": "web_service"}) == []
    worker = contract.validate_request("PATCH", "/v1/services/srv-x", {"serviceDetails": {"plan": "free"}},
                                       {"serviceType": "background_worker"})
    assert worker and "'free' is not one of" in worker[0]


def test_undocumented_status_and_operation(contract: Contract) -> None:
    assert contract.validate_response("GET", "/v1/services", 418, None) == [
        "status 418 is not documented for GET /services"]
    assert contract.validate_request("POST", "/v1/nowhere", {}) == [
        "POST /v1/nowhere is not an operation in Render's API description"]


def test_strict_mode_reports_undocumented_fields_but_allows_the_lagging_ones(contract: Contract) -> None:
    body = {"type": "background_worker", "name": "w", "ownerId": "tea-x", "autoDeployTrigger": "off",
            "serviceDetails": {"runtime": "node", "numInstance": 2,
                               "envSpecificDetails": {"buildCommand": "b", "startCommand": "s"}}}
    assert contract.validate_request("POST", "/v1/services", body) == []  # Render ignores unknown fields
    assert contract.validate_request("POST", "/v1/services", body, strict=True) == [
        "serviceDetails/numInstance: not in Render's API description"]
    assert contract.validate_response("GET", "/v1/services/srv-x", 200, web_service(autoDeployTrigger="commit"),
                                      strict=True) == []
    assert contract.validate_response("GET", "/v1/services/srv-x", 200, web_service(colour="red"),
                                      strict=True) == ["colour: not in Render's API description"]
    assert contract.validate_request("POST", "/v1/services/srv-x/suspend", {}, strict=True) == [
        "POST /services/{serviceId}/suspend takes no request body"]


def test_query_parameters_are_checked(contract: Contract) -> None:
    assert contract.validate_query("GET", "/v1/services", [("limit", "100"), ("includePreviews", "false"),
                                                           ("ownerId", "tea-a,tea-b"), ("type", "web_service")]) == []
    assert contract.validate_query("GET", "/v1/services", [("limit", "500"), ("includePreview", "false"),
                                                           ("type", "web"), ("includePreviews", "no")]) == [
        "query parameter limit='500': more than the maximum 100",
        "query parameter 'includePreview' is not documented for GET /services",
        "query parameter type='web': not one of ['static_site', 'web_service', 'private_service', "
        "'background_worker', 'cron_job']",
        "query parameter includePreviews='no': not true or false",
    ]
    assert contract.validate_query("GET", "/v1/postgres/dpg-x/export", [("limit", "100")]) == [
        "query parameter 'limit' is not documented for GET /postgres/{postgresId}/export"]


def test_the_client_transport_check_catches_a_bad_exchange(sim: Sim, contract: Contract) -> None:
    ledger = ContractLedger()

    async def scenario() -> None:
        transport = ContractTransport(httpx.AsyncHTTPTransport(), contract, ledger)
        async with httpx.AsyncClient(transport=transport, base_url=sim.api_url,
                                     headers={"Authorization": f"Bearer {sim.api_key}"}) as http:
            await http.get("/services", params={"limit": 100, "includePreviews": "false"})
            await http.get("/services", params={"limit": 101})
            await http.post("/postgres", json={"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                               "version": "16", "colour": "blue"})

    asyncio.run(scenario())
    assert ledger.checked == 3
    assert ledger.take() == [
        "GET /v1/services -> 200: request: query parameter limit='101': more than the maximum 100",
        "POST /v1/postgres -> 201: request: colour: not in Render's API description",
    ]
