"""YAML 1.2 loading that keeps positions, and the lookup from a document path to a line and column.

Loading uses ruamel.yaml's round-trip loader: YAML 1.2 (so `on`, `off`, `yes`, `no` stay strings),
duplicate keys are an error, and every mapping and sequence remembers where each key and item was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from renderer.errors import Finding, ValidationFailed

PathPart = str | int
Path = Sequence[PathPart]


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load(text: str, filename: str) -> Any:
    """Parse one YAML document. Returns ruamel's CommentedMap/CommentedSeq/scalars (positions kept).

    Raises `ValidationFailed` with one `yaml`-layer finding (file, line, column) when the text is not
    valid YAML or repeats a key.
    """
    try:
        return _loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        message = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise ValidationFailed(
            [
                Finding(
                    file=filename, line=line, column=column, path="", layer="yaml",
                    rule="yaml-syntax", message=message.strip(),
                    hint="fix the YAML syntax at this position",
                )
            ]
        ) from None
    except YAMLError as exc:
        raise ValidationFailed(
            [Finding(file=filename, line=None, column=None, path="", layer="yaml", rule="yaml-syntax",
                     message=str(exc).strip())]
        ) from None


def format_path(path: Path) -> str:
    """`["services", 1, "envVars", 0]` -> `services[1].envVars[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out else f".{part}"
    return out


def position(document: Any, path: Path) -> tuple[int | None, int | None]:
    """The 1-based (line, column) of the node at `path` in a document returned by `load`.

    For a mapping key the position is the key's; for a sequence item the item's. When the path goes
    further than the document does (a missing key), the deepest existing node's position is returned.
    """
    node = document
    best: tuple[int | None, int | None] = (None, None)
    if isinstance(node, CommentedMap | CommentedSeq):
        best = (node.lc.line + 1, node.lc.col + 1)
    for part in path:
        if isinstance(node, CommentedMap) and not isinstance(part, int) and part in node:
            line, col = node.lc.key(part)
            best = (line + 1, col + 1)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            best = (line + 1, col + 1)
            node = node[part]
        else:
            break
    return best


def value_position(document: Any, path: Path) -> tuple[int | None, int | None]:
    """Like `position`, but for a mapping entry points at the value instead of the key."""
    if path and not isinstance(path[-1], int):
        parent = document
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return position(document, path)
        if isinstance(parent, CommentedMap) and path[-1] in parent:
            line, col = parent.lc.value(path[-1])
            return line + 1, col + 1
    return position(document, path)


def to_plain(node: Any) -> Any:
    """Deep-convert ruamel containers to plain dicts and lists (scalars keep their ruamel subclasses)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node
