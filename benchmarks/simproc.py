"""Start `renderer sim serve` as a subprocess for a benchmark and wait for its `listening on` line."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def launch(command: list[str], log: Path, cwd: Path, timeout: float) -> tuple[subprocess.Popen[bytes], str, str]:
    """Run `command` (a `renderer sim serve` line) with its output in `log`. Returns the process, the base
    URL it prints (`listening on http://HOST:PORT`) and its workspace ID. Exits with a message when the
    simulator stops or is not listening within `timeout` seconds."""
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if "listening on " in text:
            url = text.split("listening on ", 1)[1].split()[0]
            owner = text.split("renderer sim: workspace ", 1)[1].split()[0]
            return process, url, owner
        if process.poll() is not None:
            raise SystemExit(f"the simulator exited:\n{text}")
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the simulator did not start")
