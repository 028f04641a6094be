"""Running the simulator: uvicorn on a socket we bind ourselves, so `--port 0` can report its port."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from renderer import refdata
from renderer.contract import Contract
from renderer.sim.app import SimApp
from renderer.sim.clock import Clock
from renderer.sim.store import Store

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Prints `listening on http://HOST:PORT` once uvicorn accepts connections."""

    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"listening on {self.url}", flush=True)


class _DroppedOnPurpose(logging.Filter):
    """uvicorn reports a response left unfinished as an error; the simulator does that on purpose to
    drop a connection (renderer.sim.app._drop)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def serve(host: str, port: int, state: Path, *, api_key: str | None, openapi: Path | None,
          record: Path | None = None, faults: dict[str, Any] | None = None, rate_scale: float | None = 1.0,
          deploy_outcome: str = "live", seed: dict[str, Any] | None = None, frozen_clock: bool = False) -> None:
    """Serve until interrupted. The workspace ID and state path are printed first.

    `faults` is a `/_sim/faults` body, `rate_scale` multiplies Render's budgets (None: no limits),
    `deploy_outcome` is how every deploy ends unless told otherwise, `seed` a `/_sim/seed` body applied
    once at start; `frozen_clock`: the clock moves only when advanced (`renderer.sim.clock`). Raises
    `RendererError` when the OpenAPI path given explicitly is missing; without any OpenAPI description the
    simulator still serves but does not check request bodies (a warning says so).
    """
    document = refdata.load_json(refdata.OPENAPI, openapi)
    contract = Contract(document) if document is not None else None
    if contract is None:
        log.warning("Render's OpenAPI description is not available: request bodies will not be checked "
                    "(use --openapi PATH or %s)", refdata.OPENAPI.env_var)
    store = Store(state, Clock(frozen=frozen_clock), default_outcome=deploy_outcome)
    if seed:
        store.seed(seed)
    app = SimApp(store, api_key=api_key, contract=contract, record=record, faults=faults,
                 rate_scale=rate_scale).build()
    logging.getLogger("uvicorn.error").addFilter(_DroppedOnPurpose())
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit TCP_NODELAY (Linux): uvicorn's h11 writes a response's head and body
    # separately, and without it Nagle holds the body until the client's delayed ACK (40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    limits = "off" if rate_scale is None else f"Render's x{rate_scale:g}"
    print(f"renderer sim: workspace {store.owner['id']} (state {state}, rate limits {limits})", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=2048)
    server = _Server(config, f"http://{shown_host}:{bound_port}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()
