"""Replaying Render's recorded traffic against the simulator, and scoring how closely it answers.

`../shared/render/recorded/*.yaml` are go-vcr (v2) cassettes that Render's Terraform provider tests recorded
against a Render API deployment (provenance: `../shared/render/SOURCES.md`). For each cassette, `replay`
starts from a fresh simulator state (`POST /_sim/reset`: state, clock and rate-limit windows back to the
start), then sends the recorded requests in order:

- the host is rewritten to the simulator's; recorded IDs (`srv-`, `dpg-`, `evm-`, ...), the recorded owner
  (`some-owner-id` or a `tea-` workspace) and cursors are replaced by the simulator's, learnt by walking
  the recorded and the simulated answers side by side;
- before each request the simulator's clock moves on by the recorded time since the previous answer
  (the answers' `Date` headers), so deploys and databases move as they did;
- each answer is compared with Render's: the status; the shape (the keys at every level, the JSON type of
  every value, list lengths and wrapping, `null` against a value or an empty list); and every other value
  (enums, defaults). Volatile values are compared by type only: IDs, timestamps (`createdAt`,
  `updatedAt`, `startedAt`, `finishedAt`), URLs (`dashboardUrl`, `url`, the host of `sshAddress`),
  cursors, values Render generates (`generateValue` env vars, image digests), passwords and connection
  strings, the owner's name and email, and the random suffix Render adds to a slug or a database name
  (`db_name` answered as `db_name_ehyv`). When Render's answer carries `Ratelimit-Limit`, the
  simulator's must carry the same budget.

The cassettes were recorded between 2024-11 and 2026-06, and Render's answers changed shape over that
time (`autoDeployTrigger` on services from 2025-05, `networkIsolationEnabled` on environments and
`diskAutoscalingEnabled` on Postgres later than the oldest recordings). The simulator answers as Render
does now, so a key is not a shape difference when the newest recordings of the same operation agree with
the simulator: a key the simulator adds that a later recording of the operation has at the same place
(Render added the field since), or a key the simulator leaves out that a later recording lacks there
(`Shapes`). The table counts those interactions separately (`newer shape`).

Skipped, and only these (renderer does not use them): notification settings (the endpoints and the
service's `notifyOnFail`), log and metric streams, webhooks, dedicated IPs and maintenance mode (the
endpoints and `serviceDetails.maintenanceMode`).

`python -m tests.replay [--shared DIR]` starts a simulator, replays every cassette and prints the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from ruamel.yaml import YAML

RECORDED_HOST = re.compile(r"^https?://[^/]+/v1")
SKIPPED_PATHS = re.compile(r"^/v1/(notification-settings|logs/streams|metrics-stream|webhooks|"
                           r"blueprints/.*/dedicated-ips|services/[^/]+/maintenance|maintenance)")
SKIPPED_KEYS = frozenset({"maintenanceMode", "notifyOnFail"})
# Render's IDs: a prefix and 20 base-32 characters, Postgres with `-a` (primary) or `-b` (replica).
ID = re.compile(r"^[a-z]{3}-[a-z0-9]{20}(-[a-z])?$")
RECORDED_ID = re.compile(r"\b[a-z]{3}-[a-z0-9]{20}(?:-[a-z])?\b")
RECORDED_OWNERS = re.compile(r"\b(some-owner-id|tea-[a-z0-9]{20})\b")
TIMESTAMPS = frozenset({"createdAt", "updatedAt", "startedAt", "finishedAt"})
URLS = frozenset({"dashboardUrl", "url"})
SECRETS = frozenset({"password", "internalConnectionString", "externalConnectionString", "psqlCommand",
                     "cliCommand"})
GENERATED = frozenset({"sha"})  # an image digest
RESULTS: list[CassetteResult] = []  # the last replay in this process, for the test session's summary
SUFFIXED = frozenset({"slug", "databaseName", "databaseUser"})
SUFFIX = re.compile(r"[-_][a-z0-9]{4}(?=(_user)?$)")


@dataclass
class Interaction:
    index: int
    method: str
    path: str  # /v1/... with the query
    body: Any  # parsed JSON, or None
    status: int
    answer: Any
    ratelimit: str | None
    at: float  # the answer's Date, epoch seconds

    @property
    def skipped(self) -> bool:
        return bool(SKIPPED_PATHS.match(self.path.split("?")[0]))


def operation(method: str, path: str) -> str:
    """`GET /v1/services/{id}`: the method and route, IDs and the query left out."""
    route = RECORDED_ID.sub("{id}", path.split("?")[0])
    route = re.sub(r"/(custom-domains|env-vars|secret-files)/[^/]+$", r"/\1/{name}", route)
    return f"{method} {route}"


def _where(where: str) -> str:
    return re.sub(r"\[\d+\]", "[]", where)


class Shapes:
    """The keys of every object in Render's answers, by operation and place, with the answer's time:
    what "a later recording of the operation has / lacks the key" asks."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], list[tuple[float, frozenset[str]]]] = {}

    def add(self, interactions: list[Interaction]) -> None:
        for item in interactions:
            if not item.skipped:
                self._walk(operation(item.method, item.path), item.answer, "", item.at)

    def _walk(self, op: str, value: Any, where: str, at: float) -> None:
        if isinstance(value, list):
            for child in value:
                self._walk(op, child, f"{where}[0]", at)
        elif isinstance(value, dict):
            self.objects.setdefault((op, _where(where)), []).append((at, frozenset(value)))
            for key, child in value.items():
                self._walk(op, child, f"{where}.{key}" if where else key, at)

    def added_later(self, op: str, where: str, key: str, at: float) -> bool:
        return any(when > at and key in keys for when, keys in self.objects.get((op, _where(where)), []))

    def removed_later(self, op: str, where: str, key: str, at: float) -> bool:
        return any(when > at and key not in keys for when, keys in self.objects.get((op, _where(where)), []))


