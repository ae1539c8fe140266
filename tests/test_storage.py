"""Storage: migrations from empty, keys never stored in plain text, ids and key format."""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tests.conftest import World, make_world
from zyntro import keys
from zyntro.domain import utcnow
from zyntro.ids import PREFIXES, is_valid_id, new_id
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate
from zyntro.store.hot import HotReader
from zyntro.store.queries import webhooks as webhook_queries
from zyntro.store.tables import metadata

ID_PATTERN = re.compile(r"(org|brand|mem|seg|key)_[0-9A-HJKMNP-TV-Z]{26}")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# --- migrations ------------------------------------------------------------------------------


def _differences(engine: sa.Engine) -> list[object]:
    # SQLite reflects server defaults in a form Alembic reports as changed even when equal,
    # so defaults are compared where reflection is exact (PostgreSQL).
    options = {"compare_type": True, "compare_server_default": engine.dialect.name != "sqlite"}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=options)
        return list(compare_metadata(context, metadata))


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_migrations_from_empty_build_exactly_the_schema(empty_database_url: str) -> None:
    store = Store(empty_database_url)
    try:
        assert _tables(store.engine) == set()
        assert migrate.current_revision(store.engine) is None
        migrate.upgrade(store.engine)
        assert migrate.is_current(store.engine)
        assert _tables(store.engine) == set(metadata.tables)
        assert _differences(store.engine) == []
        migrate.upgrade(store.engine)  # a second run is a no-op
        assert migrate.is_current(store.engine)
    finally:
        store.dispose()


def test_downgrade_to_base_and_up_again(empty_database_url: str) -> None:
    store = Store(empty_database_url)
    try:
        migrate.upgrade(store.engine)
        command.downgrade(migrate.alembic_config(store.engine), "base")
        assert _tables(store.engine) == set()
        assert migrate.current_revision(store.engine) is None
        migrate.upgrade(store.engine)
        assert _differences(store.engine) == []
        world = make_world(Service(store))  # and it works
        assert len(Service(store).list_segments(SYSTEM, world.brand_id)) == 3
    finally:
        store.dispose()


def test_the_test_databases_are_current(store: Store) -> None:
    assert migrate.is_current(store.engine)
    assert _differences(store.engine) == []


def test_every_lookup_of_the_endpoint_has_an_index(store: Store) -> None:
    inspector = sa.inspect(store.engine)

    def indexed(table: str, columns: list[str]) -> bool:
        found = [i["column_names"] for i in inspector.get_indexes(table)]
        found += [u["column_names"] for u in inspector.get_unique_constraints(table)]
        found.append(inspector.get_pk_constraint(table)["constrained_columns"])
        return any(names[: len(columns)] == columns for names in found)

    assert indexed("api_keys", ["digest"])
    assert indexed("brands", ["id"])
    assert indexed("segments", ["brand_id", "created_at", "id"])
    assert indexed("members", ["id"])


def test_the_claim_reads_one_webhooks_due_deliveries_by_an_index(store: Store) -> None:
    """Not by walking every webhook's due rows: a paused endpoint's backlog stays due, and was
    walked again for each other webhook at each claim (docs/performance.md)."""
    statements: list[tuple[str, object]] = []

    def note(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        statements.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.read() as conn:
            webhook_queries.due_deliveries(conn, "wh_x", utcnow(), 8, not store.is_sqlite)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)
    (statement, parameters), *_ = (s for s in statements if "webhook_deliveries" in s[0])
    with store.engine.connect() as conn:
        if store.is_sqlite:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )  # type: ignore[arg-type]
            assert "ix_webhook_deliveries_webhook_id_state_next_attempt_at" in plan, plan
        else:  # a small table is scanned whatever the indexes: ask with scans off
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(
                str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            )  # type: ignore[arg-type]
            assert "ix_webhook_deliveries_webhook_id_state_next_attempt_at" in plan, plan


# --- keys at rest ----------------------------------------------------------------------------


def _sqlite_bytes(path: Path) -> bytes:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_no_api_key_is_stored_in_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    store = Store(f"sqlite:///{path}")
    migrate.upgrade(store.engine)
    service = Service(store)
    world = make_world(service)
    extra = [service.create_key(SYSTEM, world.member_id, f"key {n}")[1] for n in range(5)]
    plain_keys = [world.owner_key, world.member_key, *extra]
    service.principal_for_key(world.owner_key)  # used once, too
    service.flush_usage()
    service.close()

    raw = _sqlite_bytes(path)
    assert raw.count(b"SQLite format 3") == 1
    for plain in plain_keys:
        assert plain.encode() not in raw
        assert plain[3:].encode() not in raw  # not even without its prefix
        assert plain[3:-6].encode() not in raw  # nor its random part
        assert keys.digest(plain).encode() in raw
        assert keys.display_prefix(plain).encode() in raw


def test_a_key_is_shown_once_and_listed_by_prefix(service: Service, world: World) -> None:
    key, plain = service.create_key(SYSTEM, world.member_id, "ci")
    assert key.prefix == plain[:8]
    listed = [k for k in service.list_keys(SYSTEM, world.member_id) if k.id == key.id]
    assert listed and plain not in repr(listed)


