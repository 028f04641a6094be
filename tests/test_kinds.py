"""Issue 5 (coverage): every kind a blueprint can declare, against the simulator over HTTP.

One blueprint declares an env group, Postgres, Key Value, all five service types, a disk, custom
domains, autoscaling and env vars read with `fromGroup`, `fromService` (property and `envVarKey`)
and `fromDatabase`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from renderer.journal import CRASH_ENV, CRASH_EXIT_CODE
from tests.conftest import ROOT, Sim, run
from tests.helpers import (
    LOCK,
    apply,
    change_lines,
    env_of,
    exchanges_since,
    lock,
    lock_id,
    plan,
    put_env,
    squeeze,
    writes_since,
)

BLUEPRINT = """\
envVarGroups:
  - name: shared
    envVars:
      - key: LOG_LEVEL
        value: info
      - key: SHARED_SECRET
        generateValue: true
databases:
  - name: db
    plan: basic-256mb
    postgresMajorVersion: "16"
services:
  - type: keyvalue
    name: cache
    plan: starter
    maxmemoryPolicy: noeviction
    ipAllowList:
      - source: 10.0.0.0/8
        description: office
  - type: pserv
    name: search
    runtime: docker
    repo: https://github.com/example/search
    plan: standard
    envVars:
      - key: SEARCH_TOKEN
        generateValue: true
  - type: web
    name: api
    runtime: python
    repo: https://github.com/example/app
    plan: standard
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app:wsgi
    healthCheckPath: /healthz
    scaling:
      minInstances: 1
      maxInstances: 3
      targetCPUPercent: 60
    domains:
      - app.{{ tenant.slug }}.example.com
    envVars:
      - fromGroup: shared
      - key: TENANT
        value: {{ tenant.name | yaml_quote }}
      - key: DATABASE_URL
        fromDatabase:
          name: db
          property: connectionString
      - key: REDIS_URL
        fromService:
          type: keyvalue
          name: cache
          property: connectionString
      - key: SEARCH_HOSTPORT
        fromService:
          type: pserv
          name: search
          property: hostport
      - key: SEARCH_TOKEN
        fromService:
          type: pserv
          name: search
          envVarKey: SEARCH_TOKEN
  - type: worker
    name: jobs
    runtime: python
    repo: https://github.com/example/app
    plan: standard
    buildCommand: pip install -r requirements.txt
    startCommand: celery worker
    disk:
      name: scratch
      mountPath: /var/data
      sizeGB: 5
    envVars:
      - fromGroup: shared
  - type: cron
    name: nightly
    runtime: python
    repo: https://github.com/example/app
    plan: starter
    schedule: "0 3 * * *"
    buildCommand: pip install -r requirements.txt
    startCommand: python nightly.py
  - type: web
    name: site
    runtime: static
    repo: https://github.com/example/site
    buildCommand: npm run build
    staticPublishPath: dist
    domains:
      - www.{{ tenant.slug }}.example.com
"""

SLUG = "kinds"
ADDRESSES = [
    "env_group.shared", "postgres.db", "key_value.cache", "private_service.search", "web_service.api",
    "background_worker.jobs", "cron_job.nightly", "static_site.site", "custom_domain.api/app.kinds.example.com",
    "disk.jobs", "custom_domain.site/www.kinds.example.com", "project.tenant", "environment.tenant/production",
]


@pytest.fixture
def kinds(sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with one tenant on the all-kinds blueprint (not applied yet)."""
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "kinds-key")
    for path in (project / "tenants").glob("*.yaml"):
        path.unlink()
    (project / "blueprints" / "all_kinds").mkdir()
    (project / "blueprints" / "all_kinds" / "render.yaml.j2").write_text(BLUEPRINT)
    (project / "tenants" / f"{SLUG}.yaml").write_text(f"name: Kinds Inc\nslug: {SLUG}\nblueprint: all_kinds\n")
    return project


