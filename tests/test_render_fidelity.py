"""Issue 12, renderer's side: plan and apply stay right on Render's real answers (the simulator answers as
the recordings in ../shared/render/recorded/ show: a suffixed database name, `null` allow lists, normalised
image references, runtime switches in place, 202 deploy triggers, per-endpoint hourly budgets)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import Result, Sim, SimClock, run
from tests.helpers import change_lines


class Project:
    """A temporary project: one blueprint (`gen`) and tenants using it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blueprints" / "gen").mkdir(parents=True)
        (root / "tenants").mkdir()

    def blueprint(self, document: dict[str, Any]) -> None:
        # JSON is YAML; nothing here looks like Jinja.
        (self.root / "blueprints" / "gen" / "render.yaml.j2").write_text(json.dumps(document, indent=1))

    def tenant(self, slug: str) -> None:
        (self.root / "tenants" / f"{slug}.yaml").write_text(json.dumps(
            {"name": slug.title(), "slug": slug, "blueprint": "gen"}))

    def options(self) -> tuple[str, ...]:
        return ("--tenants", str(self.root / "tenants"), "--blueprints", str(self.root / "blueprints"),
                "--lockfile", str(self.root / "render.lock.json"))

    def apply(self, *extra: str) -> Result:
        return run("apply", "--auto-approve", "--allow-replace", *extra, *self.options())

    def plan(self) -> Result:
        return run("plan", "--detailed-exitcode", *self.options())

    def lock(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "render.lock.json").read_text())
        return data


NO_CHANGES = "No changes. Render matches the configuration of 1 tenant."


def _crm(runtime: dict[str, Any] | None = None, database_name: str = "crm") -> dict[str, Any]:
    web = runtime or {"runtime": "image", "image": {"url": "nginx"}}
    return {
        "databases": [{"name": "crm-db", "databaseName": database_name, "user": "crm"}],
        "services": [
            {"type": "web", "name": "web", "plan": "starter", **web},
            {"type": "keyvalue", "name": "cache", "ipAllowList": []},
        ],
    }


def test_named_database_image_and_empty_allow_list_then_no_changes(sim: Sim, tmp_path: Path) -> None:
    """Done-when: `databaseName: crm`, `user: crm`, an image `nginx` and a Key Value with `ipAllowList: []`
    apply, then plan `No changes.` although Render answers `crm_xxxx`, `docker.io/library/nginx:latest`
    and `ipAllowList: null`."""
    project = Project(tmp_path)
    project.blueprint(_crm())
    project.tenant("acme")
    applied = project.apply()
    assert applied.code == 0, applied.output
    resources = project.lock()["tenants"]["acme"]["resources"]
    database = sim.get(f"/postgres/{resources['postgres.crm-db']['id']}").json()
    web = sim.get(f"/services/{resources['web_service.web']['id']}").json()
    cache = sim.get(f"/key-value/{resources['key_value.cache']['id']}").json()
    assert re.fullmatch(r"crm_[a-z0-9]{4}", database["databaseName"]) and database["databaseUser"] == "crm"
    assert web["imagePath"] == "docker.io/library/nginx:latest" and cache["ipAllowList"] is None
    after = project.plan()
    assert after.code == 0, after.output
    assert after.out.splitlines()[-1] == NO_CHANGES


