"""CLI behaviour: help without any environment, exit codes, confirmation, missing settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Sim, run

COMMANDS = [[], ["validate"], ["plan"], ["apply"], ["render"], ["schema"], ["schema", "tenant"], ["sim"],
            ["sim", "serve"], ["status"], ["drift"], ["import"]]


def bare_env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "renderer")
def test_help_works_with_no_environment(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "renderer.cli.main", *command, "--help"], env=bare_env(),
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_usage_errors_exit_1() -> None:
    assert run("plan", "--no-such-option").code == 1
    assert run("no-such-command").code == 1
    assert run("sim", "serve").code == 1  # --state is required


def test_missing_api_key_is_a_clear_error(project: Path) -> None:
    result = run("plan")
    assert result.code == 1
    assert "RENDER_API_KEY is not set" in result.err
    assert "Traceback" not in result.output


def test_missing_owner_is_a_clear_error_before_any_write(sim: Sim, project: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RENDER_OWNER_ID")
    before = sim.exchanges()
    result = run("apply", "--auto-approve")
    assert result.code == 1
    assert "RENDER_OWNER_ID is not set" in result.err
    import json
    entries = [json.loads(line) for line in sim.record.read_text().splitlines()[before:]]
    assert entries and all(e["method"] == "GET" for e in entries)


def test_unreachable_api_is_a_clear_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDER_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RENDER_API_KEY", "k")
    result = run("plan")
    assert result.code == 1
    assert "no answer from http://127.0.0.1:9/v1" in result.err
    assert "Traceback" not in result.output


def test_apply_confirmation_reads_stdin_when_not_a_terminal(sim: Sim, project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def apply(answer: str) -> subprocess.CompletedProcess[str]:
        # --no-wait: a real-time process; the test is about the confirmation, not the deploys.
        return subprocess.run([sys.executable, "-m", "renderer.cli.main", "apply", "--no-wait"], input=answer, env=env,
                              cwd=project, capture_output=True, text=True, timeout=120)

    cancelled = apply("no\n")
    assert cancelled.returncode == 1
    assert "Apply cancelled." in cancelled.stdout
    assert not (project / "render.lock.json").exists()
    assert apply("").returncode == 1  # end of input is not a yes
    done = apply("yes\n")
    assert done.returncode == 0, done.stderr
    assert "Apply complete! Resources: 9 created" in done.stdout


def test_wrong_api_key_is_reported(sim: Sim, project: Path, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    from tests.conftest import start_sim, stop_sim

    (tmp_path / "locked").mkdir()
    locked = start_sim(tmp_path / "locked", extra=["--api-key", "right"])
    try:
        monkeypatch.setenv("RENDER_API_URL", locked.api_url)
        monkeypatch.setenv("RENDER_API_KEY", "wrong")
        result = run("plan")
        assert result.code == 1
        assert "Render API 401 on GET /services" in result.err
        assert "check RENDER_API_KEY" in result.err
    finally:
        stop_sim(locked)


def test_schema_tenant_matches_committed_copy() -> None:
    result = run("schema", "tenant")
    assert result.code == 0
    assert result.out == (ROOT / "docs" / "tenant.schema.json").read_text()


def test_render_prints_the_blueprint(project: Path) -> None:
    result = run("render", "initech")
    assert result.code == 0
    assert "name: backboneos-backend\n" in result.out
    assert "region: frankfurt" in result.out and "plan: standard" in result.out
    missing = run("render", "nobody")
    assert missing.code == 1 and "no tenant file tenants/nobody.yaml" in missing.err
