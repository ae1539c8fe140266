"""What every segment write records besides the row: its revision, its event, and (for a
deletion) the trash row — all in the writing transaction.

A revision holds who, when, and the segment's 12 public fields before and after (none before
a creation, none after a deletion). Its event carries the segment as it is after the change
(a deletion: as it was).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa

from zyntro.domain import Segment
from zyntro.errors import NotFound
from zyntro.events import SEGMENT_CREATED, SEGMENT_DELETED, SEGMENT_RESTORED, SEGMENT_UPDATED
from zyntro.identity import Actor
from zyntro.ids import new_id
from zyntro.service.recording import EventSpec, record_events
from zyntro.store import queries

CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"
RESTORED = "restored"  # back from the trash
REVERTED = "reverted"  # given the fields of an earlier revision

_EVENT_OF = {
    CREATED: SEGMENT_CREATED,
    UPDATED: SEGMENT_UPDATED,
    DELETED: SEGMENT_DELETED,
    RESTORED: SEGMENT_RESTORED,
    REVERTED: SEGMENT_UPDATED,
}

# (action, the segment before, the segment after): one of them may be None, not both.
Change = tuple[str, Segment | None, Segment | None]


def record_segment_changes(
    conn: sa.Connection,
    actor: Actor,
    org_id: str,
    changes: Sequence[Change],
    moment: datetime,
    encoded: Mapping[str, bytes] | None = None,
) -> None:
    """A revision and an event for each change of a segment, in the writing transaction.

    Each segment's public object is encoded once, for its revision and its event alike;
    `encoded` (segment id -> the encoded object after the change) saves even that when the
    caller has encoded it already (an import, for the segment rows it inserts)."""
    known = encoded or {}
    revisions = []
    events: list[EventSpec] = []
    for action, before, after in changes:
        segment = after if after is not None else before
        assert segment is not None
        before_json = None if before is None else orjson.dumps(before.to_public())
        after_json = None
        if after is not None:
            after_json = known.get(after.id) or orjson.dumps(after.to_public())
        revisions.append(
            {
                "id": new_id("rev"),
                "segment_id": segment.id,
                "brand_id": segment.brand_id,
                "action": action,
                "actor": actor.name,
                "at": moment,
                "before": None if before_json is None else before_json.decode(),
                "after": None if after_json is None else after_json.decode(),
            }
        )
        data = after_json if after_json is not None else before_json
        assert data is not None
        events.append((_EVENT_OF[action], org_id, segment.brand_id, orjson.Fragment(data)))
    queries.insert_revisions(conn, revisions)
    record_events(conn, events, moment)


def record_segment_change(
    conn: sa.Connection,
    actor: Actor,
    org_id: str,
    change: Change,
    moment: datetime,
) -> None:
    record_segment_changes(conn, actor, org_id, [change], moment)


def move_to_trash(
    conn: sa.Connection, actor: Actor, org_id: str, segment: Segment, moment: datetime
) -> None:
    """Delete a segment into the trash (its fields kept as they were), with its revision and
    its tombstone event."""
    if not queries.delete_segment(conn, segment.id):
        raise NotFound("No such segment.")  # deleted meanwhile by another request
    queries.insert_trashed(
        conn,
        segment.id,
        segment.brand_id,
        moment,
        actor.name,
        orjson.dumps(segment.to_public()).decode(),
    )
    record_segment_change(conn, actor, org_id, (DELETED, segment, None), moment)
