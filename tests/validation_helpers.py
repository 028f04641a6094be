"""Helpers for the validation tests: run `renderer validate` in-process and read its JSON report."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from tests.conftest import run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def validate_json(*args: str) -> tuple[int, dict[str, Any]]:
    """`renderer validate --format json ARGS...`: (exit code, parsed report). stdout must be only JSON."""
    result = run("validate", "--format", "json", *args)
    return result.code, json.loads(result.out)


def blueprint_report(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    return validate_json("--blueprint", *extra, str(path))


def finding(file: Path | str, line: int | None, column: int | None, path: str, layer: str, rule: str,
            message: str, hint: str | None) -> dict[str, Any]:
    return {"file": str(file), "line": line, "column": column, "path": path, "layer": layer, "rule": rule,
            "message": message, "hint": hint}


def rules(findings: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(f["layer"], f["rule"], f["path"]) for f in findings]