@dataclass
class Outcome:
    """One compared interaction: what differed (empty lists when it matched)."""

    interaction: Interaction
    status: int
    shape: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    newer: list[str] = field(default_factory=list)  # keys forgiven by `Shapes`

    @property
    def exact_status(self) -> bool:
        return self.status == self.interaction.status

    @property
    def same_shape(self) -> bool:
        return self.exact_status and not self.shape

    @property
    def full_match(self) -> bool:
        return self.same_shape and not self.values

    @property
    def newer_shape(self) -> bool:
        """A full match that relied on later recordings' shapes."""
        return self.full_match and bool(self.newer)

    @property
    def refused(self) -> bool:
        """Render answered 2xx, the simulator refused (4xx/5xx)."""
        return self.interaction.status < 300 and self.status >= 400

    def describe(self) -> str:
        what = self.interaction
        head = f"#{what.index} {what.method} {what.path}: Render {what.status}, simulator {self.status}"
        return "; ".join([head, *self.shape, *self.values])


@dataclass
class CassetteResult:
    name: str
    outcomes: list[Outcome]
    skipped: int

    @property
    def compared(self) -> int:
        return len(self.outcomes)

    def count(self, attr: str) -> int:
        return sum(1 for o in self.outcomes if getattr(o, attr))


def recorded_dir(shared: Path) -> Path:
    return shared / "render" / "recorded"


def cassettes(shared: Path) -> list[Path]:
    return sorted(recorded_dir(shared).glob("*_cassette.yaml"))


def _json(text: Any) -> Any:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return json.loads(text)


CACHE = Path(__file__).resolve().parent.parent / ".cache" / "replay"


def _parsed(path: Path) -> Any:
    """The cassette's YAML, parsed; kept as JSON under .cache/replay/ by content hash (parsing all 27
    cassettes' YAML takes about 10 s, reading the JSON well under one)."""
    raw = path.read_bytes()
    cached = CACHE / f"{path.stem}-{hashlib.sha256(raw).hexdigest()[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text(encoding="utf-8"))
    data = YAML(typ="safe", pure=False).load(raw.decode("utf-8"))
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, cached)
    return data


def load(path: Path) -> list[Interaction]:
    """A cassette's interactions (go-vcr v2: `interactions: [{id, request, response}]`)."""
    data = _parsed(path)
    found = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        headers = response.get("headers") or {}
        limit = headers.get("Ratelimit-Limit")
        date = headers.get("Date")
        found.append(Interaction(
            index=int(item["id"]), method=str(request["method"]),
            path=RECORDED_HOST.sub("/v1", str(request["url"])), body=_json(request.get("body")),
            status=int(response["code"]), answer=_json(response.get("body")),
            ratelimit=str(limit[0]) if limit else None,
            at=parsedate_to_datetime(date[0]).timestamp() if date else 0.0))
    return found


