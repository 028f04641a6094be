"""The Jinja2 environment blueprint templates are rendered in, and the map back to template lines.

Sandboxed (a template cannot reach Python internals), `StrictUndefined` (a misspelt variable is an
error naming the template line, never an empty string) and no HTML autoescaping (`&` and `<` survive).
Two filters make user input safe where it lands:

- `yaml_quote`: a YAML double-quoted scalar. YAML 1.2 is a superset of JSON, so a JSON string is a
  valid double-quoted YAML scalar that no `: `, `#`, quote or newline can break out of.
- `shell_quote`: `shlex.quote`, for values placed in build and start commands.

Line-accurate findings: each template is compiled once from an instrumented syntax tree that writes
invisible markers into the output: where each line of literal template text starts, where each
`{{ ... }}` expression starts, and, for values that came from the tenant file (`TenantValue`), which
tenant key they came from. `RenderedTemplate.text` is the output without markers; `locate` maps a
(line, column) of that text back to the template's (line, column), or to the tenant key.
"""

from __future__ import annotations

import bisect
import json
import re
import shlex
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from renderer.errors import Finding, ValidationFailed

TEMPLATE_FILE = "render.yaml.j2"

# Private-use code points: they never occur in a template or a valid tenant value (tenant.py refuses
# them), so the markers cannot be confused with output.
_MARK, _MARK_END, _ORIGIN, _ORIGIN_END = "\ue000", "\ue001", "\ue002", "\ue003"
_MARKERS = re.compile(f"{_MARK}(\\d+){_MARK_END}|{_ORIGIN}([^{_ORIGIN_END}]*){_ORIGIN_END}")
_VALUE_FILTER = "renderer_value__"
_SKIPPED_BLOCKS = (nodes.Macro, nodes.CallBlock, nodes.FilterBlock, nodes.AssignBlock)

TenantPath = tuple[str | int, ...]


class TenantValue(str):
    """A string from the tenant file that remembers its key (`("env", "CRM_FEATURE_FLAGS")`).

    `yaml_quote` and `shell_quote` keep the origin, so a rendered value can be traced to the tenant file.
    """

    origin: TenantPath

    def __new__(cls, value: str, origin: TenantPath) -> TenantValue:
        obj = super().__new__(cls, value)
        obj.origin = origin
        return obj


def _keep_origin(source: Any, text: str) -> str:
    return TenantValue(text, source.origin) if isinstance(source, TenantValue) else text


def yaml_quote(value: Any) -> str:
    """Quote `value` as a YAML double-quoted scalar (its `str()` form)."""
    return _keep_origin(value, json.dumps(str(value), ensure_ascii=False))


def shell_quote(value: Any) -> str:
    """Quote `value` as one POSIX shell word."""
    return _keep_origin(value, shlex.quote(str(value)))


def _value_marker(value: Any) -> str:
    """Output filter wrapped around every `{{ ... }}`: the value, prefixed by its tenant origin if any."""
    text = str(value)
    if isinstance(value, TenantValue):
        return f"{_ORIGIN}{json.dumps(list(value.origin))}{_ORIGIN_END}{text}"
    return text


