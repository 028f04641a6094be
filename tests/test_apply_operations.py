"""Issue 5 (phase B): Render's service-create budget, backups before Postgres deletes, `apply --wait`
failures and concurrent tenants."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.conftest import Sim, SimClock
from tests.helpers import LOCK, apply, exchanges_since, lock, lock_id, only_tenant, plan

WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
DB = "postgres.backboneos-db"


def _service_names(sim: Sim) -> list[str]:
    return sorted(s["service"]["name"] for s in sim.get("/services", limit=100).json())


def _advance(clock: SimClock, seconds: float) -> None:
    """Let simulated time pass for the simulator and for the clients tests build (one clock)."""
    asyncio.run(clock.sleep(seconds))


def _statuses(project: Path) -> dict[str, str]:
    return {slug: t["status"] for slug, t in lock(project)["tenants"].items()}


@pytest.fixture
def small_budget(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> Sim:
    """Render's budgets at a tenth, on the simulator and in the client: 2 service creates an hour. The
    Postgres, Key Value and custom-domain create budgets stay Render's (these tests are about services;
    tests/test_render_fidelity.py spends the Postgres one)."""
    full = {"create_postgres": 20, "create_key_value": 20, "create_custom_domain": 50}
    assert sim.admin("/_sim/rate-limits", {"scale": 0.1, "budgets": full}).status_code == 200
    monkeypatch.setenv("RENDERER_RATE_LIMITS", "scale=0.1,create_postgres=200/1h,create_key_value=200/1h,"
                                               "create_custom_domain=500/1h")  # x 0.1: Render's
    return sim


def test_plan_warns_how_long_the_creates_take(small_budget: Sim, project: Path) -> None:
    result = plan()
    assert result.code == 2, result.output
    assert ("- 6 service creates exceed Render's budget of 2 per hour: apply will need about 3 runs over ~2 h "
            "(each run does what fits and exits 4; re-run `renderer apply` after the window resets)") in result.out


def test_plan_within_budget_has_no_warning(sim: Sim, project: Path) -> None:
    result = plan()
    assert result.code == 2
    assert "service creates exceed" not in result.out


def test_apply_over_budget_does_what_fits_and_resumes(small_budget: Sim, project: Path, client_seam: SimClock,
                                                      ) -> None:
    clock = client_seam
    sim = small_budget
    # Deploys live in 1 s: waiting for them (one poll) barely moves the clock the budget window is read on.
    assert sim.admin("/_sim/deploy-timing", {"seconds": 1}).status_code == 200
    first = apply()
    assert first.code == 4, first.output
    # Plan order: acme-corp takes the two creates; globex and initech get their databases only.
    assert _service_names(sim) == ["backboneos-backend-acme-corp", "backboneos-worker-acme-corp"]
    assert _statuses(project) == {"acme-corp": "active", "globex": "provisioning", "initech": "provisioning"}
    assert sorted(lock(project)["tenants"]["globex"]["resources"]) == [DB]
    assert ("globex: 2 creates wait for the next run (Render's service-create budget is spent): "
            f"{WORKER}, {WEB}") in first.out
    assert ("incomplete: Render rate budget: 4 service creates (4 changes in all) left for the next run; "
            "the budget (2 per hour) refills within 1 h; re-run `renderer apply` then, it carries on where "
            "this run stopped") in first.out
    assert ("Apply incomplete (Render rate budget)! Resources: 5 created, 0 updated, 0 replaced, 0 destroyed. "
            f"4 changes left for the next run: globex/{WORKER}, globex/{WEB}, initech/{WORKER}, "
            f"initech/{WEB}.") in first.out
    assert not (project / (LOCK + ".journal")).exists()

    window = lock(project)["service_create_window"]
    assert window["used"] == 2
    assert ("- 4 service creates exceed what is left of Render's budget of 2 per hour (0 until the window "
            "resets in ~1 h): apply will need about 3 runs over ~2 h") in plan().out

    # Too early: the lockfile says the hour's budget is spent, so nothing is sent.
    start = sim.exchanges()
    early = apply()
    assert early.code == 4, early.output
    assert not [e for e in exchanges_since(sim, start) if (e["method"], e["path"]) == ("POST", "/v1/services")]
    assert "incomplete: Render rate budget: 4 service creates (4 changes in all) left" in early.out
    assert "Render's window resets in ~1 h" in early.out, [ln for ln in early.out.splitlines() if "incomplete" in ln]

    # The budget spent elsewhere (the lockfile does not know): Render's 429 stops the creates at once.
    data = lock(project)
    del data["service_create_window"]
    (project / LOCK).write_text(json.dumps(data))
    start = sim.exchanges()
    refused = apply()
    assert refused.code == 4, refused.output
    creates = [e for e in exchanges_since(sim, start) if (e["method"], e["path"]) == ("POST", "/v1/services")]
    assert [e["status"] for e in creates] == [429]
    assert "Render's window resets in ~1 h" in refused.out
    assert lock(project)["service_create_window"]["used"] == 2
    assert len(_service_names(sim)) == 2
    # The refused create stays unresolved in the journal (a 429 is not taken as a certain refusal); the
    # next apply looks it up by name first and finds nothing.
    journal = [json.loads(line) for line in (project / (LOCK + ".journal")).read_text().splitlines()]
    [refused_create] = [step for step in journal if step["phase"] == "intent" and step["op"] == "create"
                        and not any(s["seq"] == step["seq"] and s["phase"] != "intent" for s in journal)]

    _advance(clock, 3600)
    second = apply()
    assert second.code == 4, second.output
    assert (f"{refused_create['tenant']}: {refused_create['address']}: an interrupted create of "
            f"{refused_create['name']} never reached Render") in second.out
    assert not (project / (LOCK + ".journal")).exists()
    assert _statuses(project) == {"acme-corp": "active", "globex": "active", "initech": "provisioning"}

    _advance(clock, 3600)
    third = apply()
    assert third.code == 0, third.output
    assert "Apply complete! Resources: 2 created, 0 updated, 0 replaced, 0 destroyed." in third.out
    assert _statuses(project) == {"acme-corp": "active", "globex": "active", "initech": "active"}
    names = _service_names(sim)
    assert len(names) == 6 == len(set(names))
    assert plan().code == 0


def test_service_replace_that_does_not_fit_is_not_started(small_budget: Sim, project: Path,
                                                          client_seam: SimClock) -> None:
    """A replace takes its create unit before its delete half: no budget, no delete."""
    sim = small_budget
    only_tenant(project, "globex")
    assert apply().code == 0  # two creates: the hour's budget is spent
    worker = lock_id(project, "globex", WORKER)
    blueprint = project / "blueprints" / "base_crm" / "render.yaml.j2"
    blueprint.write_text(blueprint.read_text().replace("  - type: worker\n", "  - type: pserv\n"))
    result = apply("--allow-replace")
    assert result.code == 4, result.output
    assert ("globex: 1 create wait for the next run (Render's service-create budget is spent): "
            "private_service.backboneos-worker") in result.out
    assert sim.get(f"/services/{worker}").status_code == 200
    assert lock_id(project, "globex", WORKER) == worker
    assert _statuses(project) == {"globex": "provisioning"}
    _advance(client_seam, 3600)
    done = apply("--allow-replace")
    assert done.code == 0, done.output
    assert sim.get(f"/services/{worker}").status_code == 404
    assert _statuses(project) == {"globex": "active"}
    assert plan().code == 0


@pytest.mark.parametrize("outcome", ["build_failed", "update_failed", "pre_deploy_failed", "canceled", "deactivated"])
def test_apply_wait_fails_on_a_failed_deploy(outcome: str, sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert sim.admin("/_sim/deploy-outcomes", {"outcome": outcome, "count": 1}).status_code == 200
    result = apply("--wait")
    assert result.code == 1, result.output
    failed = [line for line in result.out.splitlines() if line.endswith(f" {outcome}") and ": deploy dep-" in line]
    assert len(failed) == 1
    assert "Apply failed! Resources: 3 created, 0 updated, 0 replaced, 0 destroyed. Failed: globex/" in result.out
    assert f"(deploy {failed[0].split('deploy ')[1].split()[0]} {outcome}: " in result.out
    assert lock(project)["tenants"]["globex"]["status"] == "failed"


def _remove_globex(project: Path) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    (project / "tenants" / "globex.yaml").unlink()
    (project / "tenants" / "initech.yaml").write_text(
        "name: Initech\nslug: initech\nblueprint: base_crm\n")  # keeps the breaker from tripping


def test_teardown_exports_the_database_first(sim: Sim, project: Path) -> None:
    _remove_globex(project)
    db = lock_id(project, "globex", DB)
    planned = plan()
    assert planned.code == 3
    assert (f'- {DB}  "backboneos-db-globex" {db}  (tenant removed)  [data loss: needs --allow-data-loss]  '
            '[backup: apply exports the database first]') in planned.out
    start = sim.exchanges()
    result = apply("--allow-destroy", "--allow-data-loss")
    assert result.code == 0, result.output
    exports = sim.get(f"/postgres/{db}/export")
    assert exports.status_code == 404  # gone with the database; the export was taken before:
    writes = [(e["method"], e["path"], e["status"]) for e in exchanges_since(sim, start) if e["method"] != "GET"]
    export_at = writes.index(("POST", f"/v1/postgres/{db}/export", 202))
    assert writes.index(("DELETE", f"/v1/postgres/{db}", 204)) > export_at
    listed = [e for e in exchanges_since(sim, start) if e["path"] == f"/v1/postgres/{db}/export"
              and e["method"] == "GET" and e["status"] == 200 and e["response"]]
    export = listed[-1]["response"][0]
    assert export["url"] == f"https://sim-exports.invalid/{db}/{export['id']}.dir.tar.gz"
    assert (f"globex: {DB}: backup taken: export {export['id']} of {db} "
            f"(https://sim-exports.invalid/{db}/{export['id']}.dir.tar.gz)") in result.out
    assert "globex" not in lock(project)["tenants"]


def test_skip_backup_deletes_without_an_export(sim: Sim, project: Path) -> None:
    _remove_globex(project)
    db = lock_id(project, "globex", DB)
    start = sim.exchanges()
    result = apply("--allow-destroy", "--allow-data-loss", "--skip-backup")
    assert result.code == 0, result.output
    assert f"globex: {DB}: no backup of {db} (--skip-backup)" in result.out
    assert not [e for e in exchanges_since(sim, start) if e["path"].endswith("/export")]
    assert sim.get(f"/postgres/{db}").status_code == 404


def test_failed_export_stops_the_delete(sim: Sim, project: Path) -> None:
    _remove_globex(project)
    db = lock_id(project, "globex", DB)
    rule = {"action": "status", "method": "POST", "path": "/postgres/*/export", "status": 500, "times": 0}
    assert sim.admin("/_sim/faults", {"rules": [rule]}).status_code == 200
    result = apply("--allow-destroy", "--allow-data-loss")
    assert result.code == 1, result.output
    assert f"backup of globex/{DB} ({db}) failed: Render refused the export: Render API 500 on POST" in result.err
    assert "hint: the database was not deleted; fix the cause and re-run apply, or pass --skip-backup" in result.err
    assert sim.get(f"/postgres/{db}").status_code == 200
    assert lock_id(project, "globex", DB) == db
    assert lock(project)["tenants"]["globex"]["status"] == "failed"
    assert not (project / (LOCK + ".journal")).exists() or all(
        json.loads(line).get("op") != "delete" or json.loads(line).get("kind") != "postgres"
        for line in (project / (LOCK + ".journal")).read_text().splitlines())


def test_export_that_never_completes_stops_the_delete(sim: Sim, project: Path) -> None:
    _remove_globex(project)
    db = lock_id(project, "globex", DB)
    result = apply("--allow-destroy", "--allow-data-loss", "--backup-timeout", "3")  # the simulator's export takes 10 s
    assert result.code == 1, result.output
    assert f"backup of globex/{DB} ({db}) failed: the export was started but is not complete after 3 s" in (
        result.err)
    assert sim.get(f"/postgres/{db}").status_code == 200


def _masked(text: str) -> str:
    text = re.sub(r'"resets_at": [0-9.]+', '"resets_at": T', text)
    return re.sub(r"\b(srv|dpg|dep|exp)-[0-9a-v]{20}\b", r"\1-ID", text)


def _apply_two_tenants(sim: Sim, project: Path, parallelism: str) -> tuple[str, str, list[str]]:
    """Apply globex and initech from scratch; returns the masked output, masked lockfile and the order of
    the creates sent (`POST /v1/postgres backboneos-db-globex`)."""
    assert sim.admin("/_sim/reset").status_code == 200
    assert sim.admin("/_sim/faults", {"latencyMs": 30}).status_code == 200  # every call takes a while
    (project / LOCK).unlink(missing_ok=True)
    start = sim.exchanges()
    result = apply("--tenant-parallelism", parallelism)
    assert result.code == 0, result.output
    creates = [f"{e['method']} {e['path']} {e['request']['name']}" for e in exchanges_since(sim, start)
               if e["method"] == "POST" and e["path"] in ("/v1/postgres", "/v1/services")]
    return _masked(result.out), _masked((project / LOCK).read_text()), creates


def test_tenants_apply_concurrently_with_the_result_of_a_sequential_run(sim: Sim, project: Path) -> None:
    (project / "tenants" / "acme-corp.yaml").unlink()
    out_1, lock_1, creates_1 = _apply_two_tenants(sim, project, "1")
    out_2, lock_2, creates_2 = _apply_two_tenants(sim, project, "2")
    sequential = ["POST /v1/postgres backboneos-db-globex", "POST /v1/services backboneos-worker-globex",
                  "POST /v1/services backboneos-backend-globex", "POST /v1/postgres backboneos-db-initech",
                  "POST /v1/services backboneos-worker-initech", "POST /v1/services backboneos-backend-initech"]
    assert creates_1 == sequential
    # Concurrent: both tenants' databases are created before either tenant's services.
    assert sorted(creates_2[:2]) == [sequential[0], sequential[3]]
    assert sorted(creates_2) == sorted(sequential)
    # Output in plan order, line for line as the sequential run's; the same lockfile (IDs aside).
    assert out_2 == out_1
    assert lock_2 == lock_1
    assert plan().code == 0


def test_a_failed_tenant_starts_no_further_tenant(sim: Sim, project: Path) -> None:
    """Two at a time: acme-corp fails, globex (already running) finishes, initech never starts."""
    others = {name: (project / "tenants" / f"{name}.yaml").read_text() for name in ("globex", "initech")}
    only_tenant(project, "acme-corp")
    assert apply().code == 0
    for name, text in others.items():
        (project / "tenants" / f"{name}.yaml").write_text(text)
    acme = project / "tenants" / "acme-corp.yaml"
    acme.write_text(acme.read_text().replace("pipelines,forecasting", "pipelines"))
    web = lock_id(project, "acme-corp", WEB)
    rule = {"action": "status", "method": "PUT", "path": f"/services/{web}/env-vars/*", "status": 400,
            "message": "refused"}
    assert sim.admin("/_sim/faults", {"latencyMs": 30, "rules": [rule]}).status_code == 200
    result = apply("--tenant-parallelism", "2")
    assert result.code == 1, result.output
    assert f"Render API 400 on PUT /services/{web}/env-vars/CRM_FEATURE_FLAGS: refused" in result.err
    assert _statuses(project) == {"acme-corp": "failed", "globex": "active"}
    assert _service_names(sim) == ["backboneos-backend-acme-corp", "backboneos-backend-globex",
                                   "backboneos-worker-acme-corp", "backboneos-worker-globex"]
    assert not [line for line in result.out.splitlines() if line.startswith("initech: ")]  # never started
    assert result.out.index("acme-corp: ") < result.out.index("globex: ")
