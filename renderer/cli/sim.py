"""`renderer sim`: run the Render API simulator (`serve`) and drive a running one (its `/_sim/` admin API)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from renderer import lockfile as lockfile_io
from renderer.errors import RendererError
from renderer.sim.server import serve as run_server
from renderer.sim.store import DEPLOY_OUTCOMES, SERVER_FAILED, WORKSPACE_PLANS

F = TypeVar("F", bound=Callable[..., Any])


class RateScale(click.ParamType):  # type: ignore[type-arg]
    """A positive number, or `off`."""

    name = "N|off"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | None:
        if value is None or (isinstance(value, str) and value.lower() == "off"):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0
        if number <= 0:
            self.fail(f"{value!r} is neither a positive number nor `off`", param, ctx)
        return number


def fault_options(func: F) -> F:
    """The fault flags shared by `sim serve` and `sim fault` (renderer.sim.faults)."""
    options = [
        click.option("--faults", "faults_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     default=None, help="A JSON file with a /_sim/faults body (latencyMs, seed, rules)."),
        click.option("--latency-ms", type=click.FloatRange(min=0), default=None,
                     help="Delay every API answer by this many milliseconds."),
        click.option("--error-rate", type=click.FloatRange(0, 1), default=None,
                     help="Answer this fraction of API requests with --error-status instead."),
        click.option("--error-status", type=click.IntRange(500, 599), default=503, show_default=True,
                     help="The status --error-rate answers with."),
        click.option("--burst-429", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Answer the next N API requests 429 (Retry-After: 1)."),
        click.option("--drop-rate", type=click.FloatRange(0, 1), default=None,
                     help="Close the connection without an answer for this fraction of API requests."),
        click.option("--lose-create-response", type=click.IntRange(min=1), default=None, metavar="NTH",
                     help="Carry out the NTH POST /v1/services, then drop its answer."),
        click.option("--fail", "fail", multiple=True, metavar="'METHOD PATH NTH STATUS'",
                     help="Answer the NTH request matching METHOD and PATH (a * pattern) with STATUS; "
                          "repeatable. Example: --fail 'POST /v1/services 2 500'."),
        click.option("--fault-seed", type=int, default=None, help="Seed of the fault random draws."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def faults_body(faults_file: Path | None, latency_ms: float | None, error_rate: float | None, error_status: int,
                burst_429: int | None, drop_rate: float | None, lose_create_response: int | None,
                fail: tuple[str, ...], fault_seed: int | None) -> dict[str, Any]:
    """The /_sim/faults body the fault flags describe. Raises `click.BadParameter` for a bad --fail."""
    body: dict[str, Any] = {}
    if faults_file is not None:
        try:
            loaded = json.loads(faults_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.BadParameter(f"{faults_file} is not JSON: {exc}", param_hint="--faults") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter(f"{faults_file} must hold a JSON object", param_hint="--faults")
        body.update(loaded)
    rules: list[dict[str, Any]] = list(body.get("rules") or [])
    if latency_ms is not None:
        body["latencyMs"] = latency_ms
    if fault_seed is not None:
        body["seed"] = fault_seed
    if burst_429:
        rules.append({"action": "rate_limit", "times": burst_429, "retryAfter": 1})
    if lose_create_response:
        rules.append({"action": "lose_response", "method": "POST", "path": "/v1/services",
                      "nth": lose_create_response})
    for spec in fail:
        parts = spec.split()
        if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
            raise click.BadParameter(f"{spec!r} is not 'METHOD PATH NTH STATUS'", param_hint="--fail")
        rules.append({"action": "status", "method": parts[0].upper(), "path": parts[1], "nth": int(parts[2]),
                      "status": int(parts[3])})
    if error_rate:
        rules.append({"action": "status", "status": error_status, "probability": error_rate, "times": 0})
    if drop_rate:
        rules.append({"action": "drop", "probability": drop_rate, "times": 0})
    if rules:
        body["rules"] = rules
    return body


@click.group()
def sim() -> None:
    """The Render API simulator (a local stand-in for api.render.com).

    `serve` runs one; the other commands drive a running one through its /_sim/ admin API (--url, else
    RENDER_API_URL without /v1).
    """


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one.")
@click.option("--state", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="State file (created when missing, saved after every change).")
@click.option("--api-key", default=None, help="Accept only this Bearer token (default: any non-empty one).")
@click.option("--openapi", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Render's OpenAPI description, to check request bodies (default: $RENDERER_OPENAPI, "
                   "the user cache, or a download).")
@click.option("--record", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Append every request and response to this JSON-lines file.")
@click.option("--rate-scale", type=RateScale(), default="1", show_default=True,
              help="Multiply Render's rate-limit budgets by N, or `off` to enforce none.")
@click.option("--deploy-outcome", type=click.Choice(DEPLOY_OUTCOMES), default="live", show_default=True,
              help="How every deploy ends unless /_sim/deploy-outcomes says otherwise.")
@click.option("--seed-services", type=click.IntRange(min=0), default=0, metavar="N",
              help="Create N services directly at start (with --seed-env-vars env vars each).")
@click.option("--seed-env-vars", type=click.IntRange(min=0), default=0, metavar="K",
              help="Env vars per seeded service.")
@click.option("--frozen-clock", is_flag=True,
              help="The simulated clock moves only through /_sim/clock/advance, not with real time (benchmarks).")
@fault_options
def serve(host: str, port: int, state: Path, api_key: str | None, openapi: Path | None, record: Path | None,
          rate_scale: float | None, deploy_outcome: str, seed_services: int, seed_env_vars: int, frozen_clock: bool,
          faults_file: Path | None, latency_ms: float | None, error_rate: float | None, error_status: int,
          burst_429: int | None, drop_rate: float | None, lose_create_response: int | None, fail: tuple[str, ...],
          fault_seed: int | None) -> int:
    """Serve Render's API on HOST:PORT. Prints `listening on http://HOST:PORT` when ready.

    Render's rate limits are enforced unless --rate-scale off; faults are injected as the fault flags say.
    """
    faults = faults_body(faults_file, latency_ms, error_rate, error_status, burst_429, drop_rate,
                         lose_create_response, fail, fault_seed)
    seed = {"services": seed_services, "envVarsPerService": seed_env_vars} if seed_services else None
    run_server(host, port, state, api_key=api_key, openapi=openapi, record=record, faults=faults,
               rate_scale=rate_scale, deploy_outcome=deploy_outcome, seed=seed, frozen_clock=frozen_clock)
    return 0


def admin_options(func: F) -> F:
    func = click.option("--api-key", default=None,
                        help="Bearer token for the admin API (default: $RENDER_API_KEY, else `sim`).")(func)
    func = click.option("--url", default=None,
                        help="The simulator's base URL (default: $RENDER_API_URL without /v1).")(func)
    return func


def _admin(url: str | None, api_key: str | None, method: str, path: str, body: Any = None) -> int:
    click.echo(json.dumps(_admin_request(url, api_key, method, path, body), indent=2, sort_keys=True))
    return 0


def _admin_request(url: str | None, api_key: str | None, method: str, path: str, body: Any = None) -> Any:
    base = url or os.environ.get("RENDER_API_URL", "")
    base = base.rstrip("/").removesuffix("/v1")
    if not base:
        raise RendererError("no simulator URL", hint="pass --url http://HOST:PORT or set RENDER_API_URL")
    token = api_key or os.environ.get("RENDER_API_KEY") or "sim"
    try:
        response = httpx.request(method, base + path, json=body, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)
    except httpx.HTTPError as exc:
        raise RendererError(f"no answer from the simulator at {base}: {exc}",
                            hint="start one with `renderer sim serve --state FILE`") from None
    try:
        payload = response.json()
    except ValueError:
        payload = {"message": response.text}
    if response.status_code >= 400:
        message = payload.get("message") if isinstance(payload, dict) else response.text
        raise RendererError(f"simulator {method} {path} answered {response.status_code}: {message}")
    return payload


@sim.command()
@admin_options
def reset(url: str | None, api_key: str | None) -> int:
    """Empty the simulator: state, faults, rate-limit windows, stats and clock."""
    return _admin(url, api_key, "POST", "/_sim/reset")


@sim.command()
@click.argument("seconds", type=click.FloatRange(min=0))
@admin_options
def advance(seconds: float, url: str | None, api_key: str | None) -> int:
    """Move the simulator's clock on by SECONDS (deploys progress, rate-limit windows close)."""
    return _admin(url, api_key, "POST", "/_sim/clock/advance", {"seconds": seconds})


