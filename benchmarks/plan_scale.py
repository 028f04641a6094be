"""Benchmark: `renderer plan` over 1,000 tenants x 4 resources with no changes pending.

Builds a temporary project: a `bench` blueprint (a web service, a background worker, a private service,
each with three env vars from the tenant file, and a Postgres database) and `--tenants` tenant files.
Starts `renderer sim serve` (rate limits off, so the figures are about renderer, not Render's budgets)
and seeds it through `/_sim/seed` with exactly those resources, then writes the matching lockfile. Then
it runs the plan as `renderer plan` does (`renderer.operations.plan.make_plan`) and prints:

- the API calls the plan made, by endpoint (the simulator's `/_sim/stats`), against the target: no more
  than the list pages (`GET /services`, `GET /postgres`, 100 a page; `GET /key-value` and `GET /env-groups`,
  one page each here, as the seeded workspace has none), one env-var read per service and
  one connection-info read per Postgres. A cursor-paged list ends at the first page shorter than the
  limit, so N items take floor(N / 100) + 1 pages (the last one empty when N is a multiple of 100:
  Render's lists carry no total);
- the wall time, and the time spent in renderer's own code outside waiting on the API: the wall time
  during which no request was in flight (measured on the client's transport), and the CPU time of this
  process (renderer, httpx and asyncio; the simulator runs in another process). Target: under 3 s.

    .venv/bin/python benchmarks/plan_scale.py [--tenants 1000] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simproc import launch  # noqa: E402 (benchmarks/ is on sys.path when a benchmark runs)

from renderer import lockfile as lockfile_io  # noqa: E402
from renderer.kind import Kind  # noqa: E402
from renderer.lockfile import LockedResource, LockedTenant, Lockfile  # noqa: E402
from renderer.operations.plan import make_plan  # noqa: E402
from renderer.operations.scope import Inputs  # noqa: E402
from renderer.render_api.client import PAGE_LIMIT, RenderClient, Settings, client_options  # noqa: E402
from renderer.render_api.limits import RateLimits  # noqa: E402

API_KEY = "bench"
ENV_VARS = 3
SERVICES = (("web", "web", Kind.WEB_SERVICE), ("worker", "worker", Kind.BACKGROUND_WORKER),
            ("pserv", "pserv", Kind.PRIVATE_SERVICE))
SERVICE_BLOCK = """  - type: {type}
    name: {name}
    runtime: python
    plan: starter
    region: oregon
    buildCommand: pip install -r requirements.txt
    startCommand: python main.py
    envVars:
{{% for key, value in tenant.env | dictsort %}}
      - key: {{{{ key | yaml_quote }}}}
        value: {{{{ value | yaml_quote }}}}
{{% endfor %}}
"""
DATABASE_BLOCK = """databases:
  - name: db
    plan: basic-256mb
    region: oregon
    postgresMajorVersion: "16"
