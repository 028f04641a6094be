"""Issue 5 (phase A): a plan that explains itself, env vars and secrets, drift, safety, saved plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from filelock import FileLock

from renderer.apply import ApplyReport
from renderer.fingerprint import Fingerprinter
from tests.conftest import Sim, run
from tests.helpers import (
    LOCK,
    add_blueprint_line,
    apply,
    change_lines,
    env_of,
    exchanges_since,
    lock,
    lock_id,
    only_tenant,
    plan,
    put_env,
    squeeze,
    writes_since,
)

WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
DB = "postgres.backboneos-db"


@pytest.fixture
def globex(sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One tenant (globex), applied, with a fingerprint key set."""
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "test-fingerprint-key")
    only_tenant(project, "globex")
    assert apply().code == 0
    return project


def test_dashboard_edit_is_drift_and_apply_restores_it(sim: Sim, globex: Path) -> None:
    web = lock_id(globex, "globex", WEB)
    put_env(sim, web, "TENANT_NAME", "Hacked Corp")
    result = plan()
    assert result.code == 2, result.output
    assert change_lines(result.out) == [
        f'~ {WEB}  "backboneos-backend-globex" {web}  (drift: changed outside renderer)']
    assert '~ envVars.TENANT_NAME = "Hacked Corp" -> "Globex Corporation"  # changed outside renderer' in result.out

    drift = run("drift", "--detailed-exitcode")
    assert drift.code == 2, drift.output
    assert (f"{WEB} backboneos-backend-globex ({web}): changed outside renderer: env var TENANT_NAME changed"
            in drift.out)

    assert apply().code == 0
    assert env_of(sim, web)["TENANT_NAME"] == "Globex Corporation"
    assert plan().code == 0
    assert run("drift", "--detailed-exitcode").code == 0


def test_blueprint_change_is_not_drift(sim: Sim, globex: Path) -> None:
    tenant = globex / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    result = plan()
    assert result.code == 2
    assert change_lines(result.out)[0].endswith("(field changed)")
    assert '~ envVars.CRM_DEFAULT_CURRENCY = "USD" -> "EUR"\n' in result.out
    assert "changed outside renderer" not in result.out
    assert run("drift", "--detailed-exitcode").code == 0  # a pending blueprint change is not drift


def test_both_changed_reports_field_changed_and_marks_the_drifted_field(sim: Sim, globex: Path) -> None:
    web = lock_id(globex, "globex", WEB)
    put_env(sim, web, "TENANT_SLUG", "someone-else")
    tenant = globex / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    result = plan()
    assert change_lines(result.out)[0].endswith("(field changed)")
    assert '~ envVars.TENANT_SLUG = "someone-else" -> "globex" # changed outside renderer' in squeeze(result.out)
    assert '~ envVars.CRM_DEFAULT_CURRENCY = "USD" -> "EUR"\n' in squeeze(result.out)


def test_key_set_by_hand_is_never_touched(sim: Sim, globex: Path) -> None:
    web = lock_id(globex, "globex", WEB)
    put_env(sim, web, "HAND_SET", "by-a-person")
    tenant = globex / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    assert plan().code == 2
    assert "HAND_SET" not in plan().out
    start = sim.exchanges()
    assert apply().code == 0
    assert env_of(sim, web)["HAND_SET"] == "by-a-person"
    assert writes_since(sim, start) == [
        ("PUT", f"/v1/services/{web}/env-vars/CRM_DEFAULT_CURRENCY"),
        ("POST", f"/v1/services/{web}/deploys"),
    ]
    assert plan().code == 0


