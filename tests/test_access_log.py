"""One structured access line per request, never a key or a body (issue 2 item 8)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import World
from tests.helpers import PATH
from zyntro.api.app import ZyntroApp, create_app
from zyntro.service import Service
from zyntro.settings import Settings

FIELDS = {"method", "path", "status", "duration_ms", "request_id"}


@pytest.fixture
def logged(service: Service, database_url: str) -> Iterator[tuple[ZyntroApp, io.BytesIO]]:
    """An app logging at INFO into a buffer."""
    app = create_app(Settings(database_url=database_url, log_level="INFO"), service)
    stream = io.BytesIO()
    app.access_log.stream = stream
    yield app, stream


def _lines(app: ZyntroApp, stream: io.BytesIO) -> list[dict[str, Any]]:
    app.access_log.flush()
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_one_line_per_request_with_its_fields(
    logged: tuple[ZyntroApp, io.BytesIO], world: World
) -> None:
    app, stream = logged
    with TestClient(app) as client:
        responses = [
            client.post(PATH, json=world.body()),
            client.post(PATH, json=world.body(api_key="zk_wrong")),
            client.get(PATH),
            client.get("/healthz"),
            client.get("/nope"),
        ]
        lines = _lines(app, stream)
    assert len(lines) == len(responses)
    for line, response in zip(lines, responses, strict=True):
        assert FIELDS <= set(line)
        assert line["method"] == response.request.method
        assert line["path"] == response.request.url.path
        assert line["status"] == response.status_code
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert line["request_id"] == response.headers["x-request-id"]


def test_the_callers_request_id_is_logged(
    logged: tuple[ZyntroApp, io.BytesIO], world: World
) -> None:
    app, stream = logged
    with TestClient(app) as client:
        client.post(PATH, json=world.body(), headers={"x-request-id": "trace-42"})
        lines = _lines(app, stream)
    assert [line["request_id"] for line in lines] == ["trace-42"]


def test_no_key_and_no_body_in_the_log(logged: tuple[ZyntroApp, io.BytesIO], world: World) -> None:
    app, stream = logged
    with TestClient(app) as client:
        client.post(PATH, json=world.body())
        client.post(PATH, data=world.body())
        client.post(PATH, files={k: (None, str(v)) for k, v in world.body().items()})
        client.post(
            PATH,
            json=world.body(api_key=""),
            headers={"authorization": f"Bearer {world.member_key}"},
        )
        client.post(PATH, json=world.body(api_key=""), headers={"x-api-key": world.owner_key})
        client.post(f"{PATH}?api_key={world.owner_key}", json=world.body())
        client.post(PATH, json=world.body(org_id="org_" + "9" * 40))  # an error, too
        client.post(PATH, content=b'{"api_key": "' + world.owner_key.encode() + b'", "x": ')
        _lines(app, stream)
    text = stream.getvalue()
    assert text.count(b"\n") == 8
    for secret in (world.owner_key, world.member_key, world.owner_key[3:], "9" * 40):
        assert secret.encode() not in text
    for value in (world.org_id, world.brand_id):
        assert value.encode() not in text  # body values
    assert b"?" not in text


def test_quiet_below_info(service: Service, database_url: str, world: World) -> None:
    app = create_app(Settings(database_url=database_url, log_level="WARNING"), service)
    stream = io.BytesIO()
    app.access_log.stream = stream
    with TestClient(app) as client:
        client.post(PATH, json=world.body())
    app.access_log.flush()
    assert stream.getvalue() == b""