"""


def slug_of(n: int) -> str:
    return f"t{n:05d}"


def write_project(root: Path, tenants: int) -> None:
    blueprint = root / "blueprints" / "bench"
    blueprint.mkdir(parents=True)
    text = "services:\n" + "".join(SERVICE_BLOCK.format(type=t, name=name) for name, t, _ in SERVICES)
    (blueprint / "render.yaml.j2").write_text(text + DATABASE_BLOCK)
    directory = root / "tenants"
    directory.mkdir()
    for n in range(tenants):
        env = "".join(f'  SEED_VAR_{i}: "value-{n}-{i}"\n' for i in range(ENV_VARS))
        (directory / f"{slug_of(n)}.yaml").write_text(
            f"name: Tenant {n}\nslug: {slug_of(n)}\nblueprint: bench\nenv:\n{env}")


def start_simulator(work: Path, latency_ms: float) -> tuple[subprocess.Popen[bytes], str, str]:
    log = work / "sim.log"
    command = [sys.executable, "-m", "renderer.cli.main", "sim", "serve", "--port", "0",
               "--state", str(work / "state.json"), "--rate-scale", "off", "--latency-ms", str(latency_ms),
               "--api-key", API_KEY]
    return launch(command, log, ROOT, timeout=120)


def admin(url: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"},
                             timeout=600)
    response.raise_for_status()
    return response.json()


def seed(url: str, tenants: int) -> None:
    slugs = [slug_of(n) for n in range(tenants)]
    for name, _, kind in SERVICES:
        admin(url, "POST", "/_sim/seed", {"type": kind.value, "envVarsPerService": ENV_VARS,
                                          "serviceNames": [f"{name}-{s}" for s in slugs]})
    admin(url, "POST", "/_sim/seed", {"postgresNames": [f"db-{s}" for s in slugs]})


async def write_lockfile(settings: Settings, path: Path, tenants: int) -> None:
    async with RenderClient(settings) as client:
        services = {s["name"]: s for s in await client.list_services()}
        databases = {p["name"]: p for p in await client.list_postgres()}
    lock = Lockfile()
    keys = [f"SEED_VAR_{i}" for i in range(ENV_VARS)]
    for n in range(tenants):
        slug = slug_of(n)
        resources = {f"{kind.value}.{name}": LockedResource(kind=kind, name=f"{name}-{slug}",
                                                            id=services[f"{name}-{slug}"]["id"], env_vars=keys)
                     for name, _, kind in SERVICES}
        resources["postgres.db"] = LockedResource(kind=Kind.POSTGRES, name=f"db-{slug}",
                                                  id=databases[f"db-{slug}"]["id"])
        lock.tenants[slug] = LockedTenant(blueprint="bench", tenant_file=f"tenants/{slug}.yaml", status="active",
                                          resources=resources)
    lockfile_io.write(path, lock)


class InFlight(httpx.AsyncBaseTransport):
    """Wraps the client's transport and measures the wall time during which at least one request is
    in flight (the time spent waiting on the API)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.active = 0
        self.since = 0.0
        self.waiting = 0.0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.active == 0:
            self.since = time.perf_counter()
        self.active += 1
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.active -= 1
            if self.active == 0:
                self.waiting += time.perf_counter() - self.since

    async def aclose(self) -> None:
        await self.inner.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency the simulator adds to each answer")
    args = parser.parse_args()
    schema = ROOT.parent / "shared" / "render" / "render.yaml.schema.json"
    if "RENDERER_BLUEPRINT_SCHEMA" not in os.environ and schema.is_file():
        os.environ["RENDERER_BLUEPRINT_SCHEMA"] = str(schema)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = work / "project"
        write_project(project, args.tenants)
        process, url, owner = start_simulator(work, args.latency_ms)
        try:
            settings = Settings(base_url=url + "/v1", api_key=API_KEY, owner_id=owner)
            seed(url, args.tenants)
            lockfile = project / "render.lock.json"
            asyncio.run(write_lockfile(settings, lockfile, args.tenants))
            admin(url, "DELETE", "/_sim/stats")
            transport = InFlight(httpx.AsyncHTTPTransport())
            os.environ.pop("RENDERER_FINGERPRINT_KEY", None)
            inputs = Inputs(tenants_dir=project / "tenants", blueprints_dir=project / "blueprints", lockfile=lockfile)

            async def planned() -> Any:
                with client_options(rate_limits=RateLimits.off()):
                    async with RenderClient(settings, transport) as client:
                        return await make_plan(inputs, client, environ={})

            cpu, wall = time.process_time(), time.perf_counter()
            result = asyncio.run(planned())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stats = admin(url, "GET", "/_sim/stats")
        finally:
            process.terminate()
            process.wait(timeout=30)

    plan = result.plan
    services, databases = args.tenants * len(SERVICES), args.tenants
    endpoints = {k: sum(v.values()) for k, v in stats["endpoints"].items()}
    # Key Value and env group lists: one (empty) page each, the seeded workspace has none of either.
    pages = services // PAGE_LIMIT + 1 + databases // PAGE_LIMIT + 1 + 2
    target = pages + services + databases
    print(f"plan_scale: {args.tenants} tenants x {len(SERVICES) + 1} resources ({services} services with "
          f"{ENV_VARS} env vars each, {databases} Postgres); simulator latency {args.latency_ms:g} ms; rate "
          "limits off")
    print(f"plan: {len(plan.tenants)} tenants, {len(plan.changes)} resources, "
          f"{'changes pending!' if plan.has_changes else 'no changes'}")
    print("API calls by endpoint:")
    for endpoint, count in sorted(endpoints.items()):
        print(f"  {count:6d}  {endpoint}")
    print(f"  {stats['total']:6d}  total (target <= {target}: {pages} list pages + {services} env-var reads + "
          f"{databases} connection-info reads) {'OK' if stats['total'] <= target else 'OVER TARGET'}")
    own = wall - transport.waiting
    print(f"wall time: {wall:.2f} s; waiting on the API (a request in flight): {transport.waiting:.2f} s")
    print(f"renderer's own time outside waiting on the API: {own:.2f} s (target < 3 s) "
          f"{'OK' if own < 3 else 'OVER TARGET'}; CPU time of this process: {cpu:.2f} s")


if __name__ == "__main__":
    main()
