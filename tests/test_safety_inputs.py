"""Issue 11, the input half: templates stay in blueprints/, tenant values stay data, tenant files and
strings are checked, the lockfile's IDs are unique, and a secret apply needs must be readable. Each
reproduction is a located error with exit 1 and no API call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Sim, run
from tests.helpers import LOCK, apply, only_tenant
from tests.validation_helpers import validate_json

TEMPLATE = "blueprints/base_crm/render.yaml.j2"


def _include_first(project: Path, name: str) -> None:
    template = project / TEMPLATE
    template.write_text(f'{{% include "{name}" %}}\n' + template.read_text())


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd"])
def test_an_include_through_a_symlink_out_of_blueprints_is_a_template_error(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("CANARY_ENVIRON_VALUE", "canary-environ-4f1d")
    (project / "blueprints" / "base_crm" / "secrets.j2").symlink_to(target)
    _include_first(project, "base_crm/secrets.j2")
    code, report = validate_json()
    assert code == 1
    errors = report["errors"]
    assert {e["rule"] for e in errors} == {"template-outside-blueprints"}
    assert {(e["file"], e["line"]) for e in errors} == {(TEMPLATE, 1)}
    assert errors[0]["message"].startswith(
        f"template 'base_crm/secrets.j2' resolves to {Path(target).resolve()}, outside the blueprints directory")
    before = sim.exchanges()
    for command in (("render", "globex"), ("plan",), ("apply", "--auto-approve")):
        result = run(*command)
        assert result.code == 1, command
        assert "canary-environ-4f1d" not in result.output and "root:" not in result.output
        assert "template-outside-blueprints" in result.output or "outside the blueprints directory" in result.output
    assert sim.exchanges() == before
    assert not (project / LOCK).exists()


@pytest.mark.parametrize("name", ["../../etc/passwd", "../tenants/globex.yaml", "/etc/passwd"])
def test_an_include_by_a_path_out_of_blueprints_is_a_template_error(project: Path, name: str) -> None:
    _include_first(project, name)
    code, report = validate_json()
    assert code == 1
    [error] = {(e["line"], e["rule"], e["message"]) for e in report["errors"]}
    assert error == (1, "template-outside-blueprints",
                     f"template {name!r} is outside the blueprints directory (absolute or `..` path) "
                     f"(read by {TEMPLATE}) (rendering tenants `acme-corp`, `globex`, `initech`)")


def test_an_include_of_a_symlink_inside_blueprints_still_renders(project: Path) -> None:
    (project / "blueprints" / "base_crm" / "header.j2").write_text("# shared header\n")
    (project / "blueprints" / "base_crm" / "link.j2").symlink_to("header.j2")
    _include_first(project, "base_crm/link.j2")
    result = run("render", "globex")
    assert result.code == 0, result.output
    assert "services:" in result.out


def test_an_included_fifo_or_directory_is_a_template_error(project: Path) -> None:
    os.mkfifo(project / "blueprints" / "base_crm" / "pipe.j2")
    _include_first(project, "base_crm/pipe.j2")
    code, report = validate_json()
    assert code == 1
    assert {(e["line"], e["rule"]) for e in report["errors"]} == {(1, "template-outside-blueprints")}
    assert "is not a regular file" in report["errors"][0]["message"]


def test_a_blueprint_template_that_is_a_symlink_out_is_an_error(project: Path) -> None:
    template = project / TEMPLATE
    template.unlink()
    template.symlink_to("/etc/passwd")
    code, report = validate_json()
    assert code == 1
    assert {e["rule"] for e in report["errors"]} == {"template-outside-blueprints"}


INJECTION = "hello\n      - key: DEBUG\n        value: injected"


def _unquoted_env(project: Path) -> None:
    template = project / TEMPLATE
    template.write_text(template.read_text().replace("        value: {{ value | yaml_quote }}",
                                                     "        value: {{ value }}"))


def _tenant_env(project: Path, key: str, value: str) -> int:
    """Add `env: {key: value}` to globex's tenant file; returns the line of the value."""
    path = project / "tenants" / "globex.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = lines.index("env:\n") + 1
    lines.insert(at, f"  {key}: {json_string(value)}\n")
    path.write_text("".join(lines))
    return at + 1


