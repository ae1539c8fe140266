"""`make bench`: the fetchAudiences benchmark on SQLite and PostgreSQL, against the limit.

    python -m bench.run [--duration 10] [--only sqlite|postgres] [--regenerate] [--no-profile]
                        [--orgs N] [--write-docs]

For each database: build (or reuse) the 1M-segment dataset, measure the limit (bare ASGI and
RSGI apps on granian that read the whole request body and answer the same bytes: the better of
the two), start `zyntro serve --workers 1` pinned to CPU 1, check that it answers what the
dataset says, then drive it with wrk pinned to CPU 0 (1 thread, 64 connections): warm, cold and
the error mix; profile it with py-spy; measure the limit again; repeat warm and cold with
`--workers 2`; then the writes (bench/writes.py). Prints the tables; only with `--write-docs`
does it write them into docs/performance.md (between the `bench:begin`/`bench:end` markers,
so text around them is kept). It leaves no database behind: the PostgreSQL databases it
creates are dropped at the end, also when it fails.

Datasets: the SQLite file is kept in bench/.data/ and reused while the generator version, the
schema head and the scale match (each run serves a fresh copy of it, so the server's
`last_used_at` writes never reach the cached file). PostgreSQL's `zyntro_bench` database is
dropped and generated again on every run (35-60 s on this machine).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from bench.generate import GENERATOR_VERSION, Scale, make_keys
from bench.writes import WriteFigures, measure_edits, measure_import, percentile
from zyntro.store import migrate

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DATA = BENCH / ".data"
BIN = Path(sys.executable).parent
DOCS = ROOT / "docs" / "performance.md"
PATH = "/apis/public/fetchAudiences.php"
HOST = "127.0.0.1"


def _free_port() -> int:
    """A port nothing listens on now: another benchmark (another checkout's `make bench`) may
    hold 18080, and its /healthz would pass for ours."""
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


SERVER_PORT = _free_port()
LIMIT_PORT = _free_port()
SERVER_CPU = "1"
WRK_CPU = "0"
CONNECTIONS = 64
WARMUP_SECONDS = 2
PROFILE_SECONDS = 5
# One key hammers the warm brand ~10k times a second, and wrk sends every invalid key from one
# address: far over any real limit. The limiters stay on (their cost is measured) with limits
# nothing reaches, so every request takes its full path (no cheap 429s in the error mix).
RATE_LIMIT = "1000000000/minute"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# Wide enough for the table when the output is a file or a pipe (Rich assumes 80 columns).
console = Console(width=None if sys.stdout.isatty() else 200)

# kind -> (HTTP status, error code) that the server must answer
ERROR_KINDS: dict[str, tuple[int, str]] = {
    "bad_checksum": (401, "invalid_api_key"),
    "unknown_key": (401, "invalid_api_key"),
    "wrong_org": (403, "org_mismatch"),
    "other_orgs_brand": (404, "brand_not_found"),
    "no_segments": (404, "no_segments"),
}


class BenchError(Exception):
    """The harness could not measure (server down, wrong answers, missing tool)."""


# --- results ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    database: str
    scenario: str
    workers: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[int, int]
    worker_peak_mb: float
    tree_peak_mb: float
    cpu_percent: float
    client_percent: float
    other_percent: float
    limit_rps: float | None = None
    no_read_rps: float | None = None  # the bare RSGI app that does not read the request
    verdict: str = ""

    @property
    def ratio(self) -> float | None:
        return self.rps / self.limit_rps if self.limit_rps else None

    @property
    def no_read_ratio(self) -> float | None:
        return self.rps / self.no_read_rps if self.no_read_rps else None


@dataclass
class Profile:
    database: str
    scenario: str
    samples: int = 0
    by_package: list[tuple[str, float]] = field(default_factory=list)
    leaves: list[tuple[str, float]] = field(default_factory=list)
    project: list[tuple[str, float]] = field(default_factory=list)
    error: str = ""


@dataclass
class DatabaseRun:
    name: str
    url: str
    generation: str
    outcomes: list[Outcome] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warm_bytes: int = 0
    writes: WriteFigures | None = None
    import_seconds: float | None = None


# --- tools -----------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("wrk is missing: installing it from Debian (apt-get install wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk could not be installed")
    return found


def py_spy() -> str | None:
    candidate = BIN / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def load_average() -> list[str]:
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[:3]


def machine() -> dict[str, str]:
    cpu = "unknown"
    memory = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) // 1024:,} MiB"
                break
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    granian = subprocess.run(
        [str(BIN / "granian"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "uname -a": subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip(),
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "CPU": cpu,
        "memory": memory,
        "Python": platform.python_version(),
        "granian": granian,
        "wrk": wrk.split("Copyright")[0].strip() or "wrk",
        "SQLite": sqlite3.sqlite_version,
    }


# --- processes -------------------------------------------------------------------------------


def tree(root: int) -> list[int]:
    """`root` and all its descendants (from /proc/<pid>/task/<tid>/children)."""
    found = [root]
    index = 0
    while index < len(found):
        pid = found[index]
        index += 1
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return found


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def _busy_ticks() -> int:
    """CPU time spent on anything but idling, all CPUs (the first line of /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait
    return sum(fields[:8]) - fields[3] - fields[4]


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Sampler:
    """Samples the RSS of a process tree every 100 ms; CPU shares over the whole span.

    `cpu_percent`: the server tree's CPU time (100 = one core). `client_percent`: the CPU time of
    the children this process reaped meanwhile (the wrk run). `other_percent`: the rest of the
    machine's busy time (PostgreSQL's backends, and whatever else runs on the machine).
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.worker_peak_kb = 0
        self.tree_peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0
        self._ticks = 0
        self._busy = 0
        self._children = 0.0
        self.cpu_percent = 0.0
        self.client_percent = 0.0
        self.other_percent = 0.0

    def __enter__(self) -> Sampler:
        self._started = time.monotonic()
        self._ticks = _cpu_ticks(tree(self.root))
        self._busy = _busy_ticks()
        self._children = _children_cpu_seconds()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        pids = tree(self.root)
        seconds = time.monotonic() - self._started
        hertz = os.sysconf("SC_CLK_TCK")
        server = (_cpu_ticks(pids) - self._ticks) / hertz
        client = _children_cpu_seconds() - self._children
        busy = (_busy_ticks() - self._busy) / hertz
        self.cpu_percent = 100.0 * server / seconds
        self.client_percent = 100.0 * client / seconds
        self.other_percent = max(0.0, 100.0 * (busy - server - client) / seconds)
        for pid in pids[1:]:  # VmHWM: a worker's peak since it started, between samples too
            self.worker_peak_kb = max(self.worker_peak_kb, _status_kb(pid, "VmHWM:"))

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.root)
            sizes = [_status_kb(pid, "VmRSS:") for pid in pids]
            self.tree_peak_kb = max(self.tree_peak_kb, sum(sizes))
            if len(sizes) > 1:
                self.worker_peak_kb = max(self.worker_peak_kb, *sizes[1:])
            self._stop.wait(0.1)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def workers(self) -> list[int]:
        return tree(self.process.pid)[1:]

    def url(self, path: str = PATH) -> str:
        return f"http://{HOST}:{self.port}{path}"


@contextmanager
def serve(
    command: Sequence[str], env: dict[str, str], log: Path, port: int, cpu: str | None
) -> Iterator[Server]:
    """Start a server in its own session (optionally pinned), wait for it, stop it after."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pinned = ["taskset", "-c", cpu, *command] if cpu else list(command)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            pinned,
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, log, port)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"the server exited at start; see {server.log}:\n{_tail(server.log)}")
        try:
            connection = http.client.HTTPConnection(HOST, server.port, timeout=2)
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            connection.close()
            if status == 200 and server.process.poll() is None:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the server did not answer /healthz in {timeout:.0f} s; see {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server we started: its own process group (start_new_session), gently first."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- datasets --------------------------------------------------------------------------------


def schema_head() -> str | None:
    engine = sa.create_engine("sqlite://")
    try:
        return migrate.head_revision(engine)
    finally:
        engine.dispose()


def run_generator(url: str, sidecar: Path, scale: Scale) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.generate",
            "--database-url",
            url,
            "--sidecar",
            str(sidecar),
            "--orgs",
            str(scale.orgs),
            "--brands-per-org",
            str(scale.brands_per_org),
            "--segments-per-brand",
            str(scale.segments_per_brand),
        ],
        cwd=ROOT,
        check=True,
    )
    return time.monotonic() - started


