"""Issue 5: no noise. For generated blueprints of every kind renderer manages (the five service types with
native, docker or image runtimes, disks, custom domains, instance counts and autoscaling, a static
site's headers and routes; Postgres; Key
Value; env groups linked with `fromGroup`), with fields left out, empty or set and env vars of every
source (`fromDatabase`, `fromService` property and `envVarKey`): apply, then plan shows no changes and
drift finds none. Issue 12's forms of Render's real answers are drawn too: a named database (Render
suffixes it), an image given as `nginx` (answered `docker.io/library/nginx:latest`), datastores with
empty allow lists (answered `null`) and a runtime switch applied in place before the final plan."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Sim, run

REGIONS = ["oregon", "ohio", "virginia", "frankfurt", "singapore"]
SAFE_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789 _-./:=,@", min_size=0, max_size=12)
COMMAND = st.text(alphabet="abcdefghijklmnopqrstuvwxyz -./", min_size=1, max_size=20).map(lambda s: "run " + s)
DB_PROPERTIES = ["connectionString", "host", "port", "user", "password", "database"]
SERVICE_PROPERTIES = ["host", "port", "hostport"]
KEY_VALUE_PROPERTIES = ["connectionString", "host", "port", "hostport"]
PSERV_TOKEN = "PSERV_TOKEN"


def _optional(draw: st.DrawFn, key: str, strategy: st.SearchStrategy[Any], target: dict[str, Any]) -> None:
    if draw(st.booleans()):
        target[key] = draw(strategy)


@st.composite
def env_vars(draw: st.DrawFn, database: str | None, targets: list[tuple[str, str]], group: str | None,
             ) -> list[dict[str, Any]]:
    """Env vars of every source; `targets` are (fromService type, name) pairs this service may read."""
    keys = draw(st.lists(st.sampled_from([f"KEY_{i}" for i in range(8)]), max_size=5, unique=True))
    sources = ["value", "generateValue", "sync"] + (["fromDatabase"] if database else []) + (
        ["fromService"] if targets else [])
    items: list[dict[str, Any]] = []
    for key in keys:
        source = draw(st.sampled_from(sources))
        if source == "value":
            items.append({"key": key, "value": draw(SAFE_TEXT)})
        elif source == "generateValue":
            items.append({"key": key, "generateValue": True})
        elif source == "sync":
            items.append({"key": key, "sync": False})
        elif source == "fromDatabase":
            items.append({"key": key, "fromDatabase": {"name": database,
                                                       "property": draw(st.sampled_from(DB_PROPERTIES))}})
        else:
            kind, name = draw(st.sampled_from(targets))
            reference: dict[str, Any] = {"type": kind, "name": name}
            if kind == "pserv" and draw(st.booleans()):
                reference["envVarKey"] = PSERV_TOKEN
            else:
                properties = KEY_VALUE_PROPERTIES if kind == "keyvalue" else SERVICE_PROPERTIES
                reference["property"] = draw(st.sampled_from(properties))
            items.append({"key": key, "fromService": reference})
    if group is not None and draw(st.booleans()):
        items.insert(0, {"fromGroup": group})
    return items


RUNTIMES = ["python", "node", "docker", "image"]


def _code(draw: st.DrawFn, item: dict[str, Any], runtimes: list[str] = RUNTIMES) -> None:
    runtime = draw(st.sampled_from(runtimes))
    item["runtime"] = runtime
    if runtime == "image":
        item["image"] = {"url": draw(st.sampled_from(["nginx:1.27", "ghcr.io/example/app:v2", "redis", "nginx"]))}
        _optional(draw, "dockerCommand", st.sampled_from(["", "./serve"]), item)
        return
    item["repo"] = "https://github.com/example/app"
    _optional(draw, "branch", st.sampled_from(["main", "develop"]), item)
    _optional(draw, "rootDir", st.sampled_from(["", "app"]), item)
    if runtime == "docker":
        _optional(draw, "dockerCommand", st.sampled_from(["", "./serve"]), item)
        _optional(draw, "dockerfilePath", st.sampled_from(["./Dockerfile", "./docker/Dockerfile"]), item)
        _optional(draw, "dockerContext", st.sampled_from([".", "./docker"]), item)
    else:
        item["buildCommand"] = draw(COMMAND)
        item["startCommand"] = draw(COMMAND)


@st.composite
def services(draw: st.DrawFn, name: str, kind: str, database: str | None, targets: list[tuple[str, str]],
             group: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "name": name}
    if kind == "static":  # a static site is `type: web` with `runtime: static`
        item = {"type": "web", "name": name, "runtime": "static"}
        item["repo"] = "https://github.com/example/site"
        _optional(draw, "buildCommand", COMMAND, item)
        _optional(draw, "staticPublishPath", st.sampled_from(["public", "dist"]), item)
        _optional(draw, "domains", st.just([f"{name}.gen.example.com"]), item)
        _optional(draw, "headers", st.lists(st.sampled_from([
            {"path": "/*", "name": "X-Frame-Options", "value": "DENY"},
            {"path": "/assets/*", "name": "Cache-Control", "value": "max-age=60"}]), max_size=2, unique_by=str), item)
        _optional(draw, "routes", st.lists(st.sampled_from([
            {"type": "redirect", "source": "/old", "destination": "/new"},
            {"type": "rewrite", "source": "/*", "destination": "/index.html"}]), max_size=2, unique_by=str), item)
        item["envVars"] = [{"key": "SITE_NAME", "value": draw(SAFE_TEXT)}]
        return item
    _code(draw, item)
    paid = draw(st.booleans())
    item["plan"] = "standard" if paid else draw(st.sampled_from(["starter", "standard"]))
    if kind == "cron":
        item["schedule"] = draw(st.sampled_from(["0 3 * * *", "*/15 * * * *"]))
    else:
        scaled = item["plan"] == "standard" and draw(st.booleans())
        if scaled:
            scaling: dict[str, Any] = {"minInstances": 1, "maxInstances": draw(st.integers(2, 4))}
            _optional(draw, "targetCPUPercent", st.integers(40, 80), scaling)
            if "targetCPUPercent" not in scaling or draw(st.booleans()):
                scaling["targetMemoryPercent"] = draw(st.integers(40, 80))
            item["scaling"] = scaling
        elif item["plan"] == "standard" and draw(st.booleans()):
            item["disk"] = {"name": f"{name}-data", "mountPath": "/var/data"}
            _optional(draw, "sizeGB", st.integers(1, 20), item["disk"])
        else:
            _optional(draw, "numInstances", st.integers(1, 3), item)
        if item["runtime"] != "image":
            _optional(draw, "preDeployCommand", st.sampled_from(["", "./migrate"]), item)
    if kind == "web":
        _optional(draw, "healthCheckPath", st.sampled_from(["", "/healthz"]), item)
        _optional(draw, "domains", st.just([f"{name}.gen.example.com"]), item)
    item["envVars"] = draw(env_vars(database, [t for t in targets if t[1] != name], group))
    if kind == "pserv":
        item["envVars"].append({"key": PSERV_TOKEN, "generateValue": True})
    return item


@st.composite
def blueprints(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """A blueprint document, the tenant overrides applied to it, and maybe the same document with one
    service's runtime switched (native, docker, image into one another)."""
    database = "db" if draw(st.booleans()) else None
    doc: dict[str, Any] = {}
    if database:
        db: dict[str, Any] = {"name": database}
        _optional(draw, "plan", st.sampled_from(["basic-256mb", "basic-1gb"]), db)
        _optional(draw, "postgresMajorVersion", st.sampled_from(["15", "16", "17"]), db)
        _optional(draw, "databaseName", st.just("app_db"), db)
        _optional(draw, "user", st.just("app_user"), db)
        _optional(draw, "ipAllowList", st.just([]), db)
        doc["databases"] = [db]
    group = "settings" if draw(st.booleans()) else None
    if group is not None:
        doc["envVarGroups"] = [{"name": group, "envVars": [
            {"key": "GROUP_VALUE", "value": draw(SAFE_TEXT)}, {"key": "GROUP_SECRET", "generateValue": True}]}]
    doc["services"] = []
    targets: list[tuple[str, str]] = []
    if draw(st.booleans()):
        cache: dict[str, Any] = {"type": "keyvalue", "name": "cache", "ipAllowList": draw(st.sampled_from(
            [[], [{"source": "10.0.0.0/8", "description": "office"}]]))}
        _optional(draw, "plan", st.sampled_from(["starter", "standard"]), cache)
        _optional(draw, "maxmemoryPolicy", st.sampled_from(["allkeys-lru", "noeviction", "volatile-ttl"]), cache)
        doc["services"].append(cache)
        targets.append(("keyvalue", "cache"))
    names = draw(st.lists(st.sampled_from(["api", "jobs", "internal", "sync", "site"]), min_size=1, max_size=3,
                          unique=True))
    kinds = [draw(st.sampled_from(["web", "pserv", "worker", "cron", "static"])) for _ in names]
    # Private services first, so the others may read them.
    for name, kind in sorted(zip(names, kinds, strict=True), key=lambda nk: nk[1] != "pserv"):
        doc["services"].append(draw(services(name, kind, database, list(targets), group)))
        if kind == "pserv":
            targets.append(("pserv", name))
    # One region for the whole blueprint, or none (Render's default): a service reading a database over the
    # private network must share its region (semantic rule region-for-kind).
    region = draw(st.one_of(st.none(), st.sampled_from(REGIONS)))
    if region is not None:
        for resource in [*doc.get("databases", []), *doc["services"]]:
            if resource.get("runtime") != "static":
                resource["region"] = region
    tenant: dict[str, Any] = {}
    _optional(draw, "region", st.sampled_from(REGIONS), tenant)
    _optional(draw, "plan", st.sampled_from(["starter", "standard", "pro"]), tenant)
    switched = None
    code = [i for i, s in enumerate(doc["services"]) if s.get("runtime") not in (None, "static")]
    if code and draw(st.booleans()):
        switched = json.loads(json.dumps(doc))
        service = switched["services"][draw(st.sampled_from(code))]
        before = service["runtime"]
        for key in ("runtime", "image", "repo", "branch", "rootDir", "dockerCommand", "dockerfilePath",
                    "dockerContext", "buildCommand", "startCommand", "preDeployCommand"):
            service.pop(key, None)
        _code(draw, service, [r for r in RUNTIMES if r != before])
    return doc, tenant, switched


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=blueprints())
def test_apply_then_plan_is_empty(case: tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None], sim: Sim,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    document, overrides, switched = case
    monkeypatch.setenv("RENDERER_FINGERPRINT_KEY", "noise-key")
    assert sim.admin("/_sim/reset").status_code == 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "blueprints" / "gen").mkdir(parents=True)
        # JSON is YAML; the alphabet above keeps Jinja's `{{`, `{%` and `{#` out of it.
        (root / "blueprints" / "gen" / "render.yaml.j2").write_text(json.dumps(document, indent=1))
        (root / "tenants").mkdir()
        tenant = {"name": "Generated", "slug": "gen-tenant", "blueprint": "gen", **overrides}
        (root / "tenants" / "gen-tenant.yaml").write_text(json.dumps(tenant))
        options = ("--tenants", str(root / "tenants"), "--blueprints", str(root / "blueprints"),
                   "--lockfile", str(root / "render.lock.json"))
        applied = run("apply", "--auto-approve", *options)
        assert applied.code == 0, applied.output
        if switched is not None:  # a runtime switch: an update in place, never a replace
            (root / "blueprints" / "gen" / "render.yaml.j2").write_text(json.dumps(switched, indent=1))
            planned = run("plan", "--detailed-exitcode", *options)
            assert "-/+ " not in planned.out, planned.output
            applied = run("apply", "--auto-approve", *options)
            assert applied.code == 0, applied.output
            document = switched
        after = run("plan", "--detailed-exitcode", *options)
        assert after.code == 0, after.output + "\n" + json.dumps(document, indent=1)
        assert after.out.splitlines()[-1] == "No changes. Render matches the configuration of 1 tenant."
        drift = run("drift", "--detailed-exitcode", "--tenants", str(root / "tenants"),
                    "--lockfile", str(root / "render.lock.json"))
        assert drift.code == 0, drift.output
