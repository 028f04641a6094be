"""Consoles for command output (stdout) and diagnostics (stderr)."""

from __future__ import annotations

from rich.console import Console

# highlight=False: rich would otherwise colour numbers and strings inside plan lines on its own.
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)
