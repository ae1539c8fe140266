"""`zyntro events list`, and the trash and history of segments (`zyntro segment restore`,
`segment trash`, `segment history`, `segment revert`)."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from zyntro.cli.common import JsonOption, handle_errors, service
from zyntro.cli.output import emit, emit_json, emit_table, show
from zyntro.domain import EDITABLE_FIELDS
from zyntro.identity import SYSTEM

events_app = typer.Typer(help="The events feed of an organization.", no_args_is_help=True)

_MEMBER = typer.Option(None, "--member", help="Act as this member (role-checked).")


def _subject(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    if "segment_id" in data:
        return f"{data['segment_id']} ({data.get('segment_label', '')})"
    if "name" in data:
        return f"{data.get('brand_id', '')} ({data['name']})"
    return ""


def _event_line(event: dict[str, Any]) -> str:
    return "  ".join(
        [event["created_at"], event["type"], event["brand_id"] or "-", _subject(event)]
    )


@events_app.command("list")
@handle_errors
def events_list(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    event_type: list[str] | None = typer.Option(
        None, "--type", help="Only this type (repeat for several), e.g. segment.deleted."
    ),
    brand: str | None = typer.Option(None, "--brand", help="Only this brand's events."),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Start after this cursor (default: the oldest event kept)."
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=500, help="Events per read."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep reading new events until interrupted (Ctrl-C)."
    ),
    interval: float = typer.Option(
        2.0, "--interval", min=0.1, help="Seconds between reads with --follow."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Events oldest first, one line each (--json: one JSON object per line). The cursor to
    go on from is printed last: pass it as --cursor next time."""
    svc = service(ctx)
    try:
        while True:
            page = svc.list_events(
                SYSTEM, org, cursor=cursor, limit=limit, types=event_type or (), brand_id=brand
            )
            for event in page.events:
                if as_json:
                    emit_json(event)
                else:
                    show(_event_line(event))
            sys.stdout.flush()  # a follower's reader sees each event as it comes
            cursor = page.next_cursor
            if len(page.events) == limit:
                continue
            if not follow:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass  # following ends here; the cursor below is where to go on from
    show(f"Next cursor: {cursor}", stderr=True)


def segment_trash(
    ctx: typer.Context,
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    as_json: bool = JsonOption,
) -> None:
    """List a brand's deleted segments, restorable until purged (latest deleted first)."""
    svc = service(ctx)
    rows: list[dict[str, Any]] = []
    before = None
    while True:
        page, more = svc.trash_page(SYSTEM, brand, limit=500, before=before)
        rows += [item.to_public() for item in page]
        if not more:
            break
        before = (page[-1].deleted_at, page[-1].id)
    columns = ["segment_id", "segment_label", "deleted_at", "deleted_by", "purge_at"]
    emit_table(as_json, rows, columns)


def segment_restore(
    ctx: typer.Context,
    segment_id: str,
    member: str | None = _MEMBER,
    as_json: bool = JsonOption,
) -> None:
    """Bring a deleted segment back from its brand's trash, with its id."""
    svc = service(ctx)
    actor = svc.act_as(member) if member else SYSTEM
    segment = svc.restore_segment(actor, segment_id)
    emit(
        as_json,
        segment.to_public(),
        f"Restored segment {segment.id} ({segment.segment_label}) to {segment.brand_id}",
    )


def _changed(revision: dict[str, Any]) -> str:
    before, after = revision["before"], revision["after"]
    if before is None or after is None:
        return "all fields"
    return ", ".join(name for name in EDITABLE_FIELDS if before[name] != after[name]) or "-"


def segment_history(
    ctx: typer.Context,
    segment_id: str,
    as_json: bool = JsonOption,
) -> None:
    """Every change of a segment, the latest first: who, when, and which fields (--json:
    each with the fields before and after)."""
    svc = service(ctx)
    rows: list[dict[str, Any]] = []
    before_seq = None
    while True:
        page, more = svc.revisions_page(SYSTEM, segment_id, limit=500, before_seq=before_seq)
        rows += [revision.to_public() for _, revision in page]
        if not more:
            break
        before_seq = page[-1][0]
    if as_json:
        emit_json(rows)
        return
    listed = [{**row, "changed": _changed(row)} for row in rows]
    emit_table(False, listed, ["revision_id", "at", "action", "actor", "changed"])


def segment_revert(
    ctx: typer.Context,
    segment_id: str,
    revision_id: str,
    member: str | None = _MEMBER,
    as_json: bool = JsonOption,
) -> None:
    """Give a segment the fields of an earlier revision (see `segment history`)."""
    svc = service(ctx)
    actor = svc.act_as(member) if member else SYSTEM
    segment = svc.restore_revision(actor, segment_id, revision_id)
    emit(as_json, segment.to_public(), f"Segment {segment.id} has the fields of {revision_id}")


def register(segment_app: typer.Typer) -> None:
    """Add the trash and history commands to `zyntro segment`."""
    for name, command in (
        ("trash", segment_trash),
        ("restore", segment_restore),
        ("history", segment_history),
        ("revert", segment_revert),
    ):
        segment_app.command(name)(handle_errors(command))
