"""Benchmark: a release to 1,000 tenants x 2 services in 4 rings, no bake, under Render's rate limits.

Starts `renderer sim serve` with Render's published budgets (x1) and a fixed simulated build-and-deploy
time (`POST /_sim/deploy-timing`, default 600 s), seeds the fleet's services (`/_sim/seed`, no API calls:
a web service and a background worker per tenant), writes the tenant files, a two-service blueprint and
releases.yaml to a temporary directory and the lockfile recording the seeded IDs and, as an earlier
release leaves it, each service's version (the commit its seeded deploy runs, read from one service).
The measured release moves every tenant to a new commit through `renderer.rollout.run_rollout`, the
engine `renderer apply` runs.

Time is simulated: the simulator runs with `--frozen-clock` (its clock moves only when advanced) and the
client's clock is a discrete-event clock (`VirtualClock`) whose sleeps (polls, rate-limit waits) end only
when every task is waiting on it and no request is in flight; it then moves both clocks
(`/_sim/clock/advance`) to the earliest wake-up. Processing time on this machine is not in the figure.

Printed: the wall time on the simulated clock, API calls per tenant, 429 answers (target 0), the lower
bound with its formula and `ratio R` (target <= 1.2). Lower bound: for each ring, the larger of (its
writes / the binding write budget per minute) and one build-and-deploy time, summed over the rings. A
ring's writes are its deploy triggers (POST /services/{id}/deploys), one per service; they count against
Render's per-service budget (10 a minute for each service), so the binding budget is 10 x the ring's
services a minute, and each ring's bound is its build-and-deploy time.

    .venv/bin/python benchmarks/rollout_scale.py [--tenants 1000] [--rings 10,90,300,600] [--deploy-seconds 600]
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import math
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simproc import launch  # noqa: E402 (benchmarks/ is on sys.path when a benchmark runs)

from renderer import lockfile as lockfile_io  # noqa: E402
from renderer.configuration import load_configuration  # noqa: E402
from renderer.kind import Kind  # noqa: E402
from renderer.lockfile import LockedResource, LockedTenant, Lockfile, TenantRelease  # noqa: E402
from renderer.release import deploy_version  # noqa: E402
from renderer.render_api.client import RenderClient, Settings  # noqa: E402
from renderer.render_api.limits import Bucket, RateLimits  # noqa: E402
from renderer.rollout import run_rollout  # noqa: E402

API_KEY = "bench"
V2 = "b" * 40
WEB = "web_service.app-web"
BLUEPRINT = """services:
  - type: web
    name: app-web
    runtime: python
    repo: https://github.com/backboneos/backboneos
    branch: main
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: gunicorn app.wsgi
  - type: worker
    name: app-worker
    runtime: python
    repo: https://github.com/backboneos/backboneos
    branch: main
    plan: starter
    buildCommand: pip install -r requirements.txt
    startCommand: celery -A app worker
