"""A real `zyntro serve` process on a free port, for tests that cross process boundaries."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ZYNTRO = str(Path(sys.executable).with_name("zyntro"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(
    database_url: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    """Start `zyntro serve`; yield its base URL once /healthz answers; stop it afterwards.
    With `log`, the server's stderr (its log) goes to that file."""
    with live_process(database_url, workers, env, log) as (base_url, _process):
        yield base_url


@contextmanager
def live_process(
    database_url: str,
    workers: int = 1,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`live_server`, yielding the server process too (to signal it)."""
    port = free_port()
    process_env = {  # nothing of the test's own ZYNTRO_* environment leaks into the server
        **{k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")},
        "ZYNTRO_DATABASE_URL": database_url,
        "ZYNTRO_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log_file = log.open("wb") if log is not None else None
    process = subprocess.Popen(
        [ZYNTRO, "serve", "--port", str(port), "--workers", str(workers)],
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=log_file if log_file is not None else subprocess.PIPE,
        start_new_session=True,  # its own process group: the workers go down with it
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                output = log.read_bytes() if log is not None else process.stderr.read()  # type: ignore[union-attr]
                raise RuntimeError(f"server exited: {output.decode()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 20 s")
            time.sleep(0.1)
        yield base_url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        if log_file is not None:
            log_file.close()


def run_cli(database_url: str, *args: str) -> str:
    """Run the real `zyntro` CLI in its own process; return stdout (raises on failure)."""
    result = subprocess.run(
        [ZYNTRO, "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"zyntro {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def wait_for(predicate: object, timeout: float = 1.0, interval: float = 0.05) -> float:
    """Seconds until `predicate()` is true; raises AssertionError after `timeout`."""
    started = time.monotonic()
    while True:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(interval)