def test_twenty_five_keys_survive_a_change_of_one(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    tenant = project / "tenants" / "globex.yaml"
    settings = "".join(f'  SETTING_{i:02d}: "value-{i}"\n' for i in range(25))
    tenant.write_text(tenant.read_text() + settings)
    assert apply().code == 0
    web = lock_id(project, "globex", WEB)
    before = env_of(sim, web)
    assert len(before) == 31  # 25 settings, 2 tenant env, TENANT_SLUG, TENANT_NAME, DATABASE_URL, secret key
    tenant.write_text(tenant.read_text().replace('SETTING_13: "value-13"', 'SETTING_13: "changed"'))
    start = sim.exchanges()
    assert apply().code == 0
    assert writes_since(sim, start) == [
        ("PUT", f"/v1/services/{web}/env-vars/SETTING_13"),
        ("POST", f"/v1/services/{web}/deploys"),
    ]
    after = env_of(sim, web)
    assert after == {**before, "SETTING_13": "changed"}
    assert plan().code == 0


def test_generated_value_is_sent_only_when_missing(sim: Sim, globex: Path) -> None:
    web = lock_id(globex, "globex", WEB)
    secret = env_of(sim, web)["DJANGO_SECRET_KEY"]
    tenant = globex / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    assert apply().code == 0
    assert env_of(sim, web)["DJANGO_SECRET_KEY"] == secret
    with sim.http() as http:
        assert http.delete(f"/services/{web}/env-vars/DJANGO_SECRET_KEY").status_code == 204
    result = plan()
    assert "+ envVars.DJANGO_SECRET_KEY = (sensitive)  # changed outside renderer" in result.out
    assert "(drift: changed outside renderer)" in result.out
    assert apply().code == 0
    regenerated = env_of(sim, web)["DJANGO_SECRET_KEY"]
    assert regenerated and regenerated != secret
    assert plan().code == 0


def _secret_blueprint(project: Path) -> None:
    add_blueprint_line(project, "generateValue: true",
                       "      - key: STRIPE_KEY\n        sync: false\n      - key: SUPPORT_EMAIL_TOKEN\n"
                       "        sync: false\n")


def test_tenant_secret_from_environment_with_fingerprint(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_tenant(project, "globex")
    _secret_blueprint(project)
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n")
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "k1")
    monkeypatch.delenv("GLOBEX_STRIPE_KEY", raising=False)

    first = plan()
    assert first.code == 2
    assert "+ envVars.STRIPE_KEY = (known after apply)" in squeeze(first.out)
    assert "secret STRIPE_KEY comes from $GLOBEX_STRIPE_KEY, which is not set here" in first.out
    refused = apply()
    assert refused.code == 1
    assert "tenant secrets are not set in the environment: $GLOBEX_STRIPE_KEY (secret STRIPE_KEY of " \
           f"globex/{WEB})" in refused.err
    assert not (project / LOCK).exists()

    monkeypatch.setenv("GLOBEX_STRIPE_KEY", "sk_live_first_value_123")
    outputs = [apply()]
    assert outputs[0].code == 0, outputs[0].output
    web = lock_id(project, "globex", WEB)
    assert env_of(sim, web)["STRIPE_KEY"] == "sk_live_first_value_123"
    assert "SUPPORT_EMAIL_TOKEN" not in env_of(sim, web)
    assert "Manual action required:" in outputs[0].out
    assert ("- globex web_service.backboneos-backend: set SUPPORT_EMAIL_TOKEN on backboneos-backend-globex in the "
            "Render dashboard") in outputs[0].out
    applied = lock(project)["tenants"]["globex"]["resources"][WEB]["applied"]
    assert applied["envVars.STRIPE_KEY"] == Fingerprinter(b"k1").of("sk_live_first_value_123", sensitive=True)
    assert "STRIPE_KEY" in lock(project)["tenants"]["globex"]["resources"][WEB]["env_vars"]

    outputs.append(plan())
    assert outputs[-1].code == 0  # the manual action is not a change
    assert "Manual action required:" in outputs[-1].out

    monkeypatch.setenv("GLOBEX_STRIPE_KEY", "sk_live_second_value_456")
    outputs.append(plan())
    assert outputs[-1].code == 2
    assert "~ envVars.STRIPE_KEY = (sensitive value changed)\n" in outputs[-1].out
    assert change_lines(outputs[-1].out)[0].endswith("(field changed)")
    outputs.append(plan("--format", "json"))
    outputs.append(plan("--format", "markdown"))
    outputs.append(apply())
    assert env_of(sim, web)["STRIPE_KEY"] == "sk_live_second_value_456"

    # Without the value at plan time (a PR plan), a dashboard edit of the secret is still seen.
    put_env(sim, web, "STRIPE_KEY", "sk_tampered")
    monkeypatch.delenv("GLOBEX_STRIPE_KEY")
    outputs.append(plan())
    assert "~ envVars.STRIPE_KEY = (sensitive) -> (known after apply)  # changed outside renderer" in outputs[-1].out
    outputs.append(run("drift"))
    assert "env var STRIPE_KEY changed" in outputs[-1].out

    text = "".join(o.output for o in outputs) + (project / LOCK).read_text()
    for secret in ("sk_live_first_value_123", "sk_live_second_value_456", "sk_tampered"):
        assert secret not in text


def test_secret_nobody_declares_is_a_validation_error(project: Path) -> None:
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n")
    result = run("validate")
    assert result.code == 1
    assert ("tenants/globex.yaml:9:3: error: secret STRIPE_KEY is not declared by any service of blueprint "
            "'base_crm' at secrets.STRIPE_KEY") in result.out
    assert "`sync: false`" in result.out


def test_region_change_replaces_and_postgres_needs_allow_data_loss(sim: Sim, globex: Path) -> None:
    tenant = globex / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "region: ohio\n")
    result = plan()
    assert result.code == 3
    headers = change_lines(result.out)
    assert [h.split("  ")[0] for h in headers] == [f"-/+ {DB}", f"-/+ {WORKER}", f"-/+ {WEB}"]
    assert all("(cannot update in place: region)" in h for h in headers)
    assert "[data loss: needs --allow-data-loss]" in headers[0]
    assert '~ region = "oregon" -> "ohio"  # forces replacement' in result.out
    before = (globex / LOCK).read_text()
    no_replace = apply()
    assert no_replace.code == 1 and "--allow-replace" in no_replace.err
    no_data_loss = apply("--allow-replace")
    assert no_data_loss.code == 1
    assert f"replacing globex/{DB} deletes a database and all its data" in no_data_loss.err
    assert (globex / LOCK).read_text() == before
    done = apply("--allow-replace", "--allow-data-loss")
    assert done.code == 0, done.output
    assert "3 replaced" in done.out
    assert sim.get(f"/postgres/{lock_id(globex, 'globex', DB)}").json()["region"] == "ohio"
    assert plan().code == 0


