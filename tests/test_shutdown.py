"""Graceful shutdown: SIGTERM under load answers every request once, completely, or not at all.

A real `zyntro serve` process, clients on raw sockets (so that a truncated answer cannot hide
behind a client library's retry or error): each request ends as one complete 200, or as a
connection refused or closed before the first byte of an answer. Never a partial answer, never
a 5xx. The process exits 0 within the deadline, with the keys' `last_used_at` and every access
line written.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import make_world
from tests.helpers import PATH
from tests.live import live_process, run_cli
from zyntro.service import Service
from zyntro.store import Store

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 5  # ZYNTRO_SHUTDOWN_SECONDS of the server under test
CLIENTS = 6  # threads: half keep their connection alive, half open one per request


class Truncated(Exception):
    """An answer cut short: some bytes of it arrived, not all."""


@dataclass
class Tally:
    ok: int = 0
    refused: int = 0  # no connection
    closed: int = 0  # the connection closed before any byte of an answer
    bad: list[str] = field(default_factory=list)  # anything else: the test fails on it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            if outcome in ("ok", "refused", "closed"):
                setattr(self, outcome, getattr(self, outcome) + 1)
            else:
                self.bad.append(outcome)


def _request(host: str, port: int, body: bytes, keep_alive: bool) -> bytes:
    connection = "keep-alive" if keep_alive else "close"
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n"
    ).encode() + body


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 answer (Content-Length framed). Raises ConnectionError when the connection
    ends before any byte of it, Truncated when it ends part way."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            if data:
                raise Truncated(f"headers cut after {len(data)} bytes")
            raise ConnectionError("closed before an answer")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(":", 1) for line in lines[1:])
    length = int({k.lower(): v for k, v in headers.items()}["content-length"])
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise Truncated(f"body cut at {len(body)} of {length} bytes")
        body += chunk
    if len(body) != length:
        raise Truncated(f"{len(body) - length} bytes past the body")
    return status, body


def _outcome(status: int, body: bytes, segments: int) -> str:
    if status != 200:
        return f"status {status}: {body[:200]!r}"
    data = json.loads(body)["data"]
    return "ok" if len(data) == segments else f"200 with {len(data)} segments"


def _client(
    host: str, port: int, body: bytes, keep_alive: bool, segments: int, tally: Tally
) -> None:
    """Requests until the server refuses connections."""
    request = _request(host, port, body, keep_alive)
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=30)
        except (ConnectionRefusedError, ConnectionResetError):
            # Refused once the server stopped listening; reset when it closed its listening
            # socket with this connection still in the accept queue (never accepted, so no
            # request of it was read): both are the server turning the client away.
            tally.add("refused")
            return
        with sock:
            while True:
                try:
                    sock.sendall(request)
                    status, answer = _read_answer(sock)
                except (ConnectionError, BrokenPipeError):
                    tally.add("closed")
                    break
                except Truncated as exc:
                    tally.add(f"truncated: {exc}")
                    return
                except Exception as exc:  # a timeout, an unparsable answer
                    tally.add(f"{type(exc).__name__}: {exc}")
                    return
                tally.add(_outcome(status, answer, segments))
                if not keep_alive:
                    break


def _slow_request(host: str, port: int, body: bytes, sent: threading.Event) -> str:
    """A request in flight when SIGTERM arrives: half its body before, the rest after."""
    with socket.create_connection((host, port), timeout=30) as sock:
        request = _request(host, port, body, keep_alive=False)
        cut = len(request) - len(body) // 2
        sock.sendall(request[:cut])
        sent.wait(30)
        time.sleep(1.0)  # the server is shutting down meanwhile
        sock.sendall(request[cut:])
        status, answer = _read_answer(sock)
        return f"{status} {len(json.loads(answer)['data'])}"


@pytest.mark.parametrize("target", ["main", "group"])
def test_sigterm_under_load_answers_every_request_once_and_completely(
    database_url: str, tmp_path: Path, target: str
) -> None:
    """`target`: SIGTERM to the main process (`kill PID`), or to its whole process group, the
    workers included, as systemd's default KillMode=control-group sends it."""
    store = Store(database_url)
    service = Service(store)
    world = make_world(service)
    service.reader.close()
    store.dispose()
    body = json.dumps(world.body()).encode()
    # The slow request alone uses the member's key: its use is noted after SIGTERM, so only
    # the shutdown's flush can write it.
    slow_body = json.dumps(world.body(api_key=world.member_key)).encode()
    segments = len(world.segment_ids)
    log = tmp_path / "server.log"
    env = {
        "ZYNTRO_SHUTDOWN_SECONDS": str(DEADLINE_SECONDS),
        "ZYNTRO_RATE_LIMIT": "1000000/minute",
        "ZYNTRO_LOG_LEVEL": "INFO",  # one access line per request, counted below
    }
    tally = Tally()
    signalled = threading.Event()
    slow: list[str] = []
    with live_process(database_url, workers=2, env=env, log=log) as (base_url, process):
        host, port = base_url.removeprefix("http://").split(":")
        threads = [
            threading.Thread(
                target=_client, args=(host, int(port), body, n % 2 == 0, segments, tally)
            )
            for n in range(CLIENTS)
        ]
        threads.append(
            threading.Thread(
                target=lambda: slow.append(_slow_request(host, int(port), slow_body, signalled))
            )
        )
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # the load runs
        assert tally.ok > 0 and not tally.bad, tally
        if target == "main":
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGTERM)  # live_process starts a session of its own
        signalled.set()
        started = time.monotonic()
        code = process.wait(timeout=DEADLINE_SECONDS + 10)
        took = time.monotonic() - started
        for thread in threads:
            thread.join(timeout=30)

    assert not tally.bad, tally.bad[:10]
    assert tally.ok > 0
    assert slow == [f"200 {segments}"]  # in flight at SIGTERM: finished, not cut
    assert code == 0, log.read_text()[-2000:]
    print(
        f"answered {tally.ok}, refused {tally.refused}, closed unanswered {tally.closed}; "
        f"exit {took:.2f} s after SIGTERM"
    )
    assert took < DEADLINE_SECONDS + 2  # the workers' deadline, plus the main process's exit

    # Nothing lost: the key's use is written, and every answer has its access line.
    for member in (world.owner_id, world.member_id):
        keys = json.loads(run_cli(database_url, "key", "list", "--member", member, "--json"))
        assert [k["last_used_at"] is not None for k in keys] == [True], member
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    answered = [line for line in lines if line.get("path") == PATH]
    assert len(answered) == tally.ok + 1  # the slow request too
    assert {line["status"] for line in answered} == {200}


def test_a_request_stalled_past_the_deadline_does_not_hold_the_shutdown(
    database_url: str, tmp_path: Path
) -> None:
    """A client that never sends the rest of its body (the body deadline is longer than the
    shutdown's): the worker is stopped at ZYNTRO_SHUTDOWN_SECONDS, not when the body times out."""
    env = {"ZYNTRO_SHUTDOWN_SECONDS": "2", "ZYNTRO_BODY_TIMEOUT_SECONDS": "30"}
    with live_process(database_url, env=env, log=tmp_path / "server.log") as (base_url, process):
        host, port = base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            request = _request(host, int(port), b'{"api_key": "x", "org_id": "y"}', False)
            sock.sendall(request[:-10])
            time.sleep(0.5)  # the request is in flight, waiting for its body
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = process.wait(timeout=30)
            took = time.monotonic() - started
    print(f"exit {code} {took:.2f} s after SIGTERM")
    assert code == 0
    assert 2 <= took < 4
