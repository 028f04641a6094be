"""Validation layers: deprecated forms (default vs --strict), errors from the branch the document meant,
every semantic rule, and the output formats and exit codes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from renderer import refdata
from renderer.blueprint.render import load_blueprint_file
from renderer.blueprint.semantic import RULES, WARNING_RULES
from tests.conftest import ROOT, run
from tests.validation_helpers import blueprint_report, finding, rules, write

DEPRECATED = """
    previewsEnabled: true
    services:
      - type: web
        name: api
        env: docker
        envVars:
          - key: DEBUG
            value: false
          - key: WORKERS
            value: 4
      - type: redis
        name: cache
        ipAllowList: []
      - type: worker
        name: jobs
        runtime: python
        buildCommand: pip install -r requirements.txt
        startCommand: python worker.py
        envVars:
          - key: REDIS_URL
            fromService:
              type: redis
              name: cache
              property: connectionString
    databases:
      - name: db
        postgresMajorVersion: 16
    """


def test_deprecated_forms_are_accepted_with_warnings_and_normalised(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", DEPRECATED)
    code, report = blueprint_report(path)
    assert code == 0 and report["valid"] is True and report["errors"] == []
    assert [(f["line"], f["column"], f["path"], f["rule"]) for f in report["warnings"]] == [
        (1, 18, "previews.generation", "deprecated-preview-key"),
        (5, 10, "services[0].runtime", "deprecated-env"),
        (8, 16, "services[0].envVars[0].value", "env-value-boolean"),
        (11, 11, "services[1].type", "deprecated-redis"),
        (22, 17, "services[2].envVars[0].fromService.type", "deprecated-redis"),
        (27, 27, "databases[0].postgresMajorVersion", "postgres-version-number"),
    ]
    assert report["warnings"][1]["message"] == "`env: docker` is deprecated; renderer reads it as `runtime: docker`"
    document = load_blueprint_file(path).document
    assert document["previews"] == {"generation": "automatic"}
    assert document["services"][0]["runtime"] == "docker" and "env" not in document["services"][0]
    assert list(document["services"][0]) == ["type", "name", "runtime", "envVars"]  # the key keeps its place
    assert document["services"][0]["envVars"] == [{"key": "DEBUG", "value": "false"},
                                                  {"key": "WORKERS", "value": "4"}]
    assert document["services"][1]["type"] == "keyvalue"
    assert document["services"][2]["envVars"][0]["fromService"]["type"] == "keyvalue"
    assert document["databases"][0]["postgresMajorVersion"] == "16"


def test_strict_is_exactly_the_official_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", DEPRECATED)
    code, report = blueprint_report(path, "--strict")
    assert code == 1
    assert [(f["line"], f["path"], f["rule"]) for f in report["errors"]] == [
        (3, "services[0]", "required"),
        (5, "services[0].env", "unknown-key"),
        (8, "services[0].envVars[0].value", "env-value-type"),
        (27, "databases[0].postgresMajorVersion", "type"),
    ]
    assert report["errors"][1]["hint"] == "`env:` is the deprecated name of `runtime:`; write `runtime:`"
    # forms the official schema accepts stay warnings in strict mode
    assert [f["rule"] for f in report["warnings"]] == ["deprecated-preview-key", "deprecated-redis",
                                                       "deprecated-redis"]


def test_env_and_runtime_disagreeing_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: worker
            name: jobs
            env: node
            runtime: python
            buildCommand: pip install -r requirements.txt
            startCommand: python worker.py
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [finding(
        path, 5, 14, "services[0].runtime", "schema", "env-runtime-conflict",
        "`env: node` and `runtime: python` disagree",
        "delete `env:` (the deprecated name of `runtime:`) and keep the runtime you mean")]


def test_errors_come_from_the_branch_the_service_meant(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: docker
            plan: Starter
            dsik:
              name: data
              mountPath: /data
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [
        finding(path, 5, 11, "services[0].plan", "schema", "enum",
                "`Starter` is not one of: free, starter, standard, pro, pro plus, pro max, pro ultra, basic-256mb, "
                "basic-1gb, basic-4gb and 19 more", "did you mean `starter`? (values are case-sensitive)"),
        finding(path, 6, 5, "services[0].dsik", "schema", "unknown-key", "unknown key `dsik`",
                "did you mean `disk`?"),
    ]
    text = str(report)
    for other_branch in ("keyvalue", "redis", "cron", "static", "ipAllowList", "schedule"):
        assert other_branch not in text


def test_unknown_service_type_and_a_key_of_another_kind(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: postgresql
            name: db
          - type: cron
            name: nightly
            runtime: docker
            schedule: "0 3 * * *"
            healthCheckPath: /health
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [
        finding(path, 2, 11, "services[0].type", "schema", "service-type", "unknown service type `postgresql`",
                "a Postgres database belongs under `databases:` (without `type:`), not under `services:`"),
        finding(path, 8, 5, "services[1].healthCheckPath", "schema", "unknown-key", "unknown key `healthCheckPath`",
                "`healthCheckPath` is not a setting of cron jobs (it is one of web services, private services and "
                "background workers); delete it"),
    ]


SEMANTIC_CASES: dict[str, tuple[str, tuple[int, int, str, str]]] = {
    "unique-name": ("""
        services:
          - {type: web, name: api, runtime: docker}
          - {type: worker, name: api, runtime: docker}
        """, (3, 26, "services[1].name", "name `api` is already used by another service on line 2")),
    "key-value-under-databases": ("""
        databases:
          - name: cache
            type: redis
        """, (2, 5, "databases[0]", "`cache` is a Key Value instance (it sets `type: redis`) but is declared "
                                    "under `databases:`, which holds Postgres databases only")),
    "from-database-ref": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: DATABASE_URL
                fromDatabase: {name: dbb, property: connectionString}
        databases:
          - name: db
        """, (7, 30, "services[0].envVars[0].fromDatabase.name",
              "fromDatabase names `dbb`, which is not a database in this blueprint")),
    "from-database-property": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: DATABASE_URL
                fromDatabase: {name: db, property: connectionURL}
        databases:
          - name: db
        """, (7, 44, "services[0].envVars[0].fromDatabase.property",
              "`connectionURL` is not a property of a Postgres database")),
    "from-service-ref": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: AUTH_HOST
                fromService: {type: pserv, name: auth, property: host}
        """, (7, 42, "services[0].envVars[0].fromService.name",
              "fromService names `auth`, which is not a service in this blueprint")),
    "from-service-type": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: AUTH_HOST
                fromService: {type: pserv, name: auth, property: host}
          - {type: worker, name: auth, runtime: docker}
        """, (7, 29, "services[0].envVars[0].fromService.type",
              "fromService says `type: pserv` but `auth` is a background worker")),
    "from-service-property": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: AUTH_HOST
                fromService: {type: pserv, name: auth}
          - {type: pserv, name: auth, runtime: docker}
        """, (7, 9, "services[0].envVars[0].fromService",
              "fromService needs `property` (host, port, hostport, connectionString) or `envVarKey`")),
    "from-group-ref": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - fromGroup: shared-settings
        """, (6, 20, "services[0].envVars[0].fromGroup",
              "fromGroup names `shared-settings`, which is not an env group in this blueprint")),
    "env-var-source": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: SECRET
                generateValue: true
                value: abc
        """, (7, 9, "services[0].envVars[0].generateValue",
              "env var `SECRET` has more than one value source: `value` and `generateValue`")),
    "env-group-sync-false": ("""
        envVarGroups:
          - name: shared
            envVars:
              - {key: TOKEN, sync: false}
        """, (4, 22, "envVarGroups[0].envVars[0].sync",
              "env var `TOKEN` in env group `shared` has `sync: false`; renderer takes `sync: false` only on a "
              "service's env vars (an env group's values come from the blueprint)")),
    "plan-for-kind": ("""
        services:
          - type: worker
            name: jobs
            runtime: docker
            plan: free
        """, (5, 11, "services[0].plan", "a background worker has no free instance type (Render offers free web "
                                         "services, Postgres and Key Value only)")),
    "region-for-kind": ("""
        services:
          - type: web
            name: api
            runtime: docker
            region: frankfurt
            envVars:
              - key: DATABASE_URL
                fromDatabase: {name: db, property: connectionString}
        databases:
          - name: db
            region: oregon
        """, (8, 9, "services[0].envVars[0].fromDatabase",
              "this web service in `frankfurt` reads Postgres database `db` in `oregon` over Render's private "
              "network, which connects resources in the same region only")),
    "runtime-commands": ("""
        services:
          - type: web
            name: api
            runtime: node
            buildCommand: npm ci
        """, (4, 14, "services[0].runtime", "a node web service needs a `startCommand`")),
    "disk-scaling": ("""
        services:
          - type: web
            name: cms
            runtime: docker
            numInstances: 3
            disk: {name: uploads, mountPath: /data}
        """, (6, 5, "services[0].disk", "a service with a persistent disk runs exactly one instance, so "
                                        "`numInstances: 3` cannot go with `disk:`")),
    "free-plan-limits": ("""
        services:
          - type: web
            name: api
            runtime: docker
            plan: free
            numInstances: 2
        """, (5, 11, "services[0].plan", "a free service cannot have more than one instance")),
    "placeholder": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: STRIPE_KEY
                value: <your-stripe-key>
        """, (7, 16, "services[0].envVars[0].value", "leftover placeholder `<your-stripe-key>` in a value")),
    "duplicate-env-key": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: LOG_LEVEL
                value: info
              - key: LOG_LEVEL
                value: debug
        """, (8, 14, "services[0].envVars[1].key",
              "duplicate env var key `LOG_LEVEL` in `services[0].envVars` of `api`: already declared at envVars[0] "
              "(line 6)")),
}