def json_string(value: str) -> str:
    import json

    return json.dumps(value)


@pytest.mark.parametrize("value", [INJECTION, "[a, b]", "{a: 1}", "keep #cut", "x\n- y", "*alias", "a: b"])
def test_a_tenant_value_that_would_change_the_structure_is_an_error_at_its_line(
        sim: Sim, project: Path, value: str) -> None:
    _unquoted_env(project)
    line = _tenant_env(project, "GREETING", value)
    code, report = validate_json()
    assert code == 1
    errors = [e for e in report["errors"] if e["file"] == "tenants/globex.yaml"]
    assert errors, report
    assert {(e["line"], e["column"]) for e in errors} == {(line, 13)}, report
    for error in errors:  # a value that breaks the YAML outright is a yaml-syntax error at the same place
        assert (error["rule"], error["path"]) in {("value-changes-structure", "env.GREETING"), ("yaml-syntax", "")}
        assert "env.GREETING" in error["message"]
    before = sim.exchanges()
    result = run("plan")
    assert result.code == 1 and "Traceback" not in result.output
    assert sim.exchanges() == before


def test_the_injection_stays_one_string_when_the_template_quotes_it(project: Path) -> None:
    _tenant_env(project, "GREETING", INJECTION)
    code, report = validate_json()
    assert code == 0, report
    rendered = run("render", "globex")
    assert rendered.code == 0
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(rendered.out)
    web = document["services"][0]
    assert {"key": "GREETING", "value": INJECTION} in web["envVars"]
    assert all(e["key"] != "DEBUG" for e in web["envVars"])


@pytest.mark.parametrize("value", ["pipelines,forecasting", "3.10", "true", "Acme Corp", "a-b_c.d"])
def test_plain_tenant_values_unquoted_still_render(project: Path, value: str) -> None:
    _unquoted_env(project)
    _tenant_env(project, "SETTING", value)
    code, report = validate_json()
    assert code == 0, report


WEB = "web_service.backboneos-backend"


@pytest.mark.parametrize("dangling", [True, False])
def test_a_tenant_file_that_is_a_symlink_is_an_error(sim: Sim, project: Path, dangling: bool) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    globex = project / "tenants" / "globex.yaml"
    real = project / "elsewhere.yaml"
    real.write_text(globex.read_text())
    globex.unlink()
    globex.symlink_to(project / "missing.yaml" if dangling else real)
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    assert (error["file"], error["rule"]) == ("tenants/globex.yaml", "symlink")
    assert error["message"].startswith("`globex.yaml` is a symbolic link" + (" to nothing" if dangling else ""))
    lockfile = (project / LOCK).read_text()
    before = sim.exchanges()
    for command in (("plan",), ("apply", "--auto-approve", "--allow-destroy", "--skip-backup")):
        result = run(*command)
        assert result.code == 1 and "is a symbolic link" in result.output, result.output
    assert sim.exchanges() == before
    assert (project / LOCK).read_text() == lockfile


@pytest.mark.parametrize(("written", "code_point", "column"), [
    ("Acme\u0085Corp", 0x85, 11),       # written into the file: YAML would fold it into a space
    ('"Acme\\NCorp"', 0x85, 7),          # YAML's escape for the same character
    ('"Acme\\0Corp"', 0x0, 7),           # NUL, escaped
    ("Acme\x7fCorp", 0x7F, 11),          # DEL, written
    ('"Acme\\rCorp"', 0x0D, 7),          # a lone carriage return, escaped
    ("Acme\u2028Corp", 0x2028, 11),      # LINE SEPARATOR
])
def test_a_control_character_in_a_tenant_string_is_a_located_error(
        sim: Sim, project: Path, written: str, code_point: int, column: int) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("name: Globex Corporation", f"name: {written}"))
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    assert (error["file"], error["line"], error["column"]) == ("tenants/globex.yaml", 2, column)
    assert f"control character U+{code_point:04X}" in error["message"]
    before = sim.exchanges()
    assert run("plan").code == 1
    assert sim.exchanges() == before


def test_a_control_character_in_an_env_value_names_its_key_and_position(project: Path) -> None:
    line = _tenant_env(project, "GREETING", "hi\u0000there")
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    assert (error["line"], error["column"], error["path"]) == (line, 13, "env.GREETING")
    assert "control character U+0000 at character 3" in error["message"]


