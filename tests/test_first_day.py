"""What a new user tripped over on their first day (issue 13): a wrong tenants directory, an unreachable
API, YAML errors on the wrong line, an unknown blueprint, contradicting slug hints, `-v` after the
command, the markdown diff, ambiguous YAML in `renderer render` and the drift count."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import time
from pathlib import Path

import pytest
from rich.console import Console
from ruamel.yaml import YAML

from renderer import yamlio
from renderer.cli.main import cli
from renderer.progress import WaitProgress
from renderer.render_api.limits import Limiter, RateLimits
from tests.conftest import Sim, SimClock, run
from tests.helpers import LOCK, apply, lock_id, only_tenant, put_env
from tests.test_limits import FakeClock
from tests.validation_helpers import validate_json

# -- 1. a wrong tenants directory is an error, not a green check ------------------------------------------

TENANTS_COMMANDS = [
    ["validate"], ["plan"], ["apply", "--auto-approve"], ["render", "--all", "--out", "out"], ["drift"],
    ["import", "acme-corp"], ["ci", "plan"], ["ci", "apply"], ["ci", "drift"],
]


@pytest.mark.parametrize("command", TENANTS_COMMANDS, ids=" ".join)
def test_an_explicit_tenants_directory_that_does_not_exist_is_an_error(command: list[str], project: Path) -> None:
    result = run(*command, "--tenants", "tenant")  # a typo of `tenants`
    assert result.code == 1, result.output
    assert "Error: Invalid value for '--tenants': directory 'tenant' does not exist" in result.err
    assert "Traceback" not in result.output


def test_the_default_tenants_directory_missing_counts_as_empty(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    for path in (project / "tenants").iterdir():
        path.unlink()
    (project / "tenants").rmdir()  # git drops an empty folder: removing the last tenant removes tenants/
    validate = run("validate")
    assert validate.code == 0, validate.output
    assert "No tenant files in tenants/; render.lock.json records 1 tenant (globex), which `renderer plan` " \
           "shows torn down." in validate.err
    assert validate.out.splitlines()[-1] == "Valid: 0 tenants."
    plan = run("plan", "--detailed-exitcode")
    assert plan.code == 3, plan.output
    assert "the tenants directory has no tenant files" in plan.out
    assert apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy").code == 0
    assert json.loads((project / LOCK).read_text())["tenants"] == {}


def test_no_tenant_file_and_no_tenant_in_the_lockfile_exits_1(sim: Sim, project: Path) -> None:
    for path in (project / "tenants").glob("*.yaml"):
        path.unlink()
    before = sim.exchanges()
    for command in (["validate"], ["validate", "--format", "json"], ["plan"], ["apply", "--auto-approve"]):
        result = run(*command)
        assert result.code == 1, (command, result.output)
        assert "Error: no tenant files in tenants/ and render.lock.json records no tenant: nothing to " \
               f"{'plan' if command[0] != 'validate' else 'validate'}" in result.err
        assert "hint: run renderer from the repository root, or give --tenants DIR" in result.err
    assert sim.exchanges() == before  # no API call at all
    assert not (project / LOCK).exists()


# -- 3. an unreachable API fails fast ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"], ["drift"]], ids=" ".join)
def test_a_refused_connection_fails_at_once_with_the_url_and_a_hint(
        command: list[str], project: Path, monkeypatch: pytest.MonkeyPatch, client_seam: SimClock) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    monkeypatch.setenv("RENDER_API_URL", url)
    monkeypatch.setenv("RENDER_API_KEY", "k")
    monkeypatch.setenv("RENDER_OWNER_ID", "tea-x")
    started = time.monotonic()
    result = run("-v", *command)
    elapsed = time.monotonic() - started
    assert result.code == 1
    # refresh lists services, Postgres, Key Value and env groups at once: whichever fails first is reported
    assert re.search(rf"Error: Render API on GET /[a-z-]+: no answer from {re.escape(url)}: connection refused\n",
                     result.err), result.err
    assert ("hint: check RENDER_API_URL and the network: nothing is listening at "
            f"127.0.0.1:{url.split(':')[2].split('/')[0]} (for the simulator") in result.err
    assert client_seam.slept == []  # not one retry (each would sleep on the client's clock)
    assert "retrying" not in result.err
    assert elapsed < 2.0
    assert "Traceback" not in result.output


def test_an_unknown_host_fails_at_once_with_the_url_and_a_hint(
        project: Path, monkeypatch: pytest.MonkeyPatch, client_seam: SimClock) -> None:
    monkeypatch.setenv("RENDER_API_URL", "https://api.render.invalid/v1")
    monkeypatch.setenv("RENDER_API_KEY", "k")
    started = time.monotonic()
    result = run("-v", "plan")
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert re.search(r"Error: Render API on GET /[a-z-]+: no answer from https://api\.render\.invalid/v1: unknown "
                     r"host api\.render\.invalid\n", result.err), result.err
    assert "hint: the host api.render.invalid cannot be resolved: check RENDER_API_URL for a typo, and the " \
           "network's DNS" in result.err
    assert client_seam.slept == []
    assert elapsed < 2.0


def test_a_dropped_connection_is_still_retried(sim: Sim, project: Path, client_seam: SimClock) -> None:
    only_tenant(project, "globex")
    assert sim.admin("/_sim/faults", {"rules": [{"action": "drop", "method": "GET", "path": "/v1/services",
                                                 "times": 2}]}).status_code == 200
    result = run("plan")
    assert result.code == 0, result.output
    assert len(client_seam.slept) == 2  # two retries, then the answer


# -- 4. YAML syntax errors point at the quote left open ----------------------------------------------------

QUOTE_CASES = {
    "line 5, closed by a later quote": (
        'name: Globex\nslug: globex\nblueprint: base_crm\nenv:\n  CRM_DEFAULT_CURRENCY: "USD\n'
        '  CRM_FEATURE_FLAGS: "x"\n', 5, 25, '"'),
    "line 5, never closed": (
        "name: Globex\nslug: globex\nblueprint: base_crm\nenv:\n  CRM_DEFAULT_CURRENCY: 'USD\n"
        "  CRM_FEATURE_FLAGS: x\nregion: oregon\n", 5, 25, "'"),
    "line 1, never closed": ('name: "Globex\nslug: globex\nblueprint: base_crm\n', 1, 7, '"'),
}


@pytest.mark.parametrize("case", QUOTE_CASES)
def test_a_quote_left_open_is_reported_where_it_opens(case: str, project: Path) -> None:
    text, line, column, quote = QUOTE_CASES[case]
    (project / "tenants" / "globex.yaml").write_text(text)
    code, report = validate_json("tenants/globex.yaml")
    assert code == 1
    [error] = report["errors"]
    assert (error["file"], error["line"], error["column"], error["layer"], error["rule"]) == (
        "tenants/globex.yaml", line, column, "yaml", "unclosed-quote")
    assert error["message"].startswith(f"the quote {quote} opened here is not closed on this line")
    assert error["hint"].startswith(f"close the quote: add {quote} at the end of the value on line {line}")


# -- 5. an unknown blueprint is reported at the tenant file's `blueprint:` line ---------------------------

def test_an_unknown_blueprint_is_reported_at_the_tenant_files_blueprint_line(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    path.write_text(path.read_text().replace("blueprint: base_crm", "blueprint: base_crn"))
    code, report = validate_json()
    assert code == 1
    line = path.read_text().splitlines().index("blueprint: base_crn") + 1
    assert report["errors"] == [{
        "file": "tenants/globex.yaml", "line": line, "column": 12, "path": "blueprint", "layer": "tenant",
        "rule": "unknown-blueprint",
        "message": "unknown blueprint `base_crn`: there is no blueprints/base_crn/render.yaml.j2",
        "hint": "did you mean `base_crm`? blueprints: base_crm"}]


# -- 6. slug hints agree and suggest a valid slug -----------------------------------------------------------

def test_slug_hints_agree_and_suggest_a_valid_slug(project: Path) -> None:
    (project / "tenants" / "hooli.yaml").write_text("name: Hooli Inc\nslug: Hooli_Inc\nblueprint: base_crm\n")
    code, report = validate_json("tenants/hooli.yaml")
    assert code == 1
    assert [(e["line"], e["column"], e["rule"], e["hint"]) for e in report["errors"]] == [
        (2, 7, "invalid-slug",
         "use lowercase letters, digits and '-': `slug: hooli-inc`, and name the file `hooli-inc.yaml`"),
        (2, 7, "slug-file-name", "set `slug: hooli-inc` and rename the file to `hooli-inc.yaml`"),
    ]
    (project / "tenants" / "Hooli_Inc.yaml").write_text("name: Hooli Inc\nslug: Hooli_Inc\nblueprint: base_crm\n")
    code, report = validate_json("tenants/Hooli_Inc.yaml")
    assert code == 1
    assert [(e["line"], e["column"], e["rule"], e["hint"]) for e in report["errors"]] == [
        (2, 7, "invalid-slug",
         "use lowercase letters, digits and '-': `slug: hooli-inc`, and name the file `hooli-inc.yaml`")]


# -- 9. smaller things ---------------------------------------------------------------------------------------

def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        found.append((*prefix, name))
        found += _commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("command", _commands(cli), ids=" ".join)
def test_every_subcommand_takes_verbose(command: tuple[str, ...]) -> None:
    result = run(*command, "-v", "--help")
    assert result.code == 0, result.output
    assert re.search(r"-v, --verbose\s+More logging on stderr", result.out)


def test_verbose_after_the_command_logs_like_before_it(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    for args in (["-vv", "plan"], ["plan", "-vv"], ["-v", "plan", "-v"]):
        result = run(*args)
        assert result.code == 0, result.output
        assert re.search(r"renderer: DEBUG: GET /services -> 200", result.err), args
    assert "DEBUG" not in run("plan", "-v").err and "DEBUG" not in run("plan").err


def test_render_quotes_strings_a_yaml_1_1_reader_would_take_for_another_type(project: Path) -> None:
    path = project / "tenants" / "globex.yaml"
    ambiguous = ["yes", "No", "ON", "off", "y", "N", "true", "False", "null", "~", "012", "1e3", "0x1F",
                 "1_000", "3.10", ".inf", "10:30", "2024-01-01", "<<", "="]
    path.write_text(path.read_text().split("env:")[0] + "env:\n" + "".join(
        f"  K{i}: {json.dumps(v)}\n" for i, v in enumerate(ambiguous)))
    result = run("render", "globex")
    assert result.code == 0, result.output
    for i, value in enumerate(ambiguous):
        assert f"  - key: K{i}\n        value: {json.dumps(value)}\n" in result.out, value
    yaml11 = YAML(typ="safe", pure=True)
    yaml11.version = (1, 1)
    document = yaml11.load(result.out)
    env = {e["key"]: e["value"] for e in document["services"][0]["envVars"] if "value" in e}
    assert [env[f"K{i}"] for i in range(len(ambiguous))] == ambiguous
    assert "  - type: web\n" in result.out  # plain strings stay plain
    assert yamlio.dump({"a": "", "b": "yEs", "c": "1.0.0", "on": "Off"}) == 'a: ""\nb: "yEs"\nc: 1.0.0\n"on": "Off"\n'


def test_markdown_diff_block_uses_prefixes_github_colours(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    (project / "tenants" / "initech.yaml").unlink()
    globex = project / "tenants" / "globex.yaml"
    globex.write_text(globex.read_text().replace('"USD"', '"EUR"'))
    text = run("plan", "--format", "markdown").out
    blocks = re.findall(r"```diff\n(.*?)\n```", text, re.S)
    assert blocks
    for block in blocks:
        for line in block.splitlines():
            assert line[:1] in ("+", "-", "!", "#"), line
    assert '! ~ web_service.backboneos-backend  "backboneos-backend-globex"' in text
    assert '-     envVars.CRM_DEFAULT_CURRENCY = "USD"\n+     envVars.CRM_DEFAULT_CURRENCY = "EUR"\n' in text
    assert '- web_service.backboneos-backend  "backboneos-backend-initech"' in text


def test_drift_counts_the_tenants_the_lockfile_records(sim: Sim, project: Path) -> None:
    assert apply("--tenant", "globex").code == 0  # three tenant files, one tenant applied
    web = lock_id(project, "globex", "web_service.backboneos-backend")
    put_env(sim, web, "TENANT_NAME", "edited in the dashboard")
    result = run("drift")
    assert result.code == 0
    assert result.out.splitlines()[-1] == ("Drift: 1 finding in 1 of 1 tenant; `renderer plan` shows how apply "
                                           "would restore them.")
    assert json.loads(run("drift", "--format", "json").out)["recorded_tenants"] == ["globex"]


def test_version() -> None:
    result = run("--version")
    assert (result.code, result.out) == (0, "renderer 0.1.0\n")


# -- 10. positions inside included and multi-line template output ------------------------------------------

def test_a_finding_in_included_output_points_at_the_included_file(project: Path) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    template.write_text(template.read_text().replace(
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n",
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n{% include 'base_crm/extra.yaml.j2' %}\n"))
    (project / "blueprints" / "base_crm" / "extra.yaml.j2").write_text(
        "      - key: REPORTS_DB\n        fromDatabase: {name: reports, property: host}\n")
    only_tenant(project, "globex")
    code, report = validate_json()
    assert code == 1
    assert [(e["file"], e["line"], e["column"], e["rule"]) for e in report["errors"]] == [
        ("blueprints/base_crm/extra.yaml.j2", 2, 30, "from-database-ref")]


def test_a_finding_in_multi_line_block_output_never_points_past_the_line(project: Path) -> None:
    template = project / "blueprints" / "base_crm" / "render.yaml.j2"
    text = template.read_text().replace(
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n",
        "      - key: DJANGO_SECRET_KEY\n        generateValue: true\n"
        "{% filter indent(6, first=True) %}\n- key: REPORTS_DB\n  fromDatabase: {name: reports, property: host}\n"
        "{% endfilter %}\n")
    template.write_text(text)
    only_tenant(project, "globex")
    code, report = validate_json()
    assert code == 1
    [error] = report["errors"]
    line = text.splitlines().index("{% filter indent(6, first=True) %}") + 1
    assert (error["file"], error["rule"]) == ("blueprints/base_crm/render.yaml.j2", "from-database-ref")
    assert (error["line"], error["column"]) == (line, 1)  # where the block starts, not a column past its line


# -- 8. status: 120 columns, JSON, no lockfile -----------------------------------------------------------------

def test_status_fits_120_columns_and_has_json(sim: Sim, project: Path) -> None:
    assert apply().code == 0
    web = lock_id(project, "acme-corp", "web_service.backboneos-backend")
    with sim.http() as http:
        assert http.post(f"/services/{web}/suspend").status_code == 202
    assert sim.admin("/_sim/clock/advance", {"seconds": 60}).status_code == 200  # every deploy is live
    text = run("status")
    assert text.code == 0, text.output
    lines = text.out.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert all(line == line.rstrip() for line in lines)  # no trailing padding
    assert [line for line in lines if line.startswith("Tenant ")] == [
        "Tenant acme-corp (active)", "Tenant globex (active)", "Tenant initech (active)"]
    row = next(line for line in lines if web in line)
    assert row.split()[:2] == ["web_service.backboneos-backend", web]  # the whole ID, never cut
    assert ", suspended" in row and "backboneos-backend-acme-corp" in row  # a long URL wraps inside its column
    globex = next(line for line in lines if lock_id(project, "globex", "web_service.backboneos-backend") in line)
    assert globex.endswith("backboneos-backend-globex.onrender.com")
    doc = json.loads(run("status", "--format", "json").out)
    assert doc["format_version"] == "1" and doc["lockfile"] == "render.lock.json"
    assert [t["slug"] for t in doc["tenants"]] == ["acme-corp", "globex", "initech"]
    resource = next(r for r in doc["tenants"][0]["resources"] if r["id"] == web)
    assert resource == {"address": "web_service.backboneos-backend", "name": "backboneos-backend-acme-corp",
                        "id": web, "state": resource["state"], "suspended": "suspended",
                        "url": "https://backboneos-backend-acme-corp.onrender.com", "cost": resource["cost"],
                        "version": resource["version"], "target": None}
    assert resource["cost"]["monthly_cents"] > 0  # issue 17: each resource's monthly cost
    # issue 16: the live deploy's commit; no target without a releases.yaml
    assert re.fullmatch(r"[0-9a-f]{40}", resource["version"])
    assert doc["tenants"][0]["release_state"] is None
    assert resource["state"].startswith("deploy ")


def test_status_without_a_lockfile_says_so_and_exits_1(sim: Sim, project: Path) -> None:
    before = sim.exchanges()
    for args in ((), ("--format", "json")):
        result = run("status", *args)
        assert result.code == 1
        assert result.out == ""
        assert "Error: no lockfile at render.lock.json: renderer has applied nothing from here" in result.err
        assert "hint: run renderer from the repository root or give --lockfile PATH" in result.err
    assert sim.exchanges() == before


# -- 2. progress during every wait -------------------------------------------------------------------------------

def test_apply_wait_reports_each_deploy_status_change(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    result = apply("--wait")
    assert result.code == 0, result.output
    web = lock_id(project, "globex", "web_service.backboneos-backend")
    lines = [line for line in result.out.splitlines() if line.startswith("globex: web_service.backboneos-backend: "
                                                                        "deploy dep-")]
    deploy = lines[0].split("deploy ")[1].split(":")[0]
    label = f"globex: web_service.backboneos-backend: deploy {deploy}"
    # The simulator's deploys start under way as Render's do (issue 12): build_in_progress, update_in_progress
    # after 20 s, live after 30 s; apply polls every 10 s of the client's clock (plus the real time a poll takes).
    assert (lines[0], lines[-1]) == (f"{label}: build_in_progress", f"{label} live")
    assert [re.sub(r" after \d+ s$", "", line) for line in lines[1:-1]] == [f"{label}: update_in_progress"]
    elapsed = [int(line.rsplit(" ", 2)[1]) for line in lines[1:-1]]
    assert 20 <= elapsed[0] < 30
    assert web in sim.get(f"/services/{web}").text


def test_wait_progress_off_a_terminal_reports_changes_and_every_30_s() -> None:
    clock = FakeClock()
    lines: list[str] = []
    with WaitProgress(clock, lines.append, Console(file=io.StringIO())) as progress:
        for status in ["created", "build_in_progress"] + ["build_in_progress"] * 14 + ["update_in_progress"]:
            progress.update("dep-1", "acme-corp: web_service.backboneos-backend: deploy dep-1", status)
            clock.t += 5
        progress.finish("dep-1")
    label = "acme-corp: web_service.backboneos-backend: deploy dep-1"
    assert lines == [f"{label}: created", f"{label}: build_in_progress after 5 s",
                     f"{label}: still build_in_progress after 35 s", f"{label}: still build_in_progress after 1m 05s",
                     f"{label}: update_in_progress after 1m 20s"]


def test_wait_progress_on_a_terminal_is_a_live_display_with_elapsed_time() -> None:
    clock = FakeClock()
    lines: list[str] = []
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with WaitProgress(clock, lines.append, console) as progress:
        progress.update("dep-1", "acme-corp: web_service.backboneos-backend: deploy dep-1", "created")
        clock.t += 65
        progress.update("dep-1", "acme-corp: web_service.backboneos-backend: deploy dep-1", "build_in_progress")
        progress._display.refresh()
        shown = screen.getvalue()
    assert lines == []  # the display, not log lines
    assert "acme-corp: web_service.backboneos-backend: deploy dep-1: build_in_progress (1m 05s)" in shown


def test_backup_wait_reports_the_export(sim: Sim, project: Path, client_seam: SimClock) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    db = lock_id(project, "globex", "postgres.backboneos-db")
    (project / "tenants" / "globex.yaml").unlink()
    result = apply("--allow-destroy", "--allow-data-loss", "--allow-mass-destroy")
    assert result.code == 0, result.output
    # The simulator's export is ready after 10 s; apply polls at 0.5 s, doubling, on the client's clock.
    assert [line for line in result.out.splitlines() if ": backup of " in line] == [
        f"globex: postgres.backboneos-db: backup of {db}: export in progress"]


def test_a_create_budget_wait_logs_every_30_s(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits.parse("create_service=1/2m"), clock)

    async def scenario() -> None:
        for _ in range(2):
            ticket = await limiter.acquire("POST", "/services")
            limiter.done(ticket)

    with caplog.at_level(logging.INFO, logger="renderer.render_api.limits"):
        asyncio.run(scenario())
    assert clock.slept == [30.0, 30.0, 30.0, 30.0, 0.5]  # the window's end, in steps of 30 s
    assert [r.getMessage() for r in caplog.records] == [
        "waiting 120.5 s for Render's rate limit on create_service requests (1 per 120 s)",
        "still waiting for Render's rate limit on create_service requests: 90 s left",
        "still waiting for Render's rate limit on create_service requests: 60 s left",
        "still waiting for Render's rate limit on create_service requests: 30 s left",
    ]


# -- 7. a replace shows every other change of the resource ---------------------------------------------------

def test_a_replace_shows_the_other_changes_of_the_resource(sim: Sim, project: Path) -> None:
    only_tenant(project, "globex")
    assert apply().code == 0
    globex = project / "tenants" / "globex.yaml"
    globex.write_text(globex.read_text().replace('"USD"', '"EUR"') + "region: ohio\n")
    text = run("plan").out
    block = text.split("-/+ web_service.backboneos-backend")[1].split("\n\n")[0]
    assert 'envVars.CRM_DEFAULT_CURRENCY = "USD" -> "EUR"' in block
    assert "region" in block and "# forces replacement" in block
    markdown = run("plan", "--format", "markdown").out
    section = markdown.split("! -/+ web_service.backboneos-backend")[1].split("\n! ")[0]
    assert '-     envVars.CRM_DEFAULT_CURRENCY = "USD"\n+     envVars.CRM_DEFAULT_CURRENCY = "EUR"' in section
    doc = json.loads(run("plan", "--format", "json").out)
    web = next(c for c in doc["changes"] if c["address"] == "web_service.backboneos-backend")
    assert web["action"] == "replace"
    assert {f["path"] for f in web["fields"]} >= {"region", "envVars.CRM_DEFAULT_CURRENCY"}
    currency = next(f for f in web["fields"] if f["path"] == "envVars.CRM_DEFAULT_CURRENCY")
    assert (currency["before"], currency["after"], currency["forces_replace"]) == ("USD", "EUR", False)