# Rules that warn (what they find is legal on Render and sometimes meant): (text, (line, column, path, message, hint)).
WARNING_CASES: dict[str, tuple[str, tuple[int, int, str, str, str]]] = {
    "empty-env-value": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: SMTP_PASSWORD
                value: ''
        """, (7, 16, "services[0].envVars[0].value",
              "env var `SMTP_PASSWORD` has an empty value: renderer sets it to the empty string on every apply, over "
              "any value set in the Render Dashboard",
              'give it its value; for a secret you set in the Render Dashboard write `sync: false` instead of '
              '`value: ""`; keep `value: ""` only if empty is what the service should get')),
    "env-group-override": ("""
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - fromGroup: shared
              - key: LOG_LEVEL
                value: debug
        envVarGroups:
          - name: shared
            envVars:
              - {key: LOG_LEVEL, value: info}
        """, (7, 14, "services[0].envVars[1].key",
              "env var `LOG_LEVEL` of `api` is also in env group `shared`, which `api` links on line 6: Render "
              "uses the service's value and ignores the group's",
              "remove `LOG_LEVEL` here to use the group's value, or remove it from env group `shared` if each "
              "service sets its own")),
    "pre-deploy-disk": ("""
        services:
          - type: web
            name: cms
            runtime: docker
            preDeployCommand: ./manage.py collectstatic
            disk: {name: uploads, mountPath: /data}
        """, (5, 5, "services[0].preDeployCommand",
              "`preDeployCommand` runs on a separate instance without the service's disk (mounted at `/data`), so "
              "it cannot read or write the disk's files",
              "if the command needs the disk, run it at the start of `startCommand` instead (`<command> && <start "
              "command>`); if it does not (a database migration, say), keep it")),
    "merge-key-list": ("""
        services:
          - &worker
            type: worker
            name: jobs
            runtime: docker
            envVars:
              - {key: QUEUE, value: default}
              - {key: LOG_LEVEL, value: info}
          - <<: *worker
            name: mailer
            envVars:
              - {key: QUEUE, value: mail}
        """, (11, 5, "services[1].envVars",
              "`envVars` here replaces the `envVars` list merged from `*worker` (line 2): `<<:` merges mappings, "
              "not lists, so its 2 items are dropped",
              "repeat the items you need in this list (YAML cannot extend a list), or delete `envVars` here to keep "
              "the merged list")),
}


@pytest.mark.parametrize("rule", [r for r in RULES if r != "fleet-unique-name" and r not in WARNING_RULES])
def test_each_semantic_rule(rule: str, tmp_path: Path) -> None:
    text, (line, column, path, message) = SEMANTIC_CASES[rule]
    file = write(tmp_path / "render.yaml", text)
    code, report = blueprint_report(file)
    assert code == 1
    semantic = [f for f in report["errors"] if f["layer"] == "semantic"]
    assert [(f["line"], f["column"], f["path"], f["rule"], f["message"]) for f in semantic] == [
        (line, column, path, rule, message)]


@pytest.mark.parametrize("rule", sorted(WARNING_RULES))
def test_each_semantic_warning(rule: str, tmp_path: Path) -> None:
    text, (line, column, path, message, hint) = WARNING_CASES[rule]
    file = write(tmp_path / "render.yaml", text)
    code, report = blueprint_report(file)
    assert code == 0 and report["errors"] == []
    assert report["warnings"] == [finding(file, line, column, path, "semantic", rule, message, hint)]


@pytest.mark.parametrize(("value", "rule"), [
    ("replace_with_your_key", "replace_with_your_key"), ("REPLACE_WITH_STRIPE_KEY", "REPLACE_WITH_STRIPE_KEY"),
    ("CHANGEME", "CHANGEME"), ("changeme", "changeme"), ("postgres://user:CHANGE_ME@db/x", "CHANGE_ME"),
])
def test_placeholder_spellings(value: str, rule: str, tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", f"""
        services:
          - type: web
            name: api
            runtime: docker
            preDeployCommand: ./migrate --token {value}
            envVars:
              - key: TOKEN
                value: {value}
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert [(f["line"], f["column"], f["path"], f["message"]) for f in report["errors"]] == [
        (5, 23, "services[0].preDeployCommand", f"leftover placeholder `{rule}` in a value"),
        (8, 16, "services[0].envVars[0].value", f"leftover placeholder `{rule}` in a value"),
    ]
    clean = write(tmp_path / "ok.yaml", "services:\n  - {type: web, name: exchange-me, runtime: docker}\n")
    assert blueprint_report(clean)[0] == 0


def test_a_null_value_is_reported_on_its_own_line_with_a_hint_that_fixes_it(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: SENTRY_DSN
                value:
              - key: LOG_LEVEL
                value: null
        """)
    code, report = blueprint_report(path)
    assert code == 1
    hint = ('write the value after `value:` (`value: "..."`); for a service\'s secret set in the Render '
            "Dashboard, write `sync: false` instead")
    assert report["errors"] == [
        finding(path, 7, 9, "services[0].envVars[0].value", "schema", "env-value-type",
                "an env var value must be a string or a number, not null", hint),
        finding(path, 9, 16, "services[0].envVars[1].value", "schema", "env-value-type",
                "an env var value must be a string or a number, not null", hint),
    ]


def test_every_rule_is_documented() -> None:
    doc = (ROOT / "docs" / "validation.md").read_text()
    for rule in RULES:
        assert f"### `{rule}`" in doc, rule


def test_placeholders_in_commands_allow_shell_syntax(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: python
            buildCommand: pip install -r requirements.txt > /dev/null
            startCommand: gunicorn -b 0.0.0.0:${PORT} app:app < /dev/null
            envVars:
              - key: GREETING
                value: "R&D <Labs>: a < b"
        """)
    assert blueprint_report(path) == (0, {"valid": True, "errors": [], "warnings": []})


def test_all_formats_and_exit_codes(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            env: docker
            plan: free
            numInstances: 2
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert list(report) == ["valid", "errors", "warnings"]
    assert all(list(f) == ["file", "line", "column", "path", "layer", "rule", "message", "hint"]
               for f in report["errors"] + report["warnings"])
    github = run("validate", "--blueprint", "--format", "github", str(path))
    assert github.code == 1
    assert github.out.splitlines() == [
        f"::warning file={path},line=4,col=10,title=schema/deprecated-env::`env: docker` is deprecated; renderer "
        "reads it as `runtime: docker` (at services[0].runtime)%0Ahint: write `runtime: docker`",
        f"::error file={path},line=5,col=11,title=semantic/free-plan-limits::a free service cannot have more than "
        "one instance (at services[0].plan)%0Ahint: use `plan: starter` or larger, or remove "
        "`numInstances`/`scaling`",
        "Invalid: 1 error, 1 warning.",
    ]
    text = run("validate", "--blueprint", str(path))
    assert text.code == 1
    assert text.out.splitlines()[-1] == "Invalid: 1 error, 1 warning."
    assert f"{path}:5:11: error: a free service cannot have more than one instance at services[0].plan " \
           "[semantic/free-plan-limits]" in text.out
    ok = write(tmp_path / "ok.yaml", "services:\n  - {type: web, name: api, runtime: docker}\n")
    for fmt in ("text", "json", "github"):
        assert run("validate", "--blueprint", "--format", fmt, str(ok)).code == 0
    assert rules(blueprint_report(ok)[1]["errors"]) == []


def test_missing_schema_skips_only_that_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RENDERER_BLUEPRINT_SCHEMA")
    monkeypatch.setattr(refdata, "BLUEPRINT_SCHEMA",
                        dataclasses.replace(refdata.BLUEPRINT_SCHEMA, url="http://127.0.0.1:9/render.yaml.json"))
    path = write(tmp_path / "render.yaml", "services:\n  - {type: worker, name: jobs, runtime: docker, plan: free}\n")
    result = run("validate", "--blueprint", "--format", "json", str(path))
    assert result.code == 1
    assert "the official schema layer was skipped" in result.err
    assert result.out.startswith("{")
    assert [f["rule"] for f in json.loads(result.out)["errors"]] == ["plan-for-kind"]
