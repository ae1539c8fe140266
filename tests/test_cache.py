"""The read caches on their own: the LRU map's byte bound and its guard against stale values,
and the change feed that tells a process about other processes' writes (on a real database,
SQLite and PostgreSQL, with a clock the test moves)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.clock import FakeClock
from zyntro.cache import MISSING, ChangeFeed, LRUCache
from zyntro.domain import utcnow
from zyntro.store import Store
from zyntro.store.tables import changes

# --- LRUCache --------------------------------------------------------------------------------


def _cache(max_bytes: int = 100) -> LRUCache[str, str]:
    return LRUCache(max_bytes, lambda key, value: len(value))


def test_a_value_read_before_an_invalidation_is_not_stored_after_it() -> None:
    cache = _cache()
    for invalidate in (lambda: cache.pop("other"), cache.clear):
        read_at = cache.generation  # a reader starts reading from the database...
        invalidate()  # ...another thread changes the data and invalidates...
        cache.put("k", "old value", read_at)  # ...then the reader's value arrives
        assert cache.get("k") is MISSING
        cache.put("k", "new value", cache.generation)
        assert cache.get("k") == "new value"
        cache.pop("k")
        assert cache.get("k") is MISSING


def test_the_least_recently_used_values_go_first_when_the_bytes_run_out() -> None:
    cache = _cache(100)
    cache.put("a", "x" * 40, cache.generation)
    cache.put("b", "x" * 40, cache.generation)
    assert cache.bytes == 80
    assert cache.get("a") == "x" * 40  # "a" is now the most recently used
    cache.put("c", "x" * 40, cache.generation)
    assert cache.get("b") is MISSING
    assert [cache.get(k) is MISSING for k in ("a", "c")] == [False, False]
    assert cache.bytes == 80 and len(cache) == 2
    cache.put("big", "x" * 90, cache.generation)  # takes room from both
    assert cache.get("a") is MISSING and cache.get("c") is MISSING
    assert cache.bytes == 90 and len(cache) == 1


def test_byte_accounting_follows_replacements_pops_and_clears() -> None:
    cache = _cache(100)
    cache.put("a", "x" * 30, cache.generation)
    cache.put("a", "x" * 50, cache.generation)  # replaced, not counted twice
    assert cache.bytes == 50 and cache.get("a") == "x" * 50
    cache.put("too big", "x" * 101, cache.generation)  # larger than the whole cache
    assert cache.get("too big") is MISSING and cache.get("a") == "x" * 50
    cache.put("b", "x" * 20, cache.generation)
    cache.pop("a")
    assert cache.bytes == 20 and len(cache) == 1
    cache.pop("never there")
    assert cache.bytes == 20
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0


# --- ChangeFeed --------------------------------------------------------------------------------


class Feed:
    """A change feed on `store` and a record of what it handed on."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.applied: list[tuple[str, str]] = []
        self.resets = 0
        self.feed = ChangeFeed(store, self._apply, self._reset, clock=clock.monotonic)

    def _apply(self, kind: str, entity_id: str) -> None:
        self.applied.append((kind, entity_id))

    def _reset(self) -> None:
        self.resets += 1

    def poll(self) -> list[tuple[str, str]]:
        """What this poll applied."""
        before = len(self.applied)
        count = self.feed.poll()
        assert count == len(self.applied) - before
        return self.applied[before:]


def _write(store: Store, *rows: tuple[int | None, str], ago: timedelta = timedelta(0)) -> None:
    """Change rows (seq or None for the next one, entity id), committed together. A chosen seq
    is how a transaction that took its number early but committed late looks to a reader."""
    at = utcnow() - ago
    values = [
        {"kind": "brand", "entity_id": entity_id, "at": at, **({"seq": seq} if seq else {})}
        for seq, entity_id in rows
    ]
    assert len({len(row) for row in values}) == 1, "all numbered, or none"
    with store.write() as conn:
        conn.execute(changes.insert(), values)


@pytest.fixture
def feed(store: Store, clock: FakeClock) -> Feed:
    feed = Feed(store, clock)
    feed.feed.start_at_current()
    return feed


def _started_over(polled: list[tuple[str, str]], change: tuple[str, str]) -> None:
    """After starting over at the current end, the next poll hands on the new change alone:
    what had committed below the point where it started over is not handed on again."""
    assert polled == [change]


