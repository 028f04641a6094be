"""Issue 14: each tenant in its own Render project and environment, network-isolated; a `projects:`
blueprint honoured as Render's Blueprint sync does; existing tenants moved, never recreated; teardown in
Render's order with the 409 of a non-empty environment waited out; workspace limits refused with nothing
half-made. Real CLI over real HTTP against the simulator, whose admin API models the private network.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from renderer.render_api.client import JSON, PROJECT_IDS_PER_REQUEST, RenderClient, Settings
from tests.conftest import Sim, run
from tests.helpers import LOCK, apply, change_lines, exchanges_since, lock, lock_id, only_tenant, plan

PROJECT = "project.tenant"
ENV = "environment.tenant/production"
WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
DB = "postgres.backboneos-db"
SLUGS = ("acme-corp", "globex", "initech")


def tenant_ids(project: Path) -> dict[str, set[str]]:
    """Each tenant's service and datastore IDs (what the private network is made of)."""
    return {slug: {r["id"] for r in t["resources"].values() if r["kind"] in
                   ("web_service", "background_worker", "private_service", "postgres", "key_value")}
            for slug, t in lock(project)["tenants"].items()}


def call(sim: Sim, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the simulator's Render API (`path` under /v1), as a dashboard edit would send it."""
    with sim.http() as client:
        return client.request(method, path, **kwargs)


def reachable(sim: Sim, source: str, target: str) -> bool:
    return bool(sim.admin_get(f"/_sim/network/reachable?from={source}&to={target}")["reachable"])


def cross_tenant_pairs(sim: Sim, project: Path) -> list[dict[str, str]]:
    owner = {rid: slug for slug, ids in tenant_ids(project).items() for rid in ids}
    pairs = sim.admin_get("/_sim/network")["pairs"]
    return [p for p in pairs if p["from"] in owner and p["to"] in owner and owner[p["from"]] != owner[p["to"]]]


def test_each_tenant_gets_its_own_isolated_environment_and_no_private_path_to_another(sim: Sim, project: Path) -> None:
    result = apply()
    assert result.code == 0, result.output
    data = lock(project)
    assert data["version"] == 3
    for slug in SLUGS:
        resources = data["tenants"][slug]["resources"]
        prj, env = resources[PROJECT], resources[ENV]
        assert prj["id"].startswith("prj-") and prj["name"] == f"base_crm-{slug}"
        assert env["id"].startswith("evm-") and env["name"] == "production" and env["parent"] == PROJECT
        live_env = sim.get(f"/environments/{env['id']}").json()
        assert live_env["networkIsolationEnabled"] is True and live_env["protectedStatus"] == "unprotected"
        assert live_env["projectId"] == prj["id"]
        for address in (WEB, WORKER, DB):
            assert resources[address]["environment"] == ENV
        web = sim.get(f"/services/{resources[WEB]['id']}").json()
        assert web["environmentId"] == env["id"]
        # What the blueprint needs inside the tenant is still possible: its services reach its database.
        assert reachable(sim, resources[WEB]["id"], resources[DB]["id"])
        assert reachable(sim, resources[WORKER]["id"], resources[DB]["id"])
    # acme-corp and globex share a region (oregon): without environments every pair of theirs could connect.
    assert cross_tenant_pairs(sim, project) == []
    summary = run("sim", "network", "--lockfile", LOCK, "--url", sim.url, "--api-key", sim.api_key)
    assert summary.code == 0, summary.output
    assert "Private connections possible between resources of different tenants: 0" in summary.out
    assert "  globex: 3 within the tenant (backboneos-backend -> backboneos-db, " in summary.out
    # The database has no public door: its allow list is empty and the plan showed it.
    db = sim.get(f"/postgres/{data['tenants']['globex']['resources'][DB]['id']}").json()
    assert db["ipAllowList"] is None  # Render answers an empty allow list as null
    listed = sim.get("/services", environmentId=data["tenants"]["globex"]["resources"][ENV]["id"]).json()
    assert {s["service"]["name"] for s in listed} == {"backboneos-backend-globex", "backboneos-worker-globex"}
    assert plan().code == 0


def test_a_full_plan_lists_projects_once_and_their_environments_once(sim: Sim, project: Path) -> None:
    """GET /environments needs the projects' IDs (`projectId`): the refresh takes them from its own
    listing of the projects rather than listing the projects a second time."""
    assert apply().code == 0
    httpx.delete(sim.url + "/_sim/stats", headers={"Authorization": f"Bearer {sim.api_key}"})
    result = plan()
    assert result.code == 0, result.output
    stats = sim.admin_get("/_sim/stats")["endpoints"]
    assert sum(stats["GET /v1/projects"].values()) == 1
    assert sum(stats["GET /v1/environments"].values()) == 1
    assert "GET /v1/environments/{environmentId}" not in stats


def test_plan_shows_the_project_environment_and_allow_list(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    result = plan()
    assert result.code == 2, result.output
    lines = change_lines(result.out)
    assert f'+ {PROJECT}  "base_crm-globex"  (tenant added)' in lines
    assert f'+ {ENV}  "production"  (tenant added)' in lines
    assert "networkIsolationEnabled = true" in " ".join(result.out.split())
    assert "ipAllowList = []" in " ".join(result.out.split())
    assert apply().code == 0
    status = run("status", "globex")
    assert lock_id(project, "globex", PROJECT) in status.out and lock_id(project, "globex", ENV) in status.out


def _to_pre_issue_state(sim: Sim, project: Path) -> dict[str, dict[str, str]]:
    """What `make demo` left before this issue: every resource at the workspace root, no project or
    environment, a format-2 lockfile. Returns each tenant's resource IDs by address."""
    data = lock(project)
    ids: dict[str, dict[str, str]] = {}
    for slug, tenant in data["tenants"].items():
        resources = tenant["resources"]
        env_id, prj_id = resources.pop(ENV)["id"], resources.pop(PROJECT)["id"]
        members = [r["id"] for r in resources.values() if r["kind"] not in ("disk", "custom_domain")]
        answer = call(sim, "DELETE", f"/environments/{env_id}/resources",
                                 params={"resourceIds": ",".join(members)})
        assert answer.status_code == 204, answer.text
        for path in (f"/environments/{env_id}", f"/projects/{prj_id}"):
            gone = call(sim, "DELETE", path)
            assert gone.status_code == 204, gone.text
        for entry in resources.values():
            entry.pop("environment", None)
        ids[slug] = {address: r["id"] for address, r in resources.items()}
    data["version"] = 2
    (project / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return ids


def test_a_tenant_from_before_moves_into_its_environment_with_no_create_or_delete(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    before = _to_pre_issue_state(sim, project)
    shown = plan()
    assert shown.code == 2, shown.output
    lines = change_lines(shown.out)
    assert all(not line.startswith(("-", "-/+")) for line in lines), lines
    web = before["globex"][WEB]
    assert (f'~ {WEB}  "backboneos-backend-globex" {web}  (moved to project base_crm-globex / '
            "environment production)") in lines
    result = apply()
    assert result.code == 0, result.output
    assert "Resources: 6 created, 9 updated, 0 replaced, 0 destroyed." in result.out
    created = [line for line in result.out.splitlines() if ": created " in line]
    assert all(f": {PROJECT}:" in line or f": {ENV}:" in line for line in created), created
    after = lock(project)
    for slug, ids in before.items():
        env_id = after["tenants"][slug]["resources"][ENV]["id"]
        for address, rid in ids.items():
            assert after["tenants"][slug]["resources"][address]["id"] == rid
        for rid in ids.values():
            if rid.startswith("srv-"):
                assert sim.get(f"/services/{rid}").json()["environmentId"] == env_id
    assert cross_tenant_pairs(sim, project) == []
    assert plan().code == 0


GROUPED = """\
envVarGroups:
  - name: shared
    envVars:
      - key: LOG_LEVEL
        value: info
services:
  - type: web
    name: api
    runtime: python
    repo: https://github.com/backboneos/backboneos
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app
    envVars:
      - fromGroup: shared
"""


def test_a_service_with_a_linked_env_group_is_moved_with_its_group_and_keeps_the_link(
        sim: Sim, project: Path) -> None:
    """Render refuses to move a service that has linked env groups (the simulator models it): renderer
    unlinks just before the one move request and links again just after, with no deploy in between."""
    (project / "blueprints" / "grouped").mkdir()
    (project / "blueprints" / "grouped" / "render.yaml.j2").write_text(GROUPED)
    only_tenant(project, "globex")
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("blueprint: base_crm", "blueprint: grouped"))
    assert apply().code == 0
    data = lock(project)
    resources = data["tenants"]["globex"]["resources"]
    env_id, prj_id = resources.pop(ENV)["id"], resources.pop(PROJECT)["id"]
    api, group = resources["web_service.api"]["id"], resources["env_group.shared"]["id"]
    # The pre-issue state: the group unlinked to let the service out, both at the root, linked again.
    assert call(sim, "DELETE", f"/env-groups/{group}/services/{api}").status_code == 204
    moved_out = call(sim, "DELETE", f"/environments/{env_id}/resources", params={"resourceIds": f"{api},{group}"})
    assert moved_out.status_code == 204
    assert call(sim, "POST", f"/env-groups/{group}/services/{api}").status_code == 200
    for rid in (env_id, prj_id):
        kind = "environments" if rid.startswith("evm-") else "projects"
        assert call(sim, "DELETE", f"/{kind}/{rid}").status_code == 204
    (project / LOCK).write_text(json.dumps({**data, "version": 2}, indent=2, sort_keys=True) + "\n")
    deploys_before = len(sim.get(f"/services/{api}/deploys").json())

    result = apply()
    assert result.code == 0, result.output
    new_env = lock_id(project, "globex", ENV)
    assert sim.get(f"/services/{api}").json()["environmentId"] == new_env
    assert sim.get(f"/env-groups/{group}").json()["environmentId"] == new_env
    assert [link["id"] for link in sim.get(f"/env-groups/{group}").json()["serviceLinks"]] == [api]
    assert len(sim.get(f"/services/{api}/deploys").json()) == deploys_before
    order = [line.split(": ", 2)[-1] for line in result.out.splitlines() if "globex: " in line]
    assert any(line.startswith("moving ") for line in order)
    assert plan().code == 0
    # Render's refusal itself, as the simulator answers it: a linked service cannot be moved.
    moved = call(sim, "POST", f"/environments/{new_env}/resources", json={"resourceIds": [api]})
    assert moved.status_code == 400 and "unlink" in moved.json()["message"]


PROJECTS = """\
projects:
  - name: crm
    environments:
      - name: production
        networking:
          isolation: enabled
        permissions:
          protection: enabled
        services:
          - type: web
            name: api
            runtime: python
            repo: https://github.com/backboneos/backboneos
            plan: starter
            buildCommand: pip install -r requirements.txt
            startCommand: gunicorn app
            envVars:
              - key: DATABASE_URL
                fromDatabase:
                  name: db
                  property: connectionString
        databases:
          - name: db
            plan: basic-256mb
            ipAllowList: []
      - name: staging
        envVarGroups:
          - name: staging-settings
            envVars:
              - key: MODE
                value: staging
        services:
          - type: worker
            name: jobs
            runtime: python
            repo: https://github.com/backboneos/backboneos
            plan: starter
            buildCommand: pip install -r requirements.txt
            startCommand: celery worker
            envVars:
              - fromGroup: staging-settings
ungrouped:
  envVarGroups:
    - name: loose
      envVars:
        - key: A
          value: b
"""


@pytest.fixture
def projects_tenant(sim: Sim, project: Path) -> Path:
    (project / "blueprints" / "twoenv").mkdir()
    (project / "blueprints" / "twoenv" / "render.yaml.j2").write_text(PROJECTS)
    only_tenant(project, "globex")
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("blueprint: base_crm", "blueprint: twoenv"))
    return project


def test_a_projects_blueprint_is_honoured_per_environment(sim: Sim, projects_tenant: Path) -> None:
    result = apply()
    assert result.code == 0, result.output
    resources = lock(projects_tenant)["tenants"]["globex"]["resources"]
    assert resources["project.crm"]["name"] == "crm-globex"
    prod, staging = resources["environment.crm/production"], resources["environment.crm/staging"]
    live_prod = sim.get(f"/environments/{prod['id']}").json()
    live_staging = sim.get(f"/environments/{staging['id']}").json()
    assert (live_prod["networkIsolationEnabled"], live_prod["protectedStatus"]) == (True, "protected")
    assert (live_staging["networkIsolationEnabled"], live_staging["protectedStatus"]) == (False, "unprotected")
    assert set(live_prod["serviceIds"]) == {resources["web_service.api"]["id"]}
    assert live_prod["databasesIds"] == [resources["postgres.db"]["id"]]
    assert live_staging["serviceIds"] == [resources["background_worker.jobs"]["id"]]
    assert live_staging["envGroupIds"] == [resources["env_group.staging-settings"]["id"]]
    assert live_staging["databasesIds"] is None and live_staging["redisIds"] is None  # empty lists are null
    loose = sim.get(f"/env-groups/{resources['env_group.loose']['id']}").json()
    assert "environmentId" not in loose  # `ungrouped:` stays at the workspace root
    assert reachable(sim, resources["web_service.api"]["id"], resources["postgres.db"]["id"])
    assert not reachable(sim, resources["background_worker.jobs"]["id"], resources["postgres.db"]["id"])
    # Every list filters by `environmentId` (openapi.json: components.parameters.environmentIdParam).
    groups = sim.get("/env-groups", environmentId=staging["id"]).json()
    assert [g["name"] for g in groups] == ["staging-settings-globex"]
    assert [p["postgres"]["name"] for p in sim.get("/postgres", environmentId=prod["id"]).json()] == ["db-globex"]
    assert sim.get("/postgres", environmentId=staging["id"]).json() == []
    assert sim.get("/key-value", environmentId=prod["id"]).json() == []
    assert plan().code == 0


def test_a_projects_blueprint_tears_down_in_renders_order(sim: Sim, projects_tenant: Path) -> None:
    assert apply().code == 0
    (projects_tenant / "tenants" / "globex.yaml").unlink()
    result = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy")
    assert result.code == 0, result.output
    deleted = [line.split(": ")[1] for line in result.out.splitlines() if ": deleted " in line]
    assert deleted.index("web_service.api") < deleted.index("postgres.db") < deleted.index("environment.crm/production")
    assert deleted.index("env_group.staging-settings") < deleted.index("environment.crm/staging")
    assert deleted[-1] == "project.crm"
    assert "backing up" in result.out  # the Postgres export before its delete, as before
    assert sim.get("/projects").json() == []
    assert "globex" not in lock(projects_tenant)["tenants"]


def test_a_non_empty_environment_is_waited_for_then_reported_with_what_holds_it(
        sim: Sim, projects_tenant: Path) -> None:
    assert apply().code == 0
    staging = lock_id(projects_tenant, "globex", "environment.crm/staging")
    made = call(sim, "POST", "/env-groups", json={
        "name": "by-hand", "ownerId": sim.owner_id, "environmentId": staging, "envVars": []})
    assert made.status_code == 201, made.text
    by_hand = made.json()["id"]
    (projects_tenant / "tenants" / "globex.yaml").unlink()
    result = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy")
    assert result.code == 1
    assert f"Render refuses to delete environment {staging}: it is not empty" in result.output
    assert by_hand in result.output
    # It waited (on the client's clock) before giving up, and kept what it could not delete.
    resources = lock(projects_tenant)["tenants"]["globex"]["resources"]
    assert set(resources) == {"project.crm", "environment.crm/staging", "environment.crm/production"}
    stats = sim.admin_get("/_sim/stats")["endpoints"]
    assert sum(stats.get("DELETE /v1/environments/{environmentId}", {}).values()) >= 6
    assert call(sim, "DELETE", f"/env-groups/{by_hand}").status_code == 204
    again = apply("--allow-destroy", "--allow-mass-destroy")
    assert again.code == 0, again.output
    assert sim.get("/projects").json() == []


def _set_workspace(sim: Sim, **body: Any) -> None:
    assert sim.admin("/_sim/workspace", body).status_code == 200


def test_a_hobby_workspace_refuses_isolation_and_a_second_project_with_nothing_half_made(
        sim: Sim, project: Path) -> None:
    _set_workspace(sim, plan="hobby")
    try:
        only_tenant(project, "globex")
        result = apply()
        assert result.code == 1
        assert "network isolation" in result.output and "nothing was made or changed" in result.output
        assert sim.get("/projects").json() == [] and sim.get("/services").json() == []
        path = project / "tenants" / "globex.yaml"
        path.write_text(path.read_text() + "network_isolation: false\n")
        assert apply().code == 0
        (project / "tenants" / "initech.yaml").write_text(
            "name: Initech\nslug: initech\nblueprint: base_crm\nnetwork_isolation: false\n")
        second = apply()
        assert second.code == 1
        assert "Hobby workspaces can have up to one project" in second.output
        assert len(sim.get("/projects").json()) == 1
        assert "initech" not in [s["service"]["name"].rsplit("-", 1)[-1] for s in sim.get("/services").json()]
    finally:
        _set_workspace(sim, plan="professional")


def test_a_project_or_environment_changed_by_hand_is_drift_and_apply_restores_it(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "test-fingerprint-key")
    only_tenant(project, "globex")
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "protected_environment: true\n")
    assert apply().code == 0
    prj, env = lock_id(project, "globex", PROJECT), lock_id(project, "globex", ENV)
    assert call(sim, "PATCH", f"/projects/{prj}", json={"name": "renamed"}).status_code == 200
    assert call(sim, "PATCH", f"/environments/{env}", json={
        "networkIsolationEnabled": False, "protectedStatus": "unprotected"}).status_code == 200
    drift = run("drift", "--detailed-exitcode")
    assert drift.code == 2, drift.output
    assert prj in drift.out and env in drift.out
    shown = plan()
    assert f'~ {ENV}  "production" {env}  (drift: changed outside renderer)' in change_lines(shown.out)
    assert (f'~ {PROJECT}  "base_crm-globex" {prj} (on Render: "renamed")  (drift: changed outside renderer)'
            in change_lines(shown.out))
    assert apply().code == 0
    live = sim.get(f"/environments/{env}").json()
    assert (live["networkIsolationEnabled"], live["protectedStatus"]) == (True, "protected")
    assert sim.get(f"/projects/{prj}").json()["name"] == "base_crm-globex"
    assert plan().code == 0


def test_tenant_environment_settings_are_refused_for_a_projects_blueprint(sim: Sim, projects_tenant: Path) -> None:
    path = projects_tenant / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "network_isolation: false\n")
    result = run("validate")
    assert result.code == 1
    assert "environment-setting-in-projects-blueprint" in result.output
    assert "networking.isolation" in result.output


