"""`renderer doctor`: read-only checks of the configured Render API, each with a plain verdict."""

from __future__ import annotations

import asyncio

import click
from rich.text import Text

from renderer.cli.output import stdout
from renderer.render_api.client import Settings
from renderer.render_api.doctor import Verdict, diagnose

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}


@click.command()
def doctor() -> int:
    """Check the API configuration: the API answers, the key is accepted, the workspace
    (RENDER_OWNER_ID) exists and this key can reach it, and how much rate-limit budget is left.

    Sends only GET requests. Exit 0 when nothing failed (warnings allowed), 1 otherwise.
    """
    report = asyncio.run(diagnose(Settings.from_env()))
    for check in report.checks:
        stdout.print(Text.assemble((f"{check.verdict.value:<4}", STYLE[check.verdict]),
                                   f" {check.name}: {check.detail}"))
        if check.hint:
            stdout.print(Text(f"     hint: {check.hint}"))
    failed = sum(1 for c in report.checks if c.verdict is Verdict.FAIL)
    stdout.print("All checks passed." if not failed else f"{failed} check{'s' if failed != 1 else ''} failed.",
                 style="bold green" if not failed else "bold red")
    return report.exit_code