@sim.command()
@admin_options
def stats(url: str | None, api_key: str | None) -> int:
    """Print request counts per endpoint and status."""
    return _admin(url, api_key, "GET", "/_sim/stats")


@sim.command()
@click.option("--services", type=click.IntRange(min=0), default=0, help="Services to create.")
@click.option("--env-vars", type=click.IntRange(min=0), default=0, help="Env vars per service.")
@click.option("--type", "service_type", default="web_service", show_default=True, help="Service type.")
@click.option("--prefix", default="seed", show_default=True, help="Name prefix.")
@click.option("--postgres", type=click.IntRange(min=0), default=0, help="Postgres databases to create.")
@click.option("--key-value", type=click.IntRange(min=0), default=0, help="Key Value instances to create.")
@click.option("--env-groups", type=click.IntRange(min=0), default=0, help="Env groups to create.")
@admin_options
def seed(services: int, env_vars: int, service_type: str, prefix: str, postgres: int, key_value: int,
         env_groups: int, url: str | None, api_key: str | None) -> int:
    """Create many resources directly (no API calls, no rate limits)."""
    return _admin(url, api_key, "POST", "/_sim/seed", {
        "services": services, "envVarsPerService": env_vars, "type": service_type, "prefix": prefix,
        "postgres": postgres, "keyValue": key_value, "envGroups": env_groups})


