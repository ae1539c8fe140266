"""Every rule a segment's fields obey (SPEC §2 table; limits it leaves open: docs/decisions.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SEED_SEGMENT, World
from zyntro.errors import ValidationFailed
from zyntro.service import SYSTEM, Service

VALID: list[tuple[str, Any]] = [
    ("segment_label", "x"),
    ("segment_label", "x" * 200),
    ("segment_label", "Ünïcode 🎯"),
    ("segment_tag", ""),
    ("segment_tag", "x" * 200),
    ("segment_type", "demographic"),
    ("segment_type", "a"),
    ("segment_type", "x" * 40),
    ("segment_type", "b2b_buyers_2"),
    ("segment_type", "technographic"),
    ("segment_decision_drivers", ""),
    ("segment_decision_drivers", "Quality, Price, Customer Service"),
    ("segment_decision_drivers", "x" * 1000),
    ("segment_pain_points", []),
    ("segment_pain_points", ["x" * 200]),
    ("segment_pain_points", ["p"] * 50),
    ("segment_use_cases", []),
    ("segment_use_cases", ["u"] * 50),
    ("segment_tone", ""),
    ("segment_tone", "x" * 200),
    ("reasoning", ""),
    ("reasoning", "x" * 4000),
    ("reasoning", "multi\nline\ttext"),
]

INVALID: list[tuple[str, Any]] = [
    ("segment_label", ""),
    ("segment_label", "x" * 201),
    ("segment_label", None),
    ("segment_label", 5),
    ("segment_label", "nul\x00"),
    ("segment_tag", "x" * 201),
    ("segment_tag", ["a"]),
    ("segment_type", ""),
    ("segment_type", None),
    ("segment_type", "Demographic"),
    ("segment_type", "two words"),
    ("segment_type", "kebab-case"),
    ("segment_type", "_leading"),
    ("segment_type", "trailing_"),
    ("segment_type", "double__underscore"),
    ("segment_type", "1starts_with_digit"),
    ("segment_type", "x" * 41),
    ("segment_type", 7),
    ("segment_decision_drivers", "x" * 1001),
    ("segment_decision_drivers", ["Quality", "Price"]),
    ("segment_pain_points", "a string"),
    ("segment_pain_points", [""]),
    ("segment_pain_points", ["x" * 201]),
    ("segment_pain_points", ["p"] * 51),
    ("segment_pain_points", [1, 2]),
    ("segment_pain_points", [None]),
    ("segment_pain_points", ["nul\x00"]),
    ("segment_use_cases", {"a": "b"}),
    ("segment_use_cases", ["u"] * 51),
    ("segment_tone", "x" * 201),
    ("segment_tone", 1.5),
    ("reasoning", "x" * 4001),
    ("reasoning", {"why": "because"}),
    ("reasoning", "nul\x00"),
]


def test_valid_values_are_stored_as_given(service: Service, world: World, subtests: Any) -> None:
    actor = service.act_as(world.in_charge_id)
    for field, value in VALID:
        with subtests.test(field=field, value=repr(value)[:20]):
            segment = service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, field: value})
            stored = service.get_segment(SYSTEM, segment.id).to_public()
            assert stored[field] == value


def test_invalid_values_are_refused_and_named(
    service: Service, world: World, subtests: Any
) -> None:
    actor = service.act_as(world.in_charge_id)
    before = service.list_segments(SYSTEM, world.brand_id)
    for field, value in INVALID:
        with subtests.test(field=field, value=repr(value)[:20]):
            with pytest.raises(ValidationFailed) as caught:
                service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, field: value})
            assert caught.value.field == field
            assert caught.value.status == 400
            with pytest.raises(ValidationFailed):
                service.update_segment(actor, world.segment_ids[0], {field: value})
    assert service.list_segments(SYSTEM, world.brand_id) == before


def test_optional_fields_left_out_or_null_are_empty(
    service: Service, world: World, subtests: Any
) -> None:
    actor = service.act_as(world.in_charge_id)
    for field in (
        "segment_tag",
        "segment_decision_drivers",
        "segment_pain_points",
        "segment_use_cases",
        "segment_tone",
        "reasoning",
    ):
        empty = [] if field in ("segment_pain_points", "segment_use_cases") else ""
        without = {k: v for k, v in SEED_SEGMENT.items() if k != field}
        for how, values in (("left out", without), ("null", {**without, field: None})):
            with subtests.test(field=field, how=how):
                segment = service.add_segment(actor, world.brand_id, values)
                assert service.get_segment(SYSTEM, segment.id).to_public()[field] == empty


@pytest.mark.parametrize("field", ["segment_label", "segment_type"])
def test_required_fields(service: Service, world: World, field: str) -> None:
    actor = service.act_as(world.in_charge_id)
    with pytest.raises(ValidationFailed) as caught:
        service.add_segment(
            actor, world.brand_id, {k: v for k, v in SEED_SEGMENT.items() if k != field}
        )
    assert caught.value.field == field


def test_server_fields_and_unknown_fields_cannot_be_set(
    service: Service, world: World, subtests: Any
) -> None:
    actor = service.act_as(world.in_charge_id)
    for field in ("segment_id", "created_at", "updated_at", "initiated_by", "brand_id", "colour"):
        with subtests.test(field=field):
            with pytest.raises(ValidationFailed) as caught:
                service.add_segment(actor, world.brand_id, {**SEED_SEGMENT, field: "seg_mine"})
            assert caught.value.field == field
            with pytest.raises(ValidationFailed):
                service.update_segment(actor, world.segment_ids[0], {field: "seg_mine"})


def test_an_update_changes_only_the_fields_given(service: Service, world: World) -> None:
    actor = service.act_as(world.in_charge_id)
    before = service.get_segment(SYSTEM, world.segment_ids[0]).to_public()
    after = service.update_segment(actor, world.segment_ids[0], {"segment_tag": ""}).to_public()
    assert after["segment_tag"] == ""
    for key in before:
        if key not in ("segment_tag", "updated_at"):
            assert after[key] == before[key], key
    assert after["updated_at"] >= before["updated_at"]
