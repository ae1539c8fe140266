"""A hostile HTTP client (issue 11, findings 7, 11 and 12): metric labels from closed sets,
paths decoded once, paths that are not text. Each finding is tested over ASGI (in process)
and over `zyntro serve` (granian's RSGI and the ASGI bridge), the two ways a request reaches
the app."""

from __future__ import annotations

import asyncio
import shutil
import socket
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

from tests.conftest import World, make_world
from tests.helpers import assert_error_shape
from tests.live import live_server
from zyntro.api.app import ZyntroApp, create_app
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store

PATH = "/apis/public/fetchAudiences.php"
SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
JSON = "application/json"
MIB = 1024 * 1024
HUGE = 200 * MIB


def _app(service: Service, database_url: str, **overrides: object) -> ZyntroApp:
    values: dict[str, object] = {
        "database_url": database_url,
        "log_level": "WARNING",
        "secret_key": SECRET,
        **overrides,
    }
    return create_app(Settings(**values), service)  # type: ignore[arg-type]


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


def _connect(port: int, timeout: float = 30) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_until_closed(sock: socket.socket, within: float) -> bytes:
    """All the server sends until it closes the connection (which it must, within `within`)."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection was still open after {within} s: {received[:200]!r}")


def _status_and_body(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


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
        sock = _connect(live.port)
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
