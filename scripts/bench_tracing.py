"""What OpenTelemetry tracing costs one warm public request, in-process (a micro-benchmark).

    python scripts/bench_tracing.py [--requests 5000] [--rounds 25] [--baseline REF]

Three builds of the app answer the same warm fetchAudiences request through its ASGI entry
point (`app(scope, receive, send)`: routing, the public endpoint, metrics; no HTTP server):

- `untraced`: the source of the commit before tracing existed (`--baseline`, by default the
  parent of the commit that added src/zyntro/tracing.py), unpacked with `git archive`;
- `off`: this tree, tracing off (the default);
- `on`: this tree, tracing on, spans batched to an exporter that drops them (what the
  request pays; the export itself runs on the SDK's thread).

Each build runs in a process of its own, set up once; the rounds are interleaved (one round
of each build in turn, many short rounds) and each build's median and best round are
reported, with ratios to `untraced` measured in this one run. CPU time of the process, so
other load on the machine counts less (it still shows in the spread of the rounds).
Figures go to docs/performance.md, "Tracing"; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILDS = ("untraced", "off", "on")
LOTS = "1000000000/minute"  # the rate limit never refuses: every request does the full work


def _baseline_ref() -> str:
    """The parent of the commit that added the tracing module (HEAD while it is uncommitted)."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "src/zyntro/tracing.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"{added[-1]}^" if added else "HEAD"


def _unpack(ref: str, into: Path) -> Path:
    """The `src` folder of `ref`, written under `into`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


# --- a worker: one build, set up once, timing rounds on request ---------------------------


def _worker(build: str, requests: int) -> None:
    import zyntro
    from zyntro.api.app import create_app
    from zyntro.demo import create_demo_data
    from zyntro.service import Service
    from zyntro.settings import Settings
    from zyntro.store import Store

    print(json.dumps({"source": str(Path(zyntro.__file__).parent)}), flush=True)
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'bench.db'}"
    info = create_demo_data(url)
    service = Service(Store(url))
    # WARNING: no access line (its batched writes to stderr would only add noise).
    settings = Settings(
        database_url=url, log_level="WARNING", rate_limit=LOTS, invalid_key_rate_limit=LOTS
    )
    if build == "on":
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult as Result

        from zyntro.tracing import Tracing

        class Dropped(SpanExporter):
            def export(self, spans: Sequence[Any]) -> Result:
                return Result.SUCCESS

        app: Any = create_app(settings, service, Tracing([BatchSpanProcessor(Dropped())]))
    else:
        app = create_app(settings, service)
    body = (
        f'{{"api_key":"{info.api_key}","org_id":"{info.org_id}","brand_id":"{info.brand_id}"}}'
    ).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/apis/public/fetchAudiences.php",
        "raw_path": b"/apis/public/fetchAudiences.php",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            await app(scope, receive, send)
        return (time.process_time() - started) / count

    async def serve() -> None:
        await run(2000)  # warm: the key and the brand are cached from here on
        if set(statuses) != {200}:
            raise SystemExit(f"{build}: answers {sorted(set(statuses))}, not 200")
        gc.collect()
        gc.freeze()  # as a served worker does (api/app.py, _tune_gc)
        print(json.dumps({"ready": build}), flush=True)
        for line in sys.stdin:
            if line.strip() != "round":
                break
            statuses.clear()
            seconds = await run(requests)
            assert set(statuses) == {200}
            print(json.dumps({"seconds": seconds}), flush=True)

    asyncio.run(serve())
    service.store.dispose()


# --- the driver ---------------------------------------------------------------------------


class _Build:
    def __init__(self, build: str, source: Path, requests: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(source)}
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_") and k != "ZYNTRO_OTEL"}
        self.name = build
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", build, "--requests", str(requests)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        loaded = Path(self._read()["source"])
        if loaded != source / "zyntro":
            raise SystemExit(f"{build}: imported zyntro from {loaded}, not {source}")
        self._read()  # ready
        self.rounds: list[float] = []

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{self.name}: the worker ended early")
        result: dict[str, Any] = json.loads(line)
        return result

    def round(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        self.rounds.append(self._read()["seconds"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def main(requests: int, rounds: int, baseline: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        old_source = _unpack(baseline, Path(folder))
        sources = {"untraced": old_source, "off": ROOT / "src", "on": ROOT / "src"}
        builds = [_Build(name, sources[name], requests) for name in BUILDS]
        try:
            for turn in range(rounds):
                # A different build goes first each round: none always runs after the same one.
                for build in builds[turn % 3 :] + builds[: turn % 3]:
                    build.round()
        finally:
            for build in builds:
                build.close()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", baseline], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    medians = {build.name: statistics.median(build.rounds) for build in builds}
    best = {build.name: min(build.rounds) for build in builds}
    print(f"warm public request over ASGI, in-process; {rounds} rounds of {requests:,}")
    print(f"untraced = the source at {baseline} ({commit}); CPU µs per request")
    print(f"{'build':<10}{'median':>8}{'ratio':>8}{'best':>8}{'ratio':>8}   quartiles of rounds")
    for build in builds:
        name = build.name
        quartiles = statistics.quantiles(build.rounds, n=4) if len(build.rounds) > 1 else []
        print(
            f"{name:<10}{medians[name] * 1e6:8.2f}{medians[name] / medians['untraced']:8.3f}"
            f"{best[name] * 1e6:8.2f}{best[name] / best['untraced']:8.3f}   "
            + " ".join(f"{q * 1e6:.1f}" for q in quartiles)
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=25, help="rounds of each build")
    parser.add_argument(
        "--baseline", default=None, help="git ref of the untraced build (default: see above)"
    )
    parser.add_argument("--worker", choices=BUILDS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        _worker(arguments.worker, arguments.requests)
    else:
        main(arguments.requests, arguments.rounds, arguments.baseline or _baseline_ref())
