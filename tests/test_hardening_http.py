"""A hostile HTTP client (issue 11, findings 1, 2, 7, 11 and 12): request bodies capped and
timed on every route, metric labels from closed sets, paths decoded once, paths that are not
text. Each finding is tested over ASGI (in process) and over `zyntro serve` (granian's RSGI and
the ASGI bridge), the two ways a request reaches the app."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.dashboard import dashboard_app
from tests.helpers import assert_error_shape, raw_connection, read_until_closed
from tests.live import live_server
from zyntro.api.app import ZyntroApp
from zyntro.api.body import GRACE_SECONDS, MAX_READERS
from zyntro.cli.server import BACKPRESSURE
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store

PATH = "/apis/public/fetchAudiences.php"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
JSON = "application/json"
MIB = 1024 * 1024
HUGE = 200 * MIB


# --- driving the app over ASGI as a server would -------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def asgi_call(
    app: ZyntroApp,
    method: str,
    path: str,
    raw_path: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
    stall: bool = False,
    timeout: float = 10,
) -> Answer:
    """One request through `app` as an ASGI server passes it: `path` decoded once, `raw_path`
    as received (Starlette's TestClient decodes a path twice, so it cannot show finding 11).
    The body is `chunks`; with `stall`, the client then sends nothing more, ever."""
    pending = list(chunks or [])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or stall}
        if stall:
            await asyncio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return Answer(
        status=start["status"],
        headers={k.decode().lower(): v.decode("latin-1") for k, v in start.get("headers", [])},
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def assert_json_error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, (answer.status, answer.body[:300])
    assert answer.headers["content-type"].startswith(JSON), answer.headers
    body = answer.json()
    assert list(body) == ["status", "message", "code"], body
    assert body["code"] == code, body
    assert answer.headers.get("x-request-id"), answer.headers


# --- live servers ------------------------------------------------------------------------------


@dataclass
class Live:
    base_url: str
    world: World
    log: Path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


def _live_world(sqlite_template: Path, folder: Path) -> tuple[str, World]:
    path = folder / "hardening.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    store = Store(url)
    world = make_world(Service(store))
    store.dispose()
    return url, world


@pytest.fixture(scope="module")
def live(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One `zyntro serve` for the module's tests that need no settings of their own."""
    folder = tmp_path_factory.mktemp("hardening")
    url, world = _live_world(sqlite_template, folder)
    log = folder / "server.log"
    env = {"ZYNTRO_SECRET_KEY": SECRET, "ZYNTRO_LOG_LEVEL": "INFO"}
    with live_server(url, env=env, log=log) as base_url:
        yield Live(base_url, world, log)


def worker_pids(port: int) -> list[int]:
    """The worker processes of the `zyntro serve` listening on `port` (children of the one
    whose command line names the port)."""
    marker = f"serve\0--port\0{port}\0".encode()
    servers, parents = set(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker in cmdline:
            servers.add(int(entry.name))
        ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
        parents[int(entry.name)] = int(ppid.split()[1])
    workers = [pid for pid, ppid in parents.items() if ppid in servers]
    assert workers, f"no worker of the server on port {port}"
    return workers


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _status_and_body(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


# --- finding 1: bodies are capped on every route ------------------------------------------------


def test_finding_01_framework_bodies_are_capped_while_reading(
    service: Service, database_url: str, world: World
) -> None:
    assert Settings(database_url=database_url).max_body_bytes == MIB  # the documented default
    cap = 64 * 1024
    app = dashboard_app(service, database_url, max_body_bytes=cap)
    segments = f"/api/v1/brands/{world.brand_id}/segments"
    auth = (b"authorization", f"Bearer {world.owner_key}".encode())
    json_type = (b"content-type", JSON.encode())
    over = b"x" * (cap + 1)
    # Declared over the cap, no key: refused before the key is checked or the body read.
    declared = asgi_call(
        app,
        "POST",
        segments,
        segments.encode(),
        [json_type, (b"content-length", b"%d" % len(over))],
    )
    assert_json_error(declared, 413, "payload_too_large")
    assert "64 KiB" in declared.json()["message"]
    # Sent in pieces without a length: refused once the cap is passed.
    pieces = [b"x" * 16_384] * 5
    streamed = asgi_call(app, "POST", segments, segments.encode(), [json_type, auth], pieces)
    assert_json_error(streamed, 413, "payload_too_large")
    # A body within the cap is served as before.
    body = orjson.dumps(SEED_SEGMENT)
    created = asgi_call(app, "POST", segments, segments.encode(), [json_type, auth], [body])
    assert created.status == 201, created.body
    # The dashboard's forms: the same cap, answered as a dashboard page.
    with TestClient(app) as client:
        page = client.post("/app/sign-in", data={"email": "a@example.com", "padding": "x" * cap})
        assert page.status_code == 413, page.text[:300]
        assert page.headers["content-type"].startswith("text/html")
        assert "larger than 64 KiB" in page.text
        assert page.headers["x-request-id"]
        # ...and the public endpoint keeps its own 16 KiB.
        public = client.post(PATH, content=b"x" * 20_000, headers={"content-type": JSON})
        assert public.status_code == 413
        assert assert_error_shape(public)["code"] == "payload_too_large"


def _send_huge(port: int, path: str, chunked: bool) -> tuple[int, dict[str, str], bytes]:
    """POST 200 MiB of JSON-ish bytes, streamed from a generator, with a declared length or
    chunked; the answer, read until the server closes the connection."""

    def body() -> Iterator[bytes]:
        piece = b" " * 65_536
        for _ in range(HUGE // len(piece)):
            yield piece

    sock = raw_connection(port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\n{framing}\r\n\r\n"

    def write() -> None:
        try:
            sock.sendall(head.encode())
            for piece in body():
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what is left is not read

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        raw = read_until_closed(sock, 60)
    finally:
        sock.close()
        writer.join(timeout=30)
    return _status_and_body(raw)


@pytest.mark.slow
def test_finding_01_huge_bodies_leave_worker_memory_alone(live: Live) -> None:
    """200 MiB to an /api/v1 route without a key: 413, the connection closed, and the worker
    no bigger (before the fix it read every byte, then answered 400: RSS 86 -> 1080 MiB)."""
    url = f"/api/v1/brands/{live.world.brand_id}/segments"
    (worker,) = worker_pids(live.port)
    auth = {"authorization": f"Bearer {live.world.owner_key}"}
    warm = httpx.post(live.base_url + url, json={"segment_label": ""}, headers=auth, timeout=10)
    assert warm.status_code == 400, warm.text  # every code path of a write has run once
    before = rss_bytes(worker)
    for chunked in (False, True):
        status, headers, body = _send_huge(live.port, url, chunked)
        assert status == 413, (chunked, status, body[:300])
        assert orjson.loads(body)["code"] == "payload_too_large"
        assert headers.get("x-request-id")
    grown = rss_bytes(worker) - before
    print(f"worker RSS {before / MIB:.1f} MiB, grew {grown / MIB:.1f} MiB over two 200 MiB bodies")
    assert grown < 20 * MIB, grown
    assert httpx.get(live.base_url + "/healthz", timeout=5).status_code == 200


# --- finding 2: slow bodies are cut, and cannot take every slot ---------------------------------


def test_finding_02_a_body_slower_than_the_deadline_is_408(
    service: Service, database_url: str, world: World
) -> None:
    app = dashboard_app(service, database_url, body_timeout_seconds=0.5)
    segments = f"/api/v1/brands/{world.brand_id}/segments"
    json_type = (b"content-type", JSON.encode())
    for path in (segments, PATH):  # the framework's routes and the public endpoint
        started = time.monotonic()
        answer = asgi_call(
            app, "POST", path, path.encode(), [json_type], [b'{"api_key": '], stall=True
        )
        assert_json_error(answer, 408, "request_timeout")
        assert time.monotonic() - started < 3, path
    # The dashboard answers with a page.
    form = (b"content-type", b"application/x-www-form-urlencoded")
    page = asgi_call(app, "POST", "/app/sign-in", b"/app/sign-in", [form], [b"email="], stall=True)
    assert page.status == 408
    assert page.headers["content-type"].startswith("text/html")
    # A body that arrives in time is served as before.
    auth = (b"authorization", f"Bearer {world.owner_key}".encode())
    body = orjson.dumps(SEED_SEGMENT)
    created = asgi_call(app, "POST", segments, segments.encode(), [json_type, auth], [body])
    assert created.status == 201, created.body


SLOW_CONNECTIONS = 600  # more than granian's 512 slots a worker (BACKPRESSURE)
BODY_DEADLINE = 5.0


@pytest.mark.slow
def test_finding_02_slow_bodies_cannot_hold_the_server(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """600 connections each sending a body a byte a second: before the fix they held every
    slot of the worker, and /healthz and fetchAudiences waited for them (every probe timed
    out). Now, while they send, other clients are answered within 1 s, and every slow one is
    closed within the deadline (those past the readers' half of the slots after a second),
    with a 408 if it is answered at all."""
    assert SLOW_CONNECTIONS > BACKPRESSURE  # enough to take every slot, were they let
    assert MAX_READERS <= BACKPRESSURE // 2
    url, world = _live_world(sqlite_template, tmp_path)
    env = {"ZYNTRO_BODY_TIMEOUT_SECONDS": str(BODY_DEADLINE), "ZYNTRO_SECRET_KEY": SECRET}
    with live_server(url, env=env) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        paths = [f"/api/v1/brands/{world.brand_id}/segments", PATH, "/app/sign-in"]
        report = asyncio.run(_slow_bodies(base_url, port, paths, world))
    print(report.summary())
    assert report.probes and all(ok for ok, _ in report.probes), report.probes
    assert len(report.closed) == SLOW_CONNECTIONS, report.summary()
    assert max(report.closed) <= BODY_DEADLINE + 4, report.summary()  # + the wait to be read
    assert set(report.answers) <= {b"", b"HTTP/1.1 408"}, report.answers


@dataclass
class SlowReport:
    probes: list[tuple[bool, float]]
    closed: list[float]  # seconds from its headers to the server's close, per slow connection
    answers: set[bytes]
    held: int  # slow connections open when the probes began

    def summary(self) -> str:
        latencies = [f"{seconds:.3f}" for _, seconds in self.probes]
        closed = sorted(self.closed)
        span = f"{closed[0]:.1f}-{closed[-1]:.1f} s" if closed else "none"
        return (
            f"probe latencies {latencies} with {self.held} slow bodies open; "
            f"{len(closed)} slow ones closed after {span}"
        )


async def _slow_bodies(base_url: str, port: int, paths: list[str], world: World) -> SlowReport:
    started: list[float] = []
    closed: list[float] = []
    answers: set[bytes] = set()
    done = asyncio.Event()

    async def slow(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        path = paths[n % len(paths)]
        kind = "application/x-www-form-urlencoded" if path.startswith("/app") else JSON
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
            f"Content-Length: 1000\r\n\r\n{{".encode()
        )
        opened = time.monotonic()
        started.append(opened)
        received = b""
        try:
            while not done.is_set():
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 1.0)
                except TimeoutError:
                    writer.write(b" ")  # a byte a second
                    continue
                if not chunk:
                    closed.append(time.monotonic() - opened)
                    break
                received += chunk
        except (ConnectionError, OSError):
            closed.append(time.monotonic() - opened)
        finally:
            answers.add(received[:12])
            writer.close()

    tasks = [asyncio.create_task(slow(n)) for n in range(SLOW_CONNECTIONS)]
    while len(started) < SLOW_CONNECTIONS:  # every slow connection open, its body under way
        await asyncio.sleep(0.05)
    await asyncio.sleep(GRACE_SECONDS + 1)  # and as many of them held as will be
    probes: list[tuple[bool, float]] = []
    held = SLOW_CONNECTIONS - len(closed)
    async with httpx.AsyncClient(base_url=base_url, timeout=1.0) as client:
        for _ in range(3):
            for method, path, body in (("GET", "/healthz", None), ("POST", PATH, world.body())):
                started = time.monotonic()
                try:
                    response = await client.request(method, path, json=body)
                    ok = response.status_code == 200
                except httpx.TimeoutException:
                    ok = False
                probes.append((ok, time.monotonic() - started))
            await asyncio.sleep(0.3)
    deadline = time.monotonic() + BODY_DEADLINE + 5
    while len(closed) < SLOW_CONNECTIONS and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return SlowReport(probes, closed, answers, held)


# --- finding 7: metric labels from closed sets ---------------------------------------------------


def _request_series(metrics: str) -> list[str]:
    return [line for line in metrics.splitlines() if line.startswith("zyntro_requests_total{")]


def test_finding_07_metrics_labels_come_from_closed_sets(client: TestClient) -> None:
    baseline = len(_request_series(client.get("/metrics").text))
    for n in range(50):
        absurd = client.request("X" * 50_000 + str(n), "/healthz")  # not a method anyone uses
        assert absurd.status_code == 400, absurd.text[:200]
        assert assert_error_shape(absurd)["code"] == "invalid_request"
        assert absurd.headers["x-request-id"]
    for method in ("GET /", "G\x00T"):  # not a token at all
        assert client.request(method, "/healthz").status_code == 400
    for n in range(50):  # well-formed but unknown methods, on the framework and public paths
        assert client.request(f"FOO{n}", "/healthz").status_code == 405
        assert client.request(f"BAR{n}", PATH).status_code == 405
        assert client.get(f"/nowhere/{n}").status_code == 404
    text = client.get("/metrics").text
    series = _request_series(text)
    assert len(series) - baseline <= 6, series  # other/unmatched: a handful, not 200
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert not any("/nowhere/" in line for line in series)
    assert len(text) < 20_000


@pytest.mark.slow
def test_finding_07_metrics_stay_small_over_the_network(live: Live) -> None:
    def absurd(n: int) -> bytes:
        sock = raw_connection(live.port)
        try:
            sock.sendall(b"X" * 50_000 + b"%d /healthz HTTP/1.1\r\nHost: x\r\n\r\n" % n)
            return sock.recv(65536)
        finally:
            sock.close()

    def metrics() -> str:
        return httpx.get(live.base_url + "/metrics", timeout=5).text

    assert absurd(0).split(b" ", 2)[1] == b"400"
    metrics()  # its own series, before the count
    before = metrics()
    for n in range(1, 50):
        answer = absurd(n)
        assert answer.split(b" ", 2)[1] == b"400", answer[:200]
    after = metrics()
    assert len(_request_series(after)) == len(_request_series(before))
    assert len(after) - len(before) < 200, len(after) - len(before)  # counts, not series
    assert "XXXX" not in after


# --- finding 11: paths are decoded once ----------------------------------------------------------


def test_finding_11_a_path_is_percent_decoded_once(client: TestClient, world: World) -> None:
    app = client.app
    assert isinstance(app, ZyntroApp)
    # What an ASGI server passes for /%256detrics: the path decoded once is "/%6detrics".
    metrics = asgi_call(app, "GET", "/%6detrics", b"/%256detrics")
    assert_json_error(metrics, 404, "not_found")
    double = PATH.replace(".php", "%2Ephp")  # sent as fetchAudiences%252Ephp
    body = [orjson.dumps(world.body())]
    json_type = [(b"content-type", JSON.encode())]
    public = asgi_call(app, "POST", double, double.replace("%", "%25").encode(), json_type, body)
    assert_json_error(public, 404, "not_found")


@pytest.mark.slow
def test_finding_11_over_the_network_too(live: Live) -> None:
    with httpx.Client(base_url=live.base_url, timeout=5) as http:
        metrics = http.get("/%256detrics")
        assert metrics.status_code == 404, metrics.text[:200]
        assert assert_error_shape(metrics)["code"] == "not_found"
        double = http.post(PATH.replace(".php", "%252Ephp"), json=live.world.body())
        assert double.status_code == 404, double.text[:200]
        once = http.post(PATH.replace(".php", "%2Ephp"), json=live.world.body())
        assert once.status_code == 200  # a path decoded once still names the endpoint
        assert http.get("/%6detrics").status_code == 200  # /metrics, decoded once


# --- finding 12: a path that is not text ---------------------------------------------------------


ACCESS_LOG_WAIT = 0.5  # the access log is written in batches at least this often
BYTE_PATHS = ("/%ff", "/%ff%fe", "/caf%e9", "/api/v1/%c0%af", "/app/%80")


def test_finding_12_a_path_of_undecodable_bytes_is_a_plain_404(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, ZyntroApp)
    for raw in BYTE_PATHS:  # ASGI servers decode as UTF-8 with replacements, or as latin-1
        for path in (unquote(raw), unquote(raw, encoding="latin-1")):
            answer = asgi_call(app, "GET", path, raw.encode())
            assert_json_error(answer, 404, "not_found")


@pytest.mark.slow
def test_finding_12_over_the_network_too(live: Live) -> None:
    with httpx.Client(base_url=live.base_url, timeout=5) as http:
        for path in BYTE_PATHS:
            for method in ("GET", "POST"):
                response = http.request(method, path)
                assert response.status_code == 404, (method, path, response.text[:200])
                assert assert_error_shape(response)["code"] == "not_found"
                assert response.headers["x-request-id"]
    time.sleep(ACCESS_LOG_WAIT)
    logged = live.log.read_text()
    assert "Traceback" not in logged, logged[-3000:]
    assert '"status":404' in logged  # the access log has them, as any request
