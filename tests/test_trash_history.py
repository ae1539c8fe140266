"""The trash (deleted segments come back with their id until purged) and the history of each
segment (every change a revision with its fields before and after; any can be restored)."""

from __future__ import annotations

from datetime import timedelta

import anyio
import orjson
import pydantic
import pytest
import sqlalchemy as sa

from tests.conftest import SEED_SEGMENT, World, make_world
from zyntro.api import upkeep
from zyntro.api.app import create_app
from zyntro.domain import utcnow
from zyntro.errors import BrandNotFound, Conflict, Forbidden, NotFound
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store.tables import events, segment_revisions, trashed_segments, webhook_deliveries


def _served_ids(service: Service, world: World) -> list[str]:
    body = orjson.loads(service.fetch_audiences(world.owner_key, world.org_id, world.brand_id))
    return [segment["segment_id"] for segment in body["data"]]


def test_a_deleted_segment_waits_in_the_trash_and_comes_back_with_its_id(
    service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    gone = service.get_segment(actor, world.segment_ids[1])
    service.delete_segment(actor, gone.id)

    assert gone.id not in _served_ids(service, world)
    assert gone.id not in [s.id for s in service.list_segments(actor, world.brand_id)]
    page, more = service.segments_page(actor, world.brand_id, limit=10)
    assert gone.id not in [s.id for s in page] and not more
    with pytest.raises(NotFound):
        service.get_segment(actor, gone.id)
    trash, more = service.trash_page(service.act_as(world.member_id), world.brand_id)
    assert [t.id for t in trash] == [gone.id] and not more
    item = trash[0].to_public()
    assert {k: item[k] for k in gone.to_public()} == gone.to_public()
    assert item["deleted_by"] == world.in_charge_id
    assert trash[0].purge_at - trash[0].deleted_at == timedelta(days=30)

    restored = service.restore_segment(actor, gone.id, world.brand_id)
    assert restored.id == gone.id
    assert restored.editable() == gone.editable() and restored.created_at == gone.created_at
    assert _served_ids(service, world) == world.segment_ids  # back in its place
    assert service.trash_page(actor, world.brand_id)[0] == []
    last = service.list_events(SYSTEM, world.org_id, limit=500).events[-1]
    assert last["type"] == "segment.restored" and last["data"]["segment_id"] == gone.id  # type: ignore[index]
    with pytest.raises(Conflict):  # live again: not in the trash
        service.restore_segment(actor, gone.id)
    with pytest.raises(NotFound):
        service.restore_segment(actor, "seg_nothing")


def test_only_content_roles_restore_and_no_other_organization_sees_the_trash(
    service: Service, world: World
) -> None:
    other = make_world(service, segments=1)
    service.delete_segment(SYSTEM, world.segment_ids[0])
    with pytest.raises(Forbidden):
        service.restore_segment(service.act_as(world.member_id), world.segment_ids[0])
    outsider = service.act_as(other.owner_id)
    with pytest.raises(BrandNotFound):
        service.trash_page(outsider, world.brand_id)
    with pytest.raises(NotFound):
        service.restore_segment(outsider, world.segment_ids[0])
    with pytest.raises(NotFound):
        service.revisions_page(outsider, world.segment_ids[0])
    with pytest.raises(BrandNotFound):  # through the other brand: brand_not_found first
        service.restore_segment(outsider, world.segment_ids[0], world.brand_id)
    assert service.trash_page(outsider, other.brand_id)[0] == []


def test_revisions_show_before_and_after_and_restoring_one_is_a_new_revision(
    service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    segment_id = world.segment_ids[0]
    original = service.get_segment(actor, segment_id)
    service.update_segment(actor, segment_id, {"segment_tone": "warm", "segment_tag": "t2"})
    service.update_segment(actor, segment_id, {"segment_label": "Renamed"})

    revisions = [
        r for _, r in service.revisions_page(service.act_as(world.member_id), segment_id)[0]
    ]
    assert [r.action for r in revisions] == ["updated", "updated", "created"]
    created = revisions[-1]
    assert created.before is None and created.after == original.to_public()
    assert created.actor == world.in_charge_id
    first_edit = revisions[1]
    assert first_edit.before is not None and first_edit.after is not None
    assert (first_edit.before["segment_tone"], first_edit.after["segment_tone"]) == (
        SEED_SEGMENT["segment_tone"],
        "warm",
    )

    reverted = service.restore_revision(actor, segment_id, created.id, world.brand_id)
    assert reverted.id == segment_id and reverted.editable() == original.editable()
    latest = service.revisions_page(actor, segment_id, limit=1)[0][0][1]
    assert latest.action == "reverted" and latest.after == reverted.to_public()
    assert latest.before is not None and latest.before["segment_label"] == "Renamed"
    assert service.list_events(SYSTEM, world.org_id, limit=500).events[-1]["type"] == (
        "segment.updated"
    )
    served = orjson.loads(service.fetch_audiences(world.owner_key, world.org_id, world.brand_id))
    assert served["data"][0]["segment_label"] == original.segment_label

    with pytest.raises(Forbidden):
        service.restore_revision(service.act_as(world.member_id), segment_id, created.id)
    other_revision = service.revisions_page(actor, world.segment_ids[1])[0][0][1]
    with pytest.raises(NotFound):
        service.restore_revision(actor, segment_id, other_revision.id)
    # A trashed segment keeps its history, and is restored from the trash first.
    service.delete_segment(actor, segment_id)
    page = service.revisions_page(actor, segment_id)[0]
    assert page[0][1].action == "deleted" and page[0][1].after is None
    with pytest.raises(Conflict):
        service.restore_revision(actor, segment_id, created.id)


def test_revision_pages_follow_their_position(service: Service, world: World) -> None:
    segment_id = world.segment_ids[0]
    for n in range(3):
        service.update_segment(SYSTEM, segment_id, {"segment_tone": f"tone {n}"})
    first, more = service.revisions_page(SYSTEM, segment_id, limit=2)
    assert more
    rest, more = service.revisions_page(SYSTEM, segment_id, limit=2, before_seq=first[-1][0])
    assert not more
    assert [r.action for _, r in first + rest] == ["updated"] * 3 + ["created"]


def test_an_import_leaves_an_event_and_a_revision_per_created_or_updated_segment(
    service: Service, world: World
) -> None:
    actor = service.act_as(world.in_charge_id)
    start = service.list_events(SYSTEM, world.org_id).next_cursor
    existing = service.get_segment(actor, world.segment_ids[0]).to_public()
    rows = [
        {**existing, "segment_tone": "imported"},  # updated
        service.get_segment(actor, world.segment_ids[1]).to_public(),  # unchanged
        {**SEED_SEGMENT, "segment_label": "New one"},
        {**SEED_SEGMENT, "segment_label": "New two"},
    ]
    result = service.import_segments(actor, world.brand_id, rows)
    assert (result.created, result.updated, result.unchanged) == (2, 1, 1)
    page = service.list_events(SYSTEM, world.org_id, cursor=start)
    assert sorted(e["type"] for e in page.events) == [
        "segment.created",
        "segment.created",
        "segment.updated",
    ]
    updated = next(e for e in page.events if e["type"] == "segment.updated")
    assert updated["data"]["segment_tone"] == "imported"  # type: ignore[index]
    assert [r.action for _, r in service.revisions_page(actor, existing["segment_id"])[0]] == [
        "updated",
        "created",
    ]


def test_an_import_fans_its_events_out_to_the_webhooks_that_want_them(
    service: Service, world: World
) -> None:
    """An import's events, revisions and deliveries are written many rows at a time: each
    reads back as one written alone would (the same object in all three, times intact)."""
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    created, _secret = service.create_webhook(
        owner, world.org_id, {"url": "http://127.0.0.1:9/hook", "events": ["segment.created"]}
    )
    service.create_webhook(  # another brand's: hears nothing of this import
        owner,
        world.org_id,
        {"url": "http://127.0.0.1:9/other", "brand_ids": [world.empty_brand_id]},
    )
    start = service.list_events(SYSTEM, world.org_id).next_cursor
    rows = [{**SEED_SEGMENT, "segment_label": f"Imported {n}"} for n in range(3)]
    result = service.import_segments(owner, world.brand_id, rows)
    page = service.list_events(SYSTEM, world.org_id, cursor=start)
    assert len(page.events) == 3
    with service.store.read() as conn:
        deliveries = list(conn.execute(sa.select(webhook_deliveries)))
        revisions = list(
            conn.execute(
                sa.select(segment_revisions).where(
                    segment_revisions.c.segment_id.in_(result.segment_ids)
                )
            )
        )
    assert {d.webhook_id for d in deliveries} == {created.id}
    assert {d.state for d in deliveries} == {"pending"}
    assert sorted(orjson.loads(d.payload)["id"] for d in deliveries) == sorted(
        e["id"] for e in page.events
    )
    served = {
        s["segment_id"]: s
        for s in orjson.loads(
            service.fetch_audiences(world.owner_key, world.org_id, world.brand_id)
        )["data"]
    }
    for event in page.events:
        data = event["data"]
        assert data == served[data["segment_id"]]  # type: ignore[index]
    assert len(revisions) == 3
    for revision in revisions:
        assert revision.action == "created" and revision.before is None
        assert orjson.loads(revision.after) == served[revision.segment_id]
        assert revision.at.tzinfo is not None
        assert abs((revision.at - utcnow()).total_seconds()) < 60


def test_expired_trash_and_events_are_purged_once_whoever_runs_it(
    service: Service, world: World
) -> None:
    service.delete_segment(SYSTEM, world.segment_ids[0])
    service.delete_segment(SYSTEM, world.segment_ids[1])
    with service.store.write() as conn:
        old = service.trash_page(SYSTEM, world.brand_id)[0][0].deleted_at - timedelta(days=31)
        conn.execute(
            trashed_segments.update()
            .where(trashed_segments.c.id == world.segment_ids[0])
            .values(deleted_at=old)
        )
        conn.execute(events.update().where(events.c.type == "brand.created").values(created_at=old))
    other = Service(service.store)  # another process purging too
    assert service.purge_expired() == (2, 1)
    assert other.purge_expired() == (0, 0)
    assert [t.id for t in service.trash_page(SYSTEM, world.brand_id)[0]] == [world.segment_ids[1]]
    with pytest.raises(NotFound):
        service.revisions_page(SYSTEM, world.segment_ids[0])
    with pytest.raises(NotFound):
        service.restore_segment(SYSTEM, world.segment_ids[0])
    kept = service.list_events(SYSTEM, world.org_id, limit=500).events
    assert "brand.created" not in [e["type"] for e in kept]
    service.trash_retention = timedelta(days=1)
    assert service.purge_trash() == 0  # the other one was deleted just now


def test_deleting_a_brand_is_an_event_and_takes_its_trash_and_history(
    service: Service, world: World
) -> None:
    service.delete_segment(SYSTEM, world.segment_ids[0])
    service.delete_brand(SYSTEM, world.brand_id)
    last = service.list_events(SYSTEM, world.org_id, limit=500).events[-1]
    assert last["type"] == "brand.deleted" and last["brand_id"] == world.brand_id
    assert last["data"]["name"] == "Brand"  # type: ignore[index]
    with service.store.read() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(trashed_segments)).scalar_one()
        revisions = conn.execute(
            sa.select(sa.func.count())
            .select_from(segment_revisions)
            .where(segment_revisions.c.brand_id == world.brand_id)
        ).scalar_one()
    assert (left, revisions) == (0, 0)


def test_concurrent_deletes_and_edits_leave_one_tombstone_and_no_error_page(
    service: Service, world: World
) -> None:
    """Two requests read the segment, then both delete (or one edits) it: the late one is
    `not found`, and the feed tells of one deletion."""
    segment = service.get_segment(SYSTEM, world.segment_ids[0])
    service.delete_segment(SYSTEM, segment.id)
    late = Service(service.store)
    late.get_segment = lambda actor, segment_id: segment  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        late.delete_segment(SYSTEM, segment.id)
    with pytest.raises(NotFound):
        late.update_segment(SYSTEM, segment.id, {"segment_tone": "late"})
    types = [e["type"] for e in service.list_events(SYSTEM, world.org_id, limit=500).events]
    assert types.count("segment.deleted") == 1 and "segment.updated" not in types


def test_the_server_configures_retention_and_purges_in_the_background(
    service: Service, world: World, database_url: str
) -> None:
    settings = Settings(database_url=database_url, event_retention_days=45, trash_retention_days=1)
    create_app(settings, service)
    assert service.event_retention == timedelta(days=45)
    assert service.trash_retention == timedelta(days=1)
    service.delete_segment(SYSTEM, world.segment_ids[0])
    with service.store.write() as conn:
        conn.execute(trashed_segments.update().values(deleted_at=utcnow() - timedelta(days=2)))

    async def purge_once() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(upkeep.purge_expired, service, 0.0, 3600.0)
            while service.trash_page(SYSTEM, world.brand_id)[0]:
                await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()

    anyio.run(purge_once)
    with pytest.raises(NotFound):
        service.restore_segment(SYSTEM, world.segment_ids[0])


def test_the_events_feed_keeps_events_at_least_30_days() -> None:
    """The feed promises integrations 30 days: a shorter ZYNTRO_EVENT_RETENTION_DAYS is
    refused when the settings load (the server does not start), a longer one is kept."""
    with pytest.raises(pydantic.ValidationError, match="event_retention_days"):
        Settings(event_retention_days=29)
    assert Settings(event_retention_days=30).event_retention_days == 30
    assert Settings(event_retention_days=365).event_retention_days == 365
