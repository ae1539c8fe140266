"""`zyntro segment …`: a brand's audience segments, their import and export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from zyntro.cli.common import JsonOption, fail, handle_errors, service
from zyntro.cli.output import emit, emit_table, error_console, plural, show
from zyntro.errors import ValidationFailed
from zyntro.identity import SYSTEM, Actor
from zyntro.transfer import read_segment_file, segments_csv, segments_json

if TYPE_CHECKING:
    from zyntro.service import Service

segment_app = typer.Typer(help="Audience segments of a brand.", no_args_is_help=True)

PROGRESS_THRESHOLD = 1000  # rows; smaller files finish before a bar is worth drawing


def _actor(svc: Service, member: str | None) -> Actor:
    return svc.act_as(member) if member else SYSTEM


def _fields(
    label: str | None,
    segment_type: str | None,
    tag: str | None,
    drivers: str | None,
    pain_points: list[str] | None,
    use_cases: list[str] | None,
    tone: str | None,
    reasoning: str | None,
) -> dict[str, Any]:
    given = {
        "segment_label": label,
        "segment_type": segment_type,
        "segment_tag": tag,
        "segment_decision_drivers": drivers,
        "segment_pain_points": pain_points or None,
        "segment_use_cases": use_cases or None,
        "segment_tone": tone,
        "reasoning": reasoning,
    }
    return {name: value for name, value in given.items() if value is not None}


_TAG = typer.Option(None, "--tag")
_DRIVERS = typer.Option(None, "--drivers", help='Comma-separated, e.g. "Quality, Price".')
_PAIN = typer.Option(None, "--pain-point", help="Repeat for each pain point.")
_USE = typer.Option(None, "--use-case", help="Repeat for each use case.")
_TONE = typer.Option(None, "--tone")
_REASONING = typer.Option(None, "--reasoning")


@segment_app.command("add")
@handle_errors
def segment_add(
    ctx: typer.Context,
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    member: str = typer.Option(
        ..., "--member", help="The member creating it (owner or in_charge)."
    ),
    label: str = typer.Option(..., "--label"),
    segment_type: str = typer.Option(..., "--type", help="snake_case, e.g. demographic."),
    tag: str | None = _TAG,
    drivers: str | None = _DRIVERS,
    pain_point: list[str] | None = _PAIN,
    use_case: list[str] | None = _USE,
    tone: str | None = _TONE,
    reasoning: str | None = _REASONING,
    as_json: bool = JsonOption,
) -> None:
    """Add a segment to a brand."""
    svc = service(ctx)
    values = _fields(label, segment_type, tag, drivers, pain_point, use_case, tone, reasoning)
    segment = svc.add_segment(svc.act_as(member), brand, values)
    emit(
        as_json,
        segment.to_public(),
        f"Added segment {segment.id} ({segment.segment_label}) to {brand}",
    )


@segment_app.command("list")
@handle_errors
def segment_list(
    ctx: typer.Context,
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    as_json: bool = JsonOption,
) -> None:
    """List a brand's segments in the order the endpoint serves them."""
    rows = [s.to_public() for s in service(ctx).list_segments(SYSTEM, brand)]
    emit_table(as_json, rows, ["segment_id", "segment_label", "segment_type", "updated_at"])


@segment_app.command("update")
@handle_errors
def segment_update(
    ctx: typer.Context,
    segment_id: str,
    member: str | None = typer.Option(None, "--member", help="Act as this member (role-checked)."),
    label: str | None = typer.Option(None, "--label"),
    segment_type: str | None = typer.Option(None, "--type"),
    tag: str | None = _TAG,
    drivers: str | None = _DRIVERS,
    pain_point: list[str] | None = _PAIN,
    use_case: list[str] | None = _USE,
    tone: str | None = _TONE,
    reasoning: str | None = _REASONING,
    as_json: bool = JsonOption,
) -> None:
    """Change the given fields of a segment (list options replace the whole list)."""
    svc = service(ctx)
    values = _fields(label, segment_type, tag, drivers, pain_point, use_case, tone, reasoning)
    if not values:
        raise fail("give at least one field to change (--label, --type, --tag, …)")
    segment = svc.update_segment(_actor(svc, member), segment_id, values)
    emit(as_json, segment.to_public(), f"Updated segment {segment.id}")


@segment_app.command("delete")
@handle_errors
def segment_delete(
    ctx: typer.Context,
    segment_id: str,
    member: str | None = typer.Option(None, "--member", help="Act as this member (role-checked)."),
    as_json: bool = JsonOption,
) -> None:
    """Delete a segment."""
    svc = service(ctx)
    svc.delete_segment(_actor(svc, member), segment_id)
    emit(as_json, {"segment_id": segment_id, "deleted": True}, f"Deleted segment {segment_id}")


@segment_app.command("import")
@handle_errors
def segment_import(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    brand: str | None = typer.Option(
        None, "--brand", help="Brand id; rows with a brand_id field go to that brand instead."
    ),
    member: str = typer.Option(..., "--member", help="The importing member (owner or in_charge)."),
    new_ids: bool = typer.Option(
        False,
        "--new-ids",
        help="Copy into --brand: every row goes there with an id of that brand (copying "
        "again makes no second copy).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Import a saved fetchAudiences response, its data array, or CSV: every row is checked
    before anything is written; then each brand's rows go in all together or not at all."""
    from rich.progress import Progress

    if new_ids and brand is None:
        raise fail("--new-ids copies into one brand: give it with --brand")
    svc = service(ctx)
    actor = svc.act_as(member)
    rows = read_segment_file(file)
    show_bar = len(rows) >= PROGRESS_THRESHOLD and not as_json
    with Progress(console=error_console, disable=not show_bar, transient=True) as bar:
        task = bar.add_task("Importing segments", total=len(rows))
        result = svc.import_segments(
            actor, brand, rows, progress=lambda n: bar.advance(task, n), new_ids=new_ids
        )
    into = brand if brand is not None and result.brands <= 1 else f"{result.brands} brands"
    emit(
        as_json,
        {
            "brand_id": brand,
            "brands": result.brands,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "reattributed": result.reattributed,
        },
        f"Imported {plural(len(rows), 'row')} into {into}: {result.created} created, "
        f"{result.updated} updated, {result.unchanged} unchanged"
        + (
            f"; {result.reattributed} re-attributed to the importing member (their "
            "initiated_by is not a member of the brand's organization)"
            if result.reattributed
            else ""
        ),
    )


@segment_app.command("export")
@handle_errors
def segment_export(
    ctx: typer.Context,
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    export_format: str = typer.Option("json", "--format", help="json or csv."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default stdout)."
    ),
) -> None:
    """Write a brand's segments as JSON (the data array) or CSV; import reads either back."""
    if export_format not in ("json", "csv"):
        raise ValidationFailed("format", "must be json or csv")
    segments = service(ctx).list_segments(SYSTEM, brand)
    data = segments_json(segments) if export_format == "json" else segments_csv(segments).encode()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        output.write_bytes(data)
        show(f"Wrote {plural(len(segments), 'segment')} of {brand} to {output} ({export_format})")
