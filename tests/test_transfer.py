"""Segment import and export: round trips, all-or-nothing, idempotence (issue 2 item 7)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World
from tests.helpers import PATH, SEGMENT_KEYS
from zyntro.errors import Conflict, ValidationFailed, ZyntroError
from zyntro.service import SYSTEM, Actor, Service
from zyntro.transfer import read_segment_file, segments_csv, segments_json


def _in_charge(service: Service, world: World) -> Actor:
    return service.act_as(world.in_charge_id)


def _public(service: Service, brand_id: str) -> list[dict[str, Any]]:
    return [s.to_public() for s in service.list_segments(SYSTEM, brand_id)]


def _export(service: Service, brand_id: str, kind: str, path: Path) -> Path:
    segments = service.list_segments(SYSTEM, brand_id)
    if kind == "json":
        path.write_bytes(segments_json(segments))
    else:
        path.write_text(segments_csv(segments), encoding="utf-8", newline="")
    return path


def _import(service: Service, world: World, brand_id: str, path: Path) -> Any:
    return service.import_segments(_in_charge(service, world), brand_id, read_segment_file(path))


def _add_varied(service: Service, world: World) -> None:
    """Segments whose text is hard for CSV: commas, quotes, newlines, unicode, empties."""
    actor = _in_charge(service, world)
    service.add_segment(
        actor,
        world.brand_id,
        {
            "segment_label": 'Quotes "here", commas, and\na newline',
            "segment_type": "geographic",
            "segment_tag": "ünï,code",
            "segment_decision_drivers": "Price, Speed",
            "segment_pain_points": ["one, two", 'say "hi"', "🎯"],
            "segment_use_cases": [],
            "reasoning": "line 1\r\nline 2",
        },
    )
    service.add_segment(actor, world.brand_id, {"segment_label": "Bare", "segment_type": "x"})


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_export_then_import_changes_nothing(
    service: Service, world: World, tmp_path: Path, kind: str
) -> None:
    _add_varied(service, world)
    before = _public(service, world.brand_id)
    exported = _export(service, world.brand_id, kind, tmp_path / f"a.{kind}")
    result = _import(service, world, world.brand_id, exported)
    assert (result.created, result.updated, result.unchanged) == (0, 0, len(before))
    assert _public(service, world.brand_id) == before
    again = _export(service, world.brand_id, kind, tmp_path / f"b.{kind}")
    assert again.read_bytes() == exported.read_bytes()


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_early_years_are_served_and_exported_as_four_digits(
    service: Service, world: World, tmp_path: Path, kind: str
) -> None:
    """A timestamp the import takes (year 500) comes back in the same YYYY-MM-DD HH:MM:SS
    shape, so the export imports again unchanged (glibc's %Y writes 500, not 0500)."""
    row = {**SEED_SEGMENT, "created_at": "0500-01-02 03:04:05", "updated_at": "0999-12-31 23:59:59"}
    service.import_segments(SYSTEM, world.empty_brand_id, [row], initiated_by=world.owner_id)
    served = _public(service, world.empty_brand_id)[0]
    assert (served["created_at"], served["updated_at"]) == (
        "0500-01-02 03:04:05",
        "0999-12-31 23:59:59",
    )
    exported = _export(service, world.empty_brand_id, kind, tmp_path / f"a.{kind}")
    result = _import(service, world, world.empty_brand_id, exported)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_export_moves_to_another_account_unchanged(
    service: Service, world: World, tmp_path: Path, kind: str
) -> None:
    """Ids, timestamps and creators survive a move (after the old brand is gone)."""
    _add_varied(service, world)
    before = _public(service, world.brand_id)
    exported = _export(service, world.brand_id, kind, tmp_path / f"a.{kind}")
    service.delete_brand(SYSTEM, world.brand_id)
    result = _import(service, world, world.empty_brand_id, exported)
    assert (result.created, result.updated, result.unchanged) == (len(before), 0, 0)
    assert _public(service, world.empty_brand_id) == before


def test_json_export_is_the_endpoints_data_array(
    client: TestClient, service: Service, world: World
) -> None:
    exported = orjson.loads(segments_json(service.list_segments(SYSTEM, world.brand_id)))
    assert exported == client.post(PATH, json=world.body()).json()["data"]


def test_csv_export_has_the_seed_columns_and_pipe_lists(service: Service, world: World) -> None:
    text = segments_csv(service.list_segments(SYSTEM, world.brand_id))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == SEGMENT_KEYS
    assert rows[0]["segment_pain_points"] == "|".join(SEED_SEGMENT["segment_pain_points"])
    assert len(rows) == len(world.segment_ids)


def test_csv_cannot_carry_a_pipe_inside_a_list_item(service: Service, world: World) -> None:
    service.update_segment(SYSTEM, world.segment_ids[0], {"segment_use_cases": ["a|b"]})
    with pytest.raises(ValidationFailed) as caught:
        segments_csv(service.list_segments(SYSTEM, world.brand_id))
    assert "segment_use_cases" in caught.value.message


# --- the three file kinds --------------------------------------------------------------------


def _renamed(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same segments under new ids, as if saved from another account."""
    return [{**item, "segment_id": f"old-account-{n}"} for n, item in enumerate(data)]


def test_import_a_saved_fetch_audiences_response(
    client: TestClient, service: Service, world: World, tmp_path: Path
) -> None:
    saved = client.post(PATH, json=world.body()).json()
    saved["data"] = _renamed(saved["data"])
    path = tmp_path / "response.json"
    path.write_bytes(orjson.dumps(saved))
    result = _import(service, world, world.empty_brand_id, path)
    assert result.created == 3
    served = client.post(PATH, json=world.body(brand_id=world.empty_brand_id)).json()
    assert served["data"] == saved["data"]


def test_import_a_bare_data_array(
    client: TestClient, service: Service, world: World, tmp_path: Path
) -> None:
    data = _renamed(client.post(PATH, json=world.body()).json()["data"])
    path = tmp_path / "data.json"
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    assert _import(service, world, world.empty_brand_id, path).created == 3
    assert _public(service, world.empty_brand_id) == data


def test_import_csv_with_pipe_separated_lists(
    service: Service, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "segments.csv"
    path.write_text(
        "segment_label,segment_type,segment_pain_points,segment_use_cases,segment_tone\n"
        "Night owls,behavioral,late_hours|slow_support,support|retention,calm\n"
        'Families,"demographic","budget, time",,warm\n',
        encoding="utf-8",
    )
    assert _import(service, world, world.empty_brand_id, path).created == 2
    segments = {s["segment_label"]: s for s in _public(service, world.empty_brand_id)}
    assert segments["Night owls"]["segment_pain_points"] == ["late_hours", "slow_support"]
    assert segments["Night owls"]["segment_use_cases"] == ["support", "retention"]
    assert segments["Families"]["segment_pain_points"] == ["budget, time"]
    assert segments["Families"]["segment_use_cases"] == []
    assert segments["Families"]["segment_tag"] == ""
    assert segments["Families"]["initiated_by"] == world.in_charge_id


def test_csv_with_a_byte_order_mark(service: Service, world: World, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfsegment_label,segment_type\nFrom Excel,firmographic\n")
    assert _import(service, world, world.empty_brand_id, path).created == 1
    assert _public(service, world.empty_brand_id)[0]["segment_label"] == "From Excel"


# --- twice is once ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_importing_a_file_without_ids_twice_creates_no_duplicates(
    service: Service, world: World, tmp_path: Path, kind: str
) -> None:
    rows = [
        {**SEED_SEGMENT, "segment_label": "One"},
        {**SEED_SEGMENT, "segment_label": "Two"},
    ]
    path = tmp_path / f"new.{kind}"
    if kind == "json":
        path.write_bytes(orjson.dumps(rows))
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in row.items()})
        path.write_text(out.getvalue(), encoding="utf-8")
    first = _import(service, world, world.empty_brand_id, path)
    after_first = _public(service, world.empty_brand_id)
    second = _import(service, world, world.empty_brand_id, path)
    assert (first.created, second.created, second.unchanged) == (2, 0, 2)
    assert _public(service, world.empty_brand_id) == after_first


def test_importing_the_same_file_twice_by_another_member_keeps_the_creator(
    service: Service, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "new.json"
    path.write_bytes(orjson.dumps([{**SEED_SEGMENT, "segment_id": "from-file"}]))
    _import(service, world, world.empty_brand_id, path)
    before = _public(service, world.empty_brand_id)
    owner = service.act_as(world.owner_id)
    result = service.import_segments(owner, world.empty_brand_id, read_segment_file(path))
    assert result.unchanged == 1
    assert _public(service, world.empty_brand_id) == before
    assert before[0]["initiated_by"] == world.in_charge_id


def test_a_changed_row_updates_in_place(service: Service, world: World, tmp_path: Path) -> None:
    exported = orjson.loads(segments_json(service.list_segments(SYSTEM, world.brand_id)))
    exported[1]["segment_tone"] = "bold"
    del exported[1]["updated_at"]
    path = tmp_path / "edited.json"
    path.write_bytes(orjson.dumps(exported))
    result = _import(service, world, world.brand_id, path)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 2)
    after = _public(service, world.brand_id)
    assert len(after) == 3
    changed = next(s for s in after if s["segment_id"] == exported[1]["segment_id"])
    assert changed["segment_tone"] == "bold"
    assert changed["created_at"] == exported[1]["created_at"]
    assert changed["updated_at"] >= exported[1]["created_at"]


# --- all or nothing --------------------------------------------------------------------------


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"segment_type": "Not Snake"}, "segment_type"),
    ({"segment_type": ""}, "segment_type"),
    ({"segment_label": ""}, "segment_label"),
    ({"segment_label": "x" * 201}, "segment_label"),
    ({"segment_pain_points": "not a list"}, "segment_pain_points"),
    ({"segment_use_cases": ["ok", ""]}, "segment_use_cases"),
    ({"segment_use_cases": ["x"] * 51}, "segment_use_cases"),
    ({"reasoning": "r" * 4001}, "reasoning"),
    ({"segment_tone": None, "segment_tag": 5}, "segment_tag"),
    ({"segment_id": "has spaces"}, "segment_id"),
    ({"segment_id": "x" * 65}, "segment_id"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"updated_at": 12}, "updated_at"),
    ({"initiated_by": "no/slashes"}, "initiated_by"),
    ({"colour": "blue"}, "colour"),
]


def test_one_bad_row_imports_nothing(
    service: Service, world: World, tmp_path: Path, subtests: Any
) -> None:
    exported = orjson.loads(segments_json(service.list_segments(SYSTEM, world.brand_id)))
    exported[0]["segment_label"] = "Would be updated"
    before = _public(service, world.brand_id)
    for change, field in BAD_ROWS:
        with subtests.test(field=field):
            rows = [
                exported[0],
                {**SEED_SEGMENT, "segment_id": "new-one"},
                {**SEED_SEGMENT, "segment_id": "bad-one", **change},
            ]
            path = tmp_path / "bad.json"
            path.write_bytes(orjson.dumps(rows))
            with pytest.raises(ValidationFailed) as caught:
                _import(service, world, world.brand_id, path)
            assert "Row 3" in caught.value.message
            assert field in caught.value.message
            assert _public(service, world.brand_id) == before


def test_a_bad_csv_row_is_named(service: Service, world: World, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "segment_label,segment_type\nGood,behavioral\nAlso good,lifecycle\nBad,Not-Snake\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as caught:
        _import(service, world, world.empty_brand_id, path)
    assert "Row 3" in caught.value.message and "segment_type" in caught.value.message
    assert _public(service, world.empty_brand_id) == []


def test_a_repeated_id_in_one_file_is_refused(
    service: Service, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "twice.json"
    path.write_bytes(orjson.dumps([{**SEED_SEGMENT, "segment_id": "same"}] * 2))
    with pytest.raises(ValidationFailed) as caught:
        _import(service, world, world.empty_brand_id, path)
    assert "Row 2" in caught.value.message and "segment_id" in caught.value.message
    assert _public(service, world.empty_brand_id) == []


def test_an_id_of_another_brand_is_refused(service: Service, world: World, tmp_path: Path) -> None:
    exported = orjson.loads(segments_json(service.list_segments(SYSTEM, world.brand_id)))
    rows = [{**SEED_SEGMENT, "segment_id": "fresh"}, exported[0]]
    path = tmp_path / "stolen.json"
    path.write_bytes(orjson.dumps(rows))
    with pytest.raises(Conflict) as caught:
        _import(service, world, world.empty_brand_id, path)
    assert "Row 2" in caught.value.message
    assert _public(service, world.empty_brand_id) == []
    assert len(_public(service, world.brand_id)) == 3


UNREADABLE = [
    ("broken.json", b'[{"segment_label": '),
    ("object.json", b'{"status": "success"}'),
    ("scalar.json", b'{"data": "nope"}'),
    ("cells.csv", b"segment_label,segment_type\nA,b,extra\n"),
    ("latin1.csv", b"segment_label,segment_type\n\xe9t\xe9,b\n"),
    ("empty.csv", b""),
]


def test_unreadable_files_are_refused_with_a_reason(
    service: Service, world: World, tmp_path: Path, subtests: Any
) -> None:
    for name, content in UNREADABLE:
        with subtests.test(file=name):
            path = tmp_path / name
            path.write_bytes(content)
            with pytest.raises(ZyntroError) as caught:
                _import(service, world, world.empty_brand_id, path)
            assert caught.value.status == 400
            assert _public(service, world.empty_brand_id) == []


def test_rows_that_are_not_objects_are_refused(
    service: Service, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "strings.json"
    path.write_bytes(orjson.dumps([{**SEED_SEGMENT}, "just a string"]))
    with pytest.raises(ValidationFailed) as caught:
        _import(service, world, world.empty_brand_id, path)
    assert "Row 2" in caught.value.message
    assert _public(service, world.empty_brand_id) == []
