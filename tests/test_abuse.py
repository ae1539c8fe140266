"""Abuse limits: slow clients, huge headers and bodies, keys kept out of logs (docs/security.md)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import World, make_world
from tests.helpers import PATH, raw_connection, read_until_closed
from tests.live import live_server
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.cli.server import HEADER_READ_TIMEOUT_MS
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def served(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, World]]:
    """A live server over a SQLite database with one world in it."""
    path = tmp_path / "abuse.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    store = Store(url)
    world = make_world(Service(store))
    store.dispose()
    with live_server(url) as base_url:
        yield base_url, world


def _port(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def test_slow_clients_do_not_hold_up_other_requests(served: tuple[str, World]) -> None:
    base_url, world = served
    stop = threading.Event()
    slow = [raw_connection(_port(base_url), timeout=5) for _ in range(100)]
    for sock in slow:
        sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())

    def trickle() -> None:  # one byte a second on every slow connection, as slowloris does
        while not stop.wait(1.0):
            for sock in slow:
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        with httpx.Client(timeout=2) as client:  # a functional deadline: answered, not queued
            for _ in range(30):
                response = client.post(base_url + PATH, json=world.body())
                assert response.status_code == 200
                time.sleep(0.05)
        # The server drops a connection whose headers do not arrive in time.
        within = HEADER_READ_TIMEOUT_MS / 1000 + 5
        received = read_until_closed(slow[0], within)
        assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]
    finally:
        stop.set()
        trickler.join()
        for sock in slow:
            sock.close()


def test_oversized_headers_are_refused_and_the_server_carries_on(
    served: tuple[str, World],
) -> None:
    base_url, world = served
    sock = raw_connection(_port(base_url), timeout=5)
    try:
        huge = b"X-Padding: " + b"a" * 200_000 + b"\r\n"
        try:
            sock.sendall(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode() + huge + b"\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed while we were still sending: refused
        received = read_until_closed(sock, 10)
        assert received == b"" or received.split(b" ", 2)[1] in (b"400", b"413", b"431")
    finally:
        sock.close()
    assert httpx.post(base_url + PATH, json=world.body(), timeout=5).status_code == 200


def test_bodies_over_the_cap_are_refused_while_reading(served: tuple[str, World]) -> None:
    base_url, world = served
    # Declared too large: refused before a byte of the body is read.
    sock = raw_connection(_port(base_url), timeout=5)
    try:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n".encode()
        )
        sock.settimeout(5)
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
    finally:
        sock.close()

    # Chunked without a length: refused once 16 KiB have arrived, not after the whole body.
    def endless() -> Iterator[bytes]:
        for _ in range(10_000):  # 160 MB if the server read it all
            yield b" " * 16_384

    response = httpx.post(
        base_url + PATH,
        content=endless(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert httpx.post(base_url + PATH, json=world.body(), timeout=5).status_code == 200


def test_keys_never_reach_the_logs(
    service: Service, world: World, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Not the key, nor its digest: not from the body, a header, a form or a query string."""
    guessed = keys.generate_key()
    settings = Settings(database_url=database_url, log_level="DEBUG")
    with TestClient(create_app(settings, service)) as client:
        client.post(PATH, json=world.body())
        client.post(PATH, json=world.body(api_key=guessed))
        client.post(PATH, headers={"Authorization": f"Bearer {world.owner_key}"}, json=world.body())
        client.post(PATH, data=world.body(api_key=world.member_key))
        client.post(f"{PATH}?api_key={world.owner_key}", json=world.body())
        client.get(f"/healthz?api_key={world.owner_key}")
        metrics = client.get("/metrics").text
    logged = capfd.readouterr().err
    assert logged.count('"msg":"request"') >= 6  # the access lines were written
    for secret in (world.owner_key, world.member_key, guessed):
        for form in (secret, keys.digest(secret)):
            assert form not in logged
            assert form not in metrics
