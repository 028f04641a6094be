"""`renderer doctor`: read-only checks, each with a plain verdict, exit 1 when one fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Sim, run, start_sim, stop_sim


def lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


def test_all_checks_pass_and_only_gets_are_sent(sim: Sim) -> None:
    before = sim.exchanges()
    result = run("doctor")
    assert result.code == 0, result.output
    out = lines(result.out)
    assert out[0].startswith("ok   configuration: API " + sim.api_url + "; client limits: get 400 per minute")
    assert out[1] == f"ok   API reachable: {sim.api_url} answered"
    assert out[2] == "ok   API key: accepted (user Simulated User <sim@example.com>)"
    assert out[3] == (f'ok   workspace: {sim.owner_id} "Simulated Workspace" (team workspace) '
                      "is reachable with this key")
    assert re.fullmatch(r"ok   rate-limit headroom: GET 397 of 400 left this window, resets in (5\d|60) s; "
                        r"POST /services 20 of 20 per 60 min \(this client's count\)", out[4]), out[4]
    assert out[-1] == "All checks passed."
    methods = {json.loads(line)["method"] for line in sim.record.read_text().splitlines()[before:]}
    assert methods == {"GET"}


def test_wrong_owner_fails_and_lists_reachable_workspaces(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDER_OWNER_ID", "tea-00000000000000000000")
    result = run("doctor")
    assert result.code == 1
    assert "FAIL workspace: tea-00000000000000000000 does not exist or this key cannot see it" in result.out
    assert f"hint: workspaces this key can reach: {sim.owner_id} (Simulated Workspace, team)" in result.out
    assert result.out.rstrip().endswith("1 check failed.")


def test_missing_owner_fails(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RENDER_OWNER_ID")
    result = run("doctor")
    assert result.code == 1 and "FAIL workspace: RENDER_OWNER_ID is not set" in result.out


def test_missing_key_fails_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("doctor")
    assert result.code == 1
    assert "FAIL configuration: RENDER_API_KEY is not set" in result.out
    assert "Traceback" not in result.output


def test_unreachable_api_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDER_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RENDER_API_KEY", "k")
    result = run("doctor")
    assert result.code == 1
    assert "FAIL API reachable: no answer from http://127.0.0.1:9/v1" in result.out
    assert "hint: check RENDER_API_URL and the network" in result.out


def test_rejected_key_fails(sim: Sim, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    locked = start_sim(tmp_path, extra=["--api-key", "right"])
    try:
        monkeypatch.setenv("RENDER_API_URL", locked.api_url)
        monkeypatch.setenv("RENDER_API_KEY", "wrong")
        result = run("doctor")
    finally:
        stop_sim(locked)
    assert result.code == 1
    assert "FAIL API key: refused (401: unauthorized: invalid API key)" in result.out


def test_low_headroom_and_limits_off_warn_but_pass(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another client of the workspace spent 380 GETs of this minute's 400 (set through the admin API, not sent).
    assert sim.admin("/_sim/rate-limits", {"spend": {"get": 380}}).status_code == 200
    low = run("doctor")
    assert low.code == 0
    assert "warn rate-limit headroom: GET 17 of 400 left this window" in low.out
    monkeypatch.setenv("RENDERER_RATE_LIMITS", "off")
    off = run("doctor")
    assert off.code == 0 and "warn rate-limit headroom: client-side rate limiting is off" in off.out


@pytest.mark.parametrize("command", [["doctor"], ["sim", "stats"], ["sim", "fault"], ["sim", "seed"]],
                         ids=" ".join)
def test_help_works_with_no_environment(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    result = subprocess.run([sys.executable, "-m", "renderer.cli.main", *command, "--help"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
