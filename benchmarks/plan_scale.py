"""Benchmark: `renderer plan` over 1,000 tenants x 4 resources with no changes pending.

Builds a temporary project: a `bench` blueprint (a web service, a background worker, a private service,
each with three env vars from the tenant file, and a Postgres database) and `--tenants` tenant files.
Starts `renderer sim serve` (rate limits off, so the figures are about renderer, not Render's budgets)
and seeds it through `/_sim/seed` with what an apply leaves: each tenant's project (`bench-<slug>`) with
its environment (`production`, network isolation on) and the tenant's four resources inside it (services
with auto-deploy off, as renderer creates them). Then it writes the matching lockfile (per tenant
`project.tenant`, `environment.tenant/production` and the resources recorded in that environment), runs
the plan as `renderer plan` does (`renderer.operations.plan.make_plan`) and prints:

- the API calls the plan made, by endpoint (the simulator's `/_sim/stats`), against the target: no more
  than the list pages (`GET /services`, `GET /postgres`, `GET /projects`, 100 a page; `GET /environments`
  of every listed project, as it needs their IDs (`projectId`); `GET /key-value` and `GET /env-groups`,
  one page each here, as the seeded workspace has none), one env-var read per service and one
  connection-info read per Postgres. A cursor-paged list ends at the first page shorter than the limit,
  so N items take floor(N / 100) + 1 pages (the last one empty when N is a multiple of 100:
  Render's lists carry no total);
- the wall time, and the time spent in renderer's own code outside waiting on the API: the wall time
  during which no request was in flight (measured on the client's transport), and the CPU time of this
  process (renderer, httpx and asyncio; the simulator runs in another process). Target: under 3 s.

With `--scope N` it measures a plan narrowed to the first N tenants (`--tenant`, as `renderer ci plan`
narrows a pull request to the tenants it changes) in fleets of 100 and 1,000 tenants (or the `--tenants`
given), each against a fresh simulator, and prints the calls by endpoint and the wall and CPU times side
by side. Each plan runs in a fresh process, as a `renderer plan` run does; the times are the median of
`--runs` such processes (default 3), so that a busy machine moves them less, and the least CPU time of
`--repeat` more plans in one process (imports and caches warm) is shown too. Targets for `--scope 1`: at
most 10 calls at every fleet size (the tenant's recorded resources read by ID, including
`GET /projects/{id}` and `GET /environments/{id}`, its 3 env-var reads and its connection-info read), and
the CPU time at the largest fleet at most 1.5 x that at the smallest.

    .venv/bin/python benchmarks/plan_scale.py [--tenants 1000] [--latency-ms 0]
    .venv/bin/python benchmarks/plan_scale.py --scope 1 [--tenants 100 1000] [--runs 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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
from renderer.kinds.project import DEFAULT_ENVIRONMENT, DEFAULT_PROJECT  # noqa: E402
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
    """Seed what an apply of the fleet leaves: each tenant's project `bench-<slug>` with its environment
    `production` (network isolation on, unprotected: `renderer.kinds.project.tenant_project`), and its
    services and Postgres inside that environment."""
    slugs = [slug_of(n) for n in range(tenants)]
    environment = {"name": DEFAULT_ENVIRONMENT, "networkIsolationEnabled": True, "protectedStatus": "unprotected"}
    projects = admin(url, "POST", "/_sim/seed", {"projects": [{"name": f"bench-{s}", "environments": [environment]}
                                                              for s in slugs]})["projects"]
    environments = [p["environments"][0]["id"] for p in projects]
    for name, _, kind in SERVICES:
        admin(url, "POST", "/_sim/seed", {"type": kind.value, "envVarsPerService": ENV_VARS,
                                          "autoDeployTrigger": "off",  # as renderer creates services
                                          "serviceNames": [f"{name}-{s}" for s in slugs],
                                          "serviceEnvironments": environments})
    admin(url, "POST", "/_sim/seed", {"postgresNames": [f"db-{s}" for s in slugs],
                                      "postgresEnvironments": environments})


async def write_lockfile(settings: Settings, path: Path, tenants: int) -> None:
    """Write the lockfile an apply of the fleet writes: per tenant its project (`project.tenant`), its
    environment (`environment.tenant/production`, parent the project) and its resources, each recorded
    in that environment."""
    async with RenderClient(settings) as client:
        projects = {p["name"]: p for p in await client.list_projects()}
        services = {s["name"]: s for s in await client.list_services()}
        databases = {p["name"]: p for p in await client.list_postgres()}
    lock = Lockfile()
    keys = [f"SEED_VAR_{i}" for i in range(ENV_VARS)]
    project_address = f"{Kind.PROJECT.value}.{DEFAULT_PROJECT}"
    environment_address = f"{Kind.ENVIRONMENT.value}.{DEFAULT_PROJECT}/{DEFAULT_ENVIRONMENT}"
    for n in range(tenants):
        slug = slug_of(n)
        project = projects[f"bench-{slug}"]
        resources = {
            project_address: LockedResource(kind=Kind.PROJECT, name=project["name"], id=project["id"]),
            environment_address: LockedResource(kind=Kind.ENVIRONMENT, name=DEFAULT_ENVIRONMENT,
                                                id=project["environmentIds"][0], parent=project_address)}
        for name, _, kind in SERVICES:
            resources[f"{kind.value}.{name}"] = LockedResource(
                kind=kind, name=f"{name}-{slug}", id=services[f"{name}-{slug}"]["id"], env_vars=keys,
                environment=environment_address)
        resources["postgres.db"] = LockedResource(kind=Kind.POSTGRES, name=f"db-{slug}",
                                                  id=databases[f"db-{slug}"]["id"], environment=environment_address)
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


SCOPED_CALLS_TARGET = 10
SCOPED_CPU_RATIO_TARGET = 1.5


def plan_in_this_process(url: str, owner: str, project: Path, scope: int, repeat: int) -> dict[str, Any]:
    """Plan the project's first `scope` tenants (0: all) once, as a `renderer plan` run does (imports and
    caches cold), then `repeat` more times. Returns the first plan's size, the simulator's call counts for
    it, its wall, waiting and CPU times in seconds, and the least CPU time of the others (`cpu_warm`)."""
    settings = Settings(base_url=url + "/v1", api_key=API_KEY, owner_id=owner)
    transport = InFlight(httpx.AsyncHTTPTransport())
    inputs = Inputs(tenants_dir=project / "tenants", blueprints_dir=project / "blueprints",
                    lockfile=project / "render.lock.json", only=tuple(slug_of(n) for n in range(scope)))

    async def planned() -> Any:
        with client_options(rate_limits=RateLimits.off()):
            async with RenderClient(settings, transport) as client:
                return await make_plan(inputs, client, environ={})

    cpu, wall = time.process_time(), time.perf_counter()
    result = asyncio.run(planned())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    waiting = transport.waiting
    stats = admin(url, "GET", "/_sim/stats")
    again = []
    for _ in range(repeat):
        start = time.process_time()
        asyncio.run(planned())
        again.append(time.process_time() - start)
    plan = result.plan
    return {"planned": len(plan.tenants), "resources": len(plan.changes), "changes": plan.has_changes,
            "total": stats["total"], "endpoints": {k: sum(v.values()) for k, v in stats["endpoints"].items()},
            "wall": wall, "waiting": waiting, "cpu": cpu, "cpu_warm": min(again, default=None)}


def measure(tenants: int, scope: int, latency_ms: float, repeat: int, runs: int) -> dict[str, Any]:
    """Build a fleet of `tenants`, seed the simulator as an apply would have left it, and plan the first
    `scope` tenants (0: all) in `runs` fresh processes (`plan_in_this_process`). Returns the figures of
    the first, with the median wall, waiting and CPU times over the runs and the least `cpu_warm`."""
    schema = ROOT.parent / "shared" / "render" / "render.yaml.schema.json"
    if "RENDERER_BLUEPRINT_SCHEMA" not in os.environ and schema.is_file():
        os.environ["RENDERER_BLUEPRINT_SCHEMA"] = str(schema)
    env = {k: v for k, v in os.environ.items() if k != "RENDERER_FINGERPRINT_KEY"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = work / "project"
        write_project(project, tenants)
        process, url, owner = start_simulator(work, latency_ms)
        try:
            settings = Settings(base_url=url + "/v1", api_key=API_KEY, owner_id=owner)
            seed(url, tenants)
            asyncio.run(write_lockfile(settings, project / "render.lock.json", tenants))
            figures = []
            for _ in range(runs):
                admin(url, "DELETE", "/_sim/stats")
                out = subprocess.run([sys.executable, __file__, "--plan-only", url, owner, str(project),
                                      "--scope", str(scope), "--repeat", str(repeat)],
                                     check=True, capture_output=True, text=True, env=env).stdout
                figures.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            process.terminate()
            process.wait(timeout=30)
    result = {**figures[0], "tenants": tenants, "runs": runs}
    for key in ("wall", "waiting", "cpu"):
        result[key] = statistics.median(f[key] for f in figures)
    warm = [f["cpu_warm"] for f in figures if f["cpu_warm"] is not None]
    result["cpu_warm"] = min(warm, default=None)
    return result


def report_full(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    tenants = figures["tenants"]
    services, databases = tenants * len(SERVICES), tenants
    # Key Value and env group lists: one (empty) page each, the seeded workspace has none of either; one
    # project and one environment per tenant.
    pages = services // PAGE_LIMIT + 1 + databases // PAGE_LIMIT + 1 + 2 + 2 * (tenants // PAGE_LIMIT + 1)
    target = pages + services + databases
    print(f"plan_scale: {tenants} tenants x {len(SERVICES) + 1} resources ({services} services with "
          f"{ENV_VARS} env vars each, {databases} Postgres); simulator latency {args.latency_ms:g} ms; rate "
          "limits off")
    print(f"plan: {figures['planned']} tenants, {figures['resources']} resources, "
          f"{'changes pending!' if figures['changes'] else 'no changes'}")
    print("API calls by endpoint:")
    for endpoint, count in sorted(figures["endpoints"].items()):
        print(f"  {count:6d}  {endpoint}")
    total = figures["total"]
    print(f"  {total:6d}  total (target <= {target}: {pages} list pages + {services} env-var reads + "
          f"{databases} connection-info reads) {'OK' if total <= target else 'OVER TARGET'}")
    wall, waiting, cpu = figures["wall"], figures["waiting"], figures["cpu"]
    own = wall - waiting
    print(f"wall time: {wall:.2f} s; waiting on the API (a request in flight): {waiting:.2f} s")
    print(f"renderer's own time outside waiting on the API: {own:.2f} s (target < 3 s) "
          f"{'OK' if own < 3 else 'OVER TARGET'}; CPU time of this process: {cpu:.2f} s")


def report_scoped(args: argparse.Namespace, runs: list[dict[str, Any]]) -> None:
    sizes = [r["tenants"] for r in runs]
    print(f"plan_scale --scope {args.scope}: a plan of {args.scope} tenant{'s' if args.scope != 1 else ''} "
          f"(`--tenant`) in fleets of {' and '.join(f'{n:,}' for n in sizes)} tenants x {len(SERVICES) + 1} "
          f"resources; simulator latency {args.latency_ms:g} ms; rate limits off")
    width = max(12, *(len(f"{n:,} tenants") for n in sizes)) + 2
    head = "".join(f"{f'{n:,} tenants':>{width}}" for n in sizes)
    endpoints = sorted({e for r in runs for e in r["endpoints"]})
    label = max(len("API calls by endpoint"), *(len(e) + 2 for e in endpoints))
    print(f"{'API calls by endpoint':<{label}}{head}")
    for endpoint in endpoints:
        print(f"{'  ' + endpoint:<{label}}" + "".join(f"{r['endpoints'].get(endpoint, 0):>{width}}" for r in runs))
    print(f"{'  total':<{label}}" + "".join(f"{r['total']:>{width}}" for r in runs))
    print(f"{'plan':<{label}}" + "".join(
        f"{'changes!' if r['changes'] else 'no changes':>{width}}" for r in runs))
    runs_note = f", median of {runs[0]['runs']} processes" if runs[0]["runs"] > 1 else ""
    rows = (("wall", f"wall time (s{runs_note})"), ("waiting", "  waiting on the API (s)"),
            ("cpu", f"CPU time (s{runs_note})"), ("cpu_warm", "  next plans in a process, least (s)"))
    for key, name in rows:
        print(f"{name:<{label}}" + "".join(f"{r[key]:>{width}.3f}" for r in runs))
    calls_ok = all(r["total"] <= SCOPED_CALLS_TARGET * args.scope for r in runs)
    ratio = runs[-1]["cpu"] / runs[0]["cpu"] if runs[0]["cpu"] else float("inf")
    warm = runs[-1]["cpu_warm"] / runs[0]["cpu_warm"] if runs[0]["cpu_warm"] else float("inf")
    print(f"calls: at most {max(r['total'] for r in runs)} at every fleet size (target <= "
          f"{SCOPED_CALLS_TARGET * args.scope}) {'OK' if calls_ok else 'OVER TARGET'}")
    print(f"CPU time at {sizes[-1]:,} / at {sizes[0]:,} tenants: {ratio:.2f} x (target <= "
          f"{SCOPED_CPU_RATIO_TARGET:g} x) {'OK' if ratio <= SCOPED_CPU_RATIO_TARGET else 'OVER TARGET'}; "
          f"next plans in the same process: {warm:.2f} x (reading the lockfile and listing the tenant files "
          "still grow with the fleet)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, nargs="+", help="fleet size (default 1000; with --scope: 100 1000)")
    parser.add_argument("--scope", type=int, default=0, help="plan only the first N tenants (`--tenant`)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency the simulator adds to each answer")
    parser.add_argument("--runs", type=int, help="plans in fresh processes per fleet size, their median times "
                        "shown (default 1; with --scope: 3)")
    parser.add_argument("--repeat", type=int, default=3, help="with --scope: plans after the first in the same "
                        "process (their least CPU time is shown)")
    parser.add_argument("--plan-only", nargs=3, metavar=("URL", "OWNER", "PROJECT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_only:  # one of `measure`'s fresh processes
        url, owner, project = args.plan_only
        print(json.dumps(plan_in_this_process(url, owner, Path(project), args.scope, args.repeat)))
        return
    sizes = args.tenants or ([100, 1000] if args.scope else [1000])
    runs = args.runs or (3 if args.scope else 1)
    results = [measure(tenants, args.scope, args.latency_ms, args.repeat if args.scope else 0, runs)
               for tenants in sizes]
    if args.scope:
        report_scoped(args, results)
    else:
        for figures in results:
            report_full(args, figures)


if __name__ == "__main__":
    main()
