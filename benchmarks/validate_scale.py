"""Benchmark: `renderer validate` over 1,000 generated tenants.

Generates 1,000 tenant files for `blueprints/base_crm` (names with YAML-special characters, every region,
every paid instance type, custom plugin repos, 0 to 5 env settings) in a temporary directory, then times
one whole `renderer validate --format json` run in a subprocess, interpreter start included, and reads its
peak memory (maximum resident set size). Prints tenants per second and peak memory.

Targets (the 2-core machine): the whole run under 5 s and under 300 MB. Exits 1 when a target is missed.

    .venv/bin/python benchmarks/validate_scale.py [--tenants 1000]

Render's Blueprint schema is read from $RENDERER_BLUEPRINT_SCHEMA or ../shared/render/ (the schema layer
is part of what is measured, so the benchmark refuses to run without it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 5.0
TARGET_MB = 300.0
REGIONS = ("oregon", "ohio", "virginia", "frankfurt", "singapore")
PLANS = ("starter", "standard", "pro", "pro plus", "pro max", "pro ultra")


def tenant_text(i: int) -> str:
    name = f'Tenant {i}: R&D <Labs> "#{i}"' if i % 7 == 0 else f"Tenant {i} Corp"
    lines = [f"name: {json.dumps(name)}", f"slug: t-{i:04d}", "blueprint: base_crm"]
    if i % 2:
        lines.append(f"region: {REGIONS[i % len(REGIONS)]}")
    if i % 3:
        lines.append(f"plan: {PLANS[i % len(PLANS)]}")
    if i % 5 == 0:
        lines.append(f"custom_plugin_repo: https://github.com/tenant-{i}/plugins.git")
    settings = i % 6
    if settings:
        lines.append("env:")
        lines += [f'  SETTING_{k}: "value {k} for tenant {i}"' for k in range(settings)]
    return "\n".join(lines) + "\n"


def schema_path() -> Path:
    explicit = os.environ.get("RENDERER_BLUEPRINT_SCHEMA")
    path = Path(explicit) if explicit else ROOT.parent / "shared" / "render" / "render.yaml.schema.json"
    if not path.is_file():
        sys.exit(f"Render's Blueprint schema not found at {path}; set RENDERER_BLUEPRINT_SCHEMA")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000, help="how many tenants to generate")
    args = parser.parse_args()
    schema = schema_path()
    with tempfile.TemporaryDirectory(prefix="renderer-bench-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "blueprints", work / "blueprints")
        tenants = work / "tenants"
        tenants.mkdir()
        for i in range(args.tenants):
            (tenants / f"t-{i:04d}.yaml").write_text(tenant_text(i), encoding="utf-8")
        command = [sys.executable, "-m", "renderer.cli.main", "validate", "--format", "json",
                   "--tenants", str(tenants), "--blueprints", str(work / "blueprints"), "--schema", str(schema)]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
        print("renderer validate failed: the generated tenants should all be valid", file=sys.stderr)
        return 1
    report = json.loads(result.stdout)
    assert report["valid"] and not report["errors"], "every generated tenant is valid"
    ok_time, ok_memory = seconds < TARGET_SECONDS, peak_mb < TARGET_MB
    print(f"tenants: {args.tenants} (rendered and validated: template, YAML, schema and semantic layers)")
    print(f"wall time: {seconds:.2f} s for the whole `renderer validate` run (interpreter start included)")
    print(f"tenants per second: {args.tenants / seconds:.0f}")
    print(f"peak memory: {peak_mb:.0f} MB (maximum resident set size)")
    print(f"targets: time < {TARGET_SECONDS:.0f} s {'met' if ok_time else 'MISSED'}, "
          f"memory < {TARGET_MB:.0f} MB {'met' if ok_memory else 'MISSED'}")
    return 0 if ok_time and ok_memory else 1


if __name__ == "__main__":
    sys.exit(main())