@lru_cache(maxsize=16)
def environment(blueprints_dir: Path) -> SandboxedEnvironment:
    """One environment per blueprints directory (its compiled templates are cached with it)."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(blueprints_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml_quote"] = yaml_quote
    env.filters["shell_quote"] = shell_quote
    env.filters[_VALUE_FILTER] = _value_marker
    return env


def template_path(blueprints_dir: Path, blueprint: str) -> Path:
    return blueprints_dir / blueprint / TEMPLATE_FILE


@dataclass(frozen=True)
class _Mark:
    line: int
    column: int
    literal: bool


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    marks: tuple[_Mark, ...]


class _Instrumenter:
    """Rewrites a parsed template so its output carries position markers (see module docstring)."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.marks: list[_Mark] = []
        self.expressions_on_line: dict[int, int] = {}

    def _mark(self, line: int, column: int, literal: bool) -> str:
        self.marks.append(_Mark(line, column, literal))
        return f"{_MARK}{len(self.marks) - 1}{_MARK_END}"

    def _line(self, lineno: int) -> str:
        return self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""

    def _data(self, data: str, lineno: int) -> str:
        first = data.split("\n", 1)[0]
        text = self._line(lineno)
        found = text.find(first) if first else -1
        column = found + 1 if found >= 0 else len(text) + 1
        out = [self._mark(lineno, column, True)]
        for k, piece in enumerate(data.split("\n")):
            if k:
                out.append("\n" + self._mark(lineno + k, 1, True))
            out.append(piece)
        return "".join(out)

    def _expression_column(self, lineno: int) -> int:
        n = self.expressions_on_line.get(lineno, 0)
        self.expressions_on_line[lineno] = n + 1
        text, start = self._line(lineno), -1
        for _ in range(n + 1):
            start = text.find("{{", start + 1)
            if start < 0:
                return 1
        return start + 1

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, _SKIPPED_BLOCKS):
            return  # their output is a value (a macro result, a block set), not template lines
        if isinstance(node, nodes.Output):
            rewritten: list[nodes.Expr] = []
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    rewritten.append(nodes.TemplateData(self._data(child.data, child.lineno), lineno=child.lineno))
                else:
                    column = self._expression_column(child.lineno)
                    rewritten.append(nodes.TemplateData(self._mark(child.lineno, column, False), lineno=child.lineno))
                    rewritten.append(nodes.Filter(child, _VALUE_FILTER, [], [], None, None, lineno=child.lineno))
            node.nodes = rewritten
            return
        for inner in node.iter_child_nodes():
            self.visit(inner)


_COMPILED: dict[tuple[Path, str], tuple[int, _Compiled]] = {}


def _compile(blueprints_dir: Path, blueprint: str) -> _Compiled:
    """The instrumented template, compiled once per file version. Raises Jinja's errors."""
    env = environment(blueprints_dir)
    name = f"{blueprint}/{TEMPLATE_FILE}"
    path = template_path(blueprints_dir, blueprint)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise jinja2.TemplateNotFound(name) from None
    cached = _COMPILED.get((blueprints_dir, blueprint))
    if cached is not None and cached[0] == mtime:
        return cached[1]
    assert env.loader is not None
    source, filename, _ = env.loader.get_source(env, name)
    tree = env.parse(source, name, filename)
    instrumenter = _Instrumenter(source)
    instrumenter.visit(tree)
    code = env.compile(tree, name, filename)
    template = env.template_class.from_code(env, code, env.make_globals(None), None)
    compiled = _Compiled(template, tuple(instrumenter.marks))
    _COMPILED[(blueprints_dir, blueprint)] = (mtime, compiled)
    return compiled


@dataclass(frozen=True)
class TemplatePosition:
    """Where a piece of rendered text came from: a template (line, column), plus the tenant key when the
    text is the value of a `TenantValue`."""

    line: int
    column: int
    tenant_key: TenantPath | None = None


@dataclass
class RenderedTemplate:
    """A rendered template: `text` (clean YAML) and the way back to template lines (`locate`)."""

    text: str
    marked: str = field(repr=False)
    marks: tuple[_Mark, ...] = field(repr=False)
    _segments: list[tuple[int, _Mark, TenantPath | None]] | None = field(default=None, repr=False)
    _offsets: list[int] = field(default_factory=list, repr=False)
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def _build(self) -> list[tuple[int, _Mark, TenantPath | None]]:
        if self._segments is None:
            segments: list[tuple[int, _Mark, TenantPath | None]] = []
            mark, origin, offset, pos = _Mark(1, 1, True), None, 0, 0
            for match in _MARKERS.finditer(self.marked):
                offset += match.start() - pos
                pos = match.end()
                if match.group(1) is not None:
                    mark, origin = self.marks[int(match.group(1))], None
                else:
                    origin = tuple(json.loads(match.group(2)))
                segments.append((offset, mark, origin))
            self._segments = segments
            self._offsets = [s[0] for s in segments]
            starts = [0]
            for i, ch in enumerate(self.text):
                if ch == "\n":
                    starts.append(i + 1)
            self._line_starts = starts
        return self._segments

    def locate(self, line: int | None, column: int | None) -> TemplatePosition | None:
        """The template position of rendered (line, column) (1-based); None when unknown."""
        if line is None:
            return None
        segments = self._build()
        if not segments or line > len(self._line_starts):
            return None
        offset = self._line_starts[line - 1] + (column - 1 if column else 0)
        index = bisect.bisect_right(self._offsets, offset) - 1
        if index < 0:
            return None
        start, mark, origin = segments[index]
        if mark.literal and origin is None:
            return TemplatePosition(mark.line, mark.column + (offset - start))
        return TemplatePosition(mark.line, mark.column, origin)


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The template line Jinja attributes `exc` to (Jinja rewrites tracebacks onto template lines)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


