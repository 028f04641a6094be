"""Locating Render's third-party reference documents at run time.

The project does not ship Render's Blueprint JSON Schema or Render's OpenAPI description (they are
Render's data). Each is found, in order, at:

1. an explicit path (a `--schema` / `--openapi` option);
2. the path in an environment variable (`RENDERER_BLUEPRINT_SCHEMA`, `RENDERER_OPENAPI`);
3. the user cache (`platformdirs.user_cache_dir("renderer")`, e.g. `~/.cache/renderer/`);
4. Render's canonical URL, downloaded once into that cache.

When none works, `load_json` returns None and the caller says which layer it skipped.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import platformdirs

from renderer.errors import RendererError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceDocument:
    """One of Render's published documents: where to find it and what to call it in messages."""

    title: str
    env_var: str
    url: str
    cache_name: str


BLUEPRINT_SCHEMA = ReferenceDocument(
    title="Render Blueprint schema",
    env_var="RENDERER_BLUEPRINT_SCHEMA",
    url="https://render.com/schema/render.yaml.json",
    cache_name="render.yaml.schema.json",
)

OPENAPI = ReferenceDocument(
    title="Render OpenAPI description",
    env_var="RENDERER_OPENAPI",
    url="https://api-docs.render.com/openapi/render-public-api-1.json",
    cache_name="render-openapi.json",
)

DOWNLOAD_TIMEOUT_SECONDS = 10.0


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("renderer"))


def _read(path: Path, doc: ReferenceDocument, origin: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RendererError(
            f"{doc.title} not found at {path} (from {origin})",
            hint=f"point {origin} at an existing file, or unset it to use the cache or {doc.url}",
        ) from None
    except (OSError, ValueError) as exc:
        raise RendererError(f"{doc.title} at {path} (from {origin}) is not readable JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RendererError(f"{doc.title} at {path} (from {origin}) is not a JSON object")
    return data


def _download(doc: ReferenceDocument, target: Path) -> dict[str, Any] | None:
    try:
        response = httpx.get(doc.url, timeout=DOWNLOAD_TIMEOUT_SECONDS, follow_redirects=True)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("could not download the %s from %s: %s", doc.title, doc.url, exc)
        return None
    if not isinstance(data, dict):
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=target.parent, delete=False, encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(fh.name, target)
    except OSError as exc:
        log.warning("could not cache the %s at %s: %s", doc.title, target, exc)
    return data


def load_json(doc: ReferenceDocument, explicit: Path | None = None) -> dict[str, Any] | None:
    """The document as parsed JSON, or None when no source works (a warning is logged).

    Raises `RendererError` when an explicit path or the environment variable names a missing or
    unreadable file: a path someone typed must not be silently ignored.
    """
    if explicit is not None:
        return _read(explicit, doc, "the command-line option")
    from_env = os.environ.get(doc.env_var)
    if from_env:
        return _read(Path(from_env), doc, doc.env_var)
    cached = cache_dir() / doc.cache_name
    if cached.is_file():
        try:
            return _read(cached, doc, "the cache")
        except RendererError as exc:
            log.warning("ignoring the cached %s: %s", doc.title, exc.message)
    return _download(doc, cached)
