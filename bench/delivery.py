"""Webhook delivery benchmark: 1,000 segment writes fanned out to 10 webhooks on a local receiver.

    python -m bench.delivery [--writes 1000] [--webhooks 10] [--rounds 3] [--record]

Three processes: the receiver (a bare asyncio HTTP server that notes when each request
arrived) and the writer (this process: 1,000 segment writes through the service, the
commit time of each event noted) share CPU 1; the deliverer (`Deliverer`, what every
`zyntro serve` runs) has CPU 0 to itself. Reports deliveries/s (deliveries over the time from
the first commit to the last receipt) and the commit-to-receipt p50/p99, then the same with an
11th webhook beside them whose endpoint holds each request 2 s and answers 500. Then the same
1,000 writes paced at 50 a second (500 deliveries/s, the rate the deliverer must reach), for
the commit-to-receipt latency of a deliverer that keeps up (all at once, the latency is the
backlog's). Each figure is the median of `--rounds` rounds (3), each round alternating which
of a pair runs first. SQLite in a temporary directory, removed after each run. Prints a
table; `--record` writes it into docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
DELIVER_CPU = 0
OTHER_CPU = 1
FAIL_HOLD_SECONDS = 2.0


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# --- the receiver ----------------------------------------------------------------------------


async def _serve_receiver(port: int, out: Path) -> None:
    receipts: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                lowered = {k.lower(): v for k, v in headers.items()}
                await reader.readexactly(int(lowered.get("content-length", "0")))
                if path.endswith("/fail"):
                    await asyncio.sleep(FAIL_HOLD_SECONDS)
                    writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                else:
                    receipts.append(f"{lowered.get('webhook-id')} {arrived:.6f}\n")
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    out.write_text("".join(receipts))


# --- the deliverer ---------------------------------------------------------------------------


def _run_deliverer(database_url: str, cpu_file: Path) -> None:
    from zyntro.store import Store
    from zyntro.webhooks.worker import Deliverer, DeliveryPolicy

    deliverer = Deliverer(Store(database_url), DeliveryPolicy(allow_private=True))

    async def main() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, deliverer.stop)
        await deliverer.run()

    started = time.process_time()  # after the imports: the CPU time of delivering alone
    asyncio.run(main())
    cpu_file.write_text(f"{time.process_time() - started:.6f}")


# --- the writer and the figures --------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _one_run(
    writes: int, webhooks: int, failing: bool, port: int, pace: float | None = None
) -> dict[str, float]:
    from zyntro.domain import Role
    from zyntro.service import SYSTEM, Service
    from zyntro.store import Store, migrate

    workdir = Path(tempfile.mkdtemp(prefix="zyntro-delivery-"))
    url = f"sqlite:///{workdir / 'bench.db'}"
    store = Store(url)
    migrate.upgrade(store.engine)
    service = Service(store)
    service.webhook_allow_private = True
    org = service.create_org(SYSTEM, "Bench")
    brands = [service.create_brand(SYSTEM, org.id, f"Brand {n}").id for n in range(10)]
    member = service.add_member(SYSTEM, org.id, "bench@example.com", "Bench", Role.IN_CHARGE)
    actor = service.act_as(member.id)
    target = f"http://127.0.0.1:{port}"
    for n in range(webhooks):
        service.create_webhook(SYSTEM, org.id, {"url": f"{target}/hook/{n}"})
    if failing:
        service.create_webhook(SYSTEM, org.id, {"url": f"{target}/fail", "timeout_seconds": 5})
    committed: dict[str, float] = {}
    service.on_event.append(lambda note: committed.__setitem__(note.id, time.time()))

    receipts = workdir / "receipts.txt"
    here = [sys.executable, "-m", "bench.delivery"]
    receiver = subprocess.Popen([*here, "--receiver", str(port), str(receipts)])
    cpu_file = workdir / "cpu.txt"
    deliverer = subprocess.Popen([*here, "--deliverer", url, str(cpu_file)])
    time.sleep(1.0)  # both listening and polling
    expected = writes * webhooks
    try:
        started = time.monotonic()
        for n in range(writes):
            if pace is not None:  # n writes by n / pace seconds: a rate delivery keeps up with
                time.sleep(max(0.0, started + n / pace - time.monotonic()))
            values = {"segment_label": f"Segment {n}", "segment_type": "behavioral"}
            service.add_segment(actor, brands[n % len(brands)], values)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with store.read() as conn:
                succeeded = conn.exec_driver_sql(
                    "SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded'"
                ).scalar_one()
            if succeeded >= expected:
                break
            time.sleep(0.1)
    finally:
        deliverer.send_signal(signal.SIGTERM)
        deliverer.wait(timeout=30)
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=30)
        service.close()
    received = [line.split() for line in receipts.read_text().splitlines()]
    cpu = float(cpu_file.read_text())
    shutil.rmtree(workdir, ignore_errors=True)
    latencies = [float(t) - committed[event] for event, t in received if event in committed]
    first, last = min(committed.values()), max(float(t) for _e, t in received)
    return {
        "deliveries": float(len(received)),
        "rate": len(received) / (last - first),
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "seconds": last - first,
        "cpu": cpu,
        "per_cpu_second": len(received) / cpu,
    }


def _names(
    runs: Sequence[tuple[str, int, float | None]], webhooks: int, failing: Sequence[bool]
) -> list[str]:
    return [
        f"{label}, {webhooks} webhooks" + (" + 1 failing" if fails else "")
        for label, _writes, _pace in runs
        for fails in failing
    ]


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _table(rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = [
        "| run | deliveries | deliveries/s (wall) | per CPU-second of the deliverer | "
        "commit-to-receipt p50 | p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['deliveries']:,.0f} | {r['rate']:,.0f} | {r['per_cpu_second']:,.0f} | "
            f"{r['p50'] * 1000:,.0f} ms | {r['p99'] * 1000:,.0f} ms |"
        )
    return "\n".join(lines)


def _record(table: str) -> None:
    text = DOCS.read_text()
    block = f"<!-- delivery:begin -->\n{table}\n<!-- delivery:end -->"
    pattern = re.compile(r"<!-- delivery:begin -->.*?<!-- delivery:end -->", re.S)
    DOCS.write_text(
        pattern.sub(block, text) if pattern.search(text) else text + "\n" + block + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The webhook delivery benchmark.")
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=10)
    parser.add_argument("--paced", type=int, default=1000, help="writes of the latency runs")
    parser.add_argument("--pace", type=float, default=50.0, help="their writes per second")
    parser.add_argument("--rounds", type=int, default=3, help="medians over this many rounds")
    parser.add_argument("--record", action="store_true", help="write into docs/performance.md")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--deliverer", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        _pin(OTHER_CPU)
        asyncio.run(_serve_receiver(int(args.receiver[0]), Path(args.receiver[1])))
        return 0
    if args.deliverer:
        _pin(DELIVER_CPU)
        _run_deliverer(args.deliverer[0], Path(args.deliverer[1]))
        return 0
    _pin(OTHER_CPU)
    runs = [
        (f"{args.writes:,} writes at once", args.writes, None),
        (f"{args.paced:,} writes at {args.pace:g}/s", args.paced, args.pace),
    ]
    rounds: dict[str, list[dict[str, float]]] = {}
    for number in range(args.rounds):
        for label, writes, pace in runs:
            # each round alternates which of a pair goes first: drift falls on both
            for failing in (False, True) if number % 2 == 0 else (True, False):
                (name,) = _names([(label, writes, pace)], args.webhooks, (failing,))
                result = _one_run(writes, args.webhooks, failing, _free_port(), pace)
                rounds.setdefault(name, []).append(result)
                print(f"round {number + 1}, {name}: {result}", flush=True)
    rows = [(name, _median(rounds[name])) for name in _names(runs, args.webhooks, (False, True))]
    table = _table(rows)
    print(table)
    for (name, base), (_, beside) in (rows[0:2], rows[2:4]):
        for figure in ("rate", "per_cpu_second", "p99"):
            change = (beside[figure] - base[figure]) / base[figure] * 100
            print(f"{name}: {figure} with a failing endpoint beside them {change:+.1f} % (medians)")
    if args.record:
        _record(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
