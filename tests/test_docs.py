"""The documentation stays true: docs/commands.md matches the CLI's help, and every relative link in
README.md and docs/*.md points to a file that exists (and, for a Markdown file, to a heading in it)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("command_reference", ROOT / "scripts" / "command_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where a `[x](y)` is not a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    for title in HEADING.findall(FENCE.sub("", markdown.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading keeps its text
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_command_reference_is_up_to_date() -> None:
    script = load_script()
    expected = script.reference()
    current = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert current == expected, (
        "docs/commands.md is out of date with the CLI's help: run `make docs` "
        "(.venv/bin/python scripts/command_reference.py) and commit the result"
    )


def test_command_reference_covers_every_command_and_group() -> None:
    current = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    for heading in ("## renderer\n", "## renderer plan\n", "## renderer ci\n", "## renderer ci drift\n",
                    "## renderer sim serve\n", "## renderer schema tenant\n"):
        assert heading in current, heading
    assert "Usage: renderer ci apply [OPTIONS]" in current


def test_relative_links_point_to_existing_files_and_headings() -> None:
    broken = []
    checked = 0
    for doc in DOCS:
        for target in LINK.findall(prose(doc.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            checked += 1
            path_part, _, anchor = target.partition("#")
            path = (doc.parent / path_part).resolve() if path_part else doc
            where = f"{doc.relative_to(ROOT)}: ({target})"
            if not path.exists():
                broken.append(f"{where}: no file {path_part}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{where}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert broken == []
    assert checked > 20  # the README's links section alone has more; a parser that finds none fails here


def test_link_checker_finds_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## Plan and apply\n\n```sh\n[not](a-link.md)\n```\n", encoding="utf-8")
    assert anchors(page) == {"a-page", "plan-and-apply"}
    text = "see [x](missing.md), [y](page.md#plan-and-apply), `[z](code.md)` and [w](https://example.com)"
    assert LINK.findall(prose(text)) == ["missing.md", "page.md#plan-and-apply", "https://example.com"]
