"""Tenancy and roles: the service alone decides who may do what (SPEC §1, issue 2 item 4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World, make_world
from tests.helpers import PATH, assert_error
from zyntro.domain import Role
from zyntro.errors import BrandNotFound, Conflict, Forbidden, NotFound, ZyntroError
from zyntro.service import SYSTEM, Actor, Service

# --- the public endpoint ---------------------------------------------------------------------


def test_a_key_never_reads_another_orgs_brand(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service)
    for key in (world.owner_key, world.member_key):
        foreign = client.post(PATH, json=world.body(api_key=key, brand_id=other.brand_id))
        missing = client.post(PATH, json=world.body(api_key=key, brand_id="brand_missing"))
        assert_error(foreign, 404, "brand_not_found")
        assert foreign.content == missing.content
        assert foreign.headers.keys() == missing.headers.keys()
        for segment_id in other.segment_ids:
            assert segment_id not in foreign.text


def test_naming_the_other_org_does_not_help(
    client: TestClient, service: Service, world: World
) -> None:
    other = make_world(service)
    response = client.post(PATH, json=world.body(org_id=other.org_id, brand_id=other.brand_id))
    assert_error(response, 403, "org_mismatch")
    assert other.segment_ids[0] not in response.text


def test_each_org_reads_its_own(client: TestClient, service: Service, world: World) -> None:
    other = make_world(service, segments=1)
    mine = client.post(PATH, json=world.body()).json()["data"]
    theirs = client.post(PATH, json=other.body()).json()["data"]
    assert {s["segment_id"] for s in mine} == set(world.segment_ids)
    assert {s["segment_id"] for s in theirs} == set(other.segment_ids)


def test_deactivated_members_key_stops_at_once(
    client: TestClient, service: Service, world: World
) -> None:
    body = world.body(api_key=world.member_key)
    assert client.post(PATH, json=body).status_code == 200  # used (and maybe cached) first
    service.deactivate_member(service.act_as(world.owner_id), world.member_id)
    assert_error(client.post(PATH, json=body), 401, "invalid_api_key")
    assert client.post(PATH, json=world.body()).status_code == 200  # the owner's still works


def test_revoked_key_stops_at_once(client: TestClient, service: Service, world: World) -> None:
    key, plain = service.create_key(service.act_as(world.member_id), world.member_id, "mine")
    body = world.body(api_key=plain)
    assert client.post(PATH, json=body).status_code == 200
    service.revoke_key(service.act_as(world.member_id), key.id)
    assert_error(client.post(PATH, json=body), 401, "invalid_api_key")


# --- roles over brands and segments ----------------------------------------------------------

ContentAction = Callable[[Service, Actor, World], Any]

CONTENT_ACTIONS: dict[str, ContentAction] = {
    "create brand": lambda s, a, w: s.create_brand(a, w.org_id, "New brand"),
    "rename brand": lambda s, a, w: s.rename_brand(a, w.brand_id, "Renamed"),
    "delete brand": lambda s, a, w: s.delete_brand(a, w.brand_id),
    "add segment": lambda s, a, w: s.add_segment(a, w.brand_id, SEED_SEGMENT),
    "update segment": lambda s, a, w: s.update_segment(
        a, w.segment_ids[0], {"segment_label": "Changed"}
    ),
    "delete segment": lambda s, a, w: s.delete_segment(a, w.segment_ids[0]),
    "import segments": lambda s, a, w: s.import_segments(
        a, w.brand_id, [{**SEED_SEGMENT, "segment_label": "Imported"}]
    ),
}


def _snapshot(service: Service, world: World) -> Any:
    brands = service.list_brands(SYSTEM, world.org_id)
    return brands, {b.id: service.list_segments(SYSTEM, b.id) for b in brands}


@pytest.mark.parametrize("action", CONTENT_ACTIONS)
def test_a_plain_member_cannot_change_content(service: Service, world: World, action: str) -> None:
    before = _snapshot(service, world)
    with pytest.raises(Forbidden):
        CONTENT_ACTIONS[action](service, service.act_as(world.member_id), world)
    assert _snapshot(service, world) == before


@pytest.mark.parametrize("role", ["in_charge", "owner"])
@pytest.mark.parametrize("action", CONTENT_ACTIONS)
def test_owner_and_in_charge_change_content(
    service: Service, world: World, action: str, role: str
) -> None:
    member_id = world.in_charge_id if role == "in_charge" else world.owner_id
    before = _snapshot(service, world)
    CONTENT_ACTIONS[action](service, service.act_as(member_id), world)
    assert _snapshot(service, world) != before


def test_a_plain_member_can_read(service: Service, world: World) -> None:
    actor = service.act_as(world.member_id)
    assert [s.id for s in service.list_segments(actor, world.brand_id)] == [
        s.id for s in service.list_segments(SYSTEM, world.brand_id)
    ]
    assert {b.id for b in service.list_brands(actor, world.org_id)} == {
        world.brand_id,
        world.empty_brand_id,
    }


@pytest.mark.parametrize("action", CONTENT_ACTIONS)
def test_another_orgs_in_charge_sees_nothing(service: Service, world: World, action: str) -> None:
    other = make_world(service)
    before = _snapshot(service, world)
    with pytest.raises(NotFound):
        CONTENT_ACTIONS[action](service, service.act_as(other.in_charge_id), world)
    assert _snapshot(service, world) == before


def test_another_org_cannot_read_brands_or_segments(service: Service, world: World) -> None:
    outsider = service.act_as(make_world(service).owner_id)
    with pytest.raises(BrandNotFound):
        service.get_brand(outsider, world.brand_id)
    with pytest.raises(BrandNotFound):
        service.list_segments(outsider, world.brand_id)
    with pytest.raises(NotFound):
        service.get_segment(outsider, world.segment_ids[0])
    with pytest.raises(NotFound):
        service.list_brands(outsider, world.org_id)
    with pytest.raises(NotFound):
        service.get_member(outsider, world.member_id)


# --- members ---------------------------------------------------------------------------------


def test_owner_manages_members(service: Service, world: World) -> None:
    owner = service.act_as(world.owner_id)
    new = service.add_member(owner, world.org_id, "new@example.com", "New", Role.MEMBER)
    assert service.set_role(owner, new.id, Role.IN_CHARGE).role is Role.IN_CHARGE
    assert service.get_member(SYSTEM, new.id).role is Role.IN_CHARGE
    assert service.deactivate_member(owner, new.id).active is False
    assert service.get_member(SYSTEM, new.id).active is False


@pytest.mark.parametrize("role", ["in_charge", "member"])
def test_only_owners_manage_members(service: Service, world: World, role: str) -> None:
    actor = service.act_as(world.in_charge_id if role == "in_charge" else world.member_id)
    with pytest.raises(Forbidden):
        service.add_member(actor, world.org_id, "new@example.com", "New", Role.MEMBER)
    with pytest.raises(Forbidden):
        service.set_role(actor, world.member_id, Role.OWNER)
    with pytest.raises(Forbidden):
        service.deactivate_member(actor, world.member_id)
    assert service.get_member(SYSTEM, world.member_id).role is Role.MEMBER
    assert service.get_member(SYSTEM, world.member_id).active is True
    assert [m.email for m in service.list_members(SYSTEM, world.org_id)].count(
        "new@example.com"
    ) == 0


def test_an_owner_cannot_manage_another_orgs_members(service: Service, world: World) -> None:
    outsider = service.act_as(make_world(service).owner_id)
    with pytest.raises(NotFound):
        service.deactivate_member(outsider, world.member_id)
    with pytest.raises(NotFound):
        service.add_member(outsider, world.org_id, "x@example.com", "X", Role.OWNER)
    assert service.get_member(SYSTEM, world.member_id).active is True


def test_a_deactivated_member_cannot_act(service: Service, world: World) -> None:
    service.deactivate_member(SYSTEM, world.in_charge_id)
    with pytest.raises(Forbidden):
        service.act_as(world.in_charge_id)
    with pytest.raises(Forbidden):
        service.create_key(SYSTEM, world.in_charge_id, "new")


def test_duplicate_email_in_an_org_is_refused(service: Service, world: World) -> None:
    email = service.get_member(SYSTEM, world.member_id).email
    with pytest.raises(ZyntroError) as caught:
        service.add_member(SYSTEM, world.org_id, email.upper(), "Twin", Role.MEMBER)
    assert caught.value.code == "conflict"
    other = make_world(service)
    service.add_member(SYSTEM, other.org_id, email, "Same person, other org", Role.MEMBER)


# --- API keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "in_charge", "member"])
def test_members_manage_their_own_keys(service: Service, world: World, role: str) -> None:
    member_id = {
        "owner": world.owner_id,
        "in_charge": world.in_charge_id,
        "member": world.member_id,
    }[role]
    actor = service.act_as(member_id)
    key, plain = service.create_key(actor, member_id, "laptop")
    assert plain.startswith("zk_")
    assert key.id in [k.id for k in service.list_keys(actor, member_id)]
    assert service.revoke_key(actor, key.id).revoked_at is not None


@pytest.mark.parametrize("role", ["owner", "in_charge", "member"])
def test_nobody_manages_someone_elses_keys(service: Service, world: World, role: str) -> None:
    actor_id, target_id = {
        "owner": (world.owner_id, world.member_id),
        "in_charge": (world.in_charge_id, world.owner_id),
        "member": (world.member_id, world.owner_id),
    }[role]
    actor = service.act_as(actor_id)
    target_keys = service.list_keys(SYSTEM, target_id)
    with pytest.raises(Forbidden):
        service.create_key(actor, target_id, "sneaky")
    with pytest.raises(Forbidden):
        service.list_keys(actor, target_id)
    with pytest.raises(Forbidden):
        service.revoke_key(actor, target_keys[0].id)
    assert service.list_keys(SYSTEM, target_id) == target_keys


def test_keys_of_another_org_are_not_found(service: Service, world: World) -> None:
    other = make_world(service)
    outsider = service.act_as(other.owner_id)
    key_id = service.list_keys(SYSTEM, world.owner_id)[0].id
    with pytest.raises(NotFound):
        service.revoke_key(outsider, key_id)
    with pytest.raises(NotFound):
        service.list_keys(outsider, world.owner_id)


def test_segments_record_their_creator(service: Service, world: World) -> None:
    actor = service.act_as(world.owner_id)
    segment = service.add_segment(actor, world.brand_id, SEED_SEGMENT)
    assert segment.initiated_by == world.owner_id
    with pytest.raises(Forbidden):
        service.add_segment(actor, world.brand_id, SEED_SEGMENT, initiated_by=world.in_charge_id)


def test_the_last_active_owner_cannot_be_demoted_or_deactivated(
    service: Service, world: World
) -> None:
    owner = service.act_as(world.owner_id)
    with pytest.raises(Conflict):
        service.set_role(owner, world.owner_id, Role.MEMBER)
    with pytest.raises(Conflict):
        service.deactivate_member(SYSTEM, world.owner_id)
    assert service.get_member(SYSTEM, world.owner_id).active
    # With a second owner, either may step down.
    service.set_role(owner, world.in_charge_id, Role.OWNER)
    assert service.set_role(owner, world.owner_id, Role.MEMBER).role is Role.MEMBER
    with pytest.raises(Conflict):
        service.deactivate_member(SYSTEM, world.in_charge_id)
