"""YAML 1.2 loading for tenant files and blueprints: plain data fast, positions on demand.

`parse(text, filename)` returns a `YamlDocument`: the document as plain JSON-like data (dicts with
string keys, lists, str, int, float, bool, None), parsed with ruamel.yaml's safe loader (its libyaml C
parser when `ruamel.yaml.clib` is installed). Line and column numbers cost a second, round-trip parse, so
a `YamlDocument` only makes it when a finding needs a position (`position`, `value_position`,
`source_text`); a valid file is parsed once.

Loading rules (YAML 1.2 core schema):
- `on`, `off`, `yes`, `no` are strings; `3.10` is a float whose source text stays available
  (`source_text`), so fields that are strings in Render's eyes keep the text as written; `10:30` and
  `2024-01-01` are strings (no sexagesimal numbers, no timestamps in YAML 1.2).
- A repeated mapping key is a `yaml`-layer error naming both lines; every repeated key in the file is
  reported. Merge keys (`<<: *base`) are resolved, and a key that overrides a merged one is not a repeat.
- A byte order mark is ignored; CRLF line ends are fine; tabs in indentation, an empty file, a second
  document, a recursive alias and an alias "bomb" (more than `MAX_NODES` nodes once aliases are
  expanded) are each a clear `yaml`-layer error, never a traceback.
"""

from __future__ import annotations

import contextvars
import io
import math
import pathlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tokens import ScalarToken

from renderer.errors import Finding, RendererError, ValidationFailed

PathPart = str | int
Path = Sequence[PathPart]

# A document that expands past this many nodes through aliases is refused (a "billion laughs" file
# would otherwise take the validator's memory and time). Real render.yaml files have a few thousand.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"})

# Per-load sinks the constructors write into (a ContextVar keeps concurrent loads apart).
_DUPLICATES: contextvars.ContextVar[list[tuple[str, int, int, int, int]]] = contextvars.ContextVar("duplicates")
_SCALARS: contextvars.ContextVar[dict[tuple[int, int], str]] = contextvars.ContextVar("scalars")


def _scalar_key(node: Any) -> tuple[str, str] | None:
    return (str(node.tag), str(node.value)) if isinstance(node, ScalarNode) else None


class _FastConstructor(SafeConstructor):
    """Safe constructor that records every repeated key (with both positions) instead of stopping."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode) and getattr(node, "merge", None) is None:
            seen: dict[tuple[str, str], Any] = {}
            for key_node, _ in node.value:
                key = _scalar_key(key_node)
                if key is None or key_node.tag == _MERGE_TAG:
                    continue
                if key in seen:
                    first = seen[key].start_mark
                    second = key_node.start_mark
                    _DUPLICATES.get().append((str(key_node.value), first.line, first.column,
                                              second.line, second.column))
                else:
                    seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        return True  # repeats are recorded in construct_mapping; the later value wins meanwhile


class _PositionConstructor(RoundTripConstructor):
    """Round-trip constructor that remembers the source text of every number and boolean."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, ScalarNode) and node.tag in _NUMBER_TAGS:
            _SCALARS.get()[(node.start_mark.line, node.start_mark.column)] = node.value
        return super().construct_object(node, deep=deep)

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        return True


class _Resolver12(VersionedResolver):
    """YAML 1.2 resolution, always (libyaml's parser ignores `%YAML` directives too), with the resolver
    table built once per process instead of on every scalar."""

    _table: dict[Any, Any] | None = None

    @property
    def processing_version(self) -> Any:
        return (1, 2)

    @property
    def versioned_resolver(self) -> Any:
        if _Resolver12._table is None:
            _Resolver12._table = super().versioned_resolver
        return _Resolver12._table


# YAML 1.2's core schema has no timestamps: a date stays the text it is.
_FastConstructor.add_constructor(_TIMESTAMP_TAG, SafeConstructor.construct_yaml_str)
_PositionConstructor.add_constructor(_TIMESTAMP_TAG, RoundTripConstructor.construct_yaml_str)


def _fast_loader() -> YAML:
    yaml = YAML(typ="safe", pure=False)  # libyaml's C parser when ruamel.yaml.clib is installed
    yaml.Constructor = _FastConstructor
    yaml.Resolver = _Resolver12
    yaml.allow_duplicate_keys = True
    return yaml