def _creates(sim: Sim, start: int) -> list[tuple[str, str]]:
    """(kind, name) of each create and env group link the simulator answered, in order."""
    result: list[tuple[str, str]] = []
    for exchange in exchanges_since(sim, start):
        parts = exchange["path"].removeprefix("/v1").strip("/").split("/")
        if exchange["method"] != "POST" or exchange["status"] >= 300:
            continue
        body = exchange.get("request") or {}
        if parts == ["services"]:
            result.append(("service", body["name"]))
        elif len(parts) == 1 and parts[0] in ("env-groups", "postgres", "key-value", "disks"):
            result.append(({"env-groups": "env_group", "key-value": "key_value", "disks": "disk"}.get(
                parts[0], parts[0]), str(body.get("name"))))
        elif len(parts) == 3 and parts[2] == "custom-domains":
            result.append(("custom_domain", body["name"]))
        elif len(parts) == 4 and parts[0] == "env-groups" and parts[2] == "services":
            result.append(("link", parts[3]))
    return result


def test_every_kind_applies_in_order_then_plans_no_changes(sim: Sim, kinds: Path) -> None:
    first = plan()
    assert first.code == 2, first.output
    assert sorted(line.split()[1] for line in change_lines(first.out)) == sorted(ADDRESSES)
    for secret in ("REDIS_URL", "SEARCH_HOSTPORT", "SEARCH_TOKEN", "DATABASE_URL"):
        assert f"+ envVars.{secret} = (known after apply)" in squeeze(first.out), first.out

    start = sim.exchanges()
    result = apply()
    assert result.code == 0, result.output
    created = _creates(sim, start)
    # Env groups, then datastores, then services (search before api, which reads it), each service's env
    # group links right after it, then custom domains and the disk.
    assert [kind for kind, _ in created if kind != "link"] == [
        "env_group", "key_value", "postgres", "service", "service", "service", "service", "service",
        "custom_domain", "custom_domain", "disk"], created
    services = [name for kind, name in created if kind == "service"]
    assert services.index("search-kinds") < services.index("api-kinds")
    assert [kind for kind, _ in created].count("link") == 2

    locked = lock(kinds)["tenants"][SLUG]["resources"]
    assert sorted(locked) == sorted(ADDRESSES)
    assert locked["disk.jobs"]["parent"] == "background_worker.jobs"
    assert locked["custom_domain.api/app.kinds.example.com"]["parent"] == "web_service.api"
    assert locked["disk.jobs"]["id"].startswith("dsk-")
    assert locked["key_value.cache"]["id"].startswith("red-")
    assert locked["env_group.shared"]["id"].startswith("evg-")

    # Live: every field renderer manages.
    api = sim.get(f"/services/{locked['web_service.api']['id']}").json()
    assert api["serviceDetails"]["autoscaling"] == {
        "enabled": True, "min": 1, "max": 3,
        "criteria": {"cpu": {"enabled": True, "percentage": 60}, "memory": {"enabled": False, "percentage": 70}}}
    cron = sim.get(f"/services/{locked['cron_job.nightly']['id']}").json()
    assert cron["serviceDetails"]["schedule"] == "0 3 * * *"
    site = sim.get(f"/services/{locked['static_site.site']['id']}").json()
    assert site["serviceDetails"]["publishPath"] == "dist"
    cache = sim.get(f"/key-value/{locked['key_value.cache']['id']}").json()
    assert cache["options"]["maxmemoryPolicy"] == "noeviction"
    assert cache["ipAllowList"] == [{"cidrBlock": "10.0.0.0/8", "description": "office"}]
    disk = sim.get(f"/disks/{locked['disk.jobs']['id']}").json()
    assert (disk["name"], disk["mountPath"], disk["sizeGB"]) == ("scratch", "/var/data", 5)
    group = sim.get(f"/env-groups/{locked['env_group.shared']['id']}").json()
    assert sorted(link["name"] for link in group["serviceLinks"]) == ["api-kinds", "jobs-kinds"]
    assert sorted(e["key"] for e in group["envVars"]) == ["LOG_LEVEL", "SHARED_SECRET"]

    # fromService resolved from live state; never printed.
    env = env_of(sim, locked["web_service.api"]["id"])
    search = env_of(sim, locked["private_service.search"]["id"])
    connection = sim.get(f"/key-value/{locked['key_value.cache']['id']}/connection-info").json()
    search_service = sim.get(f"/services/{locked['private_service.search']['id']}").json()
    assert env["REDIS_URL"] == connection["internalConnectionString"]
    assert env["SEARCH_HOSTPORT"] == f"{search_service['slug']}:10000"
    assert env["SEARCH_TOKEN"] == search["SEARCH_TOKEN"]
    lockfile_text = (kinds / "render.lock.json").read_text()
    for value in (env["REDIS_URL"], env["SEARCH_TOKEN"], env["SEARCH_HOSTPORT"]):
        assert value not in result.output and value not in lockfile_text

    again = plan()
    assert again.code == 0, again.output
    assert again.out.splitlines()[-1] == "No changes. Render matches the configuration of 1 tenant."
    assert run("drift", "--detailed-exitcode").code == 0
    status = run("status")
    assert status.code == 0, status.output
    assert "scratch" in status.out and "app.kinds.example.com" in status.out


