"""Shared fixtures: one Render API simulator per test session (a real subprocess over real HTTP), reset
between tests, with every request and response it sees checked against Render's OpenAPI description.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderer.cli.main import main as cli_main
from renderer.contract import Contract

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RENDERER_SHARED", ROOT.parent / "shared"))
BLUEPRINT_SCHEMA = SHARED / "render" / "render.yaml.schema.json"
OPENAPI = SHARED / "render" / "openapi.json"
CORPUS = SHARED / "corpus" / "render-yaml"

CONTRACT_CHECKS = {"checked": 0}


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract(json.loads(OPENAPI.read_text()))


@dataclass
class Sim:
    """A running simulator: its base URL (without /v1), workspace ID, record file and process."""

    url: str
    owner_id: str
    state: Path
    record: Path
    process: subprocess.Popen[str]
    api_key: str = "test-key"

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10)

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.http() as client:
            return client.get(path, params=params)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body or {}, headers={"Authorization": f"Bearer {self.api_key}"})

    def exchanges(self) -> int:
        return sum(1 for _ in self.record.open()) if self.record.exists() else 0


def start_sim(tmp: Path, *, state: Path | None = None, extra: list[str] | None = None) -> Sim:
    """Start `renderer sim serve --port 0` as a subprocess and wait for its `listening on` line."""
    state = state or tmp / "sim-state.json"
    record = tmp / "exchanges.jsonl"
    cmd = [sys.executable, "-m", "renderer.cli.main", "sim", "serve", "--port", "0", "--state", str(state),
           "--openapi", str(OPENAPI), "--record", str(record), *(extra or [])]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    owner = url = None
    deadline = time.monotonic() + 30
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator exited with {process.wait()}")
        if line.startswith("renderer sim: workspace "):
            owner = line.split()[3]
        if line.startswith("listening on "):
            url = line.removeprefix("listening on ").strip()
            break
    assert url and owner, "simulator did not start"
    return Sim(url=url, owner_id=owner, state=state, record=record, process=process)


def stop_sim(sim: Sim, sig: int = signal.SIGTERM) -> None:
    if sim.process.poll() is None:
        sim.process.send_signal(sig)
        try:
            sim.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait()


def check_exchanges(contract: Contract, record: Path, start: int) -> tuple[int, list[str]]:
    """Validate recorded exchanges from line `start` on. Returns (lines read, problems)."""
    problems: list[str] = []
    if not record.exists():
        return start, problems
    lines = record.read_text().splitlines()
    for line in lines[start:]:
        entry = json.loads(line)
        method, path, status = entry["method"], entry["path"], entry["status"]
        found = contract.validate_response(method, path, status, entry["response"], entry.get("context"))
        if status < 400 and method in ("POST", "PUT", "PATCH"):
            found += contract.validate_request(method, path, entry["request"], entry.get("context"))
        problems += [f"{method} {path} -> {status}: {p}" for p in found]
        CONTRACT_CHECKS["checked"] += 1
    return len(lines), problems


@pytest.fixture(scope="session")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    sim = start_sim(tmp_path_factory.mktemp("sim"))
    yield sim
    stop_sim(sim)


@pytest.fixture
def sim(sim_session: Sim, contract: Contract, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sim]:
    """The session's simulator, reset, with the client environment pointing at it. After the test,
    every exchange the test caused is checked against Render's OpenAPI description."""
    assert sim_session.admin("/_sim/reset").status_code == 200
    monkeypatch.setenv("RENDER_API_URL", sim_session.api_url)
    monkeypatch.setenv("RENDER_API_KEY", sim_session.api_key)
    monkeypatch.setenv("RENDER_OWNER_ID", sim_session.owner_id)
    start = sim_session.exchanges()
    yield sim_session
    _, problems = check_exchanges(contract, sim_session.record, start)
    assert not problems, "exchanges that break Render's contract:\n" + "\n".join(problems)


@pytest.fixture(autouse=True)
def _reference_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RENDERER_BLUEPRINT_SCHEMA", str(BLUEPRINT_SCHEMA))
    monkeypatch.setenv("RENDERER_OPENAPI", str(OPENAPI))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("RENDER_API_URL", "RENDER_API_KEY", "RENDER_OWNER_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's tenants/ and blueprints/ in a temporary working directory."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "tenants", root / "tenants")
    shutil.copytree(ROOT / "blueprints", root / "blueprints")
    monkeypatch.chdir(root)
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def run(*args: str, stdin: str = "") -> Result:
    """Run the CLI in this process (real code, real HTTP); returns exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli_main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CONTRACT_CHECKS["checked"]:
        terminalreporter.write_line(
            f"contract: {CONTRACT_CHECKS['checked']} simulator exchanges checked against Render's OpenAPI description")


@pytest.fixture(scope="session")
def github_session() -> Iterator[Any]:
    """A fake of GitHub's REST API (tests/github_fake.py), one per session."""
    from tests.github_fake import FakeGitHub

    fake = FakeGitHub()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def github(github_session: Any) -> Any:
    """The session's fake GitHub, emptied."""
    github_session.reset()
    return github_session