@sim.command()
@click.option("--clear", is_flag=True, help="Remove every fault first.")
@fault_options
@admin_options
def fault(clear: bool, faults_file: Path | None, latency_ms: float | None, error_rate: float | None,
          error_status: int, burst_429: int | None, drop_rate: float | None, lose_create_response: int | None,
          fail: tuple[str, ...], fault_seed: int | None, url: str | None, api_key: str | None) -> int:
    """Inject faults into a running simulator (the same flags as `sim serve`)."""
    body = faults_body(faults_file, latency_ms, error_rate, error_status, burst_429, drop_rate,
                       lose_create_response, fail, fault_seed)
    if clear:
        _admin(url, api_key, "DELETE", "/_sim/faults")
    return _admin(url, api_key, "POST", "/_sim/faults", body) if body or not clear else 0


@sim.command(name="rate-limits")
@click.argument("scale", type=RateScale())
@admin_options
def rate_limits(scale: float | None, url: str | None, api_key: str | None) -> int:
    """Enforce Render's rate limits times SCALE, or `off`."""
    return _admin(url, api_key, "POST", "/_sim/rate-limits", {"scale": "off" if scale is None else scale})


@sim.command(name="deploy-outcome")
@click.argument("outcome", type=click.Choice((*DEPLOY_OUTCOMES, SERVER_FAILED)))
@click.option("--service", "service_id", default=None, help="Only deploys of this service (srv-...).")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True, help="How many deploys.")
@click.option("--commit", default=None, help="Every later deploy of this commit SHA, on any service (`live` clears).")
@click.option("--image", default=None, help="Every later deploy of this image digest or reference.")
@click.option("--delay", type=click.FloatRange(min=0), default=None,
              help=f"Seconds from live to the server_failed event ({SERVER_FAILED}; default 30).")
@admin_options
def deploy_outcome(outcome: str, service_id: str | None, count: int, commit: str | None, image: str | None,
                   delay: float | None, url: str | None, api_key: str | None) -> int:
    """Make the next deploys (or every deploy of a version) end in OUTCOME."""
    body: dict[str, object] = {"outcome": outcome, "serviceId": service_id, "count": count}
    if commit or image:
        body.update(commit=commit, image=image, delaySeconds=delay)
    return _admin(url, api_key, "POST", "/_sim/deploy-outcomes", body)


@sim.command()
@click.option("--payment-details/--no-payment-details", default=True,
              help="Whether the workspace has payment details (without them, paid plans answer 402).")
@click.option("--plan", "workspace_plan", type=click.Choice(WORKSPACE_PLANS), default=None,
              help="The workspace plan (hobby: one project, two environments, no network isolation).")
@admin_options
def workspace(payment_details: bool, workspace_plan: str | None, url: str | None, api_key: str | None) -> int:
    """Set workspace properties."""
    body: dict[str, Any] = {"paymentDetails": payment_details}
    if workspace_plan is not None:
        body["plan"] = workspace_plan
    return _admin(url, api_key, "POST", "/_sim/workspace", body)


@sim.command()
@click.option("--lockfile", type=click.Path(path_type=Path), default=None,
              help="Count the pairs by the tenants this lockfile records, instead of printing them all.")
@admin_options
def network(lockfile: Path | None, url: str | None, api_key: str | None) -> int:
    """Which resources can open a private connection to which (the simulator's private network model:
    same region, and the same environment or neither in a network-isolated one)."""
    payload = _admin_request(url, api_key, "GET", "/_sim/network")
    if lockfile is None:
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    owners = {entry.id: (slug, address.split(".", 1)[1])
              for slug, tenant in lockfile_io.load(lockfile).tenants.items()
              for address, entry in tenant.resources.items()}
    pairs = [(owners[p["from"]], owners[p["to"]]) for p in payload["pairs"]
             if p["from"] in owners and p["to"] in owners]
    cross = [pair for pair in pairs if pair[0][0] != pair[1][0]]
    click.echo(f"Private connections possible between resources of different tenants: {len(cross)}")
    for slug in sorted({slug for slug, _ in owners.values()}):
        own = sorted(f"{a[1]} -> {b[1]}" for a, b in pairs if a[0] == slug and b[0] == slug)
        click.echo(f"  {slug}: {len(own)} within the tenant" + (f" ({', '.join(own)})" if own else ""))
    return 0
