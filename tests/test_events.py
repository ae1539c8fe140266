"""The events feed (the outbox): written with each change, read a page at a time after a
cursor that never skips a late commit, per organization, by every role."""

from __future__ import annotations

import threading

import orjson
import pytest

from tests.conftest import SEED_SEGMENT, World, make_world
from zyntro.domain import utcnow
from zyntro.errors import NotFound, ValidationFailed
from zyntro.events import EVENT_TYPES
from zyntro.service import SYSTEM, Service
from zyntro.service.recording import EventNote, WriteScope, record_event
from zyntro.store import queries

TOP_KEYS = ["id", "type", "created_at", "org_id", "brand_id", "data"]


def _all_events(service: Service, org_id: str, **filters: object) -> list[dict[str, object]]:
    page = service.list_events(SYSTEM, org_id, limit=500, **filters)  # type: ignore[arg-type]
    return page.events


def test_every_write_leaves_an_event_and_a_deletion_a_tombstone(
    service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    heard: list[EventNote] = []
    service.on_event.append(heard.append)
    segment = service.get_segment(actor, world.segment_ids[0])
    service.update_segment(actor, segment.id, {"segment_tone": "warm"})
    service.delete_segment(actor, segment.id)
    service.rename_brand(actor, world.brand_id, "Renamed")

    events = _all_events(service, world.org_id)
    assert [e["type"] for e in events] == [
        "brand.created",
        "brand.created",
        "key.created",  # the world's two members' keys
        "key.created",
        *["segment.created"] * 3,
        "segment.updated",
        "segment.deleted",
        "brand.renamed",
    ]
    for event in events:
        assert list(event) == TOP_KEYS
        assert str(event["id"]).startswith("evt_")
        assert event["org_id"] == world.org_id
    stamps = [str(e["id"])[4:14] for e in events]  # the id's milliseconds: time-sortable
    assert stamps == sorted(stamps)
    updated, deleted, renamed = events[-3:]
    assert updated["data"]["segment_tone"] == "warm"  # type: ignore[index]
    # The tombstone is the segment as it was just before it went.
    tombstone = deleted["data"]
    assert isinstance(tombstone, dict)
    assert tombstone == {**updated["data"], "segment_id": segment.id}  # type: ignore[dict-item]
    assert deleted["brand_id"] == world.brand_id
    assert renamed["data"]["name"] == "Renamed"  # type: ignore[index]
    # This process's listeners heard of each event after its commit.
    assert [note.type for note in heard] == ["segment.updated", "segment.deleted", "brand.renamed"]
    assert [note.id for note in heard] == [e["id"] for e in events[-3:]]


def test_a_failed_write_leaves_no_event(service: Service, world: World) -> None:
    before = _all_events(service, world.org_id)
    heard: list[EventNote] = []
    service.on_event.append(heard.append)
    with pytest.raises(ValidationFailed):
        service.add_segment(
            service.act_as(world.in_charge_id), world.brand_id, {**SEED_SEGMENT, "segment_type": ""}
        )
    with pytest.raises(RuntimeError), WriteScope(service.store, [], service.on_event) as conn:
        record_event(conn, "segment.updated", world.org_id, world.brand_id, {}, utcnow())
        raise RuntimeError("rolled back")
    assert _all_events(service, world.org_id) == before
    assert heard == []


def test_cursor_pages_never_end_in_null_and_an_empty_page_means_nothing_new(
    service: Service, world: World
) -> None:
    expected = [e["id"] for e in _all_events(service, world.org_id)]
    seen: list[object] = []
    cursor = None
    for _ in range(10):
        page = service.list_events(SYSTEM, world.org_id, cursor=cursor, limit=2)
        assert page.next_cursor
        seen += [e["id"] for e in page.events]
        cursor = page.next_cursor
        if not page.events:
            break
    assert seen == expected
    again = service.list_events(SYSTEM, world.org_id, cursor=cursor, limit=2)
    assert again.events == [] and again.next_cursor == cursor
    service.delete_segment(SYSTEM, world.segment_ids[1])
    later = service.list_events(SYSTEM, world.org_id, cursor=cursor)
    assert [e["type"] for e in later.events] == ["segment.deleted"]
    with pytest.raises(ValidationFailed):
        service.list_events(SYSTEM, world.org_id, cursor="not-a-cursor")


def test_filters_by_type_and_brand_and_the_cursor_moves_past_what_they_skip(
    service: Service, world: World
) -> None:
    service.delete_segment(SYSTEM, world.segment_ids[0])
    service.create_brand(SYSTEM, world.org_id, "Third")
    deleted = service.list_events(SYSTEM, world.org_id, types=["segment.deleted"])
    assert [e["type"] for e in deleted.events] == ["segment.deleted"]
    brand = service.list_events(SYSTEM, world.org_id, brand_id=world.empty_brand_id)
    assert [e["type"] for e in brand.events] == ["brand.created"]
    both = service.list_events(
        SYSTEM, world.org_id, types=["brand.created", "segment.deleted"], brand_id=world.brand_id
    )
    assert [e["type"] for e in both.events] == ["brand.created", "segment.deleted"]
    # Nothing new since: the same filters from the returned cursor give an empty page.
    assert service.list_events(SYSTEM, world.org_id, cursor=deleted.next_cursor).events == []
    with pytest.raises(ValidationFailed):
        service.list_events(SYSTEM, world.org_id, types=["segment.exploded"])
    assert "webhook.test" in EVENT_TYPES


def test_every_role_sees_its_own_organization_and_no_other(service: Service, world: World) -> None:
    other = make_world(service, segments=1)
    for member_id in (world.owner_id, world.in_charge_id, world.member_id):
        events = service.list_events(service.act_as(member_id), world.org_id).events
        assert events and {e["org_id"] for e in events} == {world.org_id}
        with pytest.raises(NotFound):
            service.list_events(service.act_as(member_id), other.org_id)
    theirs = _all_events(service, other.org_id)
    assert {e["org_id"] for e in theirs} == {other.org_id}


def test_an_event_that_commits_late_is_not_skipped(service: Service, world: World) -> None:
    """Events are written as their transaction's last statement, one writer at a time:
    a transaction that writes events later commits them later, never under a cursor."""
    start = service.list_events(SYSTEM, world.org_id).next_cursor
    with WriteScope(service.store, [], service.on_event) as slow:
        record_event(slow, "segment.updated", world.org_id, world.brand_id, {"n": 1}, utcnow())
        held = service.list_events(SYSTEM, world.org_id, cursor=start)
        assert held.events == []  # not written until the commit
    service.delete_segment(SYSTEM, world.segment_ids[0])
    page = service.list_events(SYSTEM, world.org_id, cursor=held.next_cursor)
    assert [e["type"] for e in page.events] == ["segment.updated", "segment.deleted"]


def test_a_reader_polling_during_concurrent_writes_sees_each_event_once(
    service: Service, world: World
) -> None:
    cursor = service.list_events(SYSTEM, world.org_id).next_cursor
    seen: list[object] = []
    done = threading.Event()

    def write(segment_id: str) -> None:
        for n in range(25):
            service.update_segment(SYSTEM, segment_id, {"segment_tone": f"tone {n}"})

    writers = [threading.Thread(target=write, args=(sid,)) for sid in world.segment_ids[:2]]
    for thread in writers:
        thread.start()
    while not done.is_set():
        if not any(thread.is_alive() for thread in writers):
            done.set()  # one more read after the last commit
        page = service.list_events(SYSTEM, world.org_id, cursor=cursor, limit=7)
        seen += [e["id"] for e in page.events]
        cursor = page.next_cursor
    while page.events:
        page = service.list_events(SYSTEM, world.org_id, cursor=cursor, limit=7)
        seen += [e["id"] for e in page.events]
        cursor = page.next_cursor
    updates = [e["id"] for e in _all_events(service, world.org_id, types=["segment.updated"])]
    assert len(updates) == 50
    assert seen == updates


def test_events_are_read_by_id_and_across_organizations_for_a_worker(
    service: Service, world: World
) -> None:
    other = make_world(service, segments=1)
    with service.store.read() as conn:
        everything, head = queries.events_after(conn, None, 0, limit=500)
        mine = [body for _, body in everything if world.org_id in body]
        theirs = [body for _, body in everything if other.org_id in body]
        assert mine and theirs and len(mine) + len(theirs) == len(everything)
        assert head == everything[-1][0]
        first_id = orjson.loads(everything[0][1])["id"]
        found = queries.get_events(conn, [first_id, "evt_nothing"])
    assert list(found) == [first_id] and found[first_id] == everything[0]
