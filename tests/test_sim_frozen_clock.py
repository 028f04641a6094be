"""`renderer sim serve --frozen-clock` (for benchmarks/rollout_scale.py): the simulated clock moves only
through `/_sim/clock/advance`, never with real time, so a benchmark's simulated time holds none of the
machine's processing time."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import start_sim, stop_sim


def test_a_frozen_clock_moves_only_when_advanced(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, extra=["--frozen-clock"])
    try:
        first = sim.admin_get("/_sim/clock")
        time.sleep(1.1)
        assert sim.admin_get("/_sim/clock") == first  # real time passed; the clock did not
        assert sim.admin("/_sim/clock/advance", {"seconds": 600}).status_code == 200
        moved = sim.admin_get("/_sim/clock")
        assert moved["offset"] == first["offset"] + 600 and moved["now"] > first["now"]
    finally:
        stop_sim(sim)
