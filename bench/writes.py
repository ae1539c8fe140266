"""Writes at scale, measured through the service on the benchmark's database (`make bench`).

    python -m bench.writes --database-url URL [--import-rows 100000]

- A segment edit in a brand of `ZYNTRO_MAX_SEGMENTS_PER_BRAND` (1,000) segments, and one in a
  brand of one segment (each edit re-encodes its brand's served body in its transaction).
- Another organization's edits while a second process edits the 1,000-segment brand without
  pause: how much longer they take than alone (the target: never more than 100 ms).
- `zyntro segment import` of 100,000 segments across 100 brands of 1,000, run as the CLI
  (progress bar included) on a new, empty database that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from zyntro.demo import DEMO_SEGMENTS
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

BIG = 1_000  # segments in the big brand: the default cap
EDITS = 200  # measured edits per brand
CONTENDED = 100  # another organization's edits while the big brand is edited non-stop
SPACING = 0.02  # seconds between those
BIN = Path(sys.executable).parent


@dataclass
class WriteFigures:
    database: str
    big: list[float]  # ms per edit, a 1,000-segment brand
    small: list[float]  # ms per edit, a one-segment brand
    contended: list[float]  # ms per edit of another organization, the big brand edited meanwhile
    hammer_edits: int  # edits the other process made into the big brand meanwhile
    hammer_seconds: float
    import_seconds: float | None = None
    import_rows: int = 0


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _rows(
    count: int, brand_ids: Sequence[str] | None = None, per_brand: int = BIG
) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        row: dict[str, object] = {**DEMO_SEGMENTS[i % 3], "segment_label": f"Segment {i + 1}"}
        if brand_ids is not None:
            row["brand_id"] = brand_ids[i // per_brand]
        rows.append(row)
    return rows


def _org(svc: Service, name: str) -> tuple[str, str]:
    """A new organization and its owner: (org id, owner's member id)."""
    org = svc.create_org(SYSTEM, name)
    owner = svc.add_member(
        SYSTEM, org.id, f"owner@{org.id.lower()}.bench.example", "Bench owner", Role.OWNER
    )
    return org.id, owner.id


def _timed(edit: Callable[[int], object], count: int, spacing: float = 0.0) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        edit(i)
        times.append((time.perf_counter() - started) * 1000)
        if spacing:
            time.sleep(spacing)
    return times


def measure_edits(url: str, database: str) -> WriteFigures:
    svc = Service(Store(url))
    try:
        big_org, big_owner = _org(svc, "Writes: big brand")
        small_org, small_owner = _org(svc, "Writes: another organization")
        big_actor, small_actor = svc.act_as(big_owner), svc.act_as(small_owner)
        big = svc.create_brand(big_actor, big_org, "1,000 segments")
        small = svc.create_brand(small_actor, small_org, "One segment")
        svc.import_segments(big_actor, big.id, _rows(BIG))
        svc.import_segments(small_actor, small.id, _rows(1))
        big_ids = [s.id for s in svc.list_segments(big_actor, big.id)]
        small_id = svc.list_segments(small_actor, small.id)[0].id

        def edit_big(i: int) -> object:
            tone = f"tone_{i}_{time.monotonic_ns()}"
            return svc.update_segment(big_actor, big_ids[i % BIG], {"segment_tone": tone})

        def edit_small(i: int) -> object:
            tone = f"tone_{i}_{time.monotonic_ns()}"
            return svc.update_segment(small_actor, small_id, {"segment_tone": tone})

        _timed(edit_big, 10)  # warm the connections and statement caches
        big_times = _timed(edit_big, EDITS)
        small_times = _timed(edit_small, EDITS)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
            json.dump({"member": big_owner, "segments": big_ids}, spec)
        hammer = subprocess.Popen(
            [sys.executable, "-m", "bench.writes", "--database-url", url, "--hammer", spec.name],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(1.0)  # the hammer is up and editing
            contended = _timed(edit_small, CONTENDED, SPACING)
        finally:
            Path(spec.name).with_suffix(".stop").touch()
            out, _ = hammer.communicate(timeout=60)
            os.unlink(spec.name)
            Path(spec.name).with_suffix(".stop").unlink(missing_ok=True)
        edits, seconds = json.loads(out.strip().splitlines()[-1])
        return WriteFigures(database, big_times, small_times, contended, edits, seconds)
    finally:
        svc.close()


def hammer(url: str, spec_path: str) -> None:
    """Edit the big brand's segments without pause until the `.stop` file appears."""
    spec = json.loads(Path(spec_path).read_text())
    stop = Path(spec_path).with_suffix(".stop")
    svc = Service(Store(url))
    actor = svc.act_as(spec["member"])
    ids = spec["segments"]
    edits = 0
    started = time.monotonic()
    while not stop.exists():
        tone = f"hammer_{edits}_{time.monotonic_ns()}"
        svc.update_segment(actor, ids[edits % len(ids)], {"segment_tone": tone})
        edits += 1
    print(json.dumps([edits, round(time.monotonic() - started, 2)]))
    svc.close()


def measure_import(url: str, rows: int) -> float:
    """`zyntro segment import` of `rows` segments across brands of 1,000 into `url` (empty)."""
    store = Store(url)
    migrate.upgrade(store.engine)
    svc = Service(store)
    try:
        org, owner = _org(svc, "Import")
        brands = [svc.create_brand(SYSTEM, org, f"Brand {b + 1}").id for b in range(rows // BIG)]
    finally:
        svc.close()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "segments.json"
        path.write_text(json.dumps(_rows(rows, brands)))
        command = [str(BIN / "zyntro"), "--database-url", url, "segment", "import", str(path)]
        started = time.monotonic()
        subprocess.run([*command, "--member", owner], check=True, stdout=subprocess.DEVNULL)
        return time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write benchmarks (run by bench/run.py).")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--hammer", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hammer:
        hammer(args.database_url, args.hammer)
        return 0
    figures = measure_edits(args.database_url, "")
    for name in ("big", "small", "contended"):
        values = getattr(figures, name)
        print(f"{name}: p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f}")
    print(f"hammer: {figures.hammer_edits} edits in {figures.hammer_seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