def test_service_type_change_is_one_replace(sim: Sim, globex: Path) -> None:
    path = globex / "blueprints" / "base_crm" / "render.yaml.j2"
    path.write_text(path.read_text().replace("  - type: worker\n", "  - type: pserv\n"))
    old = lock_id(globex, "globex", WORKER)
    result = plan()
    assert result.code == 3
    assert change_lines(result.out) == [
        f'-/+ private_service.backboneos-worker (replaces {WORKER})  "backboneos-worker-globex" {old}  '
        "(cannot update in place: type (background_worker -> private_service))"]
    assert apply("--allow-replace").code == 0
    resources = lock(globex)["tenants"]["globex"]["resources"]
    assert WORKER not in resources and resources["private_service.backboneos-worker"]["kind"] == "private_service"
    assert plan().code == 0


def test_possible_rename_is_flagged(sim: Sim, globex: Path) -> None:
    path = globex / "blueprints" / "base_crm" / "render.yaml.j2"
    path.write_text(path.read_text().replace("name: backboneos-worker", "name: backboneos-tasks"))
    result = plan()
    assert result.code == 3
    assert (f"- globex: possible rename: {WORKER} -> background_worker.backboneos-tasks (same type and repo)"
            in result.out)
    doc = json.loads(plan("--format", "json").out)
    assert [n["kind"] for n in doc["notices"]] == ["possible_rename"]


