"""`renderer sim serve`: run the Render API simulator."""

from __future__ import annotations

from pathlib import Path

import click

from renderer.sim.server import serve as run_server


@click.group()
def sim() -> None:
    """The Render API simulator (a local stand-in for api.render.com)."""


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
def serve(host: str, port: int, state: Path, api_key: str | None, openapi: Path | None, record: Path | None) -> int:
    """Serve Render's API on HOST:PORT. Prints `listening on http://HOST:PORT` when ready."""
    run_server(host, port, state, api_key=api_key, openapi=openapi, record=record)
    return 0