def _position_loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _PositionConstructor
    yaml.Resolver = _Resolver12
    yaml.allow_duplicate_keys = True
    return yaml


_FAST = _fast_loader()
_POSITIONS = _position_loader()


def _finding(filename: str, line: int | None, column: int | None, rule: str, message: str,
             hint: str | None, path: str = "") -> Finding:
    return Finding(file=filename, line=line, column=column, path=path, layer="yaml", rule=rule,
                   message=message, hint=hint)


_SCANNER = YAML(typ="safe", pure=True)  # tokens of a broken file, to find a quote left open
_QUOTES = ("\"", "'")


def _open_quote(exc: MarkedYAMLError, text: str) -> tuple[int, int, str, int | None] | None:
    """(line, column, quote, closing line or None), 0-based, of a quoted value that was left open.

    Either the scanner ran out of file inside a quoted scalar (its context mark is where the quote
    opens), or a quoted scalar ran over lines and the error is on the line where the next quote closed
    it (the quote on the earlier line was left open; the parser only trips over what follows).
    """
    lines = text.splitlines()
    context = exc.context_mark
    if "quoted scalar" in (exc.context or "") and context is not None and context.line < len(lines):
        quote = lines[context.line][context.column: context.column + 1]
        return context.line, context.column, quote if quote in _QUOTES else '"', None
    problem = exc.problem_mark
    if problem is None:
        return None
    tokens: list[Any] = []
    try:
        for token in _SCANNER.scan(text):
            if (token.start_mark.line, token.start_mark.column) > (problem.line, problem.column):
                break
            tokens.append(token)
    except YAMLError:
        pass
    for token in reversed(tokens[-3:]):
        if (isinstance(token, ScalarToken) and token.style in _QUOTES and token.end_mark.line > token.start_mark.line
                and token.end_mark.line == problem.line):
            return token.start_mark.line, token.start_mark.column, str(token.style), token.end_mark.line
    return None


def _syntax_finding(exc: MarkedYAMLError, text: str, filename: str) -> Finding:
    opened = _open_quote(exc, text)
    if opened is not None:
        line0, column0, quote, closed = opened
        runs = (f"the next {quote} is on line {closed + 1}, so YAML reads the lines up to it as one value"
                if closed is not None else "YAML reads the rest of the file as one value")
        return _finding(filename, line0 + 1, column0 + 1, "unclosed-quote",
                        f"the quote {quote} opened here is not closed on this line: {runs}",
                        f"close the quote: add {quote} at the end of the value on line {line0 + 1} (a value that "
                        "really spans lines is clearer as a block scalar: `key: |`)")
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    problem = (exc.problem or "").strip()
    if mark is not None:
        lines = text.splitlines()
        source_line = lines[mark.line] if mark.line < len(lines) else ""
        indent = source_line[: len(source_line) - len(source_line.lstrip())]
        if "\t" in indent or ("\t" in source_line[: mark.column + 1] and "cannot start any token" in problem):
            return _finding(filename, line, column, "yaml-tab",
                            "a tab character is used for indentation; YAML indents with spaces only",
                            "replace the tab with spaces")
    if "expected a single document" in (exc.context or "") + problem:
        return _finding(filename, line, column, "multiple-documents",
                        "the file holds more than one YAML document (a second `---`)",
                        "keep one document per file")
    message = " ".join(p for p in ((exc.context or "").strip(), problem) if p) or str(exc).strip()
    return _finding(filename, line, column, "yaml-syntax", message,
                    "fix the YAML syntax at this position (indentation, a missing `:` or an unquoted `: `)")


class _RecursiveAlias(Exception):
    pass


def _expanded_size(node: Any, memo: dict[int, int], active: set[int]) -> int:
    """Nodes in `node` once every alias is expanded. Raises `_RecursiveAlias` on a recursive alias."""
    if not isinstance(node, dict | list):
        return 1
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise _RecursiveAlias
    active.add(key)
    children = node.values() if isinstance(node, dict) else node
    total = 1 + sum(_expanded_size(child, memo, active) for child in children)
    active.discard(key)
    memo[key] = total
    return total


