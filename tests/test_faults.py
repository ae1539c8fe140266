"""Faults: a database that goes away and comes back, a busy SQLite file, a killed import.

The PostgreSQL outage runs against a cluster this test creates itself (initdb + pg_ctl in a
temporary folder, on a port of its own) and stops and starts; never the shared one.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from typer.testing import CliRunner

import zyntro.store.engine
from tests.conftest import World, make_world, service_missing
from tests.helpers import PATH, assert_error
from tests.live import ZYNTRO, free_port, live_server, wait_for
from zyntro.api.app import create_app
from zyntro.cli import app as cli
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

PG_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


# --- a PostgreSQL cluster of the test's own ------------------------------------------------


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster run by the `postgres` user (initdb refuses root)."""

    bin: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/zyntro"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        data, log = str(self.folder / "data"), str(self.folder / "log")
        self._pg_ctl("-D", data, "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not PG_BINARIES or shutil.which("runuser") is None:
        service_missing("PostgreSQL server binaries (initdb, pg_ctl)")
    folder = Path(tempfile.mkdtemp(prefix="zyntro-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    cluster = Cluster(Path(PG_BINARIES[-1]), folder, free_port())
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            str(cluster.bin / "initdb"),
            "-D",
            str(folder / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ],  # fmt: skip
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster.start()
    try:
        admin = sa.create_engine(
            cluster.url.replace("/zyntro", "/postgres").replace(
                "postgresql:", "postgresql+psycopg:"
            ),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE zyntro")
        admin.dispose()
        store = Store(cluster.url)
        migrate.upgrade(store.engine)
        store.dispose()
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(folder, ignore_errors=True)


def _world(url: str) -> World:
    store = Store(url)
    service = Service(store)
    try:
        return make_world(service)
    finally:
        service.reader.close()
        store.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_database_outage_is_503_and_recovers_without_a_restart(cluster: Cluster) -> None:
    world = _world(cluster.url)
    with live_server(cluster.url) as base_url, httpx.Client(base_url=base_url, timeout=15) as http:

        def post(body: dict[str, object]) -> httpx.Response:
            return http.post(PATH, json=body)

        assert post(world.body()).status_code == 200
        assert post(world.body()).status_code == 200  # now cached

        cluster.stop()
        # What is cached is still served: with the database down nothing can change it.
        assert post(world.body()).status_code == 200
        # Whatever needs the database: 503 with Retry-After, never a 500.
        for body in (
            world.body(api_key=world.member_key),  # a key not yet seen
            world.body(brand_id="brand_never_asked_for"),  # a brand not yet seen
        ):
            response = post(body)
            assert_error(response, 503, "service_unavailable")  # type: ignore[arg-type]
            assert int(response.headers["retry-after"]) > 0
            assert "ratelimit" in response.headers
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["code"] == "service_unavailable"
        assert http.get("/healthz").status_code == 200

        cluster.start()
        wait_for(lambda: http.get("/readyz").status_code == 200, timeout=15)
        wait_for(lambda: post(world.body(api_key=world.member_key)).status_code == 200, timeout=10)
        missing = post(world.body(brand_id="brand_never_asked_for"))
        assert_error(missing, 404, "brand_not_found")  # type: ignore[arg-type]
        assert post(world.body()).status_code == 200


# --- SQLite: a busy database ---------------------------------------------------------------


@pytest.fixture
def sqlite_file(sqlite_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "busy.db"
    shutil.copy(sqlite_template, path)
    return path


def _hold_exclusively(path: Path, seconds: float) -> threading.Thread:
    """Take the whole database file (as a maintenance tool would) and let go after `seconds`.

    In WAL mode an ordinary write lock never blocks readers; an exclusive-mode lock does.
    """
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE organizations SET name = name")
    holder.execute("COMMIT")  # the exclusive lock stays until the connection closes

    def release() -> None:
        time.sleep(seconds)
        holder.close()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(("held", "status"), [(0.3, 200), (3.0, 503)])
def test_public_endpoint_waits_for_a_busy_sqlite_file_then_gives_503(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch, held: float, status: int
) -> None:
    monkeypatch.setattr(zyntro.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    url = f"sqlite:///{sqlite_file}"
    world = _world(url)  # every connection to the file is closed again
    holder = _hold_exclusively(sqlite_file, held)
    store = Store(url)
    service = Service(store)
    settings = Settings(database_url=url, log_level="CRITICAL")
    try:
        with TestClient(create_app(settings, service)) as client:
            response = client.post(PATH, json=world.body())
            if status == 200:
                assert response.status_code == 200, response.text
            else:
                assert_error(response, 503, "service_unavailable")
                assert int(response.headers["retry-after"]) > 0
            holder.join()
            wait_for(lambda: client.post(PATH, json=world.body()).status_code == 200, timeout=5)
    finally:
        holder.join()
        service.reader.close()
        store.dispose()


def test_a_held_write_lock_does_not_stop_reads(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WAL: the public endpoint reads while a writer holds the lock past the busy timeout."""
    monkeypatch.setattr(zyntro.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    url = f"sqlite:///{sqlite_file}"
    world = _world(url)
    store = Store(url)
    service = Service(store)
    writer = sqlite3.connect(sqlite_file, isolation_level=None)
    try:
        with TestClient(create_app(Settings(database_url=url), service)) as client:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE organizations SET name = name")
            started = time.monotonic()
            for _ in range(3):  # the first is a cache miss, read from the file
                assert client.post(PATH, json=world.body()).status_code == 200
            # Held past the busy timeout: the reads did not wait for it.
            time.sleep(
                max(
                    0.0,
                    zyntro.store.engine.SQLITE_BUSY_TIMEOUT_MS / 1000
                    + 0.5
                    - (time.monotonic() - started),
                )
            )
            assert client.post(PATH, json=world.body(api_key=world.member_key)).status_code == 200
            writer.execute("ROLLBACK")  # before shutdown, which writes key usage
    finally:
        writer.close()
        service.reader.close()
        store.dispose()


@pytest.mark.parametrize(("held", "ok"), [(0.3, True), (3.0, False)])
def test_cli_write_waits_for_the_lock_or_fails_in_one_line(
    sqlite_file: Path, monkeypatch: pytest.MonkeyPatch, held: float, ok: bool
) -> None:
    monkeypatch.setattr(zyntro.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    url = f"sqlite:///{sqlite_file}"
    world = _world(url)
    writer = sqlite3.connect(sqlite_file, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE organizations SET name = name")
    release = threading.Timer(held, lambda: writer.execute("ROLLBACK"))
    release.start()
    try:
        result = CliRunner().invoke(
            cli, ["--database-url", url, "brand", "create", "--org", world.org_id, "New", "--json"]
        )
    finally:
        release.join()
        writer.close()
    if ok:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["brand_id"].startswith("brand_")
    else:
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


# --- an import killed midway ---------------------------------------------------------------

BIG_IMPORT_ROWS = 40_000


def _segments(url: str, brand_id: str) -> list[dict[str, object]]:
    store = Store(url)
    service = Service(store)
    try:
        return [segment.to_public() for segment in service.list_segments(SYSTEM, brand_id)]
    finally:
        service.reader.close()
        store.dispose()


def _writing_started(url: str, path: Path | None) -> bool:
    """Whether the import is inside its write transaction and has written rows."""
    if path is not None:  # SQLite: the write lock is held and pages are spilling to the WAL
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            wal = Path(f"{path}-wal")
            return wal.exists() and wal.stat().st_size > 1_000_000
        finally:
            probe.close()
    engine = sa.create_engine(url.replace("postgresql:", "postgresql+psycopg:"))
    try:
        with engine.connect() as conn:
            return bool(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'segments' AND l.mode = 'RowExclusiveLock' "
                    "AND l.pid <> pg_backend_pid()"
                ).scalar()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_an_import_killed_midway_leaves_the_data_as_before(
    database_url: str, service: Service, world: World, tmp_path: Path
) -> None:
    before = _segments(database_url, world.brand_id)
    rows = [dict(row, segment_label=f"Changed {n}") for n, row in enumerate(before)]
    rows += [
        {
            "segment_label": f"Imported {n}",
            "segment_type": "behavioral",
            "segment_pain_points": ["time_constraints", "budget_limitations"],
            "reasoning": "r" * 200,
        }
        for n in range(BIG_IMPORT_ROWS)
    ]
    big = tmp_path / "big.json"
    big.write_text(json.dumps(rows))
    sqlite_path = (
        Path(database_url.removeprefix("sqlite:///")) if "sqlite" in database_url else None
    )
    process = subprocess.Popen(
        [
            ZYNTRO,
            "--database-url",
            database_url,
            "segment",
            "import",
            "--brand",
            world.brand_id,
            "--member",
            world.in_charge_id,
            str(big),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # One brand's rows are one transaction: a brand this big is past the default cap.
        env={**os.environ, "COLUMNS": "200", "ZYNTRO_MAX_SEGMENTS_PER_BRAND": "100000"},
    )
    try:
        deadline = time.monotonic() + 120
        while not _writing_started(database_url, sqlite_path):
            assert process.poll() is None, f"the import ended first: {process.stderr.read()!r}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    # PostgreSQL rolls the transaction back when it notices its client is gone.
    wait_for(lambda: _segments(database_url, world.brand_id) == before, timeout=10)
    if sqlite_path is not None:
        with sqlite3.connect(sqlite_path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # The database is as usable as before: the same import now runs to the end.
    small = tmp_path / "small.json"
    small.write_text(json.dumps(rows[:10]))
    result = subprocess.run(
        [
            ZYNTRO,
            "--database-url",
            database_url,
            "segment",
            "import",
            "--brand",
            world.brand_id,
            "--member",
            world.in_charge_id,
            str(small),
            "--json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    after = _segments(database_url, world.brand_id)
    assert len(after) == len(before) + 7
    assert [s["segment_label"] for s in after[: len(before)]] == [
        f"Changed {n}" for n in range(len(before))
    ]
