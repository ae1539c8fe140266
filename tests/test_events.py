"""The events feed (the outbox): written with each change, read a page at a time after a
cursor that never skips a late commit, per organization, by every role."""

from __future__ import annotations

import pytest

from tests.conftest import SEED_SEGMENT, World, make_world
from zyntro.domain import utcnow
from zyntro.errors import NotFound, ValidationFailed
from zyntro.events import EVENT_TYPES
from zyntro.service import SYSTEM, Service
from zyntro.service.recording import EventNote, WriteScope, record_event

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
        *["segment.created"] * 3,
        "segment.updated",
        "segment.deleted",
        "brand.renamed",
    ]
    for event in events:
        assert list(event) == TOP_KEYS
        assert str(event["id"]).startswith("evt_")
        assert event["org_id"] == world.org_id
    assert [e["id"] for e in events] == sorted(str(e["id"]) for e in events)  # time-sortable
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


@pytest.mark.postgres
def test_an_event_that_commits_late_is_not_skipped(
    service: Service, world: World, database_url: str
) -> None:
    if service.store.is_sqlite:
        pytest.skip("SQLite writers take turns: nothing commits out of order")
    start = service.list_events(SYSTEM, world.org_id).next_cursor
    with WriteScope(service.store, [], []) as slow:  # holds its transaction open
        record_event(slow, "segment.updated", world.org_id, world.brand_id, {"n": 1}, utcnow())
        service.delete_segment(SYSTEM, world.segment_ids[0])  # commits first
        held = service.list_events(SYSTEM, world.org_id, cursor=start)
        assert held.events == []  # the later one waits for the slow transaction
    page = service.list_events(SYSTEM, world.org_id, cursor=held.next_cursor)
    assert [e["type"] for e in page.events] == ["segment.updated", "segment.deleted"]