def test_environments_of_many_projects_are_listed_in_short_requests(sim: Sim) -> None:
    """GET /environments takes the project IDs in its query (`projectId=a,b,...`): a workspace of 200
    tenants' projects is read in requests of at most PROJECT_IDS_PER_REQUEST IDs, each answered in one
    page, so no URL grows with the fleet and every environment is found."""
    env = {"name": "production", "networkIsolationEnabled": True, "protectedStatus": "unprotected"}
    seeded = sim.admin("/_sim/seed", {"projects": [{"name": f"p-{n:03d}", "environments": [env]}
                                                   for n in range(200)]}).json()
    ids = [p["id"] for p in seeded["projects"]]
    start = sim.exchanges()

    async def scenario() -> list[JSON]:
        async with RenderClient(Settings(base_url=sim.api_url, api_key=sim.api_key, owner_id=sim.owner_id)) as client:
            return await client.list_environments(ids)

    found = asyncio.run(scenario())
    assert sorted(e["projectId"] for e in found) == sorted(ids)
    asked = [parse_qs(e["query"])["projectId"][0].split(",") for e in exchanges_since(sim, start)
             if e["path"] == "/v1/environments"]
    assert [len(a) for a in asked] == [PROJECT_IDS_PER_REQUEST, PROJECT_IDS_PER_REQUEST,
                                       200 - 2 * PROJECT_IDS_PER_REQUEST]
    assert sorted(i for a in asked for i in a) == sorted(ids)