def test_tab_and_newline_stay_allowed_in_tenant_strings(project: Path) -> None:
    _tenant_env(project, "GREETING", "one\ttwo\nthree")
    code, report = validate_json()
    assert code == 0, report


@pytest.mark.parametrize(("size", "ok"), [(32 * 1024, True), (32 * 1024 + 1, False), (10 * 1024 * 1024, False)])
def test_a_tenant_env_value_over_32_kib_is_refused(sim: Sim, project: Path, size: int, ok: bool) -> None:
    line = _tenant_env(project, "BLOB", "x" * size)
    code, report = validate_json()
    assert code == (0 if ok else 1), report["errors"][:1]
    if not ok:
        [error] = report["errors"]
        assert (error["file"], error["line"], error["column"], error["path"]) == (
            "tenants/globex.yaml", line, 9, "env.BLOB")
        assert error["message"] == (f"the value is {size:,} bytes; a tenant env value may hold at most "
                                    "32,768 bytes (32 KiB)")
        before = sim.exchanges()
        assert run("plan").code == 1
        assert sim.exchanges() == before


def test_one_id_under_two_addresses_is_a_lockfile_error(sim: Sim, project: Path) -> None:
    import json

    only_tenant(project, "globex")
    (project / "tenants" / "initech.yaml").write_text(
        "name: Initech\nslug: initech\nblueprint: base_crm\n")
    assert apply().code == 0
    data = json.loads((project / LOCK).read_text())
    initech_web = data["tenants"]["initech"]["resources"][WEB]["id"]
    globex_web = data["tenants"]["globex"]["resources"][WEB]["id"]
    data["tenants"]["globex"]["resources"][WEB]["id"] = initech_web
    (project / LOCK).write_text(json.dumps(data, indent=2))
    edited = (project / LOCK).read_text()
    before = sim.exchanges()
    for command in (("plan",), ("apply", "--auto-approve", "--allow-destroy", "--skip-backup"), ("drift",)):
        result = run(*command)
        assert result.code == 1, (command, result.output)
        assert (f"records one Render ID under two addresses: {initech_web} is recorded as both globex/{WEB} and "
                f"initech/{WEB}") in result.err
        assert "restore render.lock.json from Git" in result.err
    assert sim.exchanges() == before
    assert (project / LOCK).read_text() == edited
    assert globex_web != initech_web


def test_a_tenant_secret_apply_cannot_read_stops_apply_before_any_write(
        sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import add_blueprint_line, writes_since

    only_tenant(project, "globex")
    add_blueprint_line(project, "generateValue: true", "      - key: STRIPE_KEY\n        sync: false\n")
    tenant = project / "tenants" / "globex.yaml"
    tenant.write_text(tenant.read_text() + "secrets:\n  STRIPE_KEY: {from_env: GLOBEX_STRIPE_KEY}\n")
    monkeypatch.setenv("GLOBEX_STRIPE_KEY", "sk_live_one")
    assert apply().code == 0
    lockfile = (project / LOCK).read_text()
    monkeypatch.delenv("GLOBEX_STRIPE_KEY")
    # A blueprint change the secret does not take part in: apply still needs the secret to know it is current.
    tenant.write_text(tenant.read_text().replace('CRM_DEFAULT_CURRENCY: "USD"', 'CRM_DEFAULT_CURRENCY: "EUR"'))
    for extra in ((), ("--allow-destroy",)):
        start = sim.exchanges()
        result = apply(*extra)
        assert result.code == 1, result.output
        assert (f"tenant secrets are not set in the environment: $GLOBEX_STRIPE_KEY (secret STRIPE_KEY of "
                f"globex/{WEB}); nothing was changed") in result.err
        assert writes_since(sim, start) == []
    assert (project / LOCK).read_text() == lockfile
    # Nothing to change at all: still an error, not a warning with exit 0.
    tenant.write_text(tenant.read_text().replace('CRM_DEFAULT_CURRENCY: "EUR"', 'CRM_DEFAULT_CURRENCY: "USD"'))
    result = apply()
    assert result.code == 1 and "tenant secrets are not set in the environment" in result.err
