"""The replay conformance suite: Render's recorded traffic (../shared/render/recorded/) replayed against the
simulator, answer by answer (tests/replay.py says how interactions are compared and what is skipped).

Floors: a full match on 95% of the compared interactions over all cassettes, and no request that Render
answered 2xx refused by the simulator. The table (per cassette and in total) is printed at the end of the
test session (`pytest_terminal_summary` in conftest.py) and on demand by `python -m tests.replay`.
A missing `../shared` fails these tests (no cassette is skipped silently).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import replay
from tests.conftest import SHARED, start_sim, stop_sim

FULL_MATCH_FLOOR = 0.95
CASSETTES = replay.cassettes(SHARED)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, replay.CassetteResult]]:
    """Every cassette replayed, each from a fresh simulator state (a simulator of its own for this module,
    reset before each cassette)."""
    assert CASSETTES, f"no recorded cassettes in {replay.recorded_dir(SHARED)} (set RENDERER_SHARED)"
    loaded = {path: replay.load(path) for path in CASSETTES}
    shapes = replay.Shapes()
    for interactions in loaded.values():
        shapes.add(interactions)
    sim = start_sim(Path(tmp_path_factory.mktemp("replay")))
    try:
        done = {replay.cassette_name(path): replay.replay(interactions, sim.api_url, sim.url, sim.api_key,
                                                          sim.owner_id, replay.cassette_name(path), shapes)
                for path, interactions in loaded.items()}
    finally:
        stop_sim(sim)
    replay.RESULTS[:] = list(done.values())
    yield done


def test_the_recordings_are_there() -> None:
    assert replay.recorded_dir(SHARED).is_dir(), f"{replay.recorded_dir(SHARED)} is missing (set RENDERER_SHARED)"
    assert len(CASSETTES) >= 27


@pytest.mark.parametrize("name", [replay.cassette_name(p) for p in CASSETTES])
def test_no_request_render_accepted_is_refused(results: dict[str, replay.CassetteResult], name: str) -> None:
    result = results[name]
    assert result.compared > 0
    refused = [o.describe() for o in result.outcomes if o.refused]
    assert not refused, f"{name}: the simulator refused what Render accepted:\n" + "\n".join(refused)


def test_full_match_floor(results: dict[str, replay.CassetteResult]) -> None:
    compared = sum(r.compared for r in results.values())
    full = sum(r.count("full_match") for r in results.values())
    misses = [f"{r.name} {o.describe()}" for r in results.values() for o in r.outcomes if not o.full_match]
    assert full >= FULL_MATCH_FLOOR * compared, (
        f"full match on {full} of {compared} interactions, below {FULL_MATCH_FLOOR:.0%}:\n" + "\n".join(misses[:40]))


def test_compare_rules() -> None:
    """The comparison itself: volatile values by type only, a database name's random suffix, null vs []."""
    ctx = replay.Context(generated={"TOKEN"})
    render = {"id": "srv-d0ibljkfu1ps73eu3ljg", "createdAt": "2025-05-14T15:46:22Z", "databaseName": "db_ehyv",
              "slug": "web-q9lm", "ipAllowList": None, "owner": {"name": "Render", "email": "a@b.c"},
              "envVar": {"key": "TOKEN", "value": "x"}, "plan": "starter"}
    simulated = {"id": "srv-a1uvbob828vntol3skae", "createdAt": "2026-12-02T10:00:00Z", "databaseName": "db_k2mz",
                 "slug": "web", "ipAllowList": None, "owner": {"name": "Sim", "email": "s@example.com"},
                 "envVar": {"key": "TOKEN", "value": "y"}, "plan": "starter"}
    assert list(replay.compare(render, simulated, ctx)) == []
    assert list(replay.compare({"ipAllowList": None}, {"ipAllowList": []}, ctx)) == [
        ("shape", "ipAllowList: Render null null, simulator list []")]
    assert list(replay.compare({"plan": "starter"}, {"plan": "standard"}, ctx)) == [
        ("value", 'plan: Render "starter", simulator "standard"')]
    assert [kind for kind, _ in replay.compare({"a": 1}, {"a": 1, "b": 2}, ctx)] == ["shape"]
