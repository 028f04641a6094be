"""The user-facing error type and validation findings.

Every mistake a user can make (a bad tenant file, a missing environment variable, a refused API call)
raises a `RendererError`. The CLI catches it in one place (`renderer.cli.main`), prints the message and
hint without a traceback and exits with `exit_code` (1 unless a subclass says otherwise). Anything else
that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

Layer = Literal["yaml", "template", "tenant", "schema", "semantic", "release"]
Severity = Literal["error", "warning"]


class ExitCode(IntEnum):
    """Every exit code renderer chooses, in one place.

    - `OK` 0: success (no changes, no drift, apply complete);
    - `ERROR` 1: any error: a user mistake, a usage error, a refused or failed API call, a cancelled apply,
      a failed deploy;
    - `CHANGES` 2: `plan --detailed-exitcode` with changes, `drift --detailed-exitcode` with drift;
    - `DESTRUCTIVE` 3: `plan --detailed-exitcode` with changes that delete or replace;
    - `INCOMPLETE` 4: apply stopped early with work left (a rate budget, a rollout paused); the next run
      carries on.
    """

    OK = 0
    ERROR = 1
    CHANGES = 2
    DESTRUCTIVE = 3
    INCOMPLETE = 4


class RendererError(Exception):
    """A mistake the user can fix. `message` says what is wrong, `hint` how to fix it."""

    exit_code: int = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n  hint: {self.hint}"


class Finding(BaseModel):
    """One validation problem, positioned in the file a human edits.

    `line` and `column` are 1-based, or None when unknown. `path` is the location inside the document
    in the form `services[1].envVars[0].value` ("" for the document root).
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None
    column: int | None
    path: str
    layer: Layer
    rule: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def describe(self) -> str:
        at = f" at {self.path}" if self.path else ""
        text = f"{self.location()}: {self.severity}: {self.message}{at} [{self.layer}/{self.rule}]"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ValidationFailed(RendererError):
    """Raised when input has error findings. `findings` holds every error and warning found in the run."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        errors = [f for f in self.findings if f.severity == "error"]
        lines = [f.describe() for f in errors]
        super().__init__(
            f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}:\n" + "\n".join(lines)
        )


def errors_in(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]