def _plain_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def to_plain(node: Any) -> Any:
    """Deep copy to JSON-like data: string keys, lists, and str/int/float/bool/None scalars.

    Aliases are expanded (every occurrence gets its own copy); ruamel's scalar subclasses become the
    built-in value; anything else YAML can construct (binary, sets, non-finite floats) becomes its text.
    """
    if isinstance(node, dict):
        return {_plain_key(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [to_plain(v) for v in node]
    if node is None or type(node) in (str, int, bool):
        return node
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node) if math.isfinite(node) else str(node)
    return str(node)


@dataclass
class YamlDocument:
    """One parsed YAML file: `data` (plain JSON-like) plus positions on demand.

    `text` is the source after BOM removal; `filename` names it in findings. Positions are 1-based.
    """

    text: str
    filename: str
    data: Any
    _rt: Any = field(default=None, repr=False)
    _scalars: dict[tuple[int, int], str] = field(default_factory=dict, repr=False)
    _rt_done: bool = field(default=False, repr=False)

    def _positions(self) -> Any:
        if not self._rt_done:
            self._rt_done = True
            token = _SCALARS.set({})
            try:
                self._rt = _POSITIONS.load(self.text)
                self._scalars = _SCALARS.get()
            except (YAMLError, RecursionError, ValueError):
                self._rt = None  # positions unknown; data came from the other parser
            finally:
                _SCALARS.reset(token)
        return self._rt

    def positions_root(self) -> Any:
        """The round-trip document (ruamel `CommentedMap`/`CommentedSeq` with `.lc` positions and `.merge`
        for `<<:` keys), parsed on first use; None when it cannot be parsed."""
        return self._positions()

    def position(self, path: Path) -> tuple[int | None, int | None]:
        """The (line, column) of the node at `path`: a mapping key's own position, a sequence item's.

        When `path` goes further than the document (a missing key), the deepest existing node's
        position; (None, None) when the document has no positions.
        """
        node = self._positions()
        best: tuple[int | None, int | None] = (None, None)
        if isinstance(node, CommentedMap | CommentedSeq):
            best = (node.lc.line + 1, node.lc.col + 1)
        for part in path:
            if isinstance(node, CommentedMap) and not isinstance(part, int) and part in node:
                if part in node.lc.data:
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

    def _value_lc(self, path: Path) -> tuple[int, int] | None:
        if not path:
            return None
        parent = self._positions()
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return None
        last = path[-1]
        if isinstance(parent, CommentedMap) and not isinstance(last, int) and last in parent.lc.data:
            line, col = parent.lc.value(last)
            if parent.get(last) is None and not self._explicit_null(line, col):
                # `key:` with nothing after it: ruamel places the missing value at the next token, often
                # on a later line; the place to fix is the key.
                line, col = parent.lc.key(last)
            return line, col
        if isinstance(parent, CommentedSeq) and isinstance(last, int) and 0 <= last < len(parent):
            line, col = parent.lc.item(last)
            return line, col
        return None

    def _explicit_null(self, line: int, column: int) -> bool:
        lines = self.text.splitlines()
        rest = lines[line][column:] if line < len(lines) else ""
        return rest.startswith(("~", "null", "Null", "NULL"))

    def value_position(self, path: Path) -> tuple[int | None, int | None]:
        """Like `position`, but for a mapping entry the position of its value instead of its key."""
        lc = self._value_lc(path)
        if lc is None:
            return self.position(path)
        return lc[0] + 1, lc[1] + 1

    def source_text(self, path: Path) -> str | None:
        """The text as written of the number or boolean at `path` (`3.10`, `True`), or None."""
        lc = self._value_lc(path)
        return None if lc is None else self._scalars.get(lc)


def parse(text: str, filename: str) -> YamlDocument:
    """Parse one YAML document. Returns a `YamlDocument` whose `data` may be any YAML value (the caller
    decides whether a list or a scalar is acceptable) and is None for an empty file.

    Raises `ValidationFailed` with `yaml`-layer findings (file, line, column, rule, hint) for syntax
    errors, tabs in indentation, repeated keys (all of them), several documents, recursive aliases and
    documents that expand past `MAX_NODES` nodes.
    """
    text = text.removeprefix("\ufeff")
    token = _DUPLICATES.set([])
    try:
        data = _FAST.load(text)
        duplicates = _DUPLICATES.get()
    except MarkedYAMLError as exc:
        raise ValidationFailed([_syntax_finding(exc, text, filename)]) from None
    except YAMLError as exc:
        raise ValidationFailed([_finding(filename, None, None, "yaml-syntax", str(exc).strip(),
                                         "fix the YAML syntax")]) from None
    except RecursionError:
        raise ValidationFailed([_finding(filename, None, None, "yaml-nesting",
                                         "the document is nested too deeply to read",
                                         "flatten the document")]) from None
    finally:
        _DUPLICATES.reset(token)
    if duplicates:
        raise ValidationFailed([
            _finding(filename, line2 + 1, col2 + 1, "duplicate-key",
                     f"duplicate key `{key}`: it is already defined on line {line1 + 1}; YAML keeps only "
                     "one of the two values",
                     f"remove one of them or merge their contents (line {line1 + 1} and line {line2 + 1})")
            for key, line1, _col1, line2, col2 in duplicates
        ])
    nesting = _finding(filename, None, None, "yaml-nesting",
                       "the document is nested too deeply to read", "flatten the document")
    try:
        size = _expanded_size(data, {}, set())
        if size <= MAX_NODES:
            data = to_plain(data)
    except _RecursiveAlias:
        raise ValidationFailed([_finding(filename, None, None, "recursive-alias",
                                         "an alias refers to a node that contains it (a recursive alias)",
                                         "replace the alias with the values it should hold")]) from None
    except RecursionError:
        raise ValidationFailed([nesting]) from None
    if size > MAX_NODES:
        raise ValidationFailed([_finding(
            filename, None, None, "alias-limit",
            f"the document expands to more than {MAX_NODES:,} nodes through aliases",
            "use fewer nested aliases (`*name`); a render.yaml never needs this many")])
    return YamlDocument(text=text, filename=filename, data=data)


def decode(data: bytes, filename: str) -> str:
    """UTF-8 bytes as text. Raises `ValidationFailed` (rule `encoding`, with the line and column of the
    first byte that is not UTF-8) otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValidationFailed([_finding(filename, line, column, "encoding",
                                         f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} cannot be decoded)",
                                         "save the file as UTF-8")]) from None


def read(path: pathlib.Path, what: str = "file") -> str:
    """A UTF-8 file's text. Raises `RendererError` ("cannot read <what> <path>") when it cannot be read
    and `ValidationFailed` (rule `encoding`) when it is not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RendererError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return decode(data, str(path))


def empty_document_finding(filename: str, what: str) -> Finding:
    """The `yaml`-layer finding for an empty file (or one holding only comments)."""
    return _finding(filename, 1, 1, "empty-document", f"the file is empty: {what}",
                    "write the document, or delete the file")


def format_path(path: Path) -> str:
    """`["services", 1, "envVars", 0]` -> `services[1].envVars[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += part if not out else f".{part}"
    return out


# What a YAML 1.1 reader (PyYAML, older tools) takes for something other than a string when unquoted:
# its booleans (`yes`, `off`, `y`), null (`~`, empty), numbers (`012`, `0x1F`, `1_000`, `10:30`), dates,
# `<<` and `=`; plus those words in any case, which some readers match case-insensitively.
_YAML11 = VersionedResolver(version=(1, 1))
_LOOSE_WORDS = re.compile(r"^(?:y|n|yes|no|on|off|true|false|null|~)$", re.IGNORECASE)
_STR_TAG = "tag:yaml.org,2002:str"


def ambiguous_string(value: str) -> bool:
    """Whether the string `value`, written without quotes, would be read as another type by a YAML 1.1
    reader (or by a case-insensitive one)."""
    return (value == "" or bool(_LOOSE_WORDS.match(value))
            or _YAML11.resolve(ScalarNode, value, (True, False)) != _STR_TAG)


class _QuotingRepresenter(RoundTripRepresenter):
    """Writes every string that another reader could take for a boolean, null or number double-quoted."""

    def represent_str(self, data: Any) -> Any:
        if ambiguous_string(str(data)):
            return self.represent_scalar(_STR_TAG, str(data), style='"')
        return super().represent_str(data)


_QuotingRepresenter.add_representer(str, _QuotingRepresenter.represent_str)


def dump(document: Any) -> str:
    """YAML text of a plain document: block style, 2-space mappings, `- ` list items indented under
    their key, long lines kept, and strings quoted where any YAML reader could mistake their type."""
    yaml = YAML(typ="rt")
    yaml.Representer = _QuotingRepresenter
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()
