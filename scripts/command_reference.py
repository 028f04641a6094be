"""Write docs/commands.md, the command reference, from the CLI's own help.

Walks `renderer.cli.main.cli` and every subcommand and group under it (`renderer ci ...` and
`renderer sim ...` included), formats each one's help with click's own formatter at a fixed width, and
writes one section per command. `make docs` runs it; `tests/test_docs.py` fails when the file is stale.

Usage: .venv/bin/python scripts/command_reference.py [--check]
  --check  write nothing; exit 1 when docs/commands.md differs from what would be written
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "commands.md"
WIDTH = 100  # columns of the formatted help, fixed so the output does not depend on the terminal

HEADER = """\
# Command reference

Generated from the CLI's own `--help` by `scripts/command_reference.py` (`make docs`); do not edit by hand.
The exit codes are listed in [configuration.md](configuration.md#exit-codes).
"""


def _commands(
    command: click.Command, name: str, parent: click.Context | None
) -> list[tuple[str, click.Context]]:
    """Every visible command under `command` (itself first), depth first, as (full name, its context)."""
    ctx = click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH,
                        **command.context_settings)
    found = [(ctx.command_path, ctx)]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                found.extend(_commands(sub, sub_name, ctx))
    return found


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading made of words and spaces: lower case, spaces as hyphens."""
    return title.lower().replace(" ", "-")


def reference(root: click.Command | None = None) -> str:
    """The text of docs/commands.md: a table of contents, then each command's help in a text block."""
    if root is None:
        from renderer.cli.main import cli

        root = cli
    commands = _commands(root, "renderer", None)
    toc = [f"- [`{path}`](#{_anchor(path)})" for path, _ in commands]
    sections = [f"## {path}\n\n```text\n{ctx.command.get_help(ctx).rstrip()}\n```\n" for path, ctx in commands]
    return "\n".join([HEADER, *toc, "", *sections]).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = reference()
    if argv == ["--check"]:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
