"""Benchmark: a full refresh of 1,000 services (3,000 env vars) under Render's rate limits.

Starts `renderer sim serve` seeded with the services (`--seed-services`, no API calls), 20 ms of injected
latency on every answer and Render's published rate limits scaled by `--scale` (default 2: GET 800 per
minute), and tells the client the same limits. Then times a full refresh as renderer does it: list every
service (GET /services, pages of 100 following the cursor), then every service's env vars (one
GET /services/{id}/env-vars each, `--parallelism` at a time).

It prints the wall time, the lower bound the limits allow, their ratio (target <= 1.2) and the number of
429 answers the simulator gave (target 0). The lower bound, for R requests under a budget of B requests per
W-second window: the windows before the last are waited out in full ((ceil(R/B) - 1) * W), and the
requests of the last window need at least ceil(R_last / parallelism) round trips of the injected latency.

    .venv/bin/python benchmarks/api_refresh.py [--services 1000] [--env-vars 3] [--scale 2] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simproc import launch  # noqa: E402 (benchmarks/ is on sys.path when a benchmark runs)

from renderer.render_api.client import RenderClient, Settings  # noqa: E402
from renderer.render_api.limits import Bucket, RateLimits  # noqa: E402

API_KEY = "bench"


def start_simulator(work: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str, str]:
    log = work / "sim.log"
    command = [sys.executable, "-m", "renderer.cli.main", "sim", "serve", "--port", "0",
               "--state", str(work / "state.json"), "--rate-scale", str(args.scale),
               "--latency-ms", str(args.latency_ms), "--seed-services", str(args.services),
               "--seed-env-vars", str(args.env_vars), "--api-key", API_KEY]
    openapi = os.environ.get("RENDERER_OPENAPI") or str(ROOT.parent / "shared" / "render" / "openapi.json")
    if Path(openapi).is_file():
        command += ["--openapi", openapi]
    return launch(command, log, ROOT, timeout=300)


async def refresh(client: RenderClient) -> tuple[int, int]:
    """List every service, then every service's env vars. Returns (services, env vars) read."""
    services = await client.list_services()
    env = await asyncio.gather(*(client.list_env_vars(service["id"]) for service in services))
    return len(services), sum(len(e) for e in env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--env-vars", type=int, default=3, help="env vars per service")
    parser.add_argument("--scale", type=float, default=2.0, help="factor on Render's published rate limits")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--parallelism", type=int, default=8)
    args = parser.parse_args()

    limits = RateLimits.render().scaled(args.scale)
    get_budget = limits.budget(Bucket.GET)
    assert get_budget is not None
    with tempfile.TemporaryDirectory() as tmp:
        process, url, owner = start_simulator(Path(tmp), args)
        try:
            settings = Settings(base_url=url + "/v1", api_key=API_KEY, owner_id=owner)

            async def timed() -> tuple[float, int, int]:
                async with RenderClient(settings, rate_limits=limits, parallelism=args.parallelism) as client:
                    started = time.perf_counter()
                    services, env_vars = await refresh(client)
                    return time.perf_counter() - started, services, env_vars

            wall, services, env_vars = asyncio.run(timed())
            stats = httpx.get(url + "/_sim/stats", headers={"Authorization": f"Bearer {API_KEY}"}).json()
        finally:
            process.terminate()
            process.wait(timeout=30)

    requests = int(stats["total"])
    rate_limited = int(stats["byStatus"].get("429", 0))
    budget, window = get_budget.requests, get_budget.window
    full_windows = math.ceil(requests / budget) - 1
    last = requests - full_windows * budget
    latency_s = args.latency_ms / 1000
    bound = full_windows * window + math.ceil(last / args.parallelism) * latency_s
    pages = sum(v.get("200", 0) for k, v in stats["endpoints"].items() if k == "GET /v1/services")
    print(f"api_refresh: {services} services, {env_vars} env vars read; {args.latency_ms:g} ms injected latency; "
          f"parallelism {args.parallelism}")
    print(f"limits: Render's published limits x{args.scale:g} (GET {budget} per {window:g} s), enforced by the "
          "simulator and told to the client")
    print(f"requests: {requests} ({pages} service list pages, {requests - pages} env-var lists)")
    print(f"wall time: {wall:.2f} s")
    print(f"lower bound: {bound:.2f} s ({full_windows} full window{'s' if full_windows != 1 else ''} of "
          f"{window:g} s, then {last} requests at {args.parallelism} in parallel x {args.latency_ms:g} ms)")
    print(f"ratio: {wall / bound:.3f} (target <= 1.2)")
    print(f"429s: {rate_limited} (target 0)")


if __name__ == "__main__":
    main()
