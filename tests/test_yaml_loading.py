"""YAML 1.2 loading: every problem is a clear `yaml`-layer finding with a position, never a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from renderer import yamlio
from renderer.errors import ValidationFailed
from tests.conftest import run
from tests.validation_helpers import blueprint_report, finding


def findings_of(text: str) -> list[tuple[int | None, int | None, str, str]]:
    with pytest.raises(ValidationFailed) as info:
        yamlio.parse(text, "f.yaml")
    return [(f.line, f.column, f.rule, f.message) for f in info.value.findings]


def test_every_duplicate_key_is_reported_with_both_lines() -> None:
    text = "services: []\nname: a\nservices: []\nnested:\n  x: 1\n  x: 2\n"
    assert findings_of(text) == [
        (3, 1, "duplicate-key",
         "duplicate key `services`: it is already defined on line 1; YAML keeps only one of the two values"),
        (6, 3, "duplicate-key",
         "duplicate key `x`: it is already defined on line 5; YAML keeps only one of the two values"),
    ]


def test_merge_keys_are_resolved_not_duplicates() -> None:
    text = ("base: &base\n  runtime: docker\n  plan: starter\n"
            "services:\n  - <<: *base\n    name: api\n    plan: standard\n")
    data = yamlio.parse(text, "f.yaml").data
    assert data["services"] == [{"runtime": "docker", "plan": "standard", "name": "api"}]


def test_yaml_1_2_scalars_keep_their_text() -> None:
    document = yamlio.parse("a: off\nb: no\nc: yes\nd: on\ne: 3.10\nf: 10:30\ng: 2024-01-01\nh: true\ni: 007\n", "f")
    assert document.data == {"a": "off", "b": "no", "c": "yes", "d": "on", "e": 3.1, "f": "10:30",
                             "g": "2024-01-01", "h": True, "i": 7}
    assert (document.source_text(["e"]), document.source_text(["h"]), document.source_text(["i"])) == (
        "3.10", "true", "007")


def test_bom_and_crlf_are_fine_and_positions_stay_right() -> None:
    document = yamlio.parse("\ufeffservices:\r\n  - name: api\r\n    plan: free\r\n", "f")
    assert document.data == {"services": [{"name": "api", "plan": "free"}]}
    assert document.value_position(["services", 0, "plan"]) == (3, 11)


@pytest.mark.parametrize(("text", "expected"), [
    ("a:\n\tb: 1\n", (2, 1, "yaml-tab", "a tab character is used for indentation; YAML indents with spaces only")),
    ("a: 1\n---\nb: 2\n", (2, 1, "multiple-documents",
                           "the file holds more than one YAML document (a second `---`)")),
    ("a: &x [*x]\n", (None, None, "recursive-alias",
                      "an alias refers to a node that contains it (a recursive alias)")),
    ("a: b: c\n", (1, 5, "yaml-syntax", "mapping values are not allowed in this context")),
    ("[" * 2000 + "]" * 2000, (None, None, "yaml-nesting", "the document is nested too deeply to read")),
])
def test_broken_yaml(text: str, expected: tuple[int | None, int | None, str, str]) -> None:
    assert findings_of(text) == [expected]


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    started = time.monotonic()
    assert findings_of("\n".join(lines) + "\n") == [
        (None, None, "alias-limit", "the document expands to more than 100,000 nodes through aliases")]
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("text", "rule", "message"), [
    ("", "empty-document", "the file is empty: a render.yaml must be a mapping (keys such as `services:`)"),
    ("# only a comment\n", "empty-document",
     "the file is empty: a render.yaml must be a mapping (keys such as `services:`)"),
    ("- type: web\n", "not-a-mapping",
     "a render.yaml must be a mapping (keys such as `services:`), but the document is a list"),
    ("hello\n", "not-a-mapping",
     "a render.yaml must be a mapping (keys such as `services:`), but the document is a single value ('hello')"),
])
def test_documents_that_are_not_a_mapping(tmp_path: Path, text: str, rule: str, message: str) -> None:
    path = tmp_path / "render.yaml"
    path.write_text(text)
    code, report = blueprint_report(path)
    assert code == 1
    assert [(f["line"], f["layer"], f["rule"], f["message"]) for f in report["errors"]] == [(1, "yaml", rule, message)]


def test_not_utf8_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "render.yaml"
    path.write_bytes(b"services:\n  - name: caf\xe9\n")
    code, report = blueprint_report(path)
    assert code == 1
    assert report["errors"] == [finding(path, 2, 14, "", "yaml", "encoding",
                                        "the file is not UTF-8 text (byte 0xe9 cannot be decoded)",
                                        "save the file as UTF-8")]


def test_bad_tenant_files_never_crash(project: Path) -> None:
    tenants = project / "tenants"
    (tenants / "empty.yaml").write_text("")
    (tenants / "listy.yaml").write_text("- name: x\n")
    (tenants / "latin.yaml").write_bytes(b"name: caf\xe9\nslug: latin\nblueprint: base_crm\n")
    result = run("validate")
    assert result.code == 1
    assert "Traceback" not in result.output
    assert "tenants/empty.yaml:1:1: error: the file is empty: a tenant file needs `name`, `slug` and `blueprint`" \
        in result.out
    assert "tenants/listy.yaml:1:1: error: a tenant file must be a mapping of keys to values" in result.out
    assert "tenants/latin.yaml:1:10: error: the file is not UTF-8 text (byte 0xe9 cannot be decoded)" in result.out
    assert result.out.splitlines()[-1] == "Invalid: 3 errors."