def test_changing_the_requested_database_name_still_replaces(sim: Sim, tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.blueprint(_crm())
    project.tenant("acme")
    assert project.apply().code == 0
    project.blueprint(_crm(database_name="crm2"))
    changed = project.plan()
    assert changed.code == 3, changed.output  # a replace that loses data
    assert next(line for line in change_lines(changed.out) if "postgres" in line).startswith("-/+ postgres.crm-db")
    assert re.search(r'databaseName = "crm_[a-z0-9]{4}" -> "crm2"  # forces replacement', changed.out), changed.out


def test_runtime_switch_is_an_update_in_place(sim: Sim, tmp_path: Path) -> None:
    """Done-when: python -> docker plans `~` (Render PATCHes the runtime; webservice_resource__runtime_update),
    keeps the service ID, and then plans no changes."""
    project = Project(tmp_path)
    python = {"runtime": "python", "repo": "https://github.com/example/app", "buildCommand": "pip install .",
              "startCommand": "gunicorn app:app"}
    project.blueprint(_crm(python))
    project.tenant("acme")
    assert project.apply().code == 0
    before = project.lock()["tenants"]["acme"]["resources"]["web_service.web"]["id"]
    docker = {"runtime": "docker", "repo": "https://github.com/example/app", "dockerfilePath": "./Dockerfile"}
    project.blueprint(_crm(docker))
    planned = project.plan()
    assert planned.code == 2, planned.output
    assert next(line for line in change_lines(planned.out) if "web_service.web" in line).startswith("~ web_service")
    switched = project.apply()
    assert switched.code == 0, switched.output
    service = sim.get(f"/services/{before}").json()
    assert project.lock()["tenants"]["acme"]["resources"]["web_service.web"]["id"] == before
    assert service["serviceDetails"]["runtime"] == "docker"
    assert service["serviceDetails"]["envSpecificDetails"]["dockerfilePath"] == "./Dockerfile"
    after = project.plan()
    assert after.code == 0 and after.out.splitlines()[-1] == NO_CHANGES, after.output


def test_a_queued_deploy_is_found_and_waited_for(sim: Sim, tmp_path: Path) -> None:
    """Render answers a trigger on a private service with a deploy in progress 202 and no body
    (privateservice_resource__private_service): apply finds the queued deploy
    (GET /services/{id}/deploys?status=queued) and `--wait` follows it until it is live."""
    project = Project(tmp_path)
    pserv = {"type": "pserv", "name": "internal", "runtime": "python", "plan": "starter",
             "repo": "https://github.com/example/app", "buildCommand": "pip install .", "startCommand": "run",
             "envVars": [{"key": "MODE", "value": "one"}]}
    project.blueprint({"services": [pserv]})
    project.tenant("acme")
    assert project.apply("--no-wait").code == 0  # its first deploy is still under way
    sid = project.lock()["tenants"]["acme"]["resources"]["private_service.internal"]["id"]
    project.blueprint({"services": [{**pserv, "envVars": [{"key": "MODE", "value": "two"}]}]})
    start = sim.exchanges()
    updated = project.apply("--wait")
    assert updated.code == 0, updated.output
    exchanges = [json.loads(line) for line in sim.record.read_text().splitlines()[start:]]
    triggers = [e for e in exchanges if (e["method"], e["path"]) == ("POST", f"/v1/services/{sid}/deploys")]
    assert [t["status"] for t in triggers] == [202]
    assert any(e["path"] == f"/v1/services/{sid}/deploys" and e["query"] == "status=queued&limit=100"
               for e in exchanges if e["method"] == "GET"), [e["query"] for e in exchanges if e["method"] == "GET"]
    deploys = sim.get(f"/services/{sid}/deploys").json()
    assert deploys[0]["deploy"]["status"] == "live"
    assert f"deploy {deploys[0]['deploy']['id']} live" in updated.out


def test_25_tenants_with_a_postgres_each_stop_at_renders_20(sim: Sim, tmp_path: Path,
                                                           client_seam: SimClock) -> None:
    """Done-when: Render allows 20 `POST /postgres` an hour (postgres_resource__postgres: Ratelimit-Limit 20,
    reset ~1000 s). Apply creates 20, exits 4 with the other 5 left; the next run after the window
    finishes; Render answers no 429."""
    project = Project(tmp_path)
    project.blueprint({"databases": [{"name": "db", "plan": "basic-256mb"}]})
    slugs = [f"tenant-{n:02d}" for n in range(25)]
    for slug in slugs:
        project.tenant(slug)
    first = project.apply()
    assert first.code == 4, first.output
    assert len(sim.get("/postgres", limit=100).json()) == 20
    assert "incomplete: Render rate budget: 0 service creates, 5 Postgres creates (5 changes in all)" in first.out
    assert "(Render's Postgres-create budget is spent)" in first.out
    asyncio.run(client_seam.sleep(3600))
    second = project.apply()
    assert second.code == 0, second.output
    assert len(sim.get("/postgres", limit=100).json()) == 25
    statuses = sim.admin_get("/_sim/stats")["byStatus"]
    assert "429" not in statuses, statuses