def test_key_expiry_and_revocation_are_recorded(service: Service, world: World) -> None:
    key, _plain = service.create_key(SYSTEM, world.member_id, "temp", expires_in_days=30)
    assert key.expires_at is not None
    assert 29 < (key.expires_at - key.created_at).total_seconds() / 86400 <= 30
    revoked = service.revoke_key(SYSTEM, key.id)
    stored = next(k for k in service.list_keys(SYSTEM, world.member_id) if k.id == key.id)
    assert stored.revoked_at is not None and stored.revoked_at == revoked.revoked_at
    assert stored.label == "temp"


# --- ids -------------------------------------------------------------------------------------


def test_generated_ids_have_the_spec_prefixes(service: Service, world: World) -> None:
    key = service.list_keys(SYSTEM, world.owner_id)[0]
    ids = {
        "org": world.org_id,
        "brand": world.brand_id,
        "mem": world.member_id,
        "seg": world.segment_ids[0],
        "key": key.id,
    }
    assert set(ids) == set(PREFIXES)
    for prefix, value in ids.items():
        assert ID_PATTERN.fullmatch(value), value
        assert value.startswith(prefix + "_")
        assert is_valid_id(value)


def _millis(value: str) -> int:
    number = 0
    for char in value.split("_", 1)[1][:10]:
        number = number * 32 + CROCKFORD.index(char)
    return number


def test_ids_sort_by_time() -> None:
    made = []
    for _ in range(5):
        made.append(new_id("seg"))
        time.sleep(0.002)
    assert sorted(made) == made
    assert len(set(made)) == len(made)
    assert abs(_millis(made[0]) - time.time() * 1000) < 60_000


def test_ids_are_unique_within_one_millisecond() -> None:
    made = [new_id("key") for _ in range(2000)]
    assert len(set(made)) == len(made)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("old-account_1", True), ("x" * 64, True), ("x" * 65, False), ("a b", False), ("", False)],
)
def test_imported_ids_rule(value: str, valid: bool) -> None:
    assert is_valid_id(value) is valid


# --- key format ------------------------------------------------------------------------------


def test_key_format() -> None:
    for _ in range(200):
        key = keys.generate_key()
        assert len(key) == 45
        assert re.fullmatch(r"zk_[0-9A-Za-z]{42}", key)
        assert keys.is_well_formed(key)
        assert key[-6:] == keys.checksum(key[3:-6])


def test_keys_are_random() -> None:
    assert len({keys.generate_key() for _ in range(1000)}) == 1000


def test_the_checksum_rejects_any_single_character_change() -> None:
    key = keys.generate_key()
    for position in range(3, len(key)):
        for replacement in ("0", "z", keys.BASE62[(keys.BASE62.index(key[position]) + 1) % 62]):
            if replacement == key[position]:
                continue
            changed = key[:position] + replacement + key[position + 1 :]
            assert not keys.is_well_formed(changed), (position, replacement)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1],
        lambda k: k + "0",
        lambda k: "ZK_" + k[3:],
        lambda k: "zk-" + k[3:],
        lambda k: k.lower() if k.lower() != k else k.upper(),
        lambda k: k[:10] + "-" + k[11:],
        lambda k: " " + k[1:],
        lambda k: k[:20] + "é" + k[21:],
        lambda k: "",
    ],
)
def test_malformed_keys_are_refused_without_a_database(mangle: object) -> None:
    key = keys.generate_key()
    assert callable(mangle)
    assert not keys.is_well_formed(mangle(key))


def test_a_malformed_key_never_reaches_the_database(unreachable_database_url: str) -> None:
    """Over a database that cannot be reached, every path to it (the engine's pool, the public
    endpoint's raw connections, any other) fails: answering `invalid_api_key` proves that
    none was taken."""
    store = Store(unreachable_database_url)
    service = Service(store)
    try:
        key = keys.generate_key()
        off_by_one = key[:-1] + ("A" if key[-1] != "A" else "B")
        for malformed in ("nope", off_by_one, "zk_" + "0" * 42):
            with pytest.raises(Exception) as caught:
                service.principal_for_key(malformed)
            assert getattr(caught.value, "code", None) == "invalid_api_key"
        # The proof holds: a well-formed key is looked up, and that lookup fails.
        with pytest.raises(sa.exc.OperationalError):
            service.principal_for_key(key)
    finally:
        service.reader.close()
        store.dispose()


def test_a_hot_reader_dropped_without_close_closes_its_connections(store: Store) -> None:
    """The public endpoint's reader keeps raw connections of its own; a service nobody closed
    must not leave them open until the driver's destructor (psycopg warns there, and
    PostgreSQL keeps the session meanwhile)."""
    reader = HotReader(store.engine)
    assert reader.brands(["brand_none"]) == {}
    connection = reader._idle.get_nowait()
    reader._idle.put(connection)
    connection.cursor().close()  # open and usable while the reader lives
    del reader
    gc.collect()
    with pytest.raises(Exception, match="(?i)closed"):
        connection.cursor()


def test_a_connection_returned_after_dispose_is_closed(store: Store) -> None:
    """`dispose` while a connection is checked out (a background round still running): when
    it comes back it is closed at once, not left open to the garbage collector."""
    with store.read() as conn:
        connection = conn.connection.dbapi_connection
        assert connection is not None
        store.dispose()
    with pytest.raises(Exception, match="(?i)closed"):
        connection.cursor()
    with store.read() as conn:  # the store goes on with new connections
        assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
