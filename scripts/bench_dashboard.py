"""Server time of the dashboard's list pages at real sizes (issue 15): min and median of N runs.

    python scripts/bench_dashboard.py [--segments 1000] [--runs 30] [--database-url URL]

A brand with `--segments` imported segments (sharing one created_at, as an import makes them)
and the app in process (no network, no browser): the time from the request to the last byte
of the page, measured around Starlette's test client, which is the server's work plus a small
constant. Printed, never asserted; compare the rows of one run (the machine may be busy).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from zyntro.api.app import create_app
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

PASSWORD = "bench dashboard passphrase"
SEGMENT = {
    "segment_label": "Imported segment",
    "segment_type": "behavioral",
    "segment_tag": "bench",
    "segment_decision_drivers": "Quality, Price, Customer Service",
    "segment_pain_points": ["time_constraints", "budget_limitations"],
    "segment_use_cases": ["lead_generation", "customer_retention"],
    "segment_tone": "professional_friendly",
    "reasoning": "A segment of the benchmark.",
    "created_at": "2024-05-01 09:00:00",
    "updated_at": "2024-05-01 09:00:00",
}


def _setup(service: Service, count: int) -> tuple[str, str]:
    org = service.create_org(SYSTEM, "Bench Organization")
    big = service.create_brand(SYSTEM, org.id, "Big Brand")
    small = service.create_brand(SYSTEM, org.id, "Small Brand")
    owner = service.add_member(SYSTEM, org.id, "owner@bench.example", "Bench Owner", Role.OWNER)
    service.set_password(SYSTEM, owner.id, PASSWORD)
    rows = [
        {**SEGMENT, "segment_id": f"seg_bench_{n:05d}", "segment_label": f"Segment {n:05d}"}
        for n in range(count)
    ]
    service.import_segments(SYSTEM, big.id, rows, initiated_by=owner.id)
    service.import_segments(SYSTEM, small.id, rows[:3], initiated_by=owner.id, new_ids=True)
    return big.id, small.id


def _time(client: TestClient, path: str, runs: int) -> tuple[float, float, int]:
    """(min, median) milliseconds of GET path, and the number of rows on the page."""
    samples = []
    body = ""
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        body = response.text
    return min(samples), statistics.median(samples), _rows(body)


def _rows(body: str) -> int:
    """The rows of the page's listing (its tbody's <tr>s)."""
    listing = body.split("<tbody>", 1)[-1].split("</tbody>", 1)[0] if "<tbody>" in body else ""
    return listing.count("<tr")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        store = Store(url)
        migrate.upgrade(store.engine)
        service = Service(store)
        big, small = _setup(service, args.segments)
        settings = Settings(database_url=url, log_level="WARNING", secret_key="b" * 40)
        with TestClient(create_app(settings, service)) as client:
            page = client.get("/app/sign-in").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            client.post(
                "/app/sign-in",
                data={
                    "email": "owner@bench.example",
                    "password": PASSWORD,
                    "csrf_token": token.group(1),
                    "next": "/app/brands",
                },
            )
            print(f"dashboard list pages, {store.engine.dialect.name}, {args.runs} runs each")
            print(f"{'page':<44} {'rows':>5} {'min ms':>8} {'median ms':>10}")
            for name, path in (
                ("segments, brand of 3", f"/app/brands/{small}"),
                (f"segments, brand of {args.segments}: first page", f"/app/brands/{big}"),
                (f"segments, brand of {args.segments}: search", f"/app/brands/{big}?q=00012"),
                ("brands", "/app/brands"),
            ):
                low, median, rows = _time(client, path, args.runs)
                print(f"{name:<44} {rows:>5} {low:>8.1f} {median:>10.1f}")
        service.close()


if __name__ == "__main__":
    main()
