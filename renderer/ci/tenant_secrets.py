"""Tenant secrets in CI: one repository secret, `RENDERER_TENANT_SECRETS`, holding every tenant secret.

The convention: `RENDERER_TENANT_SECRETS` is a JSON object of environment variable names to string values,

    {"ACME_STRIPE_KEY": "sk_live_...", "GLOBEX_SMTP_PASSWORD": "..."}

and a tenant file references a name: `secrets: {STRIPE_KEY: {from_env: ACME_STRIPE_KEY}}`. `renderer
ci plan` and `renderer ci apply` put every entry into their own process environment before planning,
so a new tenant secret is one edit of one secret, never a workflow edit.

GitHub masks a secret's whole value in logs but not the parts of a structured one (docs.github.com,
"Using secrets in GitHub Actions": avoid structured data as secret values). So on a runner each value
(each line of it) is registered with the `::add-mask::` workflow command before anything else runs;
the runner consumes that command and masks the value in every later log line. Values are never printed
otherwise and never appear in an error: errors name the key only.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, MutableMapping

from renderer.errors import RendererError

ENV_VAR = "RENDERER_TENANT_SECRETS"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names a tenant secret may never take: they steer renderer itself or the runner.
RESERVED_PREFIXES = ("RENDER_", "RENDERER_", "GITHUB_", "RUNNER_", "ACTIONS_")

Mask = Callable[[str], None]


def actions_mask(value: str) -> None:
    """Register `value` with the runner's secret masking (`::add-mask::`, one command per line)."""
    for line in value.splitlines():
        if line.strip():
            escaped = line.replace("%", "%25").replace("\r", "%0D")
            sys.stdout.write(f"::add-mask::{escaped}\n")
    sys.stdout.flush()


def expand_tenant_secrets(environ: MutableMapping[str, str], mask: Mask | None) -> list[str]:
    """Move the entries of `RENDERER_TENANT_SECRETS` into `environ`, masking each value first.

    Returns the names set (sorted). Does nothing when the variable is unset or empty. Raises
    `RendererError` when it is not a JSON object of valid, unreserved, unset names to strings.
    """
    raw = environ.get(ENV_VAR, "")
    if not raw.strip():
        return []
    hint = 'the secret must be a JSON object of names to strings, e.g. {"ACME_STRIPE_KEY": "..."}'
    try:
        data = json.loads(raw)
    except ValueError as exc:
        # JSONDecodeError's text is a position, never the content.
        detail = "invalid"
        if isinstance(exc, json.JSONDecodeError):
            detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise RendererError(f"{ENV_VAR} is not valid JSON ({detail})", hint=hint) from None
    if not isinstance(data, dict):
        raise RendererError(f"{ENV_VAR} holds a JSON {type(data).__name__}, not an object", hint=hint)
    problems: list[str] = []
    for name, value in data.items():
        if not NAME.fullmatch(name):
            problems.append(f"{name!r} is not an environment variable name")
        elif name.upper().startswith(RESERVED_PREFIXES):
            problems.append(f"{name!r} starts with a reserved prefix ({', '.join(RESERVED_PREFIXES)})")
        elif name in environ:
            problems.append(f"{name!r} is already set in the environment")
        if not isinstance(value, str):
            problems.append(f"the value of {name!r} is a JSON {type(value).__name__}, not a string")
    if problems:
        raise RendererError(f"{ENV_VAR} cannot be used: " + "; ".join(problems), hint=hint)
    if mask is not None:
        for value in data.values():
            mask(value)
    for name, value in data.items():
        environ[name] = value
    return sorted(data)


def scrub(text: str, environ: MutableMapping[str, str], names: list[str]) -> str:
    """`text` with every tenant secret value replaced by `(sensitive)`: a last guard on what renderer
    posts to GitHub (comments, summaries, commit messages)."""
    for name in names:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "(sensitive)")
    return text
