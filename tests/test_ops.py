"""Operations endpoints (SPEC §5) and the error body on routes other than the public one."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.conftest import World
from tests.helpers import (
    JSON_TYPE,
    PATH,
    SEGMENT_KEYS,
    SPEC_ERRORS,
    assert_error_shape,
    success_message,
)
from tests.live import wait_for
from zyntro.api.app import create_app
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store

# --- health and readiness ----------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_TYPE
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_healthz_answers_without_a_database(down_client: TestClient) -> None:
    assert down_client.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_the_database_is_away(down_client: TestClient) -> None:
    response = down_client.get("/readyz")
    assert response.status_code == 503
    body = assert_error_shape(response)
    assert body["code"] == "service_unavailable"
    assert int(response.headers["retry-after"]) > 0
    for leak in ("sqlite", "psycopg", "OperationalError", "connection"):
        assert leak not in body["message"]


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_and_status(client: TestClient, world: World) -> None:
    client.post(PATH, json=world.body(), headers={"x-request-id": "metrics-probe-1"})
    client.post(PATH, json=world.body(brand_id=world.empty_brand_id))
    client.get(PATH)
    client.get(f"/segments/{world.segment_ids[0]}/{world.owner_key}")
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for status, method in (("200", "POST"), ("404", "POST"), ("405", "GET")):
        assert any(
            f'route="{PATH}"' in line and f'status="{status}"' in line and method in line
            for line in text.splitlines()
            if line.startswith("zyntro_requests")
        ), (status, text)
    assert "zyntro_request_duration_seconds" in text
    assert 'route="/healthz"' in text
    secrets = [world.owner_key, world.org_id, world.brand_id, world.empty_brand_id]
    secrets += [*world.segment_ids, "metrics-probe-1", "/segments/"]
    for secret in secrets:
        assert secret not in text


def test_metrics_name_routes_of_included_routers_by_their_full_template(
    client: TestClient, world: World
) -> None:
    """A /api/v1 route is counted under its whole template, not its router's relative one
    (which two routers could share)."""
    headers = {"Authorization": f"Bearer {world.owner_key}"}
    assert (
        client.get(f"/api/v1/brands/{world.brand_id}/segments", headers=headers).status_code == 200
    )
    routes = {
        match.group(1)
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("zyntro_requests") and (match := re.search(r'route="([^"]*)"', line))
    }
    assert "/api/v1/brands/{brand_id}/segments" in routes
    assert "/brands/{brand_id}/segments" not in routes


# --- OpenAPI and docs ---------------------------------------------------------------------------


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _ref_path(ref: str) -> list[str]:
    return ref.removeprefix("#/").split("/")


def _deref(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in _ref_path(node["$ref"]):
            target = target[part]
        node = target
    return node


def _examples(node: Any) -> list[Any]:
    """Every value under an `example` or `examples` key, anywhere below `node`."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example":
                found.append(value)
            elif key == "examples":
                values = value.values() if isinstance(value, dict) else value
                found += [v.get("value", v) if isinstance(v, dict) else v for v in values]
            found += _examples(value)
    elif isinstance(node, list):
        for item in node:
            found += _examples(item)
    return found


def test_openapi_documents_every_route(openapi: dict[str, Any]) -> None:
    for path in (PATH, "/healthz", "/readyz", "/metrics"):
        assert path in openapi["paths"], path


def test_openapi_public_request_encodings(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"][PATH]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) >= {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    for media in content.values():
        schema = _deref(openapi, media["schema"])
        assert set(schema["properties"]) >= {"api_key", "org_id", "brand_id"}


def test_openapi_public_success_schema(openapi: dict[str, Any]) -> None:
    ok = openapi["paths"][PATH]["post"]["responses"]["200"]
    schema = _deref(openapi, ok["content"]["application/json"]["schema"])
    assert list(schema["properties"]) == ["status", "message", "data"]
    segment = _deref(openapi, schema["properties"]["data"]["items"])
    assert list(segment["properties"]) == SEGMENT_KEYS
    assert set(segment["required"]) == set(SEGMENT_KEYS)


def test_openapi_public_every_error_code(openapi: dict[str, Any]) -> None:
    responses = openapi["paths"][PATH]["post"]["responses"]
    for code, status in SPEC_ERRORS:
        assert str(status) in responses, status
        assert code in str(responses[str(status)]), code


def test_openapi_public_has_a_seed_shaped_example(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"][PATH]["post"]
    found = _examples(operation) + _examples(openapi["components"]["schemas"])
    successes = [e for e in found if isinstance(e, dict) and e.get("status") == "success"]
    assert successes, found
    example = successes[0]
    assert example["message"] == success_message(len(example["data"]))
    assert all(list(item) == SEGMENT_KEYS for item in example["data"])
    requests = [e for e in found if isinstance(e, dict) and {"api_key", "org_id"} <= set(e)]
    assert requests


def test_docs_page(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "openapi.json" in response.text


# --- other routes speak the error body too ------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/apis/public/fetchAudiences", "/apis/public/x.php"])
def test_unknown_paths_are_not_found(client: TestClient, path: str) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, path)
        assert response.status_code == 404
        assert assert_error_shape(response)["code"] == "not_found"
        assert response.headers["x-request-id"]


def test_wrong_method_on_an_ops_route(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert assert_error_shape(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


def test_request_id_on_ops_routes(client: TestClient) -> None:
    assert client.get("/healthz", headers={"x-request-id": "ops-1"}).headers["x-request-id"] == (
        "ops-1"
    )
    replaced = client.get("/healthz", headers={"x-request-id": "bad id"}).headers["x-request-id"]
    assert replaced != "bad id" and replaced.isalnum()


def test_an_unreadable_change_feed_is_reported_once_not_every_poll(
    unreachable_database_url: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("zyntro.api.upkeep.CHANGE_POLL_SECONDS", 0.01)
    store = Store(unreachable_database_url)
    attempts: list[object] = []  # every try to open a connection, failed ones included
    sa.event.listen(store.engine, "do_connect", lambda *args: attempts.append(args))
    settings = Settings(database_url=unreachable_database_url, log_level="WARNING")
    with TestClient(create_app(settings, Service(store))):
        wait_for(lambda: len(attempts) >= 20, timeout=30)  # twenty polls of the feed, or more
    store.dispose()
    lines = [line for line in capfd.readouterr().err.splitlines() if "change feed" in line]
    assert len(lines) == 1, lines
    assert "could not read the change feed" in lines[0]
