"""`zyntro db backup`, `zyntro db restore` and `zyntro db copy`, on SQLite and PostgreSQL.

Real databases throughout: each PostgreSQL restore or copy target is a throwaway database
created on the test server (as conftest does) and dropped afterwards; the writer running
during a backup is another process.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.dashboard import SECRET, enrol, with_passwords
from zyntro.cli import app
from zyntro.passwords import InvalidCredentials
from zyntro.service import SYSTEM, Service
from zyntro.service.throttle import Origin
from zyntro.store import Store, backup, migrate, tables

runner = CliRunner()
HEAD = migrate.script_head()


def zyntro(url: str, *args: str) -> Result:
    return runner.invoke(app, ["--database-url", url, *args])


def ok(url: str, *args: str) -> str:
    result = zyntro(url, *args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def fails(url: str, *args: str) -> str:
    """The one-line error of a failing command."""
    result = zyntro(url, *args)
    assert result.exit_code != 0, (args, result.output)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


NewDatabase = Callable[[], str]


@pytest.fixture
def new_pg_database(postgres_url: str) -> Iterator[NewDatabase]:
    """Makes empty PostgreSQL databases (no tables) on the test server; dropped afterwards."""
    server = postgres_url.rsplit("/", 1)[0]
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new() -> str:
        name = f"zyntro_backup_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{server}/{name}"

    try:
        yield new
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def new_database(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> NewDatabase:
    """Empty databases of the backend `database_url` is on."""
    if database_url.startswith("sqlite"):
        names = iter(range(1000))
        return lambda: f"sqlite:///{tmp_path / f'new-{next(names)}.db'}"
    factory: NewDatabase = request.getfixturevalue("new_pg_database")
    return factory


def populate(url: str) -> tuple[World, World]:
    """Two organizations with brands, members, keys and segments; a key used, one revoked."""
    store = Store(url)
    service = Service(store)
    try:
        first, second = make_world(service), make_world(service, segments=5)
        service.principal_for_key(first.owner_key)  # a key in use
        revoked, _ = service.create_key(SYSTEM, second.member_id, "to revoke")
        service.revoke_key(SYSTEM, revoked.id)
        # A row in every table: a signed-in session, a sign-in throttle, an idempotent POST.
        with_passwords(service, first)
        with pytest.raises(InvalidCredentials):
            service.sign_in("nobody@example.com", "wrong", Origin(SECRET, "192.0.2.7"))
        service.start_session(service.act_as(first.owner_id))
        enrol(service, first.member_id)  # two-factor: an authenticator and recovery codes
        actor = service.act_as(first.in_charge_id)
        service.add_segment_once(
            actor, first.brand_id, {**SEED_SEGMENT, "segment_label": "Once"}, "idem-1"
        )
        service.delete_segment(SYSTEM, second.segment_ids[0])  # a segment in the trash
        return first, second
    finally:
        service.close()
        store.dispose()


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in key order; JSON columns as their stored text."""
    engine = Store(url).engine
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as conn:
            for table in tables.metadata.sorted_tables:
                columns = [
                    sa.cast(c, sa.Text()) if isinstance(c.type, sa.JSON) else c
                    for c in table.columns
                ]
                query = sa.select(*columns).order_by(*table.primary_key.columns)
                found[table.name] = [tuple(row) for row in conn.execute(query)]
    finally:
        engine.dispose()
    return found


def bodies(url: str, worlds: tuple[World, ...]) -> list[bytes]:
    """fetchAudiences bodies of each world's brand, asked with the plain keys (which must
    authenticate as their members)."""
    store = Store(url)
    service = Service(store)
    try:
        answers = []
        for world in worlds:
            for key in (world.owner_key, world.member_key):
                assert service.principal_for_key(key).member_id in (world.owner_id, world.member_id)
            answers.append(service.fetch_audiences(world.owner_key, world.org_id, world.brand_id))
        return answers
    finally:
        service.close()
        store.dispose()


def segment_ids(url: str) -> set[str]:
    engine = Store(url).engine
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.select(tables.segments.c.id)).scalars())
    finally:
        engine.dispose()


