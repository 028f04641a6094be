"""Shared fixtures: one Render API simulator per test session (a real subprocess over real HTTP), reset
between tests, with every request and response it sees checked against Render's OpenAPI description.

Two contract checks run across the whole suite, both strict (undocumented fields are problems, except
`renderer.contract.UNDOCUMENTED_ALLOWED`):

- on the client's side: every `RenderClient` built during a test (directly, or by the CLI in-process)
  gets `ContractTransport` through `renderer.render_api.client.client_options`, httpx's transport seam.
  It checks each request the client sends (path, query, body) and each answer it gets;
- on the simulator's side: the exchanges the session simulator records (`--record`).

Clients also get a `SimClock`: its `sleep` advances the session simulator's clock instead of waiting, so
rate-limit waits and retry backoffs take no real time. The session simulator enforces Render's rate
limits (tests that need many raw requests use /_sim/seed or /_sim/rate-limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from renderer.cli.main import main as cli_main
from renderer.contract import Contract
from renderer.render_api.client import client_options

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RENDERER_SHARED", ROOT.parent / "shared"))
BLUEPRINT_SCHEMA = SHARED / "render" / "render.yaml.schema.json"
OPENAPI = SHARED / "render" / "openapi.json"
CORPUS = SHARED / "corpus" / "render-yaml"

CONTRACT_CHECKS = {"checked": 0}
# One TLS context for every test HTTP client: httpx builds a new one (loading the CA bundle, ~0.1 s of CPU)
# for each client otherwise, also for plain-HTTP ones such as the simulator's.
TLS = httpx.create_ssl_context()
_CONTRACT: dict[str, Contract] = {}


def load_contract() -> Contract:
    """Render's OpenAPI description, loaded and compiled once per test session."""
    if "contract" not in _CONTRACT:
        _CONTRACT["contract"] = Contract(json.loads(OPENAPI.read_text()))
    return _CONTRACT["contract"]


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


@dataclass
class Sim:
    """A running simulator: its base URL (without /v1), workspace ID, record file and process."""

    url: str
    owner_id: str
    state: Path
    record: Path
    process: subprocess.Popen[str]
    api_key: str = "test-key"
    log: Path | None = None

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10,
                            verify=TLS)

    def get(self, path: str, **params: Any) -> httpx.Response:
        with self.http() as client:
            return client.get(path, params=params)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        # A generous timeout: seeding thousands of resources takes seconds on a busy machine.
        return httpx.post(self.url + path, json=body or {}, headers={"Authorization": f"Bearer {self.api_key}"},
                          verify=TLS, timeout=120)

    def admin_get(self, path: str) -> Any:
        response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {self.api_key}"}, verify=TLS)
        assert response.status_code == 200, response.text
        return response.json()

    def exchanges(self) -> int:
        return sum(1 for _ in self.record.open()) if self.record.exists() else 0


def start_sim(tmp: Path, *, state: Path | None = None, extra: list[str] | None = None) -> Sim:
    """Start `renderer sim serve --port 0` as a subprocess and wait for its `listening on` line. Its output
    goes to a log file (a pipe nobody reads would fill up and stall it)."""
    state = state or tmp / "sim-state.json"
    record = tmp / "exchanges.jsonl"
    log = tmp / f"sim-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "renderer.cli.main", "sim", "serve", "--port", "0", "--state", str(state),
           "--openapi", str(OPENAPI), "--record", str(record), *(extra or [])]
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    owner = url = None
    deadline = time.monotonic() + 90  # generous: the machine may be busy
    while time.monotonic() < deadline and not url:
        for line in log.read_text().splitlines():
            if line.startswith("renderer sim: workspace "):
                owner = line.split()[3]
            if line.startswith("listening on "):
                url = line.removeprefix("listening on ").strip()
        if not url:
            if process.poll() is not None:
                raise RuntimeError(f"simulator exited with {process.returncode}:\n{log.read_text()}")
            time.sleep(0.05)
    assert url and owner, "simulator did not start:\n" + log.read_text()
    return Sim(url=url, owner_id=owner, state=state, record=record, process=process, log=log)


def stop_sim(sim: Sim, sig: int = signal.SIGTERM) -> None:
    if sim.process.poll() is None:
        sim.process.send_signal(sig)
        try:
            sim.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.process.kill()
            sim.process.wait()


def check_exchanges(contract: Contract, record: Path, start: int) -> tuple[int, list[str]]:
    """Validate recorded exchanges from line `start` on, strictly. Returns (lines read, problems)."""
    problems: list[str] = []
    if not record.exists():
        return start, problems
    lines = record.read_text().splitlines()
    for line in lines[start:]:
        entry = json.loads(line)
        method, path, status = entry["method"], entry["path"], entry["status"]
        found = contract.validate_response(method, path, status, entry["response"], entry.get("context"),
                                           strict=True)
        if status < 400 and method in ("POST", "PUT", "PATCH"):
            found += contract.validate_request(method, path, entry["request"], entry.get("context"))
        problems += [f"{method} {path} -> {status}: {p}" for p in found]
        CONTRACT_CHECKS["checked"] += 1
    return len(lines), problems


