"""last_used_at: recorded off the request path, at most once a minute per key."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from tests.conftest import World
from zyntro.service import SYSTEM, Service

PATH = "/apis/public/fetchAudiences.php"


def _last_used(service: Service, world: World) -> object:
    (key,) = [k for k in service.list_keys(SYSTEM, world.owner_id)]
    return key.last_used_at


def test_a_used_key_shows_when_it_was_last_used(
    client: TestClient, service: Service, world: World
) -> None:
    assert _last_used(service, world) is None
    assert client.post(PATH, json=world.body()).status_code == 200
    assert _last_used(service, world) is None  # nothing written on the request path
    assert service.flush_usage() == 1
    first = _last_used(service, world)
    assert first is not None

    for _ in range(5):  # more uses within the minute: no further write
        assert client.post(PATH, json=world.body()).status_code == 200
    assert service.flush_usage() == 0
    assert _last_used(service, world) == first


def test_a_use_a_minute_later_is_written_again(service: Service, world: World) -> None:
    principal = service.principal_for_key(world.owner_key)
    service.flush_usage()
    first = _last_used(service, world)
    assert first is not None
    later = first + timedelta(minutes=1, seconds=1)
    service.usage.record(principal.key_id, later, principal.last_used_at)
    assert service.flush_usage() == 1
    assert _last_used(service, world) > first  # type: ignore[operator]