WRITER = """
import sys
from zyntro.service import Service
from zyntro.store import Store
url, brand, member = sys.argv[1:]
service = Service(Store(url))
actor = service.act_as(member)
n = 0
while True:
    n += 1
    values = {"segment_label": f"Live {n}", "segment_type": "live",
              "segment_pain_points": ["a"], "segment_use_cases": ["b"]}
    segment = service.add_segment(actor, brand, values)
    print(segment.id, flush=True)
"""


def committed(log: Path) -> list[str]:
    """The ids the writer has printed: each is printed once its transaction committed."""
    text = log.read_text(encoding="utf-8")
    return text[: text.rfind("\n") + 1].split()


def test_a_backup_taken_while_another_process_writes_restores_every_committed_segment(
    database_url: str,
    new_database: NewDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, other = populate(database_url)
    seeded = segment_ids(database_url)
    # One page a step: the SQLite backup spans many steps, each while the writer commits.
    monkeypatch.setattr(backup, "STEP_PAGES", 1)
    log = tmp_path / "writer.log"
    with log.open("w") as out:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, world.brand_id, world.in_charge_id],
            stdout=out,
            stderr=subprocess.PIPE,
        )
    try:
        deadline = time.monotonic() + 60
        while len(committed(log)) < 30:
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        before = committed(log)
        ok(database_url, "db", "backup", str(tmp_path / "live.backup"))
        after = committed(log)
    finally:
        writer.terminate()
        writer.wait(10)
        if writer.stderr:
            writer.stderr.close()
    written = set(committed(log))
    assert len(after) > len(before)  # the writer went on committing around the backup

    target = new_database()
    ok(target, "db", "restore", str(tmp_path / "live.backup"))
    restored = segment_ids(target)
    assert set(before) <= restored
    assert restored - seeded <= written
    if target.startswith("sqlite"):
        for path in (tmp_path / "live.backup", backup.sqlite_path(target)):
            with sqlite3.connect(path) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # The brand's kept body was written with its segments: it lists exactly the restored ones.
    body = json.loads(bodies(target, (world,))[0])
    assert {s["segment_id"] for s in body["data"]} == restored - set(other.segment_ids)
    manifest = json.loads((tmp_path / "live.backup.json").read_text())
    assert manifest["schema_revision"] == HEAD
    assert manifest["format"] == ("sqlite" if database_url.startswith("sqlite") else "pg_dump")


@pytest.mark.postgres
def test_sqlite_to_postgresql_to_sqlite_keeps_every_row_key_and_body(
    sqlite_template: Path, new_pg_database: NewDatabase, tmp_path: Path
) -> None:
    original = tmp_path / "original.db"
    shutil.copy(sqlite_template, original)
    source = f"sqlite:///{original}"
    worlds = populate(source)
    ok(source, "db", "backup", str(tmp_path / "original.backup"))

    postgres = new_pg_database()
    ok(postgres, "db", "restore", str(tmp_path / "original.backup"))
    back = f"sqlite:///{tmp_path / 'back.db'}"
    ok(source, "db", "copy", postgres, back)

    expected = rows(source)
    assert all(expected.values()), [name for name, found in expected.items() if not found]
    assert rows(postgres) == expected
    assert rows(back) == expected
    assert bodies(postgres, worlds) == bodies(source, worlds) == bodies(back, worlds)

    # The sequences moved past the copied numbers: new writes get the next ones.
    store = Store(postgres)
    service = Service(store)
    try:
        actor = service.act_as(worlds[0].in_charge_id)
        service.add_segment(actor, worlds[0].brand_id, {**SEED_SEGMENT, "segment_label": "New"})
    finally:
        service.close()
        store.dispose()
    grown = rows(postgres)
    for table in ("changes", "audit_log"):
        assert grown[table][-1][0] == expected[table][-1][0] + 1


