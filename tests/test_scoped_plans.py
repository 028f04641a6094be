"""Issue 15: a plan scoped to some tenants reads what they need (their recorded resources by ID, the names
they may create through the list endpoints' `name` filter), not the whole workspace, and still refuses a
name taken outside the lockfile, still deletes what left the blueprint, still sees what was deleted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from renderer import lockfile as lockfile_io
from renderer.kind import Kind
from renderer.lockfile import LockedResource, LockedTenant
from renderer.render_api.client import RenderClient, Settings
from tests.conftest import Sim, run
from tests.helpers import (
    LOCK,
    add_blueprint_line,
    apply,
    change_lines,
    exchanges_since,
    lock,
    lock_id,
    only_tenant,
    plan,
)

WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
DB = "postgres.backboneos-db"
# Recorded services of other tenants: enough list pages that listing the workspace would cost more than
# reading one tenant by ID (so the scoped path is taken whatever the tie-break).
OTHER_TENANTS = 300


def grow_fleet(sim: Sim, project: Path) -> None:
    """Add `OTHER_TENANTS` tenants to the workspace and the lockfile, each with one web service, as an
    apply would have left them (their tenant files are not needed: the plans here are scoped)."""
    slugs = [f"other-{n:03d}" for n in range(OTHER_TENANTS)]
    assert sim.admin("/_sim/seed", {"type": "web_service",
                                    "serviceNames": [f"app-{slug}" for slug in slugs]}).status_code == 200
    with sim.http() as http:
        ids: dict[str, str] = {}
        params: dict[str, Any] = {"limit": 100}
        while True:
            page = http.get("/services", params=params).json()
            ids.update({entry["service"]["name"]: entry["service"]["id"] for entry in page})
            if len(page) < 100:
                break
            params["cursor"] = page[-1]["cursor"]
    path = project / LOCK
    locked = lockfile_io.load(path)
    for slug in slugs:
        locked.tenants[slug] = LockedTenant(
            blueprint="base_crm", tenant_file=f"tenants/{slug}.yaml", status="active",
            resources={"web_service.app": LockedResource(kind=Kind.WEB_SERVICE, name=f"app-{slug}",
                                                         id=ids[f"app-{slug}"])})
    lockfile_io.write(path, locked)


def unfiltered_lists(sim: Sim, start: int) -> list[str]:
    """List requests since `start` that read a whole collection (no `name` filter)."""
    collections = {"/v1/services", "/v1/postgres", "/v1/key-value", "/v1/env-groups"}
    return [e["path"] for e in exchanges_since(sim, start)
            if e["path"] in collections and "name" not in parse_qs(e["query"])]


@pytest.fixture
def fleet(sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """globex applied, in a workspace and lockfile of 300 more tenants."""
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "test-fingerprint-key")
    only_tenant(project, "globex")
    assert apply().code == 0
    grow_fleet(sim, project)
    return project


def test_a_one_tenant_plan_reads_that_tenant_by_id(sim: Sim, fleet: Path) -> None:
    recorded = lock(fleet)["tenants"]["globex"]["resources"]
    ids = {entry["id"] for entry in recorded.values()}
    start = sim.exchanges()
    result = plan("--tenant", "globex")
    assert result.code == 0, result.output
    exchanges = exchanges_since(sim, start)
    # Each recorded resource by its ID, each service's env vars, each database's connection info: nothing
    # else, however many tenants the workspace and lockfile hold.
    assert all(e["method"] == "GET" for e in exchanges)
    by_id = sorted(e["path"] for e in exchanges if e["path"].count("/") == 3)
    assert sorted(path.rsplit("/", 1)[1] for path in by_id) == sorted(ids)
    extra = sorted(e["path"] for e in exchanges if e["path"].count("/") == 4)
    web, worker, db = (lock_id(fleet, "globex", a) for a in (WEB, WORKER, DB))
    assert extra == sorted([f"/v1/services/{web}/env-vars", f"/v1/services/{worker}/env-vars",
                            f"/v1/postgres/{db}/connection-info"])
    assert len(exchanges) == len(by_id) + len(extra) <= 10


def test_an_unscoped_plan_still_lists_the_workspace(sim: Sim, fleet: Path) -> None:
    start = sim.exchanges()
    run("plan")  # the other tenants have no tenant file: their teardown is planned, not applied
    listed = [e["path"] for e in exchanges_since(sim, start) if e["path"] == "/v1/services"]
    assert len(listed) == (OTHER_TENANTS + 2) // 100 + 1  # every page of GET /services


def test_a_scoped_plan_refuses_a_name_that_exists_live_but_is_not_recorded(sim: Sim, fleet: Path) -> None:
    add_blueprint_line(fleet, "services:", """  - type: pserv
    name: backboneos-search
    runtime: python
    repo: https://github.com/backboneos/backboneos
    branch: main
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: python search.py
""", blueprint="base_crm")
    with sim.http() as http:
        body = {"type": "private_service", "name": "backboneos-search-globex", "ownerId": sim.owner_id,
                "serviceDetails": {"runtime": "python", "plan": "starter",
                                   "envSpecificDetails": {"buildCommand": "true", "startCommand": "true"}}}
        taken = http.post("/services", json=body).json()["service"]["id"]
    start = sim.exchanges()
    result = plan("--tenant", "globex")
    assert result.code == 1, result.output
    assert (f"private_service 'backboneos-search-globex' ({taken}) already exists in the workspace but "
            f"{LOCK} does not record it for tenant 'globex'") in result.err
    lists = [e for e in exchanges_since(sim, start) if e["path"] == "/v1/services"]
    assert [parse_qs(e["query"])["name"] for e in lists] == [["backboneos-search-globex"]]
    assert unfiltered_lists(sim, start) == []
    assert run("apply", "--auto-approve", "--tenant", "globex").code == 1
    with sim.http() as http:
        names = [e["service"]["name"] for e in http.get("/services", params={"name": "backboneos-search-globex"})
                 .json()]
    assert names == ["backboneos-search-globex"]  # apply created nothing


def test_a_scoped_plan_deletes_a_recorded_resource_gone_from_the_blueprint(sim: Sim, fleet: Path) -> None:
    template = fleet / "blueprints" / "base_crm" / "render.yaml.j2"
    text = template.read_text()
    worker_block = text[text.index("  - type: worker"):text.index("databases:")]
    template.write_text(text.replace(worker_block, ""))
    worker = lock_id(fleet, "globex", WORKER)
    start = sim.exchanges()
    result = plan("--tenant", "globex")
    assert result.code == 3, result.output  # a delete
    assert change_lines(result.out) == [f'- {WORKER}  "backboneos-worker-globex" {worker}  (removed from blueprint)']
    assert unfiltered_lists(sim, start) == []
    assert apply("--tenant", "globex", "--allow-destroy").code == 0
    assert sim.get(f"/v1/services/{worker}").status_code == 404


def test_a_scoped_plan_recreates_a_recorded_resource_render_answers_404_for(sim: Sim, fleet: Path) -> None:
    web = lock_id(fleet, "globex", WEB)
    with sim.http() as http:
        assert http.delete(f"/services/{web}").status_code == 204
    start = sim.exchanges()
    result = plan("--tenant", "globex")
    assert result.code == 2, result.output
    assert change_lines(result.out) == [f'+ {WEB}  "backboneos-backend-globex"  (missing live: deleted outside '
                                        f'renderer (Render answers 404 for {web}))']
    assert unfiltered_lists(sim, start) == []


def test_a_scoped_drift_run_says_it_cannot_see_unmanaged_resources(sim: Sim, fleet: Path) -> None:
    with sim.http() as http:
        body = {"type": "background_worker", "name": "backboneos-extra-globex", "ownerId": sim.owner_id,
                "serviceDetails": {"runtime": "python", "plan": "starter",
                                   "envSpecificDetails": {"buildCommand": "true", "startCommand": "true"}}}
        extra = http.post("/services", json=body).json()["service"]["id"]
    scoped = run("drift", "--tenant", "globex", "--format", "json")
    assert scoped.code == 0, scoped.output
    doc = json.loads(scoped.out)
    assert doc["unmanaged_checked"] is False and doc["items"] == []
    assert "cannot see unmanaged resources" in scoped.err
    full = run("drift", "--format", "json")
    doc = json.loads(full.out)
    assert doc["unmanaged_checked"] is True
    assert [(i["tenant"], i["kind"], i["id"]) for i in doc["items"]] == [("globex", "unmanaged", extra)]
    assert "cannot see unmanaged resources" not in full.err


def test_a_scoped_plan_checks_its_names_against_the_other_tenants_in_the_lockfile(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: the check is local and comes before any API call.
    monkeypatch.setenv("RENDER_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RENDER_API_KEY", "unused")
    only_tenant(project, "globex")
    locked = lockfile_io.load(project / LOCK)
    locked.tenants["elsewhere"] = LockedTenant(
        blueprint="base_crm", tenant_file="tenants/elsewhere.yaml", status="active",
        resources={"postgres.db": LockedResource(kind=Kind.POSTGRES, name="backboneos-db-globex", id="dpg-elsewhere")})
    lockfile_io.write(project / LOCK, locked)
    result = run("plan", "--tenant", "globex")
    assert result.code == 1, result.output
    assert "Render name `backboneos-db-globex`" in result.output
    assert f"`postgres.db` of tenant `elsewhere` in {LOCK}" in result.output


def test_a_plan_of_many_tenants_lists_the_workspace_when_that_is_cheaper(sim: Sim, fleet: Path) -> None:
    slugs = ["globex", *(f"other-{n:03d}" for n in range(OTHER_TENANTS))]
    start = sim.exchanges()
    result = plan(*(arg for slug in slugs for arg in ("--tenant", slug)))
    assert result.code == 3, result.output  # the other tenants have no tenant file: their teardown
    exchanges = exchanges_since(sim, start)
    # 301 GETs by ID would cost more than the 4 pages of GET /services and one page of each other list.
    assert [e["path"] for e in exchanges].count("/v1/services") == (OTHER_TENANTS + 2) // 100 + 1
    assert not any(e["path"].startswith("/v1/services/") and e["path"].count("/") == 3 for e in exchanges)


def test_the_name_filter_takes_several_names(sim: Sim) -> None:
    """openapi.json: GET /services, /postgres, /key-value and /env-groups take `name`, an array in form
    style without explode (`name=a,b`); the client sends it so and the simulator answers both."""
    with sim.http() as http:
        for name in ("alpha", "beta", "gamma"):
            body = {"name": name, "ownerId": sim.owner_id, "envVars": []}
            assert http.post("/env-groups", json=body).status_code == 201

    async def scenario() -> list[list[str]]:
        async with RenderClient(Settings(base_url=sim.api_url, api_key=sim.api_key, owner_id=sim.owner_id)) as client:
            return [sorted(g["name"] for g in await client.list_env_groups(name=names))
                    for names in (["alpha", "gamma"], "beta", [])]

    assert asyncio.run(scenario()) == [["alpha", "gamma"], ["beta"], ["alpha", "beta", "gamma"]]
    names = [parse_qs(e["query"]).get("name") for e in exchanges_since(sim, 0) if e["path"] == "/v1/env-groups"
             and e["method"] == "GET"][-3:]
    assert names == [["alpha,gamma"], ["beta"], None]


def test_a_scoped_plan_refuses_a_project_name_that_exists_live_but_is_not_recorded(sim: Sim, fleet: Path) -> None:
    """Issues 14 and 15 together: a new tenant's Render project is looked up by name (GET /projects with
    the `name` filter), so a project made by hand under that name stops the plan as a service would."""
    (fleet / "tenants" / "umbrella.yaml").write_text(
        "name: Umbrella Corporation\nslug: umbrella\nblueprint: base_crm\n")
    with sim.http() as http:
        answer = http.post("/projects", json={"name": "base_crm-umbrella", "ownerId": sim.owner_id,
                                              "environments": [{"name": "production"}]})
        assert answer.status_code == 201, answer.text
        taken = answer.json()["id"]
    start = sim.exchanges()
    result = plan("--tenant", "umbrella")
    assert result.code == 1, result.output
    assert (f"project 'base_crm-umbrella' ({taken}) already exists in the workspace but "
            f"{LOCK} does not record it for tenant 'umbrella'") in result.err
    lists = [e for e in exchanges_since(sim, start) if e["path"] == "/v1/projects"]
    assert [parse_qs(e["query"])["name"] for e in lists] == [["base_crm-umbrella"]]
    assert unfiltered_lists(sim, start) == []