def sqlite_dataset(scale: Scale, regenerate: bool) -> tuple[str, Path, str]:
    """The cached SQLite dataset (made when missing or stale), copied for this run to serve."""
    folder = DATA / "sqlite"
    pristine, sidecar = folder / "dataset.db", folder / "dataset.json"
    wanted = {"generator_version": GENERATOR_VERSION, "schema_head": schema_head()}
    cached: dict[str, Any] = {}
    if sidecar.exists() and pristine.exists() and not regenerate:
        cached = json.loads(sidecar.read_text())
    fresh = all(cached.get(k) == v for k, v in wanted.items()) and cached.get("scale") == (
        scale.__dict__
    )
    if fresh:
        generation = (
            f"reused the cached file (generated {cached['generated_at']} UTC "
            f"in {cached['seconds']} s)"
        )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        sidecar.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{pristine}{suffix}").unlink(missing_ok=True)
        console.rule("SQLite: generating the dataset")
        seconds = run_generator(f"sqlite:///{pristine}", sidecar, scale)
        generation = f"generated in {seconds:.1f} s"
    served = folder / "served.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{served}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, served)
    return f"sqlite:///{served}", sidecar, generation


BENCH_DATABASE = "zyntro_bench"
IMPORT_DATABASE = "zyntro_bench_import"


def create_database(admin_url: str, name: str) -> str:
    """A new, empty PostgreSQL database `name` (dropped first if a failed run left it); its URL.
    `drop_databases` removes it when the run ends."""
    admin = make_url(admin_url)
    try:
        with psycopg.connect(
            admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL at {admin.host}:{admin.port} is not reachable: {exc}"
        ) from exc
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_databases(admin_url: str) -> None:
    """Drop the databases this run created: `make bench` leaves nothing behind."""
    admin = make_url(admin_url).render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            for name in (BENCH_DATABASE, IMPORT_DATABASE):
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except psycopg.OperationalError as exc:
        console.print(f"[red]could not drop the benchmark databases:[/red] {exc}")


