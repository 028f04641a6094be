"""An apply that Render stops half-way keeps every ID created before the failure, in a valid lockfile.

The failure is injected into the simulator (the 2nd POST /services fails), so the tenant files stay
valid and nothing but the API call fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import Sim, run


def live_ids(sim: Sim) -> set[str]:
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    projects = [p["project"] for p in sim.get("/projects", limit=100).json()]
    return ({s["service"]["id"] for s in services} | {p["postgres"]["id"] for p in databases}
            | {p["id"] for p in projects} | {e for p in projects for e in p["environmentIds"]})


@pytest.mark.parametrize(("status", "times", "expected"), [
    (400, 1, "Render API 400 on POST /services: refused on purpose"),  # not retried
    (500, 0, "Render API 500 on POST /services: refused on purpose"),  # retried, still failing
])
def test_failed_create_keeps_earlier_ids(sim: Sim, project: Path, status: int, times: int, expected: str) -> None:
    (project / "tenants" / "globex.yaml").unlink()
    (project / "tenants" / "initech.yaml").unlink()
    rule = {"action": "status", "method": "POST", "path": "/v1/services", "nth": 2, "times": times,
            "status": status, "message": "refused on purpose"}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200
    result = run("apply", "--auto-approve")
    assert result.code == 1
    assert expected in result.err
    assert "Traceback" not in result.output
    data = json.loads((project / "render.lock.json").read_text())  # valid JSON, not half-written
    resources = data["tenants"]["acme-corp"]["resources"]
    services = sim.get("/services", limit=100).json()
    assert len(services) == 1  # the first service was created, the second refused
    first = services[0]["service"]
    kind = first["type"]
    assert sorted(resources) == sorted(["project.tenant", "environment.tenant/production", "postgres.backboneos-db",
                                        f"{kind}.{first['name'].removesuffix('-acme-corp')}"])
    assert {r["id"] for r in resources.values()} == live_ids(sim)  # every created resource is recorded

    sim.admin("/_sim/faults", {})
    assert sim.admin_get("/_sim/faults")["rules"]  # still armed: clear it, then apply again
    assert httpx_delete(sim, "/_sim/faults") == 200
    again = run("apply", "--auto-approve")
    assert again.code == 0, again.output
    finished = json.loads((project / "render.lock.json").read_text())["tenants"]["acme-corp"]["resources"]
    assert len(finished) == 5  # three, and the tenant's project and environment
    assert all(finished[address]["id"] == entry["id"] for address, entry in resources.items())  # kept


def httpx_delete(sim: Sim, path: str) -> int:
    return httpx.delete(sim.url + path, headers={"Authorization": f"Bearer {sim.api_key}"}).status_code