@dataclass
class ContractLedger:
    """What `ContractTransport` found: exchanges checked over the session, problems of the current test."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, problems: list[str]) -> None:
        with self.lock:
            self.checked += 1
            self.problems += problems

    def take(self) -> list[str]:
        with self.lock:
            taken, self.problems = self.problems, []
            return taken


CLIENT_LEDGER = ContractLedger()


class ContractTransport(httpx.AsyncBaseTransport):
    """The client's transport, checked: every request (path, query parameters, JSON body) and every
    answer (status documented, body matching its schema) against Render's OpenAPI description, strictly.
    A request that gets no answer (a dropped connection) is still checked."""

    def __init__(self, inner: httpx.AsyncBaseTransport, contract: Contract, ledger: ContractLedger) -> None:
        self.inner = inner
        self.contract = contract
        self.ledger = ledger

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        problems = self.contract.validate_query(method, path, list(request.url.params.multi_items()))
        body = json.loads(request.content) if request.content else None
        if method in ("POST", "PUT", "PATCH"):
            problems += self.contract.validate_request(method, path, body, strict=True)
        elif body is not None:
            problems.append("a body on a request without one")
        problems = [f"request: {p}" for p in problems]
        try:
            response = await self.inner.handle_async_request(request)
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except BaseException:
            self.ledger.add([f"{method} {path} (no answer): {p}" for p in problems])
            raise
        probe = httpx.Response(response.status_code, headers=response.headers, content=raw)
        answer = probe.json() if probe.content else None
        problems += [f"answer: {p}" for p in
                     self.contract.validate_response(method, path, response.status_code, answer, strict=True)]
        self.ledger.add([f"{method} {path} -> {response.status_code}: {p}" for p in problems])
        return httpx.Response(response.status_code, headers=response.headers, content=raw, request=request,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


class SimClock:
    """The client's clock in tests: real time plus an offset. `sleep` adds to the offset and advances the
    session simulator's clock by as much, so no test waits in real time. `slept` lists every sleep."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.offset = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return time.monotonic() + self.offset

    def epoch(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        # A moment of real time first, so requests already on their way arrive before the jump, as they
        # would during a real wait; then the simulator, then this clock (answers that arrive meanwhile
        # were timed before the jump).
        await asyncio.sleep(0.05)
        async with httpx.AsyncClient(timeout=10, verify=TLS) as http:
            await http.post(self.sim.url + "/_sim/clock/advance", json={"seconds": seconds},
                            headers={"Authorization": f"Bearer {self.sim.api_key}"})
        self.offset += seconds


@pytest.fixture(scope="session")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    sim = start_sim(tmp_path_factory.mktemp("sim"))
    yield sim
    stop_sim(sim)


@pytest.fixture(autouse=True)
def client_seam(sim_session: Sim, request: pytest.FixtureRequest) -> Iterator[SimClock]:
    """Every client built in the test checks its exchanges (ContractTransport) and sleeps on a SimClock.
    After the test, any contract problem fails it; a test marked `sends_invalid_requests` (it checks that
    Render's refusal reaches the user) may send requests that break the contract, never get such answers."""
    clock = SimClock(sim_session)
    CLIENT_LEDGER.take()

    def transport() -> httpx.AsyncBaseTransport:
        return ContractTransport(httpx.AsyncHTTPTransport(verify=TLS), load_contract(), CLIENT_LEDGER)

    with client_options(transport_factory=transport, clock=clock):
        yield clock
    problems = CLIENT_LEDGER.take()
    if request.node.get_closest_marker("sends_invalid_requests"):
        problems = [p for p in problems if ": request: " not in p]
    assert not problems, "client exchanges that break Render's contract:\n" + "\n".join(problems)


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


class _WorkerCounts:
    """With pytest-xdist, each worker counts its own contract checks; the controller adds them up."""

    @staticmethod
    def pytest_testnodedown(node: Any, error: Any) -> None:
        client, simulator = getattr(node, "workeroutput", {}).get("contract", (0, 0))
        CLIENT_LEDGER.checked += client
        CONTRACT_CHECKS["checked"] += simulator


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_WorkerCounts())


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["contract"] = (CLIENT_LEDGER.checked, CONTRACT_CHECKS["checked"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests import replay

    if replay.RESULTS:
        terminalreporter.section("replay of Render's recorded traffic against the simulator")
        for line in replay.table(replay.RESULTS).splitlines():
            terminalreporter.write_line(line)
    if CLIENT_LEDGER.checked:
        terminalreporter.write_line(
            f"contract: {CLIENT_LEDGER.checked} client exchanges (request and answer) checked against Render's "
            "OpenAPI description on the client's transport")
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