def postgres_dataset(admin_url: str, scale: Scale) -> tuple[str, Path, str]:
    """A fresh `zyntro_bench` database on every run, generated into (dropped at the end)."""
    folder = DATA / "postgresql"
    folder.mkdir(parents=True, exist_ok=True)
    sidecar = folder / "dataset.json"
    sidecar.unlink(missing_ok=True)
    url = create_database(admin_url, BENCH_DATABASE)
    console.rule("PostgreSQL: generating the dataset")
    seconds = run_generator(url, sidecar, scale)
    return url, sidecar, f"generated in {seconds:.1f} s (a new database, dropped after the run)"


def postgres_admin_url(given: str | None) -> str:
    if given:
        return given
    for user in ("postgres", "root"):
        url = f"postgresql://{user}@127.0.0.1:5432/postgres"
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return url
        except psycopg.OperationalError:
            continue
    raise BenchError("PostgreSQL on 127.0.0.1:5432 takes neither user postgres nor root")


def postgres_version(url: str) -> str:
    with psycopg.connect(make_url(url).render_as_string(hide_password=False)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


# --- request bodies --------------------------------------------------------------------------


def _body(api_key: str, org_id: str, brand_id: str) -> str:
    return json.dumps({"api_key": api_key, "org_id": org_id, "brand_id": brand_id})


@dataclass
class Bodies:
    warm: Path
    cold: Path
    errors: Path
    warm_triple: tuple[str, str, str]
    cold_sample: list[tuple[str, str, str]]
    error_sample: dict[str, tuple[str, str, str]]
    segments_per_brand: int


def error_triples(
    cold: Sequence[Sequence[str]], empty: dict[str, str], count: int, rng: random.Random
) -> list[tuple[str, tuple[str, str, str]]]:
    """`count` (kind, triple) of each error kind, shuffled; the keys are the real cold keys."""
    made: list[tuple[str, tuple[str, str, str]]] = []
    unknown = make_keys(count)
    for index in range(count):
        key, org, brand = cold[rng.randrange(len(cold))]
        _, other_org, other_brand = cold[rng.randrange(len(cold))]
        while other_org == org and len(empty) > 1:
            _, other_org, other_brand = cold[rng.randrange(len(cold))]
        broken = key[:-1] + ("A" if key[-1] != "A" else "B")  # the checksum no longer fits
        made.append(("bad_checksum", (broken, org, brand)))
        made.append(("unknown_key", (unknown[index], org, brand)))
        made.append(("wrong_org", (key, other_org, other_brand)))
        made.append(("other_orgs_brand", (key, org, other_brand)))
        made.append(("no_segments", (key, org, empty[org])))
    rng.shuffle(made)
    return made


def render_bodies(sidecar: Path, folder: Path) -> Bodies:
    """The request bodies wrk sends, one JSON body a line (read by the Lua scripts)."""
    data = json.loads(sidecar.read_text())
    rng = random.Random(20_261_126)
    cold: list[list[str]] = data["cold"]
    empty = {org: brand for org, brand in data["empty_brands"]}
    folder.mkdir(parents=True, exist_ok=True)
    warm = tuple(data["warm"])
    (folder / "warm.txt").write_text(_body(*warm) + "\n")
    (folder / "cold.txt").write_text("".join(_body(*triple) + "\n" for triple in cold))
    errors = error_triples(cold, empty, 20_000, rng)
    (folder / "errors.txt").write_text("".join(_body(*triple) + "\n" for _, triple in errors))
    sample: dict[str, tuple[str, str, str]] = {}
    for kind, triple in errors:
        sample.setdefault(kind, triple)
    return Bodies(
        warm=folder / "warm.txt",
        cold=folder / "cold.txt",
        errors=folder / "errors.txt",
        warm_triple=(warm[0], warm[1], warm[2]),
        cold_sample=[(t[0], t[1], t[2]) for t in rng.sample(cold, 5)],
        error_sample=sample,
        segments_per_brand=int(data["scale"]["segments_per_brand"]),
    )


# --- checks ----------------------------------------------------------------------------------


def post(port: int, triple: tuple[str, str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(
            "POST", PATH, body=_body(*triple), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# Added by granian to every answer, the bare apps' included: not theirs to send.
_SERVER_HEADERS = {"content-length", "date", "server", "connection"}


def save_warm_response(folder: Path, headers: dict[str, str], body: bytes) -> None:
    """The warm answer's bytes and headers, which the bare apps of the limit send back."""
    (folder / "warm-response.json").write_bytes(body)
    kept = [[name, value] for name, value in headers.items() if name not in _SERVER_HEADERS]
    (folder / "warm-response.headers.json").write_text(json.dumps(kept, indent=1) + "\n")


def check_answers(server: Server, bodies: Bodies) -> tuple[dict[str, str], bytes]:
    """The server answers what the dataset says; returns the warm response's headers and body
    (for the limit)."""
    status, headers, warm = post(server.port, bodies.warm_triple)
    if status != 200 or len(json.loads(warm).get("data", [])) != 3:
        raise BenchError(f"warm request: HTTP {status} {warm[:300]!r}")
    if headers.get("content-type") != "application/json; charset=utf-8":
        raise BenchError(f"warm request: content-type {headers.get('content-type')!r}")
    for triple in bodies.cold_sample:
        status, _, body = post(server.port, triple)
        if status != 200 or len(json.loads(body)["data"]) != bodies.segments_per_brand:
            raise BenchError(f"cold request: HTTP {status} {body[:300]!r}")
    for kind, (expected_status, code) in ERROR_KINDS.items():
        status, _, body = post(server.port, bodies.error_sample[kind])
        if status != expected_status or json.loads(body).get("code") != code:
            raise BenchError(f"{kind}: wanted {expected_status} {code}, got {status} {body!r}")
    return headers, warm


# --- wrk -------------------------------------------------------------------------------------


def wrk(
    script: str, bodies: Path, url: str, seconds: int, log: Path | None = None
) -> dict[str, Any]:
    command = [
        "taskset",
        "-c",
        WRK_CPU,
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(BENCH / script),
        url,
        "--",
        str(bodies),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if log is not None:
        log.write_text(" ".join(command) + "\n\n" + done.stdout + done.stderr)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    result: dict[str, Any] = json.loads(match.group(1))
    return result


def measure(
    database: str,
    scenario: str,
    workers: str,
    server: Server,
    script: str,
    bodies: Path,
    seconds: int,
    logs: Path,
) -> Outcome:
    console.print(f"  {database} · {scenario} · workers {workers}: warm-up, then {seconds} s")
    wrk(script, bodies, server.url(), WARMUP_SECONDS)
    with Sampler(server.process.pid) as sampler:
        result = wrk(script, bodies, server.url(), seconds, logs / f"wrk-{scenario}.txt")
    if server.process.poll() is not None:
        raise BenchError(f"the server died during {scenario}; see {server.log}")
    seconds_run = result["duration_us"] / 1e6
    socket_errors = sum(
        result[name] for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    outcome = Outcome(
        database=database,
        scenario=scenario,
        workers=workers,
        rps=result["requests"] / seconds_run,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        non_2xx=int(result["status_errors"]),
        socket_errors=int(socket_errors),
        statuses={int(k): int(v) for k, v in result["statuses"].items()},
        worker_peak_mb=sampler.worker_peak_kb / 1024,
        tree_peak_mb=sampler.tree_peak_kb / 1024,
        cpu_percent=sampler.cpu_percent,
        client_percent=sampler.client_percent,
        other_percent=sampler.other_percent,
    )
    console.print(
        f"    {outcome.rps:,.0f} rps, p50 {outcome.p50_ms:.1f} ms, p99 {outcome.p99_ms:.1f} ms, "
        f"non-2xx {outcome.non_2xx}, worker RSS {outcome.worker_peak_mb:.0f} MB"
    )
    return outcome


# --- profile ---------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
_PACKAGES = (
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg", "psycopg"),
    ("sqlite3/", "sqlite3"),
    ("zyntro/", "zyntro"),
    ("anyio/", "anyio (threads)"),
    ("asyncio/", "asyncio (event loop)"),
    ("selectors.py", "asyncio (event loop)"),
    ("granian/", "granian (Python side)"),
    ("threading.py", "threading"),
    ("queue.py", "threading"),
    ("concurrent/", "threading"),
    ("logging/", "logging"),
    ("starlette/", "Starlette"),
    ("fastapi/", "FastAPI"),
    ("prometheus_client/", "prometheus_client"),
    ("orjson", "orjson"),
    ("json/", "json"),
    ("limits/", "limits"),
)


def _package(file: str) -> str:
    for marker, name in _PACKAGES:
        if marker in file:
            return name
    return "other (stdlib, granian glue)"


def _short(frame: str) -> tuple[str, str]:
    """(`function (short/path.py)`, file) of a py-spy frame `function (path:line)`."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    file = match.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    if file.startswith(".") and "/" in file:  # "/lib/python3.11/x.py" -> "x.py"
        file = file.split("/", 1)[1]
    return f"{match.group('function')} ({file})", file


def summarise(raw: Path, profile: Profile, top: int = 12) -> None:
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(frame) for frame in stack.split(";")]
        leaf, leaf_file = frames[-1]
        leaves[leaf] += count
        packages[_package(leaf_file)] += count
        # The project's frames, less the CLI ones every sample has (main -> serve -> granian).
        project = {
            n for n, f in frames if f.startswith("zyntro/") and not f.startswith("zyntro/cli")
        }
        for name in project:
            inclusive[name] += count
    profile.samples = total
    if not total:
        profile.error = "no samples"
        return

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100.0 * n / total) for name, n in counter.most_common(top)]

    profile.by_package = share(packages)
    profile.leaves = share(leaves)
    profile.project = share(inclusive)


def run_profile(
    database: str, scenario: str, server: Server, script: str, bodies: Path, logs: Path
) -> Profile:
    profile = Profile(database, scenario)
    spy = py_spy()
    if spy is None:
        profile.error = "py-spy is not installed (it is in the dev extras: make install)"
        return profile
    workers = server.workers
    if not workers:
        profile.error = "no worker process found"
        return profile
    raw = logs / f"profile-{scenario}.txt"
    console.print(f"  {database} · {scenario}: py-spy for {PROFILE_SECONDS} s under load")
    load = threading.Thread(
        target=wrk, args=(script, bodies, server.url(), PROFILE_SECONDS + 3), daemon=True
    )
    load.start()
    time.sleep(1.5)
    done = subprocess.run(
        [
            "taskset",
            "-c",
            WRK_CPU,
            spy,
            "record",
            "--pid",
            str(workers[0]),
            "--duration",
            str(PROFILE_SECONDS),
            "--rate",
            "100",
            "--nonblocking",
            "--function",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        capture_output=True,
        text=True,
    )
    load.join()
    if done.returncode != 0 or not raw.exists():
        profile.error = f"py-spy failed: {(done.stderr or done.stdout).strip()[:300]}"
        return profile
    summarise(raw, profile)
    return profile


# --- one database ----------------------------------------------------------------------------


def server_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    env.update(
        {
            "ZYNTRO_DATABASE_URL": url,
            "ZYNTRO_RATE_LIMIT": RATE_LIMIT,
            "ZYNTRO_INVALID_KEY_RATE_LIMIT": RATE_LIMIT,
            "ZYNTRO_SECRET_KEY": secrets.token_hex(16),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def zyntro_serve(workers: int) -> list[str]:
    return [
        str(BIN / "zyntro"),
        "serve",
        "--host",
        HOST,
        "--port",
        str(SERVER_PORT),
        "--workers",
        str(workers),
    ]


def bench_database(
    name: str, url: str, sidecar: Path, generation: str, seconds: int, profile: bool
) -> DatabaseRun:
    run = DatabaseRun(name, url, generation)
    run.notes.append("load average at start: " + " ".join(load_average()))
    folder = DATA / name.lower()
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    bodies = render_bodies(sidecar, folder / "bodies")
    env = server_env(url)
    one, two = "1 (CPU 1)", "2 (CPUs 0-1)"

    limit_env = {
        **env,
        "BENCH_LIMIT_BODY": str(folder / "warm-response.json"),
        "BENCH_LIMIT_HEADERS": str(folder / "warm-response.headers.json"),
    }

    def bare(scenario: str, interface: str, target: str) -> Outcome:
        """A bare app on granian serving the warm response's bytes (the limit, or RSGI's)."""
        console.rule(f"{name}: {scenario} (bare {interface} app on granian), CPU {SERVER_CPU}")
        command = [
            str(BIN / "granian"),
            "--interface",
            interface,
            "--workers",
            "1",
            "--host",
            HOST,
            "--port",
            str(LIMIT_PORT),
            "--backlog",
            "2048",
            "--working-dir",
            str(BENCH),
            target,
        ]
        log = logs / f"{re.sub(r'[^a-z0-9]+', '-', scenario.lower()).strip('-')}.log"
        with serve(command, limit_env, log, LIMIT_PORT, SERVER_CPU) as server:
            return measure(name, scenario, one, server, "warm.lua", bodies.warm, seconds, logs)

    # The limit before and after the one-worker rows: the ratios take their mean, and the
    # two say how much the machine drifted meanwhile. The response bytes come from the server.
    with serve(zyntro_serve(1), env, logs / "server-0.log", SERVER_PORT, SERVER_CPU) as server:
        save_warm_response(folder, *check_answers(server, bodies))

    def limit(when: str) -> tuple[Outcome, Outcome]:
        """The two bare apps that read the request; the limit is the better of the two."""
        return (
            bare(f"limit: ASGI app, reads body, {when}", "asgi", "limit_app:app_read"),
            bare(f"limit: RSGI app, reads body, {when}", "rsgi", "limit_app:rsgi_read"),
        )

    before = limit("before")
    console.rule(f"{name}: zyntro serve --workers 1, pinned to CPU {SERVER_CPU}")
    with serve(zyntro_serve(1), env, logs / "server-1.log", SERVER_PORT, SERVER_CPU) as server:
        warm_headers, warm_body = check_answers(server, bodies)
        save_warm_response(folder, warm_headers, warm_body)
        run.warm_bytes = len(warm_body)
        (logs / "w1").mkdir(exist_ok=True)
        # Each profile right after its row, so it sees the server in the same state (the
        # background work a cold run leaves, such as last_used_at writes, included).
        for scenario, script, path, profiled in (
            ("warm", "warm.lua", bodies.warm, profile),
            ("cold", "cold.lua", bodies.cold, profile),
            ("error mix", "errors.lua", bodies.errors, False),
        ):
            run.outcomes.append(
                measure(name, scenario, one, server, script, path, seconds, logs / "w1")
            )
            if profiled:
                run.profiles.append(run_profile(name, scenario, server, script, path, logs))

    after = limit("after")
    no_read = bare("reference: RSGI app, no read", "rsgi", "limit_app:rsgi")
    run.outcomes[:0] = [*before, *after, no_read]
    best_before = max(before, key=lambda o: o.rps)
    best_after = max(after, key=lambda o: o.rps)
    limit_rps = (best_before.rps + best_after.rps) / 2
    run.notes.append(
        f"limit (the better app that reads the body) before and after the one-worker rows: "
        f"{best_before.rps:,.0f} ({best_before.scenario.split(':')[1].split(',')[0].strip()}) "
        f"and {best_after.rps:,.0f} ({best_after.scenario.split(':')[1].split(',')[0].strip()})"
        f" rps ({(best_after.rps - best_before.rps) / best_before.rps:+.0%}); ratios use "
        f"their mean, {limit_rps:,.0f}"
    )

    console.rule(f"{name}: zyntro serve --workers 2, not pinned (wrk shares CPU {WRK_CPU})")
    with serve(zyntro_serve(2), env, logs / "server-2.log", SERVER_PORT, None) as server:
        check_answers(server, bodies)
        (logs / "w2").mkdir(exist_ok=True)
        for scenario, script, path in (
            ("warm", "warm.lua", bodies.warm),
            ("cold", "cold.lua", bodies.cold),
        ):
            run.outcomes.append(
                measure(name, scenario, two, server, script, path, seconds, logs / "w2")
            )

    console.rule(f"{name}: writes (bench/writes.py)")
    run.writes = measure_edits(url, name)

    for outcome in run.outcomes:
        outcome.limit_rps = limit_rps
        outcome.no_read_rps = no_read.rps
        outcome.verdict = verdict(outcome)
    busiest = max(
        run.outcomes, key=lambda o: o.other_percent if o.scenario.startswith("limit") else 0
    )
    if busiest.other_percent > 25:
        run.notes.append(
            f"WARNING: other processes kept {busiest.other_percent:.0f} % of a core busy during "
            "the limit row (server and wrk excluded): the machine was shared, and every row of "
            "this run is disturbed (compare the CPU columns)"
        )
    errors = next(o for o in run.outcomes if o.scenario == "error mix")
    unexpected = {s: n for s, n in errors.statuses.items() if s not in {401, 403, 404}}
    run.notes.append(
        "error mix statuses: "
        + ", ".join(f"{s}: {n:,}" for s, n in sorted(errors.statuses.items()))
        + (f" (UNEXPECTED: {unexpected})" if unexpected else " (all expected)")
    )
    return run


def verdict(outcome: Outcome) -> str:
    """The PERFORMANCE.md targets, for the one-worker rows."""
    ratio = outcome.ratio or 0.0
    rss_ok = outcome.worker_peak_mb <= 300
    if not outcome.workers.startswith("1"):
        return ""
    if outcome.scenario == "warm":
        ok = ratio >= 0.75 and outcome.p99_ms <= 15 and outcome.non_2xx == 0 and rss_ok
        return "met" if ok else "missed"
    if outcome.scenario == "cold":
        ok = ratio >= 0.25 and outcome.non_2xx == 0 and outcome.socket_errors == 0 and rss_ok
        return "met" if ok else "missed"
    if outcome.scenario == "error mix":
        ok = set(outcome.statuses) <= {401, 403, 404} and outcome.socket_errors == 0
        return "as expected" if ok else "UNEXPECTED"
    return ""


# --- report ----------------------------------------------------------------------------------

HEADERS = (
    "database",
    "scenario",
    "workers",
    "rps",
    "p50 ms",
    "p99 ms",
    "non-2xx",
    "sock err",
    "worker peak RSS",
    "all procs RSS",
    "server CPU",
    "wrk CPU",
    "other CPU",
    "× limit",
    "× no-read app",
    "target",
)


def cells(outcome: Outcome) -> list[str]:
    ratio = outcome.ratio
    return [
        outcome.database,
        outcome.scenario,
        outcome.workers,
        f"{outcome.rps:,.0f}",
        f"{outcome.p50_ms:.1f}",
        f"{outcome.p99_ms:.1f}",
        f"{outcome.non_2xx:,}",
        f"{outcome.socket_errors:,}",
        f"{outcome.worker_peak_mb:.0f} MB",
        f"{outcome.tree_peak_mb:.0f} MB",
        f"{outcome.cpu_percent:.0f} %",
        f"{outcome.client_percent:.0f} %",
        f"{outcome.other_percent:.0f} %",
        f"{ratio:.2f}" if ratio is not None else "",
        f"{outcome.no_read_ratio:.2f}" if outcome.no_read_ratio is not None else "",
        outcome.verdict,
    ]


WRITE_HEADERS = (
    "database",
    "what",
    "p50 ms",
    "p99 ms",
    "max ms",
    "n",
    "target",
)


def write_rows(runs: Sequence[DatabaseRun]) -> list[list[str]]:
    """The writes table: edit latencies, another organization's delay, the import."""
    rows: list[list[str]] = []
    for run in runs:
        w = run.writes
        if w is not None:
            alone = percentile(w.small, 0.5)

            def row(
                what: str, values: Sequence[float], target: str, name: str = run.name
            ) -> list[str]:
                return [
                    name,
                    what,
                    f"{percentile(values, 0.5):.1f}",
                    f"{percentile(values, 0.99):.1f}",
                    f"{max(values):.1f}",
                    f"{len(values)}",
                    target,
                ]

            big_p99 = percentile(w.big, 0.99)
            ratio = percentile(w.big, 0.5) / alone
            delay = max(w.contended) - alone
            rows += [
                row(
                    "segment edit, brand of 1,000 segments",
                    w.big,
                    f"p99 ≤ 20 ms: {'met' if big_p99 <= 20 else 'missed'}",
                ),
                row(
                    "segment edit, brand of 1 segment",
                    w.small,
                    f"1,000-segment edit {ratio:.1f}× this (PERFORMANCE.md: ≤ 2×)",
                ),
                row(
                    "another organization's edit, while a second process edits the "
                    f"1,000-segment brand non-stop ({w.hammer_edits:,} edits in "
                    f"{w.hammer_seconds:.1f} s)",
                    w.contended,
                    f"delay (max − alone p50) {delay:.0f} ms ≤ 100 ms: "
                    + ("met" if delay <= 100 else "missed"),
                ),
            ]
        if run.import_seconds is not None:
            seconds = run.import_seconds
            rows.append(
                [
                    run.name,
                    "`zyntro segment import`, 100,000 segments across 100 brands (wall, "
                    "CLI start included)",
                    f"{seconds * 1000:,.0f}",
                    "",
                    "",
                    "1",
                    f"≤ 20 s: {'met' if seconds <= 20 else 'missed'}",
                ]
            )
    return rows


def print_table(runs: Sequence[DatabaseRun]) -> None:
    table = Table(title="fetchAudiences: wrk -t1 -c64 on CPU 0, server on CPU 1")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in HEADERS[:3] + ("target",) else "right")
    for run in runs:
        for outcome in run.outcomes:
            table.add_row(*cells(outcome))
        table.add_section()
    console.print(table)
    writes = Table(title="Writes (bench/writes.py), ms")
    for header in WRITE_HEADERS:
        writes.add_column(header)
    for cells_ in write_rows(runs):
        writes.add_row(*cells_)
    console.print(writes)
    for run in runs:
        console.print(f"{run.name}: dataset {run.generation}")
        for note in run.notes:
            console.print(f"{run.name}: {note}")


def markdown(runs: Sequence[DatabaseRun], info: dict[str, str], seconds: int, scale: Scale) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        BEGIN,
        "## Latest `make bench` run",
        "",
        f"Run on {now}. Written by `bench/run.py`; everything between the `bench:` markers is",
        "replaced on the next run.",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {key} | `{value}` |" for key, value in info.items()),
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|"
        + "|".join("---" if i < 3 or h == "target" else "---:" for i, h in enumerate(HEADERS))
        + "|",
    ]
    for run in runs:
        lines.extend("| " + " | ".join(cells(outcome)) + " |" for outcome in run.outcomes)
    lines += [
        "",
        "Writes (`bench/writes.py`, through the service on the same database, after the rows "
        "above; the import on a new, empty database):",
        "",
        "| " + " | ".join(WRITE_HEADERS) + " |",
        "|---|---|---:|---:|---:|---:|---|",
        *("| " + " | ".join(row) + " |" for row in write_rows(runs)),
    ]
    lines += ["", "Datasets and notes:", ""]
    for run in runs:
        lines.append(f"- {run.name}: dataset {run.generation}.")
        lines.extend(f"- {run.name}: {note}." for note in run.notes)
    lines += [
        "",
        "### How it was measured",
        "",
        f"- wrk {CONNECTIONS} connections, 1 thread, {seconds} s per row after a "
        f"{WARMUP_SECONDS} s warm-up, `--timeout 10s`, pinned to CPU {WRK_CPU}; p50/p99 from "
        "wrk's latency histogram (a closed loop: latency under saturation, no coordinated-"
        "omission correction).",
        f"- One worker: `zyntro serve --workers 1` under `taskset -c {SERVER_CPU}`. Two workers:"
        f" not pinned, so the second worker shares CPU {WRK_CPU} with wrk (and PostgreSQL's "
        "backends run wherever the scheduler puts them in every row).",
        "- limit: `bench/limit_app.py`, two bare apps on granian started the same way "
        "(`--workers 1 --backlog 2048`, no access log) that read the whole request body "
        "(ASGI: `await receive()` until no more body; RSGI: `await protocol()`) and answer the "
        "warm response's bytes and headers; each measured right before and right after the "
        "one-worker rows. The limit is the better of the two at each time, and `× limit` is "
        "rps over the mean of the before and after limits: the ratio the performance brief "
        "sets targets for (a correct endpoint must read its request, so it cannot do less).",
        "- reference: the same bytes from a bare RSGI app that does not read the request "
        "(`limit_app:rsgi`); `× no-read app` is rps over it. `zyntro serve` answers the public "
        "endpoint over RSGI (docs/decisions.md).",
        "- warm: one key and brand with `zyntro.demo`'s three seed segments "
        f"({max((run.warm_bytes for run in runs), default=0):,} bytes a response).",
        f"- cold: every request a random one of {scale.brands:,} (key, organization, brand) "
        f"triples; {scale.brands:,} brands × {scale.segments_per_brand} segments "
        f"({scale.segments:,} segments, ~6 KB responses) and {scale.brands:,} keys in "
        f"{scale.orgs:,} organizations.",
        "- error mix: equal parts bad checksum (401), well-formed unknown key (401), wrong "
        "organization (403), another organization's brand (404 brand_not_found) and a brand "
        "without segments (404 no_segments); every response is expected to be non-2xx.",
        "- The server runs as deployed: INFO access log (one JSON line a request, to a file), "
        "metrics on, both rate limiters on but set out of reach: "
        f"`ZYNTRO_RATE_LIMIT` and `ZYNTRO_INVALID_KEY_RATE_LIMIT` = `{RATE_LIMIT}` (one benchmark "
        "key makes ~10k requests a second, and every invalid key comes from one address; real "
        "limits would turn most of them into cheap 429s instead of measuring the full path).",
        "- The machine is shared: other processes (test suites, other servers) can take CPU from "
        "wrk or the server; the load average at the start of each database's run is in the "
        "notes, and a limit row far below ~14k rps, or a limit row whose server CPU is well "
        "under 100 %, says the run was disturbed.",
        "- worker peak RSS: the largest worker's VmHWM (its peak since it started: the rows of "
        "one server run in the order shown) and 100 ms VmRSS samples; all procs: the "
        "sampled sum over the granian process tree (counts pages shared after fork once per "
        "process).",
        "- CPU, 100 % = one core, over the row: server = the server's process tree; wrk = the "
        "wrk process; other = the rest of the machine's busy time (PostgreSQL's backends, and "
        "anything else running). A limit row's server CPU well under 100 % means the client "
        "side (wrk, sharing CPU 0 with whatever else runs) was the bottleneck.",
    ]
    profiles = [p for run in runs for p in run.profiles]
    if profiles:
        lines += [
            "",
            "### Where the time goes",
            "",
            f"py-spy (`record --nonblocking --function`, {PROFILE_SECONDS} s at 100 Hz) on the "
            "one worker under wrk load, right after the measured row of the same name (a "
            "separate wrk run, so py-spy never perturbs a measured row). Python frames only: "
            "time in granian's Rust threads is not sampled, and time inside C calls (sqlite3, "
            "psycopg, orjson) is charged to the Python function that made the call. Every thread "
            "is sampled; shares are of all non-idle samples, so a thread blocked inside a C call "
            "(a query waiting on PostgreSQL, a worker thread waiting for work) can count too, "
            "and the sample count can exceed 100 a second.",
        ]
        for prof in profiles:
            lines += ["", f"#### {prof.database} · {prof.scenario}", ""]
            if prof.error:
                lines.append(f"Not profiled: {prof.error}.")
                continue
            lines.append(
                f"{prof.samples:,} samples. By package (self time): "
                + ", ".join(f"{name} {pct:.0f} %" for name, pct in prof.by_package)
                + "."
            )
            lines += ["", "| self time | function |", "|---:|---|"]
            lines.extend(f"| {pct:.1f} % | `{name}` |" for name, pct in prof.leaves)
            if prof.project:
                lines += ["", "| inclusive | project function |", "|---:|---|"]
                lines.extend(f"| {pct:.1f} % | `{name}` |" for name, pct in prof.project)
    lines.append(END)
    return "\n".join(lines) + "\n"


PREAMBLE = """# Performance

`make bench` (`bench/run.py`) measures `POST /apis/public/fetchAudiences.php` on SQLite and
PostgreSQL against the limit of the stack it runs on (granian and bare apps that read the request
body and return the same bytes), by the method of the project's performance brief: wrk on CPU 0,
the server on CPU 1, ratios taken in the same run; then the writes (`bench/writes.py`). See
`bench/` for the dataset generator, the wrk scripts and the limit apps.

"""


def write_docs(section: str) -> None:
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    text = DOCS.read_text() if DOCS.exists() else PREAMBLE
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


# --- main ------------------------------------------------------------------------------------


IMPORT_ROWS = 100_000


def import_run(run: DatabaseRun, url: str) -> None:
    """`zyntro segment import` of 100k segments across brands into `url` (new and empty)."""
    console.rule(f"{run.name}: segment import of {IMPORT_ROWS:,} segments across brands")
    run.import_seconds = measure_import(url, IMPORT_ROWS)
    console.print(f"  {run.import_seconds:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The fetchAudiences benchmark (make bench).")
    parser.add_argument("--duration", type=int, default=10, help="seconds per row (>= 8)")
    parser.add_argument("--only", choices=("sqlite", "postgres"), help="one database only")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the SQLite dataset")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy step")
    parser.add_argument("--no-import", action="store_true", help="skip the 100k import")
    parser.add_argument(
        "--write-docs", action="store_true", help="write the run into docs/performance.md"
    )
    parser.add_argument(
        "--pg-admin-url", help="default postgresql://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--orgs", type=int, default=Scale.orgs, help="smaller runs, for trying")
    args = parser.parse_args(argv)
    scale = Scale(orgs=args.orgs)
    started = time.monotonic()
    admin: str | None = None
    try:
        ensure_wrk()
        info = machine()
        runs: list[DatabaseRun] = []
        if args.only in (None, "sqlite"):
            url, sidecar, generation = sqlite_dataset(scale, args.regenerate)
            run = bench_database(
                "SQLite", url, sidecar, generation, args.duration, not args.no_profile
            )
            runs.append(run)
            if not args.no_import:
                path = DATA / "sqlite" / "import.db"
                _remove_sqlite(path)
                try:
                    import_run(run, f"sqlite:///{path}")
                finally:
                    _remove_sqlite(path)
            _remove_sqlite(DATA / "sqlite" / "served.db")
        if args.only in (None, "postgres"):
            admin = postgres_admin_url(args.pg_admin_url)
            info["PostgreSQL"] = postgres_version(admin)
            url, sidecar, generation = postgres_dataset(admin, scale)
            run = bench_database(
                "PostgreSQL", url, sidecar, generation, args.duration, not args.no_profile
            )
            runs.append(run)
            if not args.no_import:
                import_run(run, create_database(admin, IMPORT_DATABASE))
    except (BenchError, subprocess.CalledProcessError) as exc:
        console.print(f"[red]bench failed:[/red] {exc}")
        return 1
    finally:
        if admin is not None:
            drop_databases(admin)
    print_table(runs)
    if args.write_docs:
        write_docs(markdown(runs, info, args.duration, scale))
        console.print(f"written to {DOCS.relative_to(ROOT)}")
    else:
        console.print("docs/performance.md left as it was (--write-docs writes this run into it)")
    console.print(f"make bench took {time.monotonic() - started:.0f} s")
    return 0


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", "-writer", "-writer-turn"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
