"""last_used_at: recorded off the request path, at most once a minute per key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import zyntro.store.engine
from tests.conftest import World
from tests.helpers import PATH
from zyntro import keys
from zyntro.service import SYSTEM, Service
from zyntro.store import Store
from zyntro.store.tables import api_keys
from zyntro.usage import UsageRecorder


def _last_used(service: Service, world: World) -> object:
    (key,) = [k for k in service.list_keys(SYSTEM, world.owner_id)]
    return key.last_used_at


def test_a_used_key_shows_when_it_was_last_used(
    client: TestClient, service: Service, world: World
) -> None:
    assert _last_used(service, world) is None
    assert client.post(PATH, json=world.body()).status_code == 200
    assert _last_used(service, world) is None  # nothing written on the request path
    assert service.flush_usage() == 1
    first = _last_used(service, world)
    assert first is not None

    for _ in range(5):  # more uses within the minute: no further write
        assert client.post(PATH, json=world.body()).status_code == 200
    assert service.flush_usage() == 0
    assert _last_used(service, world) == first


def test_a_use_a_minute_later_is_written_again(service: Service, world: World) -> None:
    principal = service.principal_for_key(world.owner_key)
    service.flush_usage()
    first = _last_used(service, world)
    assert first is not None
    later = first + timedelta(minutes=1, seconds=1)
    service.usage.record(principal.key_id, later.timestamp(), principal.last_used)
    assert service.flush_usage() == 1
    assert _last_used(service, world) > first  # type: ignore[operator]


# --- UsageRecorder on its own, with a clock the test sets ------------------------------------

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _used(store: Store, key_id: str) -> datetime | None:
    with store.read() as conn:
        value = conn.execute(
            sa.select(api_keys.c.last_used_at).where(api_keys.c.id == key_id)
        ).scalar_one()
    return value  # type: ignore[no-any-return]


@pytest.fixture
def key_id(service: Service, world: World) -> str:
    return service.list_keys(SYSTEM, world.owner_id)[0].id


def test_a_flush_stamps_its_own_moment_and_writes_a_key_at_most_once_a_minute(
    store: Store, key_id: str
) -> None:
    clock = Clock()
    usage = UsageRecorder(store, now=clock)
    assert usage.flush() == 0  # nothing noted, nothing written
    for _ in range(3):
        usage.record(key_id, T0.timestamp(), None)
    assert _used(store, key_id) is None  # noting writes nothing
    assert usage.flush() == 1
    assert _used(store, key_id) == T0
    usage.record(key_id, (T0 + timedelta(seconds=59)).timestamp(), None)
    assert usage.flush() == 0
    clock.now = T0 + timedelta(minutes=1)
    usage.record(key_id, clock.now.timestamp(), None)
    assert usage.flush() == 1
    assert _used(store, key_id) == T0 + timedelta(minutes=1)


def test_the_stored_moment_counts_for_keys_this_process_has_not_written(
    store: Store, key_id: str
) -> None:
    usage = UsageRecorder(store, now=Clock())
    # another process wrote it
    usage.record(key_id, T0.timestamp(), (T0 - timedelta(seconds=30)).timestamp())
    assert usage.flush() == 0
    usage.record(key_id, T0.timestamp(), (T0 - timedelta(seconds=61)).timestamp())
    assert usage.flush() == 1


def test_last_used_never_moves_backwards(store: Store, key_id: str) -> None:
    clock = Clock()
    usage = UsageRecorder(store, now=clock)
    usage.record(key_id, T0.timestamp(), None)
    usage.flush()
    clock.now = T0 - timedelta(hours=1)  # a process whose flush comes late, or a slow clock
    late = UsageRecorder(store, now=clock)
    late.record(key_id, (T0 - timedelta(hours=1)).timestamp(), None)
    assert late.flush() == 1
    assert _used(store, key_id) == T0


def test_many_keys_in_one_flush(store: Store, service: Service, world: World) -> None:
    """More keys than one statement takes (500): every one is written."""
    member = service.list_keys(SYSTEM, world.owner_id)[0]
    ids = [f"key_bulk{n:05d}" for n in range(1201)]
    with store.write() as conn:
        conn.execute(
            api_keys.insert(),
            [
                {
                    "id": key_id,
                    "member_id": world.owner_id,
                    "org_id": world.org_id,
                    "digest": keys.digest(f"bulk {key_id}"),
                    "prefix": "zk_bulk",
                    "created_at": member.created_at,
                }
                for key_id in ids
            ],
        )
    usage = UsageRecorder(store, now=Clock())
    for key_id in ids:
        usage.record(key_id, T0.timestamp(), None)
    assert usage.flush() == len(ids)
    with store.read() as conn:
        written = conn.execute(
            sa.select(sa.func.count()).where(api_keys.c.last_used_at == T0)
        ).scalar_one()
    assert written == len(ids)


def test_the_memory_of_written_keys_is_bounded(
    store: Store, service: Service, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its bound the recorder forgets what it wrote; the moment stored with the key
    (which the caller passes) still keeps the writes to one a minute."""
    monkeypatch.setattr("zyntro.usage._FORGET_AFTER", 0)
    owner, member = (service.list_keys(SYSTEM, m)[0].id for m in (world.owner_id, world.member_id))
    clock = Clock()
    usage = UsageRecorder(store, now=clock)
    usage.record(member, clock.now.timestamp(), None)
    assert usage.flush() == 1
    clock.now = T0 + timedelta(seconds=10)
    usage.record(owner, clock.now.timestamp(), None)
    assert usage.flush() == 1  # past the bound: the memory starts over, without `member`
    clock.now = T0 + timedelta(seconds=30)
    usage.record(member, clock.now.timestamp(), _used(store, member).timestamp())  # type: ignore[union-attr]
    assert usage.flush() == 0
    usage.record(member, clock.now.timestamp(), None)  # forgotten, and no stored moment given
    assert usage.flush() == 1


def test_a_flush_that_fails_keeps_the_uses_for_the_next(
    database_url: str, store: Store, key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy database loses no use: what a failed flush took is written by the next one."""
    monkeypatch.setattr(zyntro.store.engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    # SQLite: a busy timeout of 200 ms (above); PostgreSQL: a lock timeout of 200 ms.
    waits = {} if store.is_sqlite else {"connect_args": {"options": "-c lock_timeout=200"}}
    impatient = Store(database_url, **waits)
    try:
        usage = UsageRecorder(impatient, now=Clock())
        usage.record(key_id, T0.timestamp(), None)
        lock = Store(database_url)
        try:
            with lock.write() as conn:
                conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(label="x"))
                with pytest.raises(sa.exc.OperationalError):
                    usage.flush()
        finally:
            lock.dispose()
        assert _used(store, key_id) is None
        assert usage.flush() == 1
        assert _used(store, key_id) == T0
    finally:
        impatient.dispose()
