"""The simulator answers the way Render's recorded answers show (../shared/render/recorded/; the cassette
named in each test), where they differ from openapi.json. tests/test_replay.py replays the recordings
whole; these tests pin each behaviour on its own."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Sim
from tests.test_sim import create, web_body, worker_body


def image_body(sim: Sim, name: str, kind: str = "web_service", image: str = "nginx",
               **details: object) -> dict[str, Any]:
    return {"type": kind, "name": name, "ownerId": sim.owner_id, "image": {"imagePath": image, "ownerId": sim.owner_id},
            "serviceDetails": {"runtime": "image", "plan": "starter", **details}}


def test_image_services_answer_normalised_references_and_empty_docker_fields(sim: Sim) -> None:
    """webservice_resource__web_service_image: `nginx` reads `docker.io/library/nginx:latest`; an image
    service has `dockerContext: ""` and `dockerfilePath: ""`; `sshAddress` names the service."""
    with sim.http() as http:
        created = create(http, image_body(sim, "img", image="nginx"))
        service = created["service"]
        deploy = http.get(f"/services/{service['id']}/deploys/{created['deployId']}").json()
        tagged = create(http, image_body(sim, "tagged", image="ghcr.io/acme/app:1.2"))["service"]
    assert service["imagePath"] == "docker.io/library/nginx:latest"
    assert service["serviceDetails"]["envSpecificDetails"] == {"dockerCommand": "", "dockerContext": "",
                                                               "dockerfilePath": ""}
    assert service["serviceDetails"]["sshAddress"] == f"{service['id']}@ssh.oregon.render.com"
    assert service["serviceDetails"]["previews"] == {"generation": "off"}
    assert deploy["status"] == "update_in_progress" and deploy["commit"] is None
    assert deploy["image"]["ref"] == "docker.io/library/nginx:latest" and deploy["image"]["sha"].startswith("sha256:")
    assert tagged["imagePath"] == "ghcr.io/acme/app:1.2"


def test_runtime_switches_in_place(sim: Sim) -> None:
    """webservice_resource__runtime_update: PATCH of `runtime` node -> python -> docker -> image, 200 each,
    same ID and URL."""
    with sim.http() as http:
        service = create(http, web_body(sim, "web"))["service"]
        sid = service["id"]
        python = http.patch(f"/services/{sid}", json={"serviceDetails": {"runtime": "python", "envSpecificDetails": {
            "buildCommand": "pip install .", "startCommand": "gunicorn app:app"}}})
        docker = http.patch(f"/services/{sid}", json={"serviceDetails": {"runtime": "docker"}})
        image = http.patch(f"/services/{sid}", json={"image": {"imagePath": "nginx", "ownerId": sim.owner_id},
                                                     "serviceDetails": {"runtime": "image"}})
    assert [r.status_code for r in (python, docker, image)] == [200, 200, 200]
    assert docker.json()["serviceDetails"]["envSpecificDetails"] == {
        "dockerCommand": "", "dockerContext": ".", "dockerfilePath": "./Dockerfile"}
    final = image.json()
    assert final["id"] == sid and final["serviceDetails"]["url"] == service["serviceDetails"]["url"]
    assert final["serviceDetails"]["runtime"] == "image" and "repo" not in final
    assert final["imagePath"] == "docker.io/library/nginx:latest"


def test_deploy_trigger_is_queued_while_one_runs(sim: Sim) -> None:
    """privateservice_resource__private_service: a trigger while a deploy is in progress answers 202 with no
    body; the deploy is listed `queued` and starts when the running one ends. A web service's trigger
    starts at once (201, webservice_resource__web_service)."""
    with sim.http() as http:
        body = {**worker_body(sim, "pserv"), "type": "private_service"}
        sid = create(http, body)["service"]["id"]
        queued = http.post(f"/services/{sid}/deploys", json={})
        listed = http.get(f"/services/{sid}/deploys", params={"status": "queued"}).json()
        web = create(http, web_body(sim, "web"))["service"]["id"]
        at_once = http.post(f"/services/{web}/deploys", json={})
        sim.admin("/_sim/clock/advance", {"seconds": 31})
        started = http.get(f"/services/{sid}/deploys/{listed[0]['deploy']['id']}").json()
    assert queued.status_code == 202 and queued.content == b""
    assert len(listed) == 1 and listed[0]["deploy"]["status"] == "queued"
    assert at_once.status_code == 201 and at_once.json()["status"] == "build_in_progress"
    assert started["status"] == "build_in_progress"


def test_cron_jobs_get_crn_ids(sim: Sim) -> None:
    with sim.http() as http:
        body = {**worker_body(sim, "cron", schedule="0 * * * *"), "type": "cron_job"}
        service = create(http, body)["service"]
    assert re.fullmatch(r"crn-[0-9a-v]{20}", service["id"])


def test_null_means_empty(sim: Sim) -> None:
    """webservice_resource__web_service_image: `envVars: null`, `secretFiles: null`, a PUT of env vars or
    secret files with a `null` body (200 `[]`); privateservice_resource__docker: `buildFilter` lists of null;
    staticsite_resource__static_site: an empty PUT of headers or routes is answered `null`."""
    with sim.http() as http:
        body = {**web_body(sim, "web"), "envVars": None, "secretFiles": None, "repo": "https://github.com/a/b",
                "buildFilter": {"paths": ["src/**"], "ignoredPaths": None}}
        created = http.post("/services", json=body)
        sid = created.json()["service"]["id"]
        http.put(f"/services/{sid}/env-vars", json=[{"key": "A", "value": "1"}])
        cleared = http.put(f"/services/{sid}/env-vars", content=b"null", headers={"Content-Type": "application/json"})
        files = http.put(f"/services/{sid}/secret-files", json=[{"name": "f", "content": "c"}])
        no_files = http.put(f"/services/{sid}/secret-files", content=b"null",
                            headers={"Content-Type": "application/json"})
        static = create(http, {"type": "static_site", "name": "site", "ownerId": sim.owner_id,
                               "repo": "https://github.com/a/b", "serviceDetails": {"buildCommand": "make"}})
        site = static["service"]["id"]
        headers = http.put(f"/services/{site}/headers", json=[])
        routes = http.put(f"/services/{site}/routes", json=[])
    assert created.status_code == 201
    assert created.json()["service"]["buildFilter"] == {"paths": ["src/**"], "ignoredPaths": []}
    assert (cleared.status_code, cleared.json()) == (200, [])
    assert files.status_code == 200 and files.json()[0]["secretFile"] == {"name": "f", "content": "c"}
    assert (no_files.status_code, no_files.json()) == (200, [])
    assert (headers.status_code, headers.content, routes.content) == (200, b"null", b"null")


def test_postgres_database_name_suffix_defaults_and_lifecycle(sim: Sim) -> None:
    """postgres_resource__postgres(_allowlist): a requested `databaseName` gets a random `_xxxx` suffix and
    the default user derives from the suffixed name; `ipAllowList: []` reads `null`; `diskSizeGB` 15 when
    none is asked; `unknown` first, then `creating`, `available`, and `creating` again after a PATCH of the
    instance type or disk; read replicas get the primary's ID with `-b`."""
    with sim.http() as http:
        named = http.post("/postgres", json={"name": "crm-db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                             "version": "16", "databaseName": "crm", "databaseUser": "crm",
                                             "ipAllowList": []}).json()
        unnamed = http.post("/postgres", json={"name": "other-db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                               "version": "16"}).json()
        creating = http.get(f"/postgres/{named['id']}").json()["status"]
        sim.admin("/_sim/clock/advance", {"seconds": 31})
        available = http.get(f"/postgres/{named['id']}").json()["status"]
        same_plan = http.patch(f"/postgres/{named['id']}", json={"plan": "basic_256mb"}).json()["status"]
        patched = http.patch(f"/postgres/{named['id']}", json={"diskSizeGB": 20,
                                                               "readReplicas": [{"name": "replica"}]}).json()
    assert re.fullmatch(r"crm_[a-z0-9]{4}", named["databaseName"]) and named["databaseUser"] == "crm"
    assert re.fullmatch(r"other_db_[a-z0-9]{4}", unnamed["databaseName"])
    assert unnamed["databaseUser"] == unnamed["databaseName"] + "_user"
    assert named["ipAllowList"] is None and named["diskSizeGB"] == 15 and "project" not in named
    assert (named["status"], creating, available, same_plan) == ("unknown", "creating", "available", "available")
    assert patched["status"] == "creating" and patched["diskSizeGB"] == 20
    assert patched["readReplicas"] == [{"id": named["id"][:-2] + "-b", "name": "replica"}]


def test_key_value_allow_list_and_upgrade_from_free(sim: Sim) -> None:
    """keyvalue_resource__keyvalue: `ipAllowList: []` reads `null`; upgrading from free turns persistence on
    and puts the instance back into `creating`."""
    with sim.http() as http:
        kv = http.post("/key-value", json={"name": "cache", "ownerId": sim.owner_id, "plan": "free",
                                           "ipAllowList": []}).json()
        sim.admin("/_sim/clock/advance", {"seconds": 31})
        upgraded = http.patch(f"/key-value/{kv['id']}", json={"plan": "starter"}).json()
    assert kv["ipAllowList"] is None and kv["status"] == "unknown" and kv["options"]["persistenceMode"] == "off"
    assert upgraded["options"]["persistenceMode"] == "journal_snapshot" and upgraded["status"] == "creating"


def test_rate_budgets_per_endpoint(sim: Sim) -> None:
    """Ratelimit-Limit as recorded: Postgres and Key Value creates 20 an hour, custom domains 50 an hour,
    scale 10 a minute per service, other writes 100 a minute."""
    with sim.http() as http:
        pg = http.post("/postgres", json={"name": "db", "ownerId": sim.owner_id, "plan": "basic_256mb",
                                          "version": "16"})
        kv = http.post("/key-value", json={"name": "kv", "ownerId": sim.owner_id, "plan": "starter"})
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        domain = http.post(f"/services/{sid}/custom-domains", json={"name": "example.com"})
        scale = http.post(f"/services/{sid}/scale", json={"numInstances": 2})
        write = http.put(f"/services/{sid}/env-vars/A", json={"value": "1"})
    assert [(r.headers["Ratelimit-Limit"], int(r.headers["Ratelimit-Reset"]) > 60) for r in (pg, kv, domain)] == [
        ("20", True), ("20", True), ("50", True)]
    assert scale.headers["Ratelimit-Limit"] == "10" and write.headers["Ratelimit-Limit"] == "100"


def test_projects_and_environments(sim: Sim) -> None:
    """project_resource__project, privateservice_resource__private_service: a project with environments;
    resources move in (201) and out (204, whatever environment ID the path names); empty lists read null."""
    with sim.http() as http:
        project = http.post("/projects", json={"name": "p", "ownerId": sim.owner_id, "environments": [
            {"name": "prod", "protectedStatus": "protected", "networkIsolationEnabled": False}]})
        env_id = project.json()["environmentIds"][0]
        empty = http.get(f"/environments/{env_id}").json()
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        added = http.post(f"/environments/{env_id}/resources", json={"resourceIds": [sid]})
        in_env = http.get(f"/services/{sid}").json()
        removed = http.delete(f"/environments/{sid}/resources", params={"resourceIds": sid})
        after = http.get(f"/environments/{env_id}").json()
        gone = http.delete(f"/projects/{project.json()['id']}")
    assert project.status_code == 201 and empty["serviceIds"] is None and empty["databasesIds"] is None
    assert added.status_code == 201 and added.json()["serviceIds"] == [sid] and in_env["environmentId"] == env_id
    assert removed.status_code == 204 and after["serviceIds"] is None
    assert gone.status_code == 204


def test_lists_are_newest_first(sim: Sim) -> None:
    with sim.http() as http:
        first = create(http, web_body(sim, "first"))["service"]["id"]
        second = create(http, web_body(sim, "second"))["service"]["id"]
        http.put(f"/services/{first}/secret-files/a", json={"content": "1"})
        http.put(f"/services/{first}/secret-files/b", json={"content": "2"})
        services = [s["service"]["id"] for s in http.get("/services").json()]
        files = [f["secretFile"]["name"] for f in http.get(f"/services/{first}/secret-files").json()]
    assert services == [second, first] and files == ["b", "a"]


def test_custom_domains_have_no_server(sim: Sim) -> None:
    with sim.http() as http:
        sid = create(http, web_body(sim, "web"))["service"]["id"]
        added = http.post(f"/services/{sid}/custom-domains", json={"name": "app.example.com"}).json()
    assert "server" not in added[0]


