"""Running the simulator: uvicorn on a socket we bind ourselves, so `--port 0` can report its port."""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

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


def serve(host: str, port: int, state: Path, *, api_key: str | None, openapi: Path | None,
          record: Path | None = None) -> None:
    """Serve until interrupted. The workspace ID and state path are printed first.

    Raises `RendererError` when the OpenAPI path given explicitly is missing; without any OpenAPI
    description the simulator still serves but does not check request bodies (a warning says so).
    """
    document = refdata.load_json(refdata.OPENAPI, openapi)
    contract = Contract(document) if document is not None else None
    if contract is None:
        log.warning("Render's OpenAPI description is not available: request bodies will not be checked "
                    "(use --openapi PATH or %s)", refdata.OPENAPI.env_var)
    store = Store(state, Clock())
    app = SimApp(store, api_key=api_key, contract=contract, record=record).build()
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"renderer sim: workspace {store.owner['id']} (state {state})", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config, f"http://{shown_host}:{bound_port}")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sys.stdout.flush()