class Mapping:
    """Recorded IDs, owners and cursors -> the simulator's."""

    def __init__(self, owner_id: str) -> None:
        self.owner_id = owner_id
        self.ids: dict[str, str] = {}
        self.generated: set[str] = set()  # env var keys whose value Render generated

    def learn(self, recorded: Any, simulated: Any, key: str = "") -> None:
        if isinstance(recorded, dict) and isinstance(simulated, dict):
            for k, v in recorded.items():
                if k in simulated:
                    self.learn(v, simulated[k], k)
        elif isinstance(recorded, list) and isinstance(simulated, list):
            for r, s in zip(recorded, simulated, strict=False):
                self.learn(r, s, key)
        elif isinstance(recorded, str) and isinstance(simulated, str) and recorded != simulated and (
                key == "cursor" or (ID.match(recorded) and ID.match(simulated))):
            self.ids.setdefault(recorded, simulated)

    def rewrite(self, text: str) -> str:
        text = RECORDED_OWNERS.sub(self.owner_id, text)
        text = RECORDED_ID.sub(lambda m: self.ids.get(m.group(0), m.group(0)), text)
        if "cursor=" in text:
            text = re.sub(r"cursor=([^&]+)", lambda m: "cursor=" + self.ids.get(m.group(1), m.group(1)), text)
        return text

    def note_generated(self, body: Any) -> None:
        items = body if isinstance(body, list) else (body or {}).get("envVars") if isinstance(body, dict) else None
        for item in items or []:
            if isinstance(item, dict) and item.get("generateValue"):
                self.generated.add(str(item.get("key")))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _volatile(key: str, parent_key: str, parent: dict[str, Any], recorded: Any, generated: set[str]) -> bool:
    if key in TIMESTAMPS or key in URLS or key in SECRETS or key in GENERATED or key in ("cursor", "sshAddress"):
        return True
    if key == "id" or (isinstance(recorded, str) and (ID.match(recorded) or RECORDED_OWNERS.fullmatch(recorded))):
        return True
    if parent_key == "owner" and key in ("name", "email"):
        return True
    return key == "value" and str(parent.get("key")) in generated


@dataclass
class Context:
    """What a comparison needs besides the two values."""

    generated: set[str]
    shapes: Shapes | None = None
    op: str = ""
    at: float = 0.0


def compare(recorded: Any, simulated: Any, ctx: Context, where: str = "", key: str = "",
            parent_key: str = "", parent: dict[str, Any] | None = None) -> Iterator[tuple[str, str]]:
    """Differences as ("shape" | "value" | "newer", description); "newer": a key difference that later
    recordings of the operation agree with (`Shapes`)."""
    at = where or "(body)"
    rk, sk = _kind(recorded), _kind(simulated)
    if rk != sk:
        yield "shape", f"{at}: Render {rk} {json.dumps(recorded)[:60]}, simulator {sk} {json.dumps(simulated)[:60]}"
        return
    if rk == "object":
        shapes = ctx.shapes
        for k in sorted(set(recorded) - set(simulated) - SKIPPED_KEYS):
            later = shapes is not None and shapes.removed_later(ctx.op, where, k, ctx.at)
            yield ("newer" if later else "shape"), f"{at}: missing {k}"
        for k in sorted(set(simulated) - set(recorded) - SKIPPED_KEYS):
            later = shapes is not None and shapes.added_later(ctx.op, where, k, ctx.at)
            yield ("newer" if later else "shape"), f"{at}: extra {k}"
        for k in sorted(set(recorded) & set(simulated) - SKIPPED_KEYS):
            yield from compare(recorded[k], simulated[k], ctx, f"{where}.{k}" if where else k, k, key, recorded)
        return
    if rk == "list":
        if len(recorded) != len(simulated):
            yield "shape", f"{at}: Render {len(recorded)} items, simulator {len(simulated)}"
        for i, (r, s) in enumerate(zip(recorded, simulated, strict=False)):
            yield from compare(r, s, ctx, f"{where}[{i}]", key, parent_key, parent)
        return
    if rk == "null" or _volatile(key, parent_key, parent or {}, recorded, ctx.generated):
        return
    if recorded != simulated:
        if key in SUFFIXED and isinstance(recorded, str) and isinstance(simulated, str) and (
                SUFFIX.sub("", recorded) in (simulated, SUFFIX.sub("", simulated))
                or recorded == SUFFIX.sub("", simulated)):
            return
        yield "value", f"{at}: Render {json.dumps(recorded)[:80]}, simulator {json.dumps(simulated)[:80]}"


