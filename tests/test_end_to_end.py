"""Issue 2, end to end: tenant files become live services in the simulator and a lockfile."""

from __future__ import annotations

import json
import re
from pathlib import Path

from renderer.lockfile import RENDERER_VERSION
from tests.conftest import Result, Sim, run

LOCK = "render.lock.json"


def plan(*extra: str) -> Result:
    return run("plan", "--detailed-exitcode", *extra)


def apply(*extra: str) -> Result:
    return run("apply", "--auto-approve", *extra)


def change_lines(output: str) -> list[str]:
    """The resource header lines of a text plan (`+ kind.name "render-name" ...`)."""
    return [line.strip() for line in output.splitlines() if re.match(r"^  (\+|~|-/\+|-) \S+\.\S+  ", line)]


def live_ids(sim: Sim) -> set[str]:
    services = sim.get("/services", limit=100).json()
    databases = sim.get("/postgres", limit=100).json()
    return {s["service"]["id"] for s in services} | {p["postgres"]["id"] for p in databases}


def lock_ids(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {f"{slug}/{addr}": r["id"] for slug, t in data["tenants"].items() for addr, r in t["resources"].items()}


def test_three_tenants_plan_apply_then_no_changes(sim: Sim, project: Path) -> None:
    first = plan()
    assert first.code == 2, first.output
    headers = change_lines(first.out)
    assert len(headers) == 9 and all(h.startswith("+ ") for h in headers)
    assert "Plan: 9 to create, 0 to update, 0 to replace, 0 to delete." in first.out
    assert '"backboneos-backend-acme-corp"' in first.out

    applied = apply()
    assert applied.code == 0, applied.output
    assert "Apply complete! Resources: 9 created, 0 updated, 0 replaced, 0 destroyed." in applied.out

    ids = lock_ids(project / LOCK)
    assert len(ids) == 9
    assert ids.items() and set(ids.values()) <= live_ids(sim)
    assert all(re.fullmatch(r"(srv|dpg)-[0-9a-v]{20}(-a)?", rid) for rid in ids.values())

    again = plan()
    assert again.code == 0, again.output
    assert again.out.startswith("No changes.")


def test_lockfile_is_deterministic_json(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    text = (project / LOCK).read_text()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert data["version"] == 3 and data["renderer_version"] == RENDERER_VERSION
    acme = data["tenants"]["acme-corp"]
    assert acme["blueprint"] == "base_crm"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", acme["blueprint_digest"])
    web = acme["resources"]["web_service.backboneos-backend"]
    assert web["kind"] == "web_service" and web["name"] == "backboneos-backend-acme-corp"
    assert web["id"].startswith("srv-")
    assert acme["resources"]["postgres.backboneos-db"]["id"].startswith("dpg-")
    assert web["deploy"]["id"].startswith("dep-") and web["deploy"]["status"] == "live"
    assert re.fullmatch(r"[0-9a-f]{40}", web["deploy"]["target"])  # the commit Render built
    assert "deploy" not in acme["resources"]["postgres.backboneos-db"]


def test_created_services_carry_tenant_settings(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    ids = lock_ids(project / LOCK)
    acme_web = sim.get(f"/services/{ids['acme-corp/web_service.backboneos-backend']}").json()
    build = acme_web["serviceDetails"]["envSpecificDetails"]["buildCommand"]
    assert build == ("pip install -r requirements.txt && git init -q ./custom_plugins && git -C ./custom_plugins "
                     "fetch -q --depth 1 -- https://github.com/acme/custom-plugins.git "
                     "3f9a1c0d2b4e6f8a0c1e3d5b7a9f1e2d4c6b8a0f && git -C ./custom_plugins checkout -q --detach "
                     "FETCH_HEAD")  # the pinned plugin commit (custom_plugin_ref), exactly
    env = {e["envVar"]["key"]: e["envVar"]["value"]
           for e in sim.get(f"/services/{acme_web['id']}/env-vars", limit=100).json()}
    assert env["TENANT_SLUG"] == "acme-corp"
    assert env["TENANT_NAME"] == "Acme Corp"
    assert env["CUSTOM_PLUGINS_PATH"] == "./custom_plugins"
    db_id = ids["acme-corp/postgres.backboneos-db"]
    info = sim.get(f"/postgres/{db_id}/connection-info").json()
    assert env["DATABASE_URL"] == info["internalConnectionString"]
    initech_web = sim.get(f"/services/{ids['initech/web_service.backboneos-backend']}").json()
    assert initech_web["serviceDetails"]["region"] == "frankfurt"
    assert initech_web["serviceDetails"]["plan"] == "standard"
    initech_db = sim.get(f"/postgres/{ids['initech/postgres.backboneos-db']}").json()
    assert initech_db["plan"] == "basic_256mb" and initech_db["region"] == "frankfurt"
    assert initech_db["version"] == "16"
    globex_env = {e["envVar"]["key"] for e in sim.get(
        f"/services/{ids['globex/web_service.backboneos-backend']}/env-vars", limit=100).json()}
    assert "CUSTOM_PLUGINS_PATH" not in globex_env


def test_env_change_is_one_update_then_clean(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    globex = project / "tenants" / "globex.yaml"
    globex.write_text(globex.read_text().replace('CRM_DEFAULT_CURRENCY: "USD"', 'CRM_DEFAULT_CURRENCY: "EUR"'))
    result = plan()
    assert result.code == 2, result.output
    headers = change_lines(result.out)
    assert len(headers) == 1 and headers[0].startswith("~ web_service.backboneos-backend")
    assert '~ envVars.CRM_DEFAULT_CURRENCY = "USD" -> "EUR"' in result.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete." in result.out
    assert apply().code == 0
    ids = lock_ids(project / LOCK)
    web = ids["globex/web_service.backboneos-backend"]
    assert sim.get(f"/services/{web}/env-vars/CRM_DEFAULT_CURRENCY").json()["value"] == "EUR"
    deploys = sim.get(f"/services/{web}/deploys").json()
    assert len(deploys) == 2  # the create's deploy and one after the update
    assert plan().code == 0


def test_removed_tenant_is_destroyed_only_when_allowed(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    before = (project / LOCK).read_text()
    initech_ids = {v for k, v in lock_ids(project / LOCK).items() if k.startswith("initech/")}
    (project / "tenants" / "initech.yaml").unlink()

    result = plan()
    assert result.code == 3, result.output
    headers = change_lines(result.out)
    assert len(headers) == 3 and all(h.startswith("- ") for h in headers)
    assert "tenant removed" in result.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 3 to delete." in result.out

    refused = apply()
    assert refused.code == 1
    assert "--allow-destroy" in refused.err
    assert (project / LOCK).read_text() == before
    assert initech_ids <= live_ids(sim)

    data_loss = apply("--allow-destroy")  # the teardown deletes initech's Postgres: its data too
    assert data_loss.code == 1
    assert "deleting initech/postgres.backboneos-db deletes a datastore and all the data" in data_loss.err
    assert (project / LOCK).read_text() == before
    done = apply("--allow-destroy", "--allow-data-loss")
    assert done.code == 0, done.output
    assert not initech_ids & live_ids(sim)
    assert "initech" not in json.loads((project / LOCK).read_text())["tenants"]
    assert plan().code == 0


def test_secrets_never_printed(sim: Sim, project: Path) -> None:
    outputs = [plan(), apply()]
    ids = lock_ids(project / LOCK)
    globex = project / "tenants" / "globex.yaml"
    globex.write_text(globex.read_text().replace('"pipelines"', '"pipelines,reports"'))
    outputs += [plan(), apply(), plan()]
    secrets: list[str] = []
    for key, rid in ids.items():
        if key.endswith("postgres.backboneos-db"):
            info = sim.get(f"/postgres/{rid}/connection-info").json()
            secrets += [info["password"], info["internalConnectionString"]]
        if key.endswith("web_service.backboneos-backend"):
            secrets.append(sim.get(f"/services/{rid}/env-vars/DJANGO_SECRET_KEY").json()["value"])
    assert len(secrets) == 9
    text = "".join(o.output for o in outputs) + (project / LOCK).read_text()
    for secret in secrets:
        assert secret not in text
    assert "envVars.DATABASE_URL" in outputs[0].out and "(known after apply)" in outputs[0].out


def test_lockfile_id_missing_live_is_planned_as_create(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    worker = lock_ids(project / LOCK)["globex/background_worker.backboneos-worker"]
    with sim.http() as http:
        assert http.delete(f"/services/{worker}").status_code == 204
    result = plan()
    assert result.code == 2
    headers = change_lines(result.out)
    assert len(headers) == 1 and headers[0].startswith("+ background_worker.backboneos-worker")
    assert f"missing live: deleted outside renderer (Render answers 404 for {worker})" in result.out
    assert apply().code == 0
    assert lock_ids(project / LOCK)["globex/background_worker.backboneos-worker"] != worker
    assert plan().code == 0


def test_existing_name_not_in_lockfile_is_an_error(sim: Sim, project: Path) -> None:
    body = {"type": "background_worker", "name": "backboneos-worker-globex", "ownerId": sim.owner_id,
            "serviceDetails": {"runtime": "python", "envSpecificDetails": {
                "buildCommand": "true", "startCommand": "true"}}}
    with sim.http() as http:
        created = http.post("/services", json=body)
    assert created.status_code == 201, created.text
    before = sim.exchanges()
    result = apply()
    assert result.code == 1
    assert "backboneos-worker-globex" in result.err and "already exists" in result.err
    assert "adopt" in result.err
    assert "Traceback" not in result.output
    assert not (project / LOCK).exists()
    writes = [json.loads(line) for line in sim.record.read_text().splitlines()[before:]]
    assert all(entry["method"] == "GET" for entry in writes)


def test_tenant_narrowing(sim: Sim, project: Path) -> None:
    result = plan("--tenant", "globex")
    assert result.code == 2
    assert len(change_lines(result.out)) == 3
    assert "acme-corp" not in result.out
    assert apply("--tenant", "globex").code == 0
    assert set(json.loads((project / LOCK).read_text())["tenants"]) == {"globex"}
    unknown = plan("--tenant", "nobody")
    assert unknown.code == 1 and "unknown tenant: nobody" in unknown.err
