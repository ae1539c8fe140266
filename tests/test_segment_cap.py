"""Segments per brand are capped, the served body is rebuilt from stored objects, and one import
fills many brands (docs/decisions.md, "Writes at scale")."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.cli import Cli
from tests.conftest import SEED_SEGMENT, World, make_world
from tests.helpers import PATH
from zyntro.api.app import create_app
from zyntro.cli import app as cli_app
from zyntro.errors import NotFound, SegmentLimitReached
from zyntro.responses import success_body
from zyntro.service import SYSTEM, Service
from zyntro.service.recording import ASSEMBLED
from zyntro.settings import Settings
from zyntro.store import queries
from zyntro.store.tables import brands, segments


def rows(count: int, label: str = "Row", **extra: object) -> list[dict[str, object]]:
    return [{**SEED_SEGMENT, "segment_label": f"{label} {n}", **extra} for n in range(count)]


def stored_body(service: Service, brand_id: str) -> bytes | None:
    with service.store.read() as conn:
        body = conn.execute(
            sa.select(brands.c.public_body).where(brands.c.id == brand_id)
        ).scalar_one()
    return bytes(body) if body is not None else None


def assert_body_is_the_encoding(service: Service, brand_id: str) -> None:
    """The kept body is byte for byte what the service encodes from the stored segments."""
    with service.store.read() as conn:
        encoded = success_body(queries.brand_segments(conn, brand_id))
    assert stored_body(service, brand_id) == encoded


def test_a_brand_holds_at_most_the_cap(service: Service, world: World) -> None:
    capped = Service(service.store, max_segments_per_brand=5)
    lead = capped.act_as(world.in_charge_id)
    for n in range(2):  # make_world gave the brand three
        capped.add_segment(lead, world.brand_id, {**SEED_SEGMENT, "segment_label": f"More {n}"})
    before = stored_body(capped, world.brand_id)
    with pytest.raises(SegmentLimitReached) as refused:
        capped.add_segment(lead, world.brand_id, {**SEED_SEGMENT, "segment_label": "Sixth"})
    assert refused.value.status == 409 and refused.value.code == "segment_limit_reached"
    assert "at most 5 segments" in refused.value.message
    with pytest.raises(SegmentLimitReached):
        capped.add_segment_once(lead, world.brand_id, dict(SEED_SEGMENT), "retry-1")
    assert stored_body(capped, world.brand_id) == before  # nothing written
    assert len(capped.list_segments(lead, world.brand_id)) == 5
    # Edits still work in a full brand, and a delete frees a place.
    first = world.segment_ids[0]
    capped.update_segment(lead, first, {"segment_tone": "calm"})
    capped.delete_segment(lead, world.segment_ids[1])
    capped.add_segment(lead, world.brand_id, {**SEED_SEGMENT, "segment_label": "Fits again"})
    assert_body_is_the_encoding(capped, world.brand_id)
    # The trash gives nothing back into a full brand: the deleted segment stays restorable.
    with pytest.raises(SegmentLimitReached):
        capped.restore_segment(lead, world.segment_ids[1])
    assert len(capped.list_segments(lead, world.brand_id)) == 5
    trashed, _ = capped.trash_page(lead, world.brand_id)
    assert [t.segment["segment_id"] for t in trashed] == [world.segment_ids[1]]
    # The cap is per brand: the organization's other brand is not affected.
    capped.add_segment(lead, world.empty_brand_id, dict(SEED_SEGMENT))
    capped.reader.close()


def test_the_cap_answers_in_the_error_body_on_the_api_and_the_cli(
    service: Service, world: World, database_url: str, tmp_path: Path
) -> None:
    capped = Service(service.store, max_segments_per_brand=3)
    settings = Settings(database_url=database_url, log_level="WARNING", max_segments_per_brand=3)
    _, key = service.create_key(SYSTEM, world.in_charge_id, "lead key")
    with TestClient(create_app(settings, capped)) as client:
        response = client.post(
            f"/api/v1/brands/{world.brand_id}/segments",
            headers={"Authorization": f"Bearer {key}"},
            json=SEED_SEGMENT,
        )
        assert response.status_code == 409, response.text
        body = response.json()
        assert list(body) == ["status", "message", "code"]
        assert body["status"] == "error" and body["code"] == "segment_limit_reached"
        assert "at most 3 segments" in body["message"]
        served = client.post(PATH, json=world.body()).json()
        assert len(served["data"]) == 3
    path = tmp_path / "two.json"
    path.write_bytes(orjson.dumps(rows(2)))
    result = CliRunner().invoke(
        cli_app,
        ["--database-url", database_url, "segment", "import", str(path)]
        + ["--brand", world.empty_brand_id, "--member", world.in_charge_id],
        env={"ZYNTRO_MAX_SEGMENTS_PER_BRAND": "1"},
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and "at most 1 segment;" in result.stderr
    assert service.list_segments(SYSTEM, world.empty_brand_id) == []


def test_one_import_fills_many_brands(
    service: Service, world: World, database_url: str, tmp_path: Path
) -> None:
    lead = service.act_as(world.in_charge_id)
    third = service.create_brand(lead, world.org_id, "Third")
    file_rows = (
        rows(2, "Default")  # no brand_id: to --brand
        + rows(3, "Empty", brand_id=world.empty_brand_id)
        + rows(4, "Third", brand_id=third.id)
    )
    path = tmp_path / "many.json"
    path.write_bytes(orjson.dumps(file_rows))
    cli = Cli(database_url)
    args = ("segment", "import", str(path), "--member", world.in_charge_id)
    report = cli.json(*args, "--brand", world.brand_id)
    assert (report["brands"], report["created"], report["unchanged"]) == (3, 9, 0)
    counts = service.segment_counts(lead, world.org_id)
    assert counts == {world.brand_id: 5, world.empty_brand_id: 3, third.id: 4}
    for brand_id in counts:
        assert_body_is_the_encoding(service, brand_id)
    again = cli.json(*args, "--brand", world.brand_id)
    assert (again["created"], again["unchanged"]) == (0, 9)
    # Without --brand, a row without brand_id is refused, naming the row; nothing is written.
    line = cli.fails(*args)
    assert "Row 1: the field brand_id is required" in line, line
    # A brand of another organization is not found, and no brand of the file is written to.
    other = make_world(service, segments=0)
    path.write_bytes(
        orjson.dumps(rows(1, "New", brand_id=third.id) + rows(1, "X", brand_id=other.brand_id))
    )
    line = cli.fails(*args)
    assert "Row 2" in line and other.brand_id in line, line
    assert service.segment_counts(lead, world.org_id)[third.id] == 4
    with pytest.raises(NotFound):
        service.get_brand(lead, other.brand_id)


def test_an_import_past_the_cap_of_one_brand_writes_no_brand(
    service: Service, world: World
) -> None:
    capped = Service(service.store, max_segments_per_brand=4)
    lead = capped.act_as(world.in_charge_id)
    with pytest.raises(SegmentLimitReached) as refused:
        capped.import_segments(
            lead,
            world.empty_brand_id,
            rows(2, "Fine") + rows(2, "Too many", brand_id=world.brand_id),  # 3 + 2 > 4
        )
    assert "has 3 and this would add 2" in refused.value.message
    assert capped.segment_counts(lead, world.org_id) == {world.brand_id: 3}
    capped.reader.close()


def test_a_row_written_around_the_service_is_encoded_from_its_columns(
    service: Service, world: World
) -> None:
    with service.store.write() as conn:
        conn.execute(
            sa.update(segments)
            .where(segments.c.id == world.segment_ids[0])
            .values(segment_tone="set_by_hand", public_json=None)
        )
    lead = service.act_as(world.in_charge_id)
    service.update_segment(lead, world.segment_ids[1], {"segment_tone": "edited"})
    assert_body_is_the_encoding(service, world.brand_id)
    assert b"set_by_hand" in (stored_body(service, world.brand_id) or b"")


def test_a_big_brand_keeps_no_body_and_is_served_the_same_bytes(
    service: Service, world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above STORED_BODY_MAX_SEGMENTS a brand's row holds no served body (an edit writes one
    segment, not the whole brand again); fetchAudiences answers the same bytes, edits
    included, and a brand that shrinks back gets its body again."""
    monkeypatch.setattr("zyntro.service.recording.STORED_BODY_MAX_SEGMENTS", 2)
    lead = service.act_as(world.in_charge_id)
    settings = Settings(database_url=database_url, log_level="WARNING")

    def encoded() -> bytes:
        with service.store.read() as conn:
            return success_body(queries.brand_segments(conn, world.brand_id))

    with TestClient(create_app(settings, service)) as client:
        service.update_segment(lead, world.segment_ids[0], {"segment_tone": "first edit"})
        assert stored_body(service, world.brand_id) == ASSEMBLED  # three segments: too many
        served = client.post(PATH, json=world.body())
        assert served.status_code == 200 and served.content == encoded()
        # An edit is served at once (the change drops the cached body, as for any brand).
        service.update_segment(lead, world.segment_ids[1], {"segment_tone": "second edit"})
        served = client.post(PATH, json=world.body())
        assert b"second edit" in served.content and served.content == encoded()
        # Rows written around the service (no stored object) are encoded from their columns.
        with service.store.write() as conn:
            conn.execute(
                sa.update(segments)
                .where(segments.c.id == world.segment_ids[2])
                .values(segment_tone="set_by_hand", public_json=None)
            )
        service.update_segment(lead, world.segment_ids[0], {"segment_tone": "third edit"})
        served = client.post(PATH, json=world.body())
        assert b"set_by_hand" in served.content and served.content == encoded()
        # Back to two segments: the body is stored again.
        service.delete_segment(lead, world.segment_ids[2])
        assert stored_body(service, world.brand_id) == encoded()
        assert client.post(PATH, json=world.body()).content == encoded()