def replay(interactions: list[Interaction], api_url: str, admin_url: str, api_key: str, owner_id: str,
           name: str, shapes: Shapes | None = None) -> CassetteResult:
    """Replay one cassette against a simulator (reset first) and compare every answer."""
    headers = {"Authorization": f"Bearer {api_key}"}
    mapping = Mapping(owner_id)
    outcomes: list[Outcome] = []
    skipped = 0
    with httpx.Client(headers=headers, timeout=30) as http:
        assert http.post(admin_url + "/_sim/reset", json={}).status_code == 200
        previous: float | None = None
        for item in interactions:
            if previous is not None and item.at > previous:
                http.post(admin_url + "/_sim/clock/advance", json={"seconds": item.at - previous})
            previous = max(previous or item.at, item.at)
            if item.skipped:
                skipped += 1
                continue
            mapping.note_generated(item.body)
            path = mapping.rewrite(item.path)
            content = None if item.body is None else mapping.rewrite(json.dumps(item.body)).encode()
            base = urlsplit(api_url)
            response = http.request(item.method, f"{base.scheme}://{base.netloc}{path}", content=content,
                                    headers={"Content-Type": "application/json"} if content is not None else {})
            answer = response.json() if response.content else None
            outcome = Outcome(item, response.status_code)
            if outcome.exact_status:
                mapping.learn(item.answer, answer)
                ctx = Context(mapping.generated, shapes, operation(item.method, item.path), item.at)
                for kind, text in compare(item.answer, answer, ctx):
                    {"shape": outcome.shape, "value": outcome.values, "newer": outcome.newer}[kind].append(text)
                if item.ratelimit is not None and response.headers.get("Ratelimit-Limit") != item.ratelimit:
                    outcome.values.append(f"Ratelimit-Limit: Render {item.ratelimit}, "
                                          f"simulator {response.headers.get('Ratelimit-Limit')}")
            outcomes.append(outcome)
    return CassetteResult(name, outcomes, skipped)


def _pct(part: int, whole: int) -> str:
    return f"{part:4d} {100.0 * part / whole:5.1f}%" if whole else f"{part:4d}   n/a "


def table(results: list[CassetteResult]) -> str:
    """Per cassette and in total: interactions compared, with the exact status, the same shape, a full
    match; plus the requests Render answered 2xx that the simulator refused."""
    width = max([len("cassette"), *(len(r.name) for r in results)])
    lines = [f"{'cassette':<{width}}  compared  exact status  same shape    full match  newer shape  refused",
             "-" * (width + 71)]
    totals = [0] * 6

    def row(name: str, n: list[int]) -> str:
        return (f"{name:<{width}}  {n[0]:8d}  {_pct(n[1], n[0])}  {_pct(n[2], n[0])}  {_pct(n[3], n[0])}  "
                f"{n[4]:11d}  {n[5]:7d}")

    for r in results:
        counts = [r.compared, *(r.count(a) for a in ("exact_status", "same_shape", "full_match", "newer_shape",
                                                     "refused"))]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        lines.append(row(r.name, counts))
    lines.append("-" * (width + 71))
    lines.append(row("total", totals))
    return "\n".join(lines)


def cassette_name(path: Path) -> str:
    return path.name.removesuffix("_cassette.yaml")


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.replay`: replay every cassette against a fresh simulator and print the table
    (`-v`: every interaction that does not fully match)."""
    from tests.conftest import start_sim, stop_sim

    parser = argparse.ArgumentParser(prog="python -m tests.replay", description=main.__doc__)
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("RENDERER_SHARED", root.parent / "shared")))
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("only", nargs="*", help="cassette names (default: all)")
    args = parser.parse_args(argv)
    paths = [p for p in cassettes(args.shared) if not args.only or cassette_name(p) in args.only]
    if not paths:
        print(f"no cassettes in {recorded_dir(args.shared)}", file=sys.stderr)
        return 1
    loaded = {p: load(p) for p in cassettes(args.shared)}
    shapes = Shapes()
    for interactions in loaded.values():
        shapes.add(interactions)
    with tempfile.TemporaryDirectory() as tmp:
        sim = start_sim(Path(tmp))
        try:
            results = [replay(loaded[p], sim.api_url, sim.url, sim.api_key, sim.owner_id, cassette_name(p), shapes)
                       for p in paths]
        finally:
            stop_sim(sim)
    print(table(results))
    if args.verbose:
        for r in results:
            for o in r.outcomes:
                if not o.full_match:
                    print(f"{r.name} {o.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
