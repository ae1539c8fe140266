"""A write drops from the read caches what it changed, and nothing else."""

from __future__ import annotations

import pytest

from tests.conftest import make_world
from zyntro import keys
from zyntro.errors import InvalidApiKey
from zyntro.identity import SYSTEM
from zyntro.service import Service


def _cached(service: Service, api_key: str) -> bool:
    return service.reader.cache.principals.get(keys.digest(api_key)) is not None


def test_creating_a_key_keeps_every_other_cached_key(service: Service) -> None:
    world = make_world(service)
    service.principal_for_key(world.owner_key)
    service.principal_for_key(world.member_key)
    assert _cached(service, world.owner_key) and _cached(service, world.member_key)

    _key, plain = service.create_key(SYSTEM, world.member_id, "another")

    assert _cached(service, world.owner_key) and _cached(service, world.member_key)
    assert service.principal_for_key(plain).member_id == world.member_id


def test_a_key_looked_up_before_it_existed_works_once_created(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(service)
    service.principal_for_key(world.owner_key)
    plain = keys.generate_key()
    with pytest.raises(InvalidApiKey):  # now cached as unknown, like any unknown key
        service.principal_for_key(plain)
    monkeypatch.setattr(keys, "generate_key", lambda: plain)  # that very key is issued next

    key, issued = service.create_key(SYSTEM, world.member_id, "fresh")

    assert issued == plain
    assert service.principal_for_key(issued).key_id == key.id
    assert _cached(service, world.owner_key)


def test_revoking_a_key_drops_only_that_key(service: Service) -> None:
    world = make_world(service)
    key, plain = service.create_key(SYSTEM, world.member_id, "to revoke")
    service.principal_for_key(plain)
    service.principal_for_key(world.owner_key)

    service.revoke_key(SYSTEM, key.id)

    with pytest.raises(InvalidApiKey):
        service.principal_for_key(plain)
    assert _cached(service, world.owner_key)


def test_deactivating_a_member_drops_their_keys_only(service: Service) -> None:
    world = make_world(service)
    service.principal_for_key(world.owner_key)
    service.principal_for_key(world.member_key)

    service.deactivate_member(SYSTEM, world.member_id)

    with pytest.raises(InvalidApiKey):
        service.principal_for_key(world.member_key)
    assert _cached(service, world.owner_key)