def test_restore_refuses_a_database_with_data_and_force_backs_it_up_first(
    database_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    world, _ = populate(database_url)
    file = tmp_path / "saved.backup"
    ok(database_url, "db", "backup", str(file))
    store = Store(database_url)
    service = Service(store)
    try:
        actor = service.act_as(world.in_charge_id)
        later = service.add_segment(
            actor, world.brand_id, {**SEED_SEGMENT, "segment_label": "Later"}
        )
    finally:
        service.close()
        store.dispose()

    error = fails(database_url, "db", "restore", str(file))
    assert "is not empty" in error and "--force" in error
    assert later.id in segment_ids(database_url)  # untouched

    output = ok(database_url, "db", "restore", str(file), "--force")
    replaced = [
        p for p in tmp_path.iterdir() if p.name.startswith("replaced-") and "json" not in p.name
    ]
    assert len(replaced) == 1 and f"backed up to {replaced[0]}" in output
    assert later.id not in segment_ids(database_url)
    assert set(world.segment_ids) <= segment_ids(database_url)

    elsewhere = new_database()  # what --force replaced is all in its backup
    ok(elsewhere, "db", "restore", str(replaced[0]))
    assert later.id in segment_ids(elsewhere)


def test_restore_brings_an_older_backup_to_the_current_revision(
    database_url: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    older = tmp_path / "older.db"
    store = Store(f"sqlite:///{older}")
    migrate.upgrade(store.engine, "0003")
    store.dispose()
    ok(f"sqlite:///{older}", "db", "backup", str(tmp_path / "older.backup"))
    assert json.loads((tmp_path / "older.backup.json").read_text())["schema_revision"] == "0003"

    target = new_database()
    output = ok(target, "db", "restore", str(tmp_path / "older.backup"))
    assert f"0003 -> {HEAD}" in output
    store = Store(target)
    try:
        assert migrate.current_revision(store.engine) == HEAD
    finally:
        store.dispose()


def test_copy_refuses_a_target_with_data_and_force_backs_it_up_first(
    database_url: str,
    new_database: NewDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = new_database()
    store = Store(source)
    migrate.upgrade(store.engine)
    store.dispose()
    world, _ = populate(source)
    populate(database_url)
    before = segment_ids(database_url)

    error = fails(source, "db", "copy", source, database_url)
    assert "is not empty" in error and "--force" in error

    monkeypatch.chdir(tmp_path)
    output = ok(source, "db", "copy", source, database_url, "--force")
    assert "backed up to" in output
    assert segment_ids(database_url) == segment_ids(source)
    assert bodies(database_url, (world,)) == bodies(source, (world,))
    saved = [
        p for p in tmp_path.iterdir() if p.name.startswith("replaced-") and "json" not in p.name
    ]
    elsewhere = new_database()
    ok(elsewhere, "db", "restore", str(saved[0]))
    assert segment_ids(elsewhere) == before


@pytest.mark.postgres
def test_backup_without_pg_dump_on_the_path_says_what_to_install(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    error = fails(postgres_url, "db", "backup", str(tmp_path / "pg.backup"))
    assert "pg_dump is not on PATH" in error and "postgresql-client-" in error
    assert not (tmp_path / "pg.backup").exists()


@pytest.mark.postgres
def test_backup_with_a_pg_dump_older_than_the_server_says_so(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No older PostgreSQL client is installed here: a stand-in answers `--version` as one.
    old = tmp_path / "bin" / "pg_dump"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(old.parent))
    error = fails(postgres_url, "db", "backup", str(tmp_path / "pg.backup"))
    assert "version 9.6.24, older than the server" in error


@pytest.mark.postgres
def test_a_pg_dump_backup_into_sqlite_is_refused_with_the_way_round(
    postgres_url: str, tmp_path: Path
) -> None:
    ok(postgres_url, "db", "backup", str(tmp_path / "pg.backup"))
    error = fails(f"sqlite:///{tmp_path / 'new.db'}", "db", "restore", str(tmp_path / "pg.backup"))
    assert "restores into PostgreSQL only" in error and "zyntro db copy" in error


def test_restoring_what_is_not_a_backup_is_one_clear_line(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    error = fails(f"sqlite:///{tmp_path / 'new.db'}", "db", "restore", str(junk))
    assert "is not a Zyntro backup" in error
    error = fails(f"sqlite:///{tmp_path / 'new.db'}", "db", "restore", str(tmp_path / "none"))
    assert "no backup file" in error
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    error = fails(f"sqlite:///{tmp_path / 'new.db'}", "db", "restore", str(tmp_path / "other.db"))
    assert "without a Zyntro schema" in error
