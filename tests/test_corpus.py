"""Conformance: the 114 real render.yaml files in ../shared/corpus/render-yaml/ go through the validator
in-process, in one call per mode. No file crashes it; with --strict the schema layer's verdict equals the
official schema's (checked with a second, independent implementation: python-jsonschema) on every file
that parses; docs/validation.md shows the default-mode counts and the most common findings."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from renderer import yamlio
from renderer.configuration import blueprint_schema, check_blueprint_files
from renderer.errors import Finding, ValidationFailed
from tests.conftest import BLUEPRINT_SCHEMA, CORPUS, ROOT

TOP_FINDINGS = 10


def corpus_files() -> list[Path]:
    with (CORPUS / "INDEX.tsv").open(encoding="utf-8") as fh:
        return [CORPUS / row["file"] for row in csv.DictReader(fh, delimiter="\t")]


def by_file(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.file, []).append(finding)
    return grouped


@pytest.fixture(scope="module")
def files() -> list[Path]:
    found = corpus_files()
    assert len(found) == 114
    return found


def test_strict_schema_layer_agrees_with_the_official_schema(files: list[Path]) -> None:
    official = jsonschema.Draft202012Validator(json.loads(BLUEPRINT_SCHEMA.read_text()))
    findings, _ = check_blueprint_files(files, blueprint_schema(None), strict=True)
    grouped = by_file(findings)
    parsed = 0
    disagreements = []
    for path in files:
        try:
            data = yamlio.parse(path.read_text(encoding="utf-8"), str(path)).data
        except ValidationFailed:
            continue
        if not isinstance(data, dict):
            continue
        parsed += 1
        ours = any(f.layer == "schema" and f.severity == "error" for f in grouped.get(str(path), []))
        theirs = not official.is_valid(data)
        if ours != theirs:
            disagreements.append(f"{path.name}: renderer says {'invalid' if ours else 'valid'}")
    assert parsed == 108  # 114 less 2 syntax errors, 3 with duplicate keys and 1 empty file
    assert disagreements == []


def default_mode_summary(files: list[Path]) -> tuple[Counter[str], list[tuple[str, str, int, int]]]:
    findings, _ = check_blueprint_files(files, blueprint_schema(None))
    grouped = by_file(findings)
    verdicts: Counter[str] = Counter()
    per_rule: Counter[tuple[str, str]] = Counter()
    files_per_rule: Counter[tuple[str, str]] = Counter()
    for path in files:
        mine = grouped.get(str(path), [])
        errors = [f for f in mine if f.severity == "error"]
        verdicts["invalid" if errors else "valid with warnings" if mine else "valid"] += 1
        for finding in mine:
            per_rule[(f"{finding.layer}/{finding.rule}", finding.severity)] += 1
        for key in {(f"{f.layer}/{f.rule}", f.severity) for f in mine}:
            files_per_rule[key] += 1
    ranked = sorted(files_per_rule.items(), key=lambda item: (-item[1], item[0]))[:TOP_FINDINGS]
    return verdicts, [(rule, severity, n, per_rule[(rule, severity)]) for (rule, severity), n in ranked]


def test_validation_docs_show_the_default_mode_counts(files: list[Path]) -> None:
    verdicts, top = default_mode_summary(files)
    assert sum(verdicts.values()) == 114
    page = (ROOT / "docs" / "validation.md").read_text()
    for verdict in ("valid", "valid with warnings", "invalid"):
        assert f"| {verdict} | {verdicts[verdict]} |" in page, verdict
    for rule, severity, n_files, n_findings in top:
        row = f"| `{rule}` | {severity} | {n_files} | {n_findings} |"
        assert row in page, row