def test_removed_command_is_cleared_and_empty_equals_missing(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    add_blueprint_line(project, "healthCheckPath: /healthz", "    preDeployCommand: python manage.py migrate\n")
    assert apply().code == 0
    web = lock_id(project, "globex", WEB)
    details = sim.get(f"/services/{web}").json()["serviceDetails"]
    assert details["envSpecificDetails"]["preDeployCommand"] == "python manage.py migrate"
    path = project / "blueprints" / "base_crm" / "render.yaml.j2"
    path.write_text(path.read_text().replace("    preDeployCommand: python manage.py migrate\n", ""))
    result = plan()
    assert '~ preDeployCommand = "python manage.py migrate" -> ""' in result.out
    assert apply().code == 0
    assert plan().code == 0


def test_saved_plan_is_applied_exactly_and_refused_when_stale(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    saved = run("plan", "--out", "plan.json")
    assert saved.code == 0 and "Saved the plan to plan.json" in saved.out
    document = json.loads((project / "plan.json").read_text())
    assert document["format_version"] == "1" and document["summary"]["create"] == 5
    done = run("apply", "plan.json")
    assert done.code == 0, done.output
    assert "Apply complete! Resources: 5 created" in done.out

    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('"USD"', '"EUR"'))
    assert run("plan", "--out", "plan.json").code == 0
    tenant.write_text(tenant.read_text().replace('"EUR"', '"GBP"'))
    stale = run("apply", "plan.json")
    assert stale.code == 1
    assert "the saved plan plan.json is out of date; nothing was changed" in stale.err
    assert "- tenant file tenants/globex.yaml changed" in stale.err

    assert run("plan", "--out", "plan.json").code == 0
    web = lock_id(project, "globex", WEB)
    put_env(sim, web, "HAND_SET", "x")
    live_changed = run("apply", "plan.json")
    assert live_changed.code == 1
    assert f"- live state of globex/{WEB} ({web}) changed on Render" in live_changed.err
    assert run("apply", "--tenant", "globex", "plan.json").code == 1  # scope comes from the saved plan
    broken = project / "broken.json"
    broken.write_text("{}")
    not_a_plan = run("apply", "broken.json")
    assert not_a_plan.code == 1 and "is not a saved renderer plan" in not_a_plan.err


def test_saved_plan_is_refused_when_a_tenant_secret_changed(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_tenant(project, "globex")
    _secret_blueprint(project)
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: SEC_STRIPE}\n")
    monkeypatch.delenv("RENDERER_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("SEC_STRIPE", "sk_live_CHANGED")
    assert run("plan", "--out", "secplan.json").code == 0
    assert "sk_live_CHANGED" not in (project / "secplan.json").read_text()

    monkeypatch.setenv("SEC_STRIPE", "sk_live_OTHER")
    refused = run("apply", "secplan.json")
    assert refused.code == 1, refused.output
    assert "the saved plan secplan.json is out of date; nothing was changed" in refused.err
    assert ("- the secret STRIPE_KEY of tenant globex changed since the plan (its environment variable holds "
            "another value or is unset)") in refused.err
    assert "sk_live_" not in refused.output
    assert not (project / LOCK).exists()
    assert [s for s in sim.get("/services").json()] == []

    monkeypatch.setenv("SEC_STRIPE", "sk_live_CHANGED")
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "a-new-key")
    rekeyed = run("apply", "secplan.json")
    assert rekeyed.code == 1
    assert ("- RENDERER_FINGERPRINT_KEY changed since the plan (the secrets' fingerprints cannot be compared)"
            in rekeyed.err)
    assert "the secret STRIPE_KEY" not in rekeyed.err

    monkeypatch.delenv("RENDERER_FINGERPRINT_KEY")
    done = run("apply", "secplan.json")
    assert done.code == 0, done.output
    assert env_of(sim, lock_id(project, "globex", WEB))["STRIPE_KEY"] == "sk_live_CHANGED"


def test_deletion_protection_survives_the_tenant_file(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    tenant = project / "tenants" / "globex.yaml"
    original = tenant.read_text()
    tenant.write_text(original + "deletion_protection: true\n")
    assert apply().code == 0
    assert lock(project)["tenants"]["globex"]["deletion_protection"] is True
    tenant.unlink()
    (project / "tenants" / "other.yaml").write_text(
        "name: Other\nslug: other\nblueprint: base_crm\n")  # keep tenants/ non-empty
    result = plan("--tenant", "globex")
    assert result.code == 3
    assert "[refused: deletion_protection]" in result.out
    assert "restore its tenant file with `deletion_protection: false`, apply, then delete the file" in result.out
    before = (project / LOCK).read_text()
    refused = apply("--tenant", "globex", "--allow-destroy", "--allow-mass-destroy")
    assert refused.code == 1
    assert "deletion protection: the plan would delete or replace globex/" in refused.err
    assert (project / LOCK).read_text() == before

    tenant.write_text(original + "deletion_protection: false\n")
    assert apply("--tenant", "globex").code == 0
    assert lock(project)["tenants"]["globex"]["deletion_protection"] is False
    tenant.unlink()
    assert apply("--tenant", "globex", "--allow-destroy", "--allow-data-loss").code == 0
    assert "globex" not in lock(project)["tenants"]


def test_mass_delete_breaker(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    before = (project / LOCK).read_text()
    (project / "tenants" / "globex.yaml").unlink()
    (project / "tenants" / "initech.yaml").unlink()
    result = plan()
    assert "mass-delete breaker: 2 tenants would be torn down (globex, initech)" in result.out
    refused = apply("--allow-destroy")
    assert refused.code == 1
    assert "more than max(1, 10% of 3) at once is refused" in refused.err
    assert (project / LOCK).read_text() == before
    for path in (project / "tenants").glob("*.yaml"):
        path.unlink()
    empty = apply("--allow-destroy", "--tenant", "acme-corp")
    assert empty.code == 1
    assert "the tenants directory has no tenant files" in empty.err
    done = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy")
    assert done.code == 0, done.output
    assert lock(project)["tenants"] == {}


def test_second_apply_waits_for_the_lock_then_gives_up(sim: Sim, project: Path) -> None:
    held = FileLock(str(project / "render.lock.json.apply-lock"))
    with held:
        result = apply("--lock-timeout", "0.3")
    assert result.code == 1
    assert "another renderer apply or import is running on render.lock.json" in result.err
    assert "waited 0.3 s; nothing was changed" in result.err
    assert not (project / LOCK).exists()
    assert apply("--lock-timeout", "0.3").code == 0


def test_tenant_status_and_status_command(sim: Sim, globex: Path) -> None:
    assert lock(globex)["tenants"]["globex"]["status"] == "active"
    # Deploys start under way (issue 12); once live, the state column is short enough for the URL to stay
    # on the service's line in the 120-column table (issue 13).
    assert sim.admin("/_sim/clock/advance", {"seconds": 60}).status_code == 200
    result = run("status", "globex")
    assert result.code == 0, result.output
    web = lock_id(globex, "globex", WEB)
    assert result.out.splitlines()[0] == "Tenant globex (active)"
    line = next(line for line in result.out.splitlines() if web in line)
    assert line.split()[:2] == [WEB, web]
    assert "suspended" not in line and "backboneos-backend-globex.onrender.com" in line
    assert "deploy " in line
    db_line = next(line for line in result.out.splitlines() if DB in line)
    assert "available" in db_line or "creating" in db_line
    unknown = run("status", "nobody")
    assert unknown.code == 1 and "tenant 'nobody' is not in render.lock.json" in unknown.err


def test_drift_reports_missing_and_unmanaged_as_json(sim: Sim, globex: Path) -> None:
    assert run("drift", "--detailed-exitcode").code == 0
    worker = lock_id(globex, "globex", WORKER)
    with sim.http() as http:
        assert http.delete(f"/services/{worker}").status_code == 204
        body = {"type": "background_worker", "name": "backboneos-extra-globex", "ownerId": sim.owner_id,
                "serviceDetails": {"runtime": "python", "plan": "starter",
                                   "envSpecificDetails": {"buildCommand": "true", "startCommand": "true"}}}
        extra = http.post("/services", json=body).json()["service"]["id"]
    result = run("drift", "--detailed-exitcode", "--format", "json")
    assert result.code == 2
    doc = json.loads(result.out)
    assert doc["format_version"] == "1" and doc["drift"] is True
    assert [(i["kind"], i["id"]) for i in doc["items"]] == [("missing", worker), ("unmanaged", extra)]
    assert run("drift").code == 0  # without --detailed-exitcode


def test_import_adopts_existing_services_without_writing(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    body = {"type": "background_worker", "name": "backboneos-worker-globex", "ownerId": sim.owner_id,
            "repo": "https://github.com/backboneos/backboneos", "branch": "main",
            "serviceDetails": {"runtime": "python", "plan": "starter", "envSpecificDetails": {
                "buildCommand": "pip install -r requirements.txt",
                "startCommand": "celery -A backboneos worker --loglevel=info"}}}
    with sim.http() as http:
        worker = http.post("/services", json=body).json()["service"]["id"]
    refused = plan()
    assert refused.code == 1
    assert "hint: adopt the existing resources into render.lock.json with `renderer import globex`" in refused.err
    start = sim.exchanges()
    result = run("import", "globex")
    assert result.code == 0, result.output
    assert all(method == "GET" for method, _ in [(e["method"], e["path"]) for e in exchanges_since(sim, start)])
    assert f"globex: imported {WORKER} = {worker}" in result.out
    assert f"globex: {DB}: no resource with its name on Render; the next apply creates it" in result.out
    assert lock_id(project, "globex", WORKER) == worker
    assert "+ postgres.backboneos-db" in result.out and f"~ {WORKER}" in result.out
    assert apply().code == 0
    assert lock_id(project, "globex", WORKER) == worker
    assert plan().code == 0


def test_apply_wait_follows_deploys_to_live(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    result = apply("--wait")
    assert result.code == 0, result.output
    web = lock_id(project, "globex", WEB)
    assert sum(1 for line in result.out.splitlines() if line.endswith(" live") and ": deploy dep-" in line) == 2
    deploys = sim.get(f"/services/{web}/deploys").json()
    assert [d["deploy"]["status"] for d in deploys] == ["live"]
    assert lock(project)["tenants"]["globex"]["status"] == "active"


def test_apply_report_computes_the_exit_code() -> None:
    assert ApplyReport(created=["a/b"]).exit_code == 0
    assert ApplyReport(cancelled=True).exit_code == 1
    assert ApplyReport(failed=["a/web (deploy dep-1 build_failed)"]).exit_code == 1
    incomplete = ApplyReport(created=["a/db"], remaining=["a/web"], stopped_reason="Render rate budget")
    assert incomplete.exit_code == 4
    assert incomplete.summary() == ("Apply incomplete (Render rate budget)! Resources: 1 created, 0 updated, "
                                    "0 replaced, 0 destroyed. 1 changes left for the next run: a/web.")
    assert ApplyReport(failed=["x"], remaining=["y"]).exit_code == 1


def test_lockfile_without_new_fields_still_reads(sim: Sim, globex: Path) -> None:
    data = lock(globex)
    for tenant in data["tenants"].values():
        del tenant["status"], tenant["deletion_protection"]
        for resource in tenant["resources"].values():
            del resource["applied"]
    (globex / LOCK).write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")
    assert plan().code == 0
    assert apply().code == 0
    assert lock(globex)["tenants"]["globex"]["status"] == "active"
    assert lock(globex)["tenants"]["globex"]["resources"][WEB]["applied"]


def test_dashboard_plan_change_is_field_drift(sim: Sim, globex: Path) -> None:
    worker = lock_id(globex, "globex", WORKER)
    with sim.http() as http:
        assert http.patch(f"/services/{worker}", json={"serviceDetails": {"plan": "standard"}}).status_code == 200
    result = plan()
    assert change_lines(result.out) == [
        f'~ {WORKER}  "backboneos-worker-globex" {worker}  (drift: changed outside renderer)']
    assert '~ plan = "standard" -> "starter" # changed outside renderer' in squeeze(result.out)
    doc = json.loads(plan("--format", "json").out)
    change = next(c for c in doc["changes"] if c["address"] == WORKER)
    assert change["reason"] == "drift: changed outside renderer"
    assert change["fields"] == [{"path": "plan", "before": "standard", "after": "starter", "before_set": True,
                                 "after_set": True, "sensitive": False, "after_known": True,
                                 "forces_replace": False, "drift": True}]
    markdown = plan("--format", "markdown").out
    assert "**1 tenant: 0 create, 1 update, 0 delete, 0 unchanged**" in markdown
    assert '-     plan = "standard"\n+     plan = "starter"  # changed outside renderer' in markdown
    drift = run("drift")
    assert "plan is now 'standard'" in drift.out
    assert apply().code == 0
    assert sim.get(f"/services/{worker}").json()["serviceDetails"]["plan"] == "starter"


def test_an_imported_tenant_manages_its_declared_env_keys(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    (project / "render.lock.json").unlink()
    assert run("import", "globex").code == 0
    assert lock(project)["tenants"]["globex"]["resources"][WEB]["env_vars"] == [
        "CRM_DEFAULT_CURRENCY", "CRM_FEATURE_FLAGS", "DATABASE_URL", "DJANGO_SECRET_KEY", "TENANT_NAME",
        "TENANT_SLUG"]
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text().replace('  CRM_DEFAULT_CURRENCY: "USD"\n', ""))
    result = plan()
    assert result.code == 2, result.output
    assert "- envVars.CRM_DEFAULT_CURRENCY" in result.out
    assert apply().code == 0
    web = lock_id(project, "globex", WEB)
    assert "CRM_DEFAULT_CURRENCY" not in {e["envVar"]["key"] for e in sim.get(f"/services/{web}/env-vars").json()}