_NO_ATTRIBUTE = re.compile(r"has no attribute '([^']+)'")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _undefined_hint(message: str, context: dict[str, Any]) -> str:
    import difflib

    names: list[str] = []
    attribute = _NO_ATTRIBUTE.search(message)
    if attribute:
        wrong = attribute.group(1)
        for top, value in context.items():
            if isinstance(value, dict):
                names += [f"{top}.{key}" for key in value]
        close = difflib.get_close_matches(wrong, [n.split(".", 1)[1] for n in names], n=1)
        if close:
            match = next(n for n in names if n.split(".", 1)[1] == close[0])
            return f"did you mean `{match}`? available: " + ", ".join(names)
    else:
        undefined = _UNDEFINED_NAME.search(message)
        names = list(context)
        if undefined:
            close = difflib.get_close_matches(undefined.group(1), names, n=1)
            if close:
                return f"did you mean `{close[0]}`? available: " + ", ".join(names)
    return "check the spelling; available: " + ", ".join(names)


def _blueprint_hint(blueprints_dir: Path, blueprint: str, filename: str) -> str:
    import difflib

    known = sorted(p.parent.name for p in blueprints_dir.glob(f"*/{TEMPLATE_FILE}"))
    close = difflib.get_close_matches(blueprint, known, n=1)
    if close:
        return f"did you mean `{close[0]}`? blueprints: " + ", ".join(known)
    return f"create {filename} or name an existing blueprint directory" + (
        " (" + ", ".join(known) + ")" if known else "")


def render_mapped(blueprints_dir: Path, blueprint: str, context: dict[str, Any]) -> RenderedTemplate:
    """Render `blueprints/<blueprint>/render.yaml.j2` with `context`.

    Returns the text and its map back to template lines. Raises `ValidationFailed` with a `template`-layer
    finding naming the template file and line for a missing template, syntax errors, undefined variables
    and sandbox violations.
    """
    path = template_path(blueprints_dir, blueprint)
    filename = str(path)
    try:
        compiled = _compile(blueprints_dir, blueprint)
        marked = compiled.template.render(context)
    except jinja2.TemplateNotFound as exc:
        if path.exists():  # the blueprint's template is there: something it includes or extends is not
            raise ValidationFailed([Finding(
                file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
                rule="template-missing", message=f"template {exc.name!r} not found (included by {filename})",
                hint=f"create it next to {filename}, or fix the name in the include/extends/import")]) from None
        raise ValidationFailed([Finding(
            file=filename, line=None, column=None, path="", layer="template", rule="template-missing",
            message=f"blueprint {blueprint!r} has no template at {filename}",
            hint=_blueprint_hint(blueprints_dir, blueprint, filename))]) from None
    except jinja2.UndefinedError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
            rule="undefined-variable", message=f"undefined variable in template: {exc.message}",
            hint=_undefined_hint(exc.message or "", context))]) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=exc.lineno, column=None, path="", layer="template",
            rule="template-syntax", message=f"template syntax error: {exc.message}",
            hint="see https://jinja.palletsprojects.com/en/stable/templates/")]) from None
    except jinja2.TemplateError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
            rule="template-error", message=f"template error: {exc}")]) from None
    except Exception as exc:  # an expression in the template failed (`{{ 1/0 }}`, `"a" + 1`): the author's mistake
        raise ValidationFailed([Finding(
            file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
            rule="template-error", message=f"template error: {type(exc).__name__}: {exc}",
            hint="fix the expression on that template line")]) from None
    return RenderedTemplate(text=_MARKERS.sub("", marked), marked=marked, marks=compiled.marks)


def render(blueprints_dir: Path, blueprint: str, context: dict[str, Any]) -> str:
    """Render a blueprint template to YAML text (see `render_mapped`)."""
    return render_mapped(blueprints_dir, blueprint, context).text