def test_each_change_is_handed_on_once(store: Store, feed: Feed) -> None:
    assert feed.poll() == []
    _write(store, (None, "b1"), (None, "b2"))
    assert feed.poll() == [("brand", "b1"), ("brand", "b2")]
    assert feed.poll() == []
    _write(store, (None, "b3"))
    assert feed.poll() == [("brand", "b3")]
    assert feed.resets == 0


def test_a_change_committed_late_with_a_lower_number_is_still_handed_on(
    store: Store, feed: Feed
) -> None:
    _write(store, (1000, "high"))
    assert feed.poll() == [("brand", "high")]
    # Numbered before 1000 but committed after it was read: within the window below 1000.
    _write(store, (1000 - ChangeFeed.WINDOW + 1, "late"))
    assert feed.poll() == [("brand", "late")]
    _write(store, (990, "later"), (1001, "next"))
    assert feed.poll() == [("brand", "later"), ("brand", "next")]  # none handed on twice
    # Below the window: too old to be one of those, and not re-read.
    _write(store, (1001 - ChangeFeed.WINDOW - 5, "ancient"))
    assert feed.poll() == []
    assert feed.resets == 0


def test_more_changes_than_one_read_drops_everything_and_starts_at_the_current_end(
    store: Store, feed: Feed
) -> None:
    _write(store, *((None, f"bulk{n}") for n in range(5001)))
    feed.poll()
    assert feed.resets == 1  # the caches were dropped whole...
    assert ("brand", "bulk5000") not in feed.applied  # ...rather than read row by row
    assert feed.poll() == []  # and the feed goes on from the end
    _write(store, (None, "after"))
    _started_over(feed.poll(), ("brand", "after"))
    assert feed.poll() == []
    assert feed.resets == 1


def test_a_feed_that_could_not_poll_for_long_starts_over(
    store: Store, feed: Feed, clock: FakeClock
) -> None:
    # Polls that succeed keep it fresh however long it runs.
    for _ in range(3):
        clock.advance(ChangeFeed.STALE_AFTER_SECONDS * 0.9)
        assert feed.poll() == []
    assert feed.resets == 0
    # No poll for longer than the change rows are sure to be kept: some may be pruned unseen.
    clock.advance(ChangeFeed.STALE_AFTER_SECONDS + 1)
    _write(store, (None, "maybe missed"))
    assert feed.poll() == []
    assert feed.resets == 1
    assert feed.poll() == []  # it started at the current end
    _write(store, (None, "after"))
    _started_over(feed.poll(), ("brand", "after"))
    assert feed.poll() == []
    assert feed.resets == 1


def test_a_feed_started_at_the_end_hands_on_only_what_commits_after(
    store: Store, clock: FakeClock
) -> None:
    # Regression: the first poll after a start re-applied the whole window below the end, so
    # a process that had just cached a key dropped it at the first unrelated change, and the
    # key was refused with 429 while its address was over the invalid-key quota.
    _write(store, (100, "before"), (105, "end"))
    feed = Feed(store, clock)
    feed.feed.start_at_current()
    assert feed.poll() == []
    _write(store, (106, "after"))
    assert feed.poll() == [("brand", "after")]
    # A change numbered below the end that commits only now is still handed on.
    _write(store, (103, "late"))
    assert feed.poll() == [("brand", "late")]
    assert feed.resets == 0


def _entities(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(changes.c.entity_id)).scalars())


def test_rows_older_than_an_hour_are_pruned_at_most_once_a_minute(
    store: Store, feed: Feed, clock: FakeClock
) -> None:
    hour = timedelta(seconds=ChangeFeed.PRUNE_AFTER_SECONDS)
    _write(store, (None, "old"), ago=hour + timedelta(minutes=1))
    _write(store, (None, "recent"), ago=hour - timedelta(minutes=1))
    feed.feed.prune()
    assert _entities(store) == {"recent"}
    _write(store, (None, "old too"), ago=hour + timedelta(minutes=1))
    clock.advance(59)
    feed.feed.prune()  # too soon: not even a query
    assert "old too" in _entities(store)
    clock.advance(1)
    feed.feed.prune()
    assert _entities(store) == {"recent"}
