"""Soak test: one live `zyntro serve` under a mixed load for a bounded time.

    python scripts/soak.py [--duration 40] [--concurrency 32] [--database-url URL]

The mix: valid keys, invalid keys, wrong organizations, unknown brands and empty brands. It
prints a table (requests, answers by status and code, RSS of the server at the start and end
of the measured run) and exits non-zero when any answer was a 5xx, any request got another
answer than its kind calls for, or the server's RSS grew by 10 % or more. The whole run,
setup included, stops within 60 s. Traffic goes to 127.0.0.1 only.

The RSS "start" is read after a warm-up of the same mix (caches and allocator pools filled),
so the growth measures what a long run adds, not what starting up costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from zyntro import keys
from zyntro.demo import DEMO_SEGMENTS
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

PATH = "/apis/public/fetchAudiences.php"
HARD_STOP_SECONDS = 60.0
WARM_UP_SECONDS = 5.0
ZYNTRO = str(Path(sys.executable).with_name("zyntro"))
SEGMENT = DEMO_SEGMENTS[0]
# kind -> (share of requests, expected status, expected code)
MIX = {
    "valid": (0.60, 200, None),
    "invalid_key": (0.10, 401, "invalid_api_key"),
    "wrong_org": (0.10, 403, "org_mismatch"),
    "unknown_brand": (0.10, 404, "brand_not_found"),
    "empty_brand": (0.10, 404, "no_segments"),
}


def _populate(url: str, orgs: int) -> list[dict[str, str]]:
    """Organizations with a brand of 3 segments, an empty brand and a key each."""
    store = Store(url)
    if store.is_sqlite:
        migrate.upgrade(store.engine)
    service = Service(store)
    accounts = []
    for n in range(orgs):
        org = service.create_org(SYSTEM, f"Soak {n}")
        brand = service.create_brand(SYSTEM, org.id, "Brand")
        empty = service.create_brand(SYSTEM, org.id, "Empty")
        lead = service.add_member(SYSTEM, org.id, f"lead{n}@example.com", "Lead", Role.IN_CHARGE)
        for label in ("One", "Two", "Three"):
            service.add_segment(
                service.act_as(lead.id), brand.id, {**SEGMENT, "segment_label": label}
            )
        _, api_key = service.create_key(SYSTEM, lead.id, "soak")
        accounts.append({"org": org.id, "brand": brand.id, "empty": empty.id, "key": api_key})
    service.reader.close()
    store.dispose()
    return accounts


def _request(kind: str, accounts: list[dict[str, str]]) -> dict[str, str]:
    account = random.choice(accounts)
    body = {"api_key": account["key"], "org_id": account["org"], "brand_id": account["brand"]}
    if kind == "invalid_key":
        body["api_key"] = random.choice([keys.generate_key(), "zk_garbage", account["key"][:-1]])
    elif kind == "wrong_org":
        body["org_id"] = random.choice([a["org"] for a in accounts if a is not account] or ["x"])
    elif kind == "unknown_brand":
        body["brand_id"] = f"brand_unknown_{random.randrange(1_000_000)}"
    elif kind == "empty_brand":
        body["brand_id"] = account["empty"]
    return body


def _rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants (granian's main process and its workers)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        pending.extend(int(child) for child in children)
    return total


async def _load(
    base_url: str,
    accounts: list[dict[str, str]],
    until: float,
    concurrency: int,
    stats: Counter[str],
) -> None:
    kinds = list(MIX)
    weights = [MIX[kind][0] for kind in kinds]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:

        async def worker() -> None:
            while time.monotonic() < until:
                kind = random.choices(kinds, weights)[0]
                _, status, code = MIX[kind]
                try:
                    response = await client.post(PATH, json=_request(kind, accounts))
                except httpx.HTTPError as exc:
                    stats[f"transport error {type(exc).__name__}"] += 1
                    continue
                got = response.json().get("code") if response.status_code != 200 else None
                stats["requests"] += 1
                stats[f"{response.status_code} {got or 'success'}"] += 1
                if response.status_code >= 500:
                    stats["5xx"] += 1
                if (response.status_code, got) != (status, code):
                    stats[f"unexpected: {kind} -> {response.status_code} {got}"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def main() -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of measured load")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--orgs", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="zyntro-soak-")
    url = args.database_url or f"sqlite:///{folder}/soak.db"
    accounts = _populate(url, args.orgs)
    port = _free_port()
    env = {
        **os.environ,
        "ZYNTRO_DATABASE_URL": url,
        "ZYNTRO_LOG_LEVEL": "WARNING",
        # Limits out of the way: the soak measures the other answers (tests cover the 429s).
        "ZYNTRO_RATE_LIMIT": "100000000/minute",
        "ZYNTRO_INVALID_KEY_RATE_LIMIT": "100000000/minute",
    }
    server = subprocess.Popen(
        [ZYNTRO, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}"
    stats: Counter[str] = Counter()
    try:
        _wait_until_up(base_url, server)
        budget = HARD_STOP_SECONDS - (time.monotonic() - started) - WARM_UP_SECONDS - 3
        duration = max(1.0, min(args.duration, budget))
        warm: Counter[str] = Counter()
        asyncio.run(
            _load(base_url, accounts, time.monotonic() + WARM_UP_SECONDS, args.concurrency, warm)
        )
        rss_start = _rss_kib(server.pid)
        measured_from = time.monotonic()
        asyncio.run(_load(base_url, accounts, measured_from + duration, args.concurrency, stats))
        elapsed = time.monotonic() - measured_from
        rss_end = _rss_kib(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(folder, ignore_errors=True)
    growth = (rss_end - rss_start) / rss_start * 100
    unexpected = sum(count for name, count in stats.items() if name.startswith("unexpected"))
    errors = sum(count for name, count in stats.items() if name.startswith("transport"))
    rows = [
        ("database", url.split("?")[0]),
        ("concurrency", str(args.concurrency)),
        ("measured seconds", f"{elapsed:.1f}"),
        ("requests", str(stats["requests"])),
        ("requests per second", f"{stats['requests'] / elapsed:.0f}"),
        *sorted(
            (f"  {name}", str(count))
            for name, count in stats.items()
            if name[0].isdigit() and name != "5xx"
        ),
        ("5xx (must be 0)", str(stats["5xx"])),
        ("unexpected answers (must be 0)", str(unexpected)),
        ("transport errors (must be 0)", str(errors)),
        ("server RSS at start", f"{rss_start / 1024:.1f} MiB"),
        ("server RSS at end", f"{rss_end / 1024:.1f} MiB"),
        ("RSS growth (must be < 10 %)", f"{growth:+.1f} %"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'soak':<{width}}  result")
    print(f"{'-' * width}  {'-' * 24}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for name, count in stats.items():
        if name.startswith(("unexpected", "transport")):
            print(f"  {name}: {count}")
    ok = stats["5xx"] == 0 and unexpected == 0 and errors == 0 and growth < 10
    ok = ok and stats["requests"] > 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during startup")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start within 20 s")


if __name__ == "__main__":
    sys.exit(main())
