"""Tenant values are data, always: a value from a tenant file reaches the rendered blueprint as itself, in
one YAML scalar, whether or not the template quotes it.

A template that writes `value: {{ tenant.env.GREETING }}` without `yaml_quote` would otherwise let a tenant
value holding a newline and YAML (`"hello\\n      - key: DEBUG\\n        value: injected"`) add an env var,
a `#` truncate the value, or `[a, b]` turn it into a list. After rendering, every tenant-value output whose
text YAML could read as syntax is replaced by an inert token (letters and digits) and the result parsed:
the real document must have the same shape (mappings with the same keys, lists of the same length) and
every scalar must be the token-free one with each token put back as the value's text (or as the value
itself when the template quoted it with `yaml_quote`). Anything else is a `tenant`-layer error at the
tenant file's line of that value.

Values that a template transforms before output (`| upper`, `~` concatenation, a macro) are no longer
tenant values to the template machinery (`renderer.blueprint.template.TenantValue`) and are not checked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from renderer import yamlio
from renderer.blueprint.template import RenderedTemplate, TenantPath
from renderer.errors import Finding, ValidationFailed
from renderer.tenant import TenantFile

# Text that is the same plain scalar wherever a template puts it: no YAML indicator, no `: ` or ` #`.
_INERT = re.compile(r"[A-Za-z0-9_.@/+=][A-Za-z0-9_.@/+=-]*( [A-Za-z0-9_.@/+=-]+)*")
_TOKEN = "zqtenantvalue{}zq"
_TOKENS = re.compile(r"zqtenantvalue(\d+)zq")


class _Mismatch(Exception):
    pass


def _scalar_ok(real: Any, skeleton: Any, outputs: list[str]) -> bool:
    if not isinstance(skeleton, str) or not _TOKENS.search(skeleton):
        return bool(real == skeleton and type(real) is type(skeleton))
    text = _TOKENS.sub(lambda m: outputs[int(m.group(1))], skeleton)
    if real == text:
        return True
    whole = _TOKENS.fullmatch(skeleton)
    if whole is not None:
        output = outputs[int(whole.group(1))]
        if output.startswith('"'):  # `yaml_quote`: a JSON string, read back as the value itself
            try:
                if real == json.loads(output):
                    return True
            except ValueError:
                pass
        if not isinstance(real, str):  # `3.10`, `true`: the same scalar, typed by YAML
            try:
                return bool(yamlio.parse(output, "").data == real)
            except ValidationFailed:
                return False
    return False


def _compare(real: Any, skeleton: Any, outputs: list[str]) -> None:
    if isinstance(skeleton, dict):
        if not isinstance(real, dict) or len(real) != len(skeleton):
            raise _Mismatch
        for (real_key, real_value), (key, value) in zip(real.items(), skeleton.items(), strict=True):
            if not _scalar_ok(real_key, key, outputs):
                raise _Mismatch
            _compare(real_value, value, outputs)
    elif isinstance(skeleton, list):
        if not isinstance(real, list) or len(real) != len(skeleton):
            raise _Mismatch
        for real_item, item in zip(real, skeleton, strict=True):
            _compare(real_item, item, outputs)
    elif isinstance(real, dict | list) or not _scalar_ok(real, skeleton, outputs):
        raise _Mismatch


def _alone_ok(skeleton_text: str, skeleton: Any, index: int, outputs: list[str]) -> bool:
    text = skeleton_text.replace(_TOKEN.format(index), outputs[index])
    only = [output if i == index else _TOKEN.format(i) for i, output in enumerate(outputs)]
    try:
        _compare(yamlio.parse(text, "").data, skeleton, only)
    except (_Mismatch, ValidationFailed):
        return False
    return True


def check_tenant_values(rendered: RenderedTemplate, data: Any, source: str, tenant_file: TenantFile) -> None:
    """Raise `ValidationFailed` (`tenant` layer, rule `value-changes-structure`) when a tenant value in the
    rendered blueprint `rendered` (parsed as `data`) is not one scalar equal to itself (module docstring).
    `source` names the template in the message."""
    segments = [s for s in rendered.tenant_outputs() if not _INERT.fullmatch(rendered.text[s[0]:s[1]])]
    if not segments:
        return
    pieces: list[str] = []
    outputs: list[str] = []
    at = 0
    for index, (start, end, _origin, _line) in enumerate(segments):
        pieces += [rendered.text[at:start], _TOKEN.format(index)]
        outputs.append(rendered.text[start:end])
        at = end
    pieces.append(rendered.text[at:])
    skeleton_text = "".join(pieces)
    try:
        skeleton = yamlio.parse(skeleton_text, source).data
    except ValidationFailed:  # the template needs a tenant value to be YAML syntax
        skeleton = None
    if skeleton is not None:
        try:
            _compare(data, skeleton, outputs)
            return
        except _Mismatch:
            pass
    # Which values: each one alone put back into the token-only document.
    guilty = [i for i in range(len(segments)) if skeleton is None or not _alone_ok(skeleton_text, skeleton, i, outputs)]
    suspects = set(guilty or range(len(segments)))
    findings: list[Finding] = []
    seen: set[TenantPath] = set()
    for index in sorted(suspects):
        _start, _end, origin, line = segments[index]
        if origin in seen:
            continue
        seen.add(origin)
        key = yamlio.format_path(origin)
        tenant_line, column = tenant_file.document.value_position(origin)
        findings.append(Finding(
            file=str(tenant_file.path), line=tenant_line, column=column, path=key, layer="tenant",
            rule="value-changes-structure",
            message=f"the value of `{key}` would change the structure of the rendered blueprint where "
                    f"{source}:{line} uses it (YAML syntax in a tenant value: a newline, `: `, ` #`, brackets, "
                    "quotes); a tenant value must stay one string",
            hint=f"remove the YAML syntax from the value; the template should also quote it: "
                 f"`{{{{ ... | yaml_quote }}}}` at {source}:{line}"))
    raise ValidationFailed(findings)