"""


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's transport, counting the requests in flight (the clock advances only when there are none)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


class VirtualClock:
    """A discrete-event clock over the simulator's: real time plus the seconds advanced so far. `sleep`
    waits until a driver task (`drive`) finds every task idle and moves both clocks to the earliest
    wake-up."""

    def __init__(self, admin: httpx.AsyncClient, transport: CountingTransport, epoch: float) -> None:
        self.admin = admin
        self.transport = transport
        self.base = epoch  # the simulator's frozen clock
        self.offset = 0.0
        self.sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self.sequence = itertools.count()

    def now(self) -> float:
        return self.base + self.offset

    def epoch(self) -> float:
        return self.base + self.offset

    async def sleep(self, seconds: float) -> None:
        # A zero sleep waits for the next tick too: a task that polls with zero sleeps would otherwise keep
        # the loop busy and the clock still.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.sleepers, (self.epoch() + max(seconds, 0.0), next(self.sequence), future))
        await future

    async def drive(self, done: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        idle = 0
        while not done.is_set():
            await asyncio.sleep(0.001)
            ready = len(loop._ready)  # type: ignore[attr-defined]  # tasks that can run now
            if self.transport.in_flight or not self.sleepers:
                idle = 0
                continue
            idle = idle + 1 if ready else 100
            if idle < 20:  # tasks still running: let them reach their sleeps first
                continue
            idle = 0
            wake = self.sleepers[0][0]
            delta = wake - self.epoch()
            if delta > 0:
                await self.admin.post("/_sim/clock/advance", json={"seconds": delta})
                self.offset += delta
            while self.sleepers and self.sleepers[0][0] <= self.epoch():
                _, _, future = heapq.heappop(self.sleepers)
                if not future.done():
                    future.set_result(None)


def write_fleet(work: Path, tenants: int, rings: list[int]) -> list[str]:
    """Tenant files, the blueprint and releases.yaml (rings by label). Returns the slugs."""
    (work / "blueprints" / "app").mkdir(parents=True)
    (work / "blueprints" / "app" / "render.yaml.j2").write_text(BLUEPRINT)
    (work / "tenants").mkdir()
    slugs = [f"t{n:04d}" for n in range(tenants)]
    bounds = list(itertools.accumulate(rings))
    for index, slug in enumerate(slugs):
        ring = next(r for r, bound in enumerate(bounds) if index < bound)
        (work / "tenants" / f"{slug}.yaml").write_text(
            f"name: Tenant {slug}\nslug: {slug}\nblueprint: app\nlabels:\n  ring: ring-{ring + 1}\n")
    return slugs


def write_release(work: Path, rings: list[int], version: str) -> None:
    text = f"version:\n  commit: \"{version}\"\nrings:\n"
    for index, size in enumerate(rings):
        text += f"  - name: ring-{index + 1}\n    max_parallel: {size}\n    bake: 0\n"
    (work / "releases.yaml").write_text(text)


async def seeded_lockfile(client: RenderClient, slugs: list[str]) -> Lockfile:
    """The lockfile of the seeded services (GET /services, every page)."""
    by_name = {s["name"]: s["id"] for s in await client.list_services()}
    lock = Lockfile()
    for slug in slugs:
        lock.tenants[slug] = LockedTenant(blueprint="app", status="active", resources={
            "web_service.app-web": LockedResource(kind=Kind.WEB_SERVICE, name=f"app-web-{slug}",
                                                  id=by_name[f"app-web-{slug}"]),
            "background_worker.app-worker": LockedResource(kind=Kind.BACKGROUND_WORKER, name=f"app-worker-{slug}",
                                                           id=by_name[f"app-worker-{slug}"])})
    return lock


async def bench(url: str, owner: str, work: Path, args: argparse.Namespace, rings: list[int]) -> dict[str, Any]:
    slugs = write_fleet(work, args.tenants, rings)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as admin:
        for kind, prefix in (("web_service", "app-web"), ("background_worker", "app-worker")):
            names = [f"{prefix}-{s}" for s in slugs]
            answer = await admin.post("/_sim/seed", json={"type": kind, "serviceNames": names})
            answer.raise_for_status()
        await admin.post("/_sim/clock/advance", json={"seconds": 3600})  # the seeded services' deploys end
        await admin.post("/_sim/deploy-timing", json={"seconds": args.deploy_seconds})
        transport = CountingTransport()
        now = (await admin.get("/_sim/clock")).json()["now"]
        clock = VirtualClock(admin, transport, datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp())
        settings = Settings(base_url=url + "/v1", api_key=API_KEY, owner_id=owner)
        limits = RateLimits.render()
        async with RenderClient(settings, transport, rate_limits=limits, clock=clock,
                                parallelism=args.parallelism) as client:
            lock = await seeded_lockfile(client, slugs)
            running = deploy_version((await client.list_deploys(lock.tenants[slugs[0]].resources[WEB].id))[0])
            assert running is not None
            for tenant in lock.tenants.values():  # as the release before this one left them
                tenant.release = TenantRelease(state="done", target={a: running for a in tenant.resources},
                                               achieved={a: running for a in tenant.resources})
            path = work / "render.lock.json"
            lockfile_io.write(path, lock)
            results: dict[str, Any] = {}

            def debug(line: str) -> None:  # BENCH_DEBUG=1: the rollout's lines with the simulated time
                if os.environ.get("BENCH_DEBUG"):
                    print(f"{clock.offset:8.0f} {line}")
            for version, measured in ((V2, True),):
                write_release(work, rings, version)
                configuration = load_configuration(work / "tenants", work / "blueprints", None)
                await admin.delete("/_sim/stats")
                start = (await admin.get("/_sim/clock")).json()["offset"]
                done = asyncio.Event()
                driver = asyncio.create_task(clock.drive(done))
                try:
                    report = await run_rollout(client, configuration, lock, path, emit=debug, poll=args.poll)
                finally:
                    done.set()
                    await driver
                end = (await admin.get("/_sim/clock")).json()["offset"]
                assert report.failure is None and not report.paused, report
                if measured:
                    stats = (await admin.get("/_sim/stats")).json()
                    results = {"wall": end - start, "stats": stats, "deployed": len(report.deployed)}
            return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rings", default="10,90,300,600", help="tenants per ring, comma-separated")
    parser.add_argument("--deploy-seconds", type=float, default=600.0, help="simulated build-and-deploy time")
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between deploy status reads")
    parser.add_argument("--parallelism", type=int, default=16, help="requests in flight at once")
    args = parser.parse_args()
    rings = [int(n) for n in args.rings.split(",")]
    if sum(rings) != args.tenants:
        raise SystemExit(f"--rings add up to {sum(rings)}, not --tenants {args.tenants}")
    real = time.perf_counter()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        work = Path(tmp)
        command = [sys.executable, "-m", "renderer.cli.main", "sim", "serve", "--port", "0",
                   "--state", str(work / "sim-state.json"), "--api-key", API_KEY, "--frozen-clock"]
        openapi = os.environ.get("RENDERER_OPENAPI") or str(ROOT.parent / "shared" / "render" / "openapi.json")
        if Path(openapi).is_file():
            command += ["--openapi", openapi]
        process, url, owner = launch(command, work / "sim.log", ROOT, timeout=300)
        try:
            result = asyncio.run(bench(url, owner, work / "fleet", args, rings))
        finally:
            process.terminate()
            process.wait(30)
    budget = RateLimits.render().budget(Bucket.SERVICE_ACTION)
    assert budget is not None
    per_minute = budget.requests * 60.0 / budget.window
    terms = []
    for size in rings:
        writes = 2 * size
        terms.append(max(writes / (per_minute * writes) * 60.0, args.deploy_seconds))
    bound = sum(terms)
    stats = result["stats"]
    total = int(stats["total"])
    throttled = int(stats["byStatus"].get("429", 0))
    gets = sum(sum(v.values()) for k, v in stats["endpoints"].items() if k.startswith("GET "))
    print(f"release to {args.tenants} tenants x 2 services in {len(rings)} rings ({args.rings}), no bake; "
          f"build-and-deploy {args.deploy_seconds:g} s (simulated)")
    print(f"wall time (simulated clock): {result['wall']:.0f} s; {result['deployed']} deploys")
    print(f"API calls: {total} ({total / args.tenants:.2f} per tenant; {gets} GET); 429 answers: {throttled}")
    print("lower bound = sum over rings of max(ring writes / binding write budget per minute, one build-and-deploy "
          "time)")
    print(f"  ring writes = 2 deploy triggers per tenant; binding budget = {per_minute:g} per minute per service "
          f"(POST /services/{{id}}/deploys) x the ring's services")
    print("  = " + " + ".join(f"max({2 * s}/{per_minute * 2 * s:g} min, {args.deploy_seconds:g} s)" for s in rings)
          + f" = {bound:.0f} s")
    print(f"  reads are not in the bound: each service needs at least one GET after it is live; {gets} GETs at 400 "
          f"a minute take {math.ceil(gets / 400)} min")
    print(f"ratio {result['wall'] / bound:.3f}")
    print(f"(benchmark ran {time.perf_counter() - real:.0f} s of real time)")


if __name__ == "__main__":
    main()
