"""Issue 5 (phase A): no noise. For generated blueprints of every kind renderer manages today (web,
private and background worker services with native or docker runtimes, Postgres), with fields left out,
empty or set and env vars of every source: apply, then plan shows no changes and drift finds none."""

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


def _optional(draw: st.DrawFn, key: str, strategy: st.SearchStrategy[Any], target: dict[str, Any]) -> None:
    if draw(st.booleans()):
        target[key] = draw(strategy)


@st.composite
def env_vars(draw: st.DrawFn, database: str | None) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.sampled_from([f"KEY_{i}" for i in range(8)]), max_size=5, unique=True))
    sources = ["value", "generateValue", "sync"] + (["fromDatabase"] if database else [])
    items: list[dict[str, Any]] = []
    for key in keys:
        source = draw(st.sampled_from(sources))
        if source == "value":
            items.append({"key": key, "value": draw(SAFE_TEXT)})
        elif source == "generateValue":
            items.append({"key": key, "generateValue": True})
        elif source == "sync":
            items.append({"key": key, "sync": False})
        else:
            items.append({"key": key, "fromDatabase": {"name": database,
                                                       "property": draw(st.sampled_from(DB_PROPERTIES))}})
    return items


@st.composite
def services(draw: st.DrawFn, name: str, database: str | None) -> dict[str, Any]:
    kind = draw(st.sampled_from(["web", "pserv", "worker"]))
    runtime = draw(st.sampled_from(["python", "node", "docker"]))
    item: dict[str, Any] = {"type": kind, "name": name, "runtime": runtime, "repo": "https://github.com/example/app"}
    _optional(draw, "branch", st.sampled_from(["main", "develop"]), item)
    _optional(draw, "plan", st.sampled_from(["starter", "standard"]), item)
    _optional(draw, "numInstances", st.integers(1, 3), item)
    _optional(draw, "rootDir", st.sampled_from(["", "app"]), item)
    if runtime == "docker":
        _optional(draw, "dockerCommand", st.sampled_from(["", "./serve"]), item)
        _optional(draw, "dockerfilePath", st.sampled_from(["./Dockerfile", "./docker/Dockerfile"]), item)
        _optional(draw, "dockerContext", st.sampled_from([".", "./docker"]), item)
    else:
        item["buildCommand"] = draw(COMMAND)
        item["startCommand"] = draw(COMMAND)
    _optional(draw, "preDeployCommand", st.sampled_from(["", "./migrate"]), item)
    if kind == "web":
        _optional(draw, "healthCheckPath", st.sampled_from(["", "/healthz"]), item)
    item["envVars"] = draw(env_vars(database))
    return item


@st.composite
def blueprints(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A blueprint document and the tenant overrides applied to it."""
    database = "db" if draw(st.booleans()) else None
    doc: dict[str, Any] = {}
    if database:
        db: dict[str, Any] = {"name": database}
        _optional(draw, "plan", st.sampled_from(["basic-256mb", "basic-1gb"]), db)
        _optional(draw, "postgresMajorVersion", st.sampled_from(["15", "16", "17"]), db)
        _optional(draw, "databaseName", st.just("app_db"), db)
        _optional(draw, "user", st.just("app_user"), db)
        doc["databases"] = [db]
    names = draw(st.lists(st.sampled_from(["api", "jobs", "internal", "sync"]), min_size=1, max_size=3, unique=True))
    doc["services"] = [draw(services(name, database)) for name in names]
    # One region for the whole blueprint, or none (Render's default): a service reading a database over the
    # private network must share its region (semantic rule region-for-kind).
    region = draw(st.one_of(st.none(), st.sampled_from(REGIONS)))
    if region is not None:
        for resource in [*doc.get("databases", []), *doc["services"]]:
            resource["region"] = region
    tenant: dict[str, Any] = {}
    _optional(draw, "region", st.sampled_from(REGIONS), tenant)
    _optional(draw, "plan", st.sampled_from(["starter", "standard", "pro"]), tenant)
    return doc, tenant


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=blueprints())
def test_apply_then_plan_is_empty(case: tuple[dict[str, Any], dict[str, Any]], sim: Sim,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    document, overrides = case
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
        after = run("plan", "--detailed-exitcode", *options)
        assert after.code == 0, after.output + "\n" + json.dumps(document, indent=1)
        assert after.out.splitlines()[-1] == "No changes. Render matches the configuration of 1 tenant."
        drift = run("drift", "--detailed-exitcode", "--tenants", str(root / "tenants"),
                    "--lockfile", str(root / "render.lock.json"))
        assert drift.code == 0, drift.output
