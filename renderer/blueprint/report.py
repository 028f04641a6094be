"""A validation run's result and its three output formats (text, json, github).

The report owns the verdict: `valid` is "no error findings" (warnings allowed) and `exit_code` is 0 when
valid, 1 when not, whatever the format.

JSON (`render_json`), stdout holding only this document:

    {"valid": bool, "errors": [F, ...], "warnings": [F, ...]}

where each F is `{"file", "line", "column", "path", "layer", "rule", "message", "hint"}`: `line` and
`column` 1-based or null, `path` like `services[2].envVars[0].value` ("" for the document root), `hint`
a string or null.

GitHub (`render_github`): one workflow command per finding, `::error file=F,line=L,col=C,title=T::message`
(or `::warning`), escaped as GitHub's workflow-command syntax requires.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from renderer.errors import ExitCode, Finding

FINDING_KEYS = ("file", "line", "column", "path", "layer", "rule", "message", "hint")


@dataclass
class ValidationReport:
    """Every finding of a run over `checked` files (tenant files or render.yaml files: `subject`)."""

    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    subject: str = "tenant"

    def __post_init__(self) -> None:
        order = {id(f): i for i, f in enumerate(self.findings)}
        # Files in the order met, then by line: a person reads one file top to bottom.
        first_seen: dict[str, int] = {}
        for finding in self.findings:
            first_seen.setdefault(finding.file, len(first_seen))
        self.findings = sorted(self.findings, key=lambda f: (first_seen[f.file], f.line or 0, f.column or 0,
                                                             order[id(f)]))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.valid else ExitCode.ERROR

    def summary(self) -> str:
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'s' if n != 1 else ''}"

        warnings = f", {count(len(self.warnings), 'warning')}" if self.warnings else ""
        if self.valid:
            return f"Valid: {count(self.checked, self.subject)}{warnings}."
        return f"Invalid: {count(len(self.errors), 'error')}{warnings}."


def finding_dict(finding: Finding) -> dict[str, object]:
    """The JSON shape of one finding (exactly `FINDING_KEYS`)."""
    data = finding.model_dump()
    return {key: data[key] for key in FINDING_KEYS}


def render_json(report: ValidationReport) -> str:
    return json.dumps({"valid": report.valid, "errors": [finding_dict(f) for f in report.errors],
                       "warnings": [finding_dict(f) for f in report.warnings]}, indent=2, ensure_ascii=False) + "\n"


def render_text(report: ValidationReport) -> list[tuple[str, str]]:
    """Lines with a style name for each (`error`, `warning`, `ok`)."""
    lines: list[tuple[str, str]] = [(f.describe(), f.severity) for f in report.findings]
    lines.append((report.summary(), "ok" if report.valid else "error"))
    return lines


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: Finding) -> str:
    """One GitHub Actions workflow command for `finding`."""
    props = [f"file={_escape_property(finding.file)}"]
    if finding.line is not None:
        props.append(f"line={finding.line}")
        if finding.column is not None:
            props.append(f"col={finding.column}")
    props.append(f"title={_escape_property(f'{finding.layer}/{finding.rule}')}")
    message = finding.message + (f" (at {finding.path})" if finding.path else "")
    if finding.hint:
        message += f"\nhint: {finding.hint}"
    return f"::{finding.severity} {','.join(props)}::{_escape_data(message)}"


def render_github(report: ValidationReport) -> str:
    return "".join(github_annotation(f) + "\n" for f in report.findings) + report.summary() + "\n"