def test_tenant_removal_deletes_everything_in_reverse_order_by_id(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    locked = lock(kinds)["tenants"][SLUG]["resources"]
    (kinds / "tenants" / f"{SLUG}.yaml").unlink()
    planned = plan()
    assert planned.code == 3, planned.output
    assert len(change_lines(planned.out)) == len(ADDRESSES)
    start = sim.exchanges()
    result = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy")
    assert result.code == 0, result.output
    deletes = [path for method, path in writes_since(sim, start) if method == "DELETE"]
    ids = {entry["id"]: address for address, entry in locked.items()}
    # Every delete names a lockfile ID; children and services first, env groups last.
    deleted = [ids[path.rsplit("/", 1)[1]] for path in deletes]
    assert sorted(deleted) == sorted(ADDRESSES)
    rank = {"custom_domain": 4, "disk": 4, "web_service": 3, "background_worker": 3, "cron_job": 3,
            "static_site": 3, "private_service": 2, "postgres": 1, "key_value": 1, "env_group": 0, "environment": -1,
            "project": -2}
    ranks = [rank[address.split(".")[0]] for address in deleted]
    assert ranks == sorted(ranks, reverse=True), deleted
    assert deleted.index("web_service.api") < deleted.index("private_service.search")
    assert SLUG not in lock(kinds)["tenants"]
    for kind_path in ("/services", "/postgres", "/key-value", "/env-groups", "/disks", "/projects"):
        assert sim.get(kind_path).json() == []


def test_changes_to_each_kind_update_in_place_or_replace(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    blueprint = kinds / "blueprints" / "all_kinds" / "render.yaml.j2"
    text = blueprint.read_text()
    text = text.replace("maxmemoryPolicy: noeviction", "maxmemoryPolicy: allkeys-lru")
    text = text.replace('schedule: "0 3 * * *"', 'schedule: "0 4 * * *"')
    text = text.replace("sizeGB: 5", "sizeGB: 8")
    text = text.replace("staticPublishPath: dist", "staticPublishPath: build")
    text = text.replace("        value: info", "        value: debug")
    text = text.replace("      maxInstances: 3", "      maxInstances: 4")
    blueprint.write_text(text)
    result = plan()
    assert result.code == 2, result.output
    assert sorted(line.split()[1] for line in change_lines(result.out)) == [
        "cron_job.nightly", "disk.jobs", "env_group.shared", "key_value.cache", "static_site.site",
        "web_service.api"]
    assert "~ maxmemoryPolicy" in result.out and '"noeviction" -> "allkeys_lru"' in result.out
    assert applied_ok(apply())
    assert plan().code == 0
    locked = lock(kinds)["tenants"][SLUG]["resources"]
    group = sim.get(f"/env-groups/{locked['env_group.shared']['id']}").json()
    assert {e["key"]: e["value"] for e in group["envVars"]}["LOG_LEVEL"] == "debug"
    assert sim.get(f"/disks/{locked['disk.jobs']['id']}").json()["sizeGB"] == 8

    # The tenant moves region: Key Value, Postgres and the services cannot change region in place (nor
    # can the disk and domains of a replaced service); each is a replace with its reason.
    tenant = kinds / "tenants" / f"{SLUG}.yaml"
    tenant.write_text(tenant.read_text() + "region: frankfurt\n")
    replaced = plan()
    assert replaced.code == 3, replaced.output
    old = locked["key_value.cache"]["id"]
    lines = [" ".join(line.split()) for line in change_lines(replaced.out)]
    assert f'-/+ key_value.cache "cache-kinds" {old} (cannot update in place: region) [data loss: needs ' \
           '--allow-data-loss]' in lines, lines
    assert f'-/+ disk.jobs "scratch" {locked["disk.jobs"]["id"]} (cannot update in place: its service ' \
           'background_worker.jobs is replaced) [data loss: needs --allow-data-loss]' in lines, lines
    # not the env group, the static site (no region) or its domain, nor the project and environment
    assert len(lines) == len(ADDRESSES) - 5
    refused = apply("--allow-replace")
    assert refused.code == 1 and "--allow-data-loss" in refused.err
    assert applied_ok(apply("--allow-replace", "--allow-data-loss"))
    new = lock_id(kinds, SLUG, "key_value.cache")
    assert new != old
    assert sim.get(f"/key-value/{new}").json()["region"] == "frankfurt"
    connection = sim.get(f"/key-value/{new}/connection-info").json()
    api = lock_id(kinds, SLUG, "web_service.api")
    assert env_of(sim, api)["REDIS_URL"] == connection["internalConnectionString"]
    assert plan().code == 0


def applied_ok(result: Any) -> bool:
    assert result.code == 0, result.output
    return True


def test_autoscaled_instance_count_moved_by_render_is_no_change(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    api = lock_id(kinds, SLUG, "web_service.api")
    with sim.http() as http:  # Render's autoscaler moved the count
        assert http.post(f"/services/{api}/scale", json={"numInstances": 3}).status_code in (200, 202, 204)
    assert sim.get(f"/services/{api}").json()["serviceDetails"]["numInstances"] == 3
    result = plan()
    assert result.code == 0, result.output
    assert run("drift", "--detailed-exitcode").code == 0


def test_unlinking_an_env_group_and_dashboard_link_drift(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    locked = lock(kinds)["tenants"][SLUG]["resources"]
    group, jobs = locked["env_group.shared"]["id"], locked["background_worker.jobs"]["id"]
    with sim.http() as http:  # unlinked in the dashboard
        assert http.delete(f"/env-groups/{group}/services/{jobs}").status_code == 204
    result = plan()
    assert result.code == 2, result.output
    assert "background_worker.jobs" in change_lines(result.out)[0]
    assert "changed outside renderer" in result.out
    start = sim.exchanges()
    assert apply().code == 0
    assert ("POST", f"/v1/env-groups/{group}/services/{jobs}") in writes_since(sim, start)
    assert plan().code == 0

    # The blueprint stops linking it: the link is removed, the group stays.
    blueprint = kinds / "blueprints" / "all_kinds" / "render.yaml.j2"
    blueprint.write_text(blueprint.read_text().replace(
        "    envVars:\n      - fromGroup: shared\n  - type: cron", "  - type: cron"))
    start = sim.exchanges()
    assert apply().code == 0
    assert ("DELETE", f"/v1/env-groups/{group}/services/{jobs}") in writes_since(sim, start)
    links = sim.get(f"/env-groups/{group}").json()["serviceLinks"]
    assert [link["name"] for link in links] == ["api-kinds"]
    assert plan().code == 0


def test_import_adopts_every_kind(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    before = lock(kinds)["tenants"][SLUG]["resources"]
    (kinds / "render.lock.json").unlink()
    start = sim.exchanges()
    result = run("import", SLUG)
    assert result.code == 0, result.output
    assert writes_since(sim, start) == []
    after = lock(kinds)["tenants"][SLUG]["resources"]
    assert {a: e["id"] for a, e in after.items()} == {a: e["id"] for a, e in before.items()}
    assert after["disk.jobs"]["parent"] == "background_worker.jobs"
    assert [e for e in exchanges_since(sim, start) if e["method"] != "GET"] == []
    assert json.loads((kinds / "render.lock.json").read_text())["tenants"][SLUG]["status"] == "active"


def test_static_site_headers_and_routes(sim: Sim, kinds: Path) -> None:
    blueprint = kinds / "blueprints" / "all_kinds" / "render.yaml.j2"
    rules = ("    headers:\n      - path: /*\n        name: X-Frame-Options\n        value: DENY\n"
             "      - path: /assets/*\n        name: Cache-Control\n        value: max-age=3600\n"
             "    routes:\n      - type: redirect\n        source: /old\n        destination: /new\n"
             "      - type: rewrite\n        source: /app/*\n        destination: /index.html\n")
    blueprint.write_text(blueprint.read_text() + rules)
    assert apply().code == 0
    site = lock_id(kinds, SLUG, "static_site.site")
    headers = [h["header"] for h in sim.get(f"/services/{site}/headers").json()]
    assert sorted((h["path"], h["name"], h["value"]) for h in headers) == [
        ("/*", "X-Frame-Options", "DENY"), ("/assets/*", "Cache-Control", "max-age=3600")]
    routes = [r["route"] for r in sim.get(f"/services/{site}/routes").json()]
    assert [(r["type"], r["source"], r["destination"], r["priority"]) for r in routes] == [
        ("redirect", "/old", "/new", 0), ("rewrite", "/app/*", "/index.html", 1)]
    assert plan().code == 0

    # Reordering headers is no change; reordering routes is (priority), and is applied whole.
    blueprint.write_text(blueprint.read_text().replace(rules, (
        "    headers:\n      - path: /assets/*\n        name: Cache-Control\n        value: max-age=3600\n"
        "      - path: /*\n        name: X-Frame-Options\n        value: DENY\n"
        "    routes:\n      - type: rewrite\n        source: /app/*\n        destination: /index.html\n"
        "      - type: redirect\n        source: /old\n        destination: /new\n")))
    changed = plan()
    assert changed.code == 2, changed.output
    assert [line.split()[1] for line in change_lines(changed.out)] == ["static_site.site"]
    assert "~ routes" in changed.out and "~ headers" not in changed.out
    start = sim.exchanges()
    assert apply().code == 0
    assert ("PUT", f"/v1/services/{site}/routes") in writes_since(sim, start)
    routes = [r["route"] for r in sim.get(f"/services/{site}/routes").json()]
    assert [r["source"] for r in routes] == ["/app/*", "/old"]
    assert plan().code == 0

    # A dashboard edit to a header is drift, restored by apply.
    with sim.http() as http:
        assert http.put(f"/services/{site}/headers", json=[]).status_code == 200
    drifted = plan()
    assert drifted.code == 2 and "(drift: changed outside renderer)" in change_lines(drifted.out)[0]
    assert apply().code == 0
    assert len(sim.get(f"/services/{site}/headers").json()) == 2
    assert plan().code == 0


def test_dashboard_edits_to_an_env_group_and_a_from_service_value_are_drift(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    locked = lock(kinds)["tenants"][SLUG]["resources"]
    group, api = locked["env_group.shared"]["id"], locked["web_service.api"]["id"]
    with sim.http() as http:
        assert http.put(f"/env-groups/{group}/env-vars/LOG_LEVEL", json={"value": "trace"}).status_code == 200
    put_env(sim, api, "REDIS_URL", "redis://elsewhere:6379")
    result = plan()
    assert result.code == 2, result.output
    assert sorted(change_lines(result.out)) == sorted([
        f'~ env_group.shared  "shared-kinds" {group}  (drift: changed outside renderer)',
        f'~ web_service.api  "api-kinds" {api}  (drift: changed outside renderer)'])
    assert '~ envVars.LOG_LEVEL = "trace" -> "info" # changed outside renderer' in squeeze(result.out)
    assert "~ envVars.REDIS_URL = (sensitive value changed) # changed outside renderer" in squeeze(result.out)
    assert "elsewhere" not in result.out
    drift = run("drift", "--detailed-exitcode")
    assert drift.code == 2, drift.output
    assert f"env_group.shared shared-kinds ({group}): changed outside renderer: env var LOG_LEVEL changed" in drift.out
    assert f"web_service.api api-kinds ({api}): changed outside renderer: env var REDIS_URL changed" in drift.out
    assert apply().code == 0
    connection = sim.get(f"/key-value/{locked['key_value.cache']['id']}/connection-info").json()
    assert env_of(sim, api)["REDIS_URL"] == connection["internalConnectionString"]
    assert {e["key"]: e["value"] for e in sim.get(f"/env-groups/{group}").json()["envVars"]}["LOG_LEVEL"] == "info"
    assert plan().code == 0


def test_interrupted_creates_of_every_kind_are_adopted_by_name(sim: Sim, kinds: Path) -> None:
    """A journal whose creates have no recorded result (the process was killed after sending them): the
    next apply finds each by owner, type and name (a disk or domain among its service's) and records it."""
    assert apply().code == 0
    data = json.loads((kinds / LOCK).read_text())
    resources = data["tenants"][SLUG]["resources"]
    interrupted = ["key_value.cache", "env_group.shared", "disk.jobs", "custom_domain.api/app.kinds.example.com"]
    expected = {address: resources[address]["id"] for address in interrupted}
    lines = []
    for seq, address in enumerate(interrupted, start=1):
        entry = resources.pop(address)
        step: dict[str, Any] = {"seq": seq, "phase": "intent", "op": "create", "tenant": SLUG, "address": address,
                                "kind": entry["kind"], "name": entry["name"], "blueprint": "all_kinds",
                                "env_vars": entry["env_vars"]}
        if "parent" in entry:
            step["parent"] = entry["parent"]
            step["parent_id"] = resources[entry["parent"]]["id"]
        lines.append(json.dumps(step))
    (kinds / LOCK).write_text(json.dumps(data))
    (kinds / f"{LOCK}.journal").write_text("\n".join(lines) + "\n")
    start = sim.exchanges()
    result = apply()
    assert result.code == 0, result.output
    for address, rid in expected.items():
        assert f"{SLUG}: {address}: recorded {rid}" in result.output
    assert [w for w in writes_since(sim, start) if not w[1].endswith("/deploys")] == []  # nothing created twice
    after = lock(kinds)["tenants"][SLUG]["resources"]
    assert {a: after[a]["id"] for a in interrupted} == expected
    assert after["disk.jobs"]["parent"] == "background_worker.jobs"
    assert not (kinds / f"{LOCK}.journal").exists()
    assert plan().code == 0


@pytest.mark.parametrize("step", [3, 8, 20, 25])
def test_killed_apply_of_every_kind_converges(sim: Sim, kinds: Path, step: int) -> None:
    """`apply` exits hard right after journal step `step` of the all-kinds create; the next apply converges:
    every resource once, all in the lockfile, then no changes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), CRASH_ENV: str(step)}
    killed = subprocess.run([sys.executable, "-m", "renderer.cli.main", "apply", "--auto-approve"], cwd=kinds,
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == CRASH_EXIT_CODE, killed.stderr
    if (kinds / LOCK).exists():
        json.loads((kinds / LOCK).read_text())  # always valid JSON
    result = apply()
    assert result.code == 0, result.output
    locked = lock(kinds)["tenants"][SLUG]["resources"]
    assert sorted(locked) == sorted(ADDRESSES)
    live = {
        "services": sorted(s["service"]["id"] for s in sim.get("/services", limit=100).json()),
        "key_value": sorted(k["keyValue"]["id"] for k in sim.get("/key-value", limit=100).json()),
        "env_groups": sorted(g["id"] for g in sim.get("/env-groups", limit=100).json()),
        "disks": sorted(d["disk"]["id"] for d in sim.get("/disks", limit=100).json()),
    }
    by_kind: dict[str, list[str]] = {"services": [], "key_value": [], "env_groups": [], "disks": []}
    for address, entry in locked.items():
        kind = address.split(".")[0]
        group = {"key_value": "key_value", "env_group": "env_groups", "disk": "disks"}.get(kind)
        if group is None and kind not in ("postgres", "custom_domain", "project", "environment"):
            group = "services"
        if group is not None:
            by_kind[group].append(entry["id"])
    assert live == {k: sorted(v) for k, v in by_kind.items()}  # no duplicates, nothing unrecorded
    api = locked["web_service.api"]["id"]
    domains = [d["customDomain"]["name"] for d in sim.get(f"/services/{api}/custom-domains").json()]
    assert domains == ["app.kinds.example.com"]
    assert plan().code == 0


def test_env_group_linked_by_hand_is_left_alone(sim: Sim, kinds: Path) -> None:
    assert apply().code == 0
    api = lock_id(kinds, SLUG, "web_service.api")
    with sim.http() as http:  # a group made and linked in the dashboard
        made = http.post("/env-groups", json={"name": "by-hand", "ownerId": sim.owner_id, "envVars": []})
        assert made.status_code == 201, made.text
        assert http.post(f"/env-groups/{made.json()['id']}/services/{api}").status_code == 200
    assert plan().code == 0
    start = sim.exchanges()
    assert apply().code == 0
    assert writes_since(sim, start) == []
