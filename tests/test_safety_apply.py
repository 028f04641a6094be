"""Issue 11, the apply half: the apply lock and a symlinked lockfile path, identity before every write by
ID, secret before-values, deletion protection that lifts alone, and data loss that needs its allow. Each
refusal is exit 1 with nothing written to the simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from renderer.apply import apply_lock
from tests.conftest import ROOT, Sim, run
from tests.helpers import LOCK, apply, env_of, lock, only_tenant, put_env, writes_since


def test_a_symlinked_lockfile_shares_the_apply_lock_of_its_target(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    (project / "link.json").symlink_to(LOCK)
    start = sim.exchanges()
    with apply_lock(project / LOCK, timeout=0):
        result = apply("--lockfile", "link.json", "--lock-timeout", "0.3")
    assert result.code == 1
    assert "another renderer apply or import is running on link.json" in result.err
    with apply_lock(project / "link.json", timeout=0):
        assert apply("--lock-timeout", "0.3").code == 1
    assert sim.exchanges() == start  # refused before any request


def test_two_applies_through_a_link_and_its_target_do_not_write_concurrently(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    (project / LOCK).write_text('{"tenants": {}, "version": 1}\n')
    link = project / "link.json"
    link.symlink_to(LOCK)
    start = sim.exchanges()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # --no-wait: these processes run on real time, and the test is about the lock, not the deploys.
    command = [sys.executable, "-m", "renderer.cli.main", "apply", "--auto-approve", "--no-wait"]
    processes = [subprocess.Popen([*command, *extra], cwd=project, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for extra in ((), ("--lockfile", "link.json"))]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    creates = [w for w in writes_since(sim, start) if w[0] == "POST" and w[1] in ("/v1/services", "/v1/postgres")]
    assert len(creates) == 3  # one apply created globex's stack; the other found nothing to do
    assert link.is_symlink() and os.readlink(link) == LOCK
    resources = lock(project)["tenants"]["globex"]["resources"]
    assert len(resources) == 3
    assert sorted(p.name for p in project.iterdir()) == ["blueprints", "link.json", LOCK, LOCK + ".apply-lock",
                                                         "tenants"]


def test_a_write_through_a_symlinked_lockfile_keeps_the_link(sim: Sim, project: Path, tmp_path: Path) -> None:
    only_tenant(project, "globex")
    state = tmp_path / "state"
    state.mkdir()
    (project / LOCK).symlink_to(state / "lock.json")  # dangling until the first write
    assert apply().code == 0
    assert (project / LOCK).is_symlink()
    assert lock(project)["tenants"]["globex"]["status"] == "active"
    assert sorted(p.name for p in state.iterdir()) == ["lock.json", "lock.json.apply-lock"]


WEB = "web_service.backboneos-backend"
WORKER = "background_worker.backboneos-worker"
DB = "postgres.backboneos-db"
TEMPLATE = "blueprints/base_crm/render.yaml.j2"


def _tenants(project: Path, *slugs: str, protect: str | None = None) -> None:
    for path in (project / "tenants").glob("*.yaml"):
        if path.stem not in slugs:
            path.unlink()
    if protect:
        path = project / "tenants" / f"{protect}.yaml"
        path.write_text(path.read_text() + "deletion_protection: true\n")


def _swap(project: Path, address: str, a: str, b: str) -> tuple[str, str]:
    data = lock(project)
    first = data["tenants"][a]["resources"][address]["id"]
    second = data["tenants"][b]["resources"][address]["id"]
    data["tenants"][a]["resources"][address]["id"] = second
    data["tenants"][b]["resources"][address]["id"] = first
    (project / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return first, second


def _live_state(sim: Sim) -> list[object]:
    """Every service, Postgres and env var on the simulator (to assert that nothing was written)."""
    services = sim.get("/services", limit=100).json()
    return [services, sim.get("/postgres", limit=100).json(),
            {s["service"]["id"]: env_of(sim, s["service"]["id"]) for s in services}]


# Items 1 and 2: identity before every write by ID.

def test_a_delete_by_an_id_that_is_another_tenants_database_is_refused(sim: Sim, project: Path) -> None:
    _tenants(project, "globex", "initech", protect="initech")
    assert apply().code == 0
    globex_db, initech_db = _swap(project, DB, "globex", "initech")
    (project / "tenants" / "globex.yaml").unlink()
    edited = (project / LOCK).read_text()
    before, start = _live_state(sim), sim.exchanges()
    plan = run("plan")
    assert f'{initech_db} (on Render: "backboneos-db-initech")' in plan.out
    result = apply("--allow-destroy", "--allow-data-loss", "--skip-backup")
    assert result.code == 1, result.output
    assert (f'globex/{DB} records {initech_db} as postgres "backboneos-db-globex", but on Render {initech_db} is '
            'postgres "backboneos-db-initech"') in result.err
    assert (f'initech/{DB} records {globex_db} as postgres "backboneos-db-initech", but on Render {globex_db} is '
            'postgres "backboneos-db-globex"') in result.err
    assert "restore it from Git" in result.err and "`renderer import globex`" in result.err
    assert writes_since(sim, start) == []
    assert _live_state(sim) == before
    assert (project / LOCK).read_text() == edited


def test_swapped_ids_never_rewire_tenants(sim: Sim, project: Path) -> None:
    _tenants(project, "globex", "acme-corp")
    assert apply().code == 0
    before = _live_state(sim)
    acme_db, globex_db = _swap(project, DB, "acme-corp", "globex")
    web_a, web_b = _swap(project, WEB, "acme-corp", "globex")
    start = sim.exchanges()
    result = apply()
    assert result.code == 1, result.output
    for slug, other, rid in (("globex", "acme-corp", acme_db), ("acme-corp", "globex", globex_db),
                             ("globex", "acme-corp", web_a), ("acme-corp", "globex", web_b)):
        assert f"{slug}/" in result.err and f'"backboneos-db-{other}"' in result.err and rid in result.err
    assert "nothing was changed" in result.err
    assert writes_since(sim, start) == []
    assert _live_state(sim) == before
    # The same entry copied whole under another tenant keeps its recorded name; the derived one differs.
    data = lock(project)
    globex, acme = data["tenants"]["globex"]["resources"], data["tenants"]["acme-corp"]["resources"]
    globex[DB]["name"], acme[DB]["name"] = acme[DB]["name"], globex[DB]["name"]
    globex[WEB]["id"], acme[WEB]["id"] = acme[WEB]["id"], globex[WEB]["id"]
    (project / LOCK).write_text(json.dumps(data))
    copied = apply()
    assert copied.code == 1
    assert 'renderer derives "backboneos-db-globex" for this address' in copied.err
    assert _live_state(sim) == before


# Item 3: secret before-values.

def test_a_value_that_stops_being_secret_prints_as_sensitive_in_every_format(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _tenants(project, "globex")
    template = project / TEMPLATE
    text = template.read_text().replace(
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n",
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n      - key: STRIPE_KEY\n        sync: false\n"
        "      - key: SUPPORT_TOKEN\n        sync: false\n")
    template.write_text(text)
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n")
    monkeypatch.setenv("GLOBEX_STRIPE_KEY", "sk_live_tenant_secret_811")
    assert apply().code == 0
    web = lock(project)["tenants"]["globex"]["resources"][WEB]["id"]
    put_env(sim, web, "SUPPORT_TOKEN", "hand_set_token_5521")
    secrets = ["sk_live_tenant_secret_811", "hand_set_token_5521", env_of(sim, web)["DJANGO_SECRET_KEY"],
               env_of(sim, web)["DATABASE_URL"]]
    # Every secret key becomes a plain value.
    plain = text
    for key, block in (("DATABASE_URL", "        fromDatabase:\n          name: backboneos-db\n"
                                        "          property: connectionString\n"),
                       ("DJANGO_SECRET_KEY", "        generateValue: true\n"),
                       ("STRIPE_KEY", "        sync: false\n"), ("SUPPORT_TOKEN", "        sync: false\n")):
        plain = plain.replace(f"      - key: {key}\n{block}", f"      - key: {key}\n        value: plain-{key}\n", 1)
    template.write_text(plain)
    tenant.write_text(tenant.read_text().replace("secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n", ""))
    outputs = [run("plan", *extra) for extra in ((), ("--format", "json"), ("--format", "markdown"),
                                                  ("--out", str(tmp_path / "saved.json")))]
    assert all(o.code == 0 for o in outputs), outputs[0].output
    text_plan = " ".join(outputs[0].out.split())
    for key in ("DATABASE_URL", "DJANGO_SECRET_KEY", "STRIPE_KEY", "SUPPORT_TOKEN"):
        assert f"~ envVars.{key} = (sensitive value changed)" in text_plan, key
    document = json.loads(outputs[1].out)
    fields = {f["path"]: f for c in document["changes"] for f in c["fields"]}
    for key in ("DATABASE_URL", "DJANGO_SECRET_KEY", "STRIPE_KEY", "SUPPORT_TOKEN"):
        assert fields[f"envVars.{key}"]["sensitive"] is True
        assert fields[f"envVars.{key}"]["before"] is None and fields[f"envVars.{key}"]["after"] is None
    everything = "".join(o.output for o in outputs) + (tmp_path / "saved.json").read_text()
    for secret in secrets:
        assert secret not in everything
    applied = apply()
    assert applied.code == 0, applied.output
    assert not any(secret in applied.output for secret in secrets)
    assert env_of(sim, web)["DATABASE_URL"] == "plain-DATABASE_URL"


# Item 5: protection lifts alone.

def test_protection_cannot_be_lifted_in_the_change_that_destroys(sim: Sim, project: Path) -> None:
    _tenants(project, "initech", protect="initech")
    assert apply().code == 0
    tenant = project / "tenants" / "initech.yaml"
    protected = tenant.read_text()
    lifted = protected.replace("deletion_protection: true\n", "deletion_protection: false\n")
    tenant.write_text(lifted.replace("region: frankfurt", "region: ohio"))
    before, start = _live_state(sim), sim.exchanges()
    refused = apply("--allow-replace", "--allow-data-loss", "--skip-backup")
    assert refused.code == 1, refused.output
    assert f"deletion protection: the plan would delete or replace initech/{DB} (replace)" in refused.err
    assert writes_since(sim, start) == [] and _live_state(sim) == before
    assert lock(project)["tenants"]["initech"]["deletion_protection"] is True
    # Lifting protection on its own applies and is recorded; only then may a run destroy.
    tenant.write_text(lifted)
    alone = apply()
    assert alone.code == 0, alone.output
    assert writes_since(sim, start) == []
    assert lock(project)["tenants"]["initech"]["deletion_protection"] is False
    tenant.write_text(lifted.replace("region: frankfurt", "region: ohio"))
    done = apply("--allow-replace", "--allow-data-loss", "--skip-backup")
    assert done.code == 0, done.output
    assert "3 replaced" in done.out


def test_protection_lifted_by_editing_the_lockfile_is_refused(sim: Sim, project: Path) -> None:
    import git

    _tenants(project, "initech", protect="initech")
    assert apply().code == 0
    repo = git.Repo.init(project)
    repo.git.add("-A")
    repo.git.commit("-m", "applied", "--author", "Dev <dev@example.test>",
                    env={"GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.test"})
    data = lock(project)
    data["tenants"]["initech"]["deletion_protection"] = False
    (project / LOCK).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (project / "tenants" / "initech.yaml").unlink()
    before, start = _live_state(sim), sim.exchanges()
    refused = apply("--allow-destroy", "--allow-data-loss", "--skip-backup")
    assert refused.code == 1, refused.output
    assert "deletion protection: the plan would delete or replace initech/" in refused.err
    assert writes_since(sim, start) == [] and _live_state(sim) == before


# Item 7 and 8: data loss means data loss.

def _drop_databases(project: Path) -> None:
    template = project / TEMPLATE
    text = template.read_text()
    text = text[:text.index("databases:")]
    text = text.replace("      - key: DATABASE_URL\n        fromDatabase:\n          name: backboneos-db\n"
                        "          property: connectionString\n", "")
    template.write_text(text)


def test_deleting_databases_needs_allow_data_loss_and_trips_the_breaker(sim: Sim, project: Path) -> None:
    assert apply().code == 0  # three tenants
    _drop_databases(project)
    before, start = _live_state(sim), sim.exchanges()
    breaker = apply("--allow-destroy", "--allow-data-loss", "--skip-backup")
    assert breaker.code == 1
    assert ("mass-delete breaker: 3 datastores of 3 tenants would be deleted or replaced (acme-corp, globex, "
            "initech); more than max(2, 10% of 3) tenants losing data at once is refused") in breaker.err
    destroy_only = apply("--allow-destroy", "--allow-mass-destroy", "--skip-backup")
    assert destroy_only.code == 1, destroy_only.output
    assert f"deleting acme-corp/{DB}, globex/{DB}, initech/{DB} deletes datastores and all the data" \
        in destroy_only.err
    assert "--allow-destroy --allow-data-loss" in destroy_only.err
    assert writes_since(sim, start) == [] and _live_state(sim) == before
    done = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy", "--skip-backup")
    assert done.code == 0, done.output
    assert sim.get("/postgres", limit=100).json() == []


def test_renaming_a_service_with_a_disk_needs_allow_data_loss(sim: Sim, project: Path) -> None:
    _tenants(project, "globex")
    template = project / TEMPLATE
    template.write_text(template.read_text().replace(
        "    startCommand: celery -A backboneos worker --loglevel=info\n",
        "    startCommand: celery -A backboneos worker --loglevel=info\n    disk:\n      name: scratch\n"
        "      mountPath: /var/data\n      sizeGB: 5\n"))
    assert apply().code == 0
    assert "disk.backboneos-worker" in lock(project)["tenants"]["globex"]["resources"]
    template.write_text(template.read_text().replace("name: backboneos-worker", "name: backboneos-jobs"))
    before, start = _live_state(sim), sim.exchanges()
    refused = apply("--allow-destroy")
    assert refused.code == 1, refused.output
    assert "deleting globex/disk.backboneos-worker deletes a datastore and all the data" in refused.err
    assert writes_since(sim, start) == [] and _live_state(sim) == before
    done = apply("--allow-destroy", "--allow-data-loss")
    assert done.code == 0, done.output
