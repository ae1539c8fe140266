"""Segment files: a saved fetchAudiences response, its bare `data` array, or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from zyntro.domain import LIST_FIELDS, SEGMENT_FIELDS, Segment
from zyntro.errors import ValidationFailed

LIST_SEPARATOR = "|"
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# injection"). Export writes such a cell after a `'`, which spreadsheets show as text; import
# takes that `'` off again. To keep this lossless, a cell that starts with `'` followed by one
# of these (or by another `'`) gets a `'` too: import removes a leading `'` exactly when the
# character after it is one of these or `'`, and every other cell reads back as it is.
FORMULA_STARTS = frozenset("=+-@\t\r")
QUOTE = "'"
_QUOTED = FORMULA_STARTS | {QUOTE}


def read_segment_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a segment file, untouched but for CSV list cells split on `|` and the `'` export
    writes before a formula's first character taken off (`unquoted_cell`)."""
    raw = path.read_bytes()
    if path.suffix.lower() == ".csv" or raw.lstrip()[:1] not in (b"{", b"["):
        return _read_csv(raw)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("file", f"is not valid JSON ({exc})") from None
    if isinstance(document, dict):
        document = document.get("data")
    if not isinstance(document, list):
        raise ValidationFailed(
            "file", "must be a fetchAudiences response, its data array, or a CSV file"
        )
    return document


def _read_csv(raw: bytes) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("file", "is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise ValidationFailed("file", "has no CSV header row")
    rows: list[dict[str, Any]] = []
    for number, record in enumerate(reader, start=1):
        if None in record:
            raise ValidationFailed(f"row {number}", "has more cells than the header")
        row: dict[str, Any] = {}
        for name, value in record.items():
            value = unquoted_cell(value or "")
            if name in LIST_FIELDS:
                row[name] = [item for item in value.split(LIST_SEPARATOR) if item != ""]
            else:
                row[name] = value
        rows.append(row)
    return rows


def segments_json(segments: Sequence[Segment]) -> bytes:
    """The `data` array, exactly as the endpoint serves it (import reads it back unchanged)."""
    return orjson.dumps([s.to_public() for s in segments], option=orjson.OPT_INDENT_2) + b"\n"


def segments_csv(segments: Sequence[Segment]) -> str:
    out = io.StringIO(newline="")
    # RFC 4180's CRLF line ends (the csv module's default): with them, a cell holding a lone
    # CR is quoted too, which with LF line ends it was not, and the row split in two.
    writer = csv.DictWriter(out, fieldnames=SEGMENT_FIELDS)
    writer.writeheader()
    for segment in segments:
        row = segment.to_public()
        for name in LIST_FIELDS:
            if any(LIST_SEPARATOR in item for item in row[name]):
                raise ValidationFailed(
                    name,
                    f"of segment {segment.id} has an item containing '{LIST_SEPARATOR}', which CSV"
                    " cannot carry; export JSON",
                )
            row[name] = LIST_SEPARATOR.join(row[name])
        writer.writerow({name: quoted_cell(value) for name, value in row.items()})
    return out.getvalue()


def quoted_cell(value: str) -> str:
    """A CSV cell no spreadsheet runs as a formula (`'` before a formula's first character)."""
    if value[:1] in FORMULA_STARTS or (value[:1] == QUOTE and value[1:2] in _QUOTED):
        return QUOTE + value
    return value


def unquoted_cell(cell: str) -> str:
    """The value `quoted_cell` wrote as `cell`."""
    if cell[:1] == QUOTE and cell[1:2] in _QUOTED:
        return cell[1:]
    return cell
