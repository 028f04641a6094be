"""The Jinja2 environment blueprint templates are rendered in.

Sandboxed (a template cannot reach Python internals), `StrictUndefined` (a misspelt variable is an
error naming the template line, never an empty string) and no HTML autoescaping (`&` and `<` survive).
Two filters make user input safe where it lands:

- `yaml_quote`: a YAML double-quoted scalar. YAML 1.2 is a superset of JSON, so a JSON string is a
  valid double-quoted YAML scalar that no `: `, `#`, quote or newline can break out of.
- `shell_quote`: `shlex.quote`, for values placed in build and start commands.
"""

from __future__ import annotations

import json
import shlex
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from renderer.errors import Finding, ValidationFailed

TEMPLATE_FILE = "render.yaml.j2"


def yaml_quote(value: Any) -> str:
    """Quote `value` as a YAML double-quoted scalar (its `str()` form)."""
    return json.dumps(str(value), ensure_ascii=False)


def shell_quote(value: Any) -> str:
    """Quote `value` as one POSIX shell word."""
    return shlex.quote(str(value))


@lru_cache(maxsize=16)
def environment(blueprints_dir: Path) -> SandboxedEnvironment:
    """One cached environment per blueprints directory (templates compile once per process)."""
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
    return env


def template_path(blueprints_dir: Path, blueprint: str) -> Path:
    return blueprints_dir / blueprint / TEMPLATE_FILE


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The template line Jinja attributes `exc` to (Jinja rewrites tracebacks onto template lines)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def render(blueprints_dir: Path, blueprint: str, context: dict[str, Any]) -> str:
    """Render `blueprints/<blueprint>/render.yaml.j2` with `context`. Returns the YAML text.

    Raises `ValidationFailed` with a `template`-layer finding naming the template file and line for
    syntax errors, undefined variables and sandbox violations.
    """
    path = template_path(blueprints_dir, blueprint)
    filename = str(path)
    try:
        template = environment(blueprints_dir).get_template(f"{blueprint}/{TEMPLATE_FILE}")
        return template.render(context)
    except jinja2.TemplateNotFound:
        raise ValidationFailed([Finding(
            file=filename, line=None, column=None, path="", layer="template", rule="template-missing",
            message=f"blueprint {blueprint!r} has no template at {filename}",
            hint=f"create {filename} or name an existing blueprint directory")]) from None
    except jinja2.UndefinedError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
            rule="undefined-variable", message=f"undefined variable in template: {exc.message}",
            hint="check the spelling; tenant fields are tenant.name, tenant.slug, tenant.region, "
                 "tenant.plan, tenant.custom_plugin_repo and tenant.env")]) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=exc.lineno, column=None, path="", layer="template",
            rule="template-syntax", message=f"template syntax error: {exc.message}")]) from None
    except jinja2.TemplateError as exc:
        raise ValidationFailed([Finding(
            file=filename, line=_template_line(exc, filename), column=None, path="", layer="template",
            rule="template-error", message=f"template error: {exc}")]) from None
