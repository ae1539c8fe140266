"""Issue 15 item 8: the management API speaks in the public endpoint's voice, naming the field;
a 401 says how to authenticate; `HEAD /healthz` answers; docs/api.md names the real metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World
from zyntro.service import SYSTEM, Service

DOCS = Path(__file__).resolve().parent.parent / "docs"
LIBRARY_WORDS = ("Input should", "Extra inputs", "JSON decode", "String should", "Value error")


@pytest.fixture
def key(service: Service, world: World) -> str:
    return service.create_key(SYSTEM, world.in_charge_id, "lead key")[1]


def _message(response: object, status: int = 400) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert list(body) == ["status", "message", "code"]
    message: str = body["message"]
    assert not any(words in message for words in LIBRARY_WORDS), message
    return message


def test_v1_errors_name_the_field_in_our_words(client: TestClient, world: World, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    url = f"/api/v1/brands/{world.brand_id}/segments"
    bad_json = client.post(url, headers={**auth, "Content-Type": "application/json"}, content="{")
    assert _message(bad_json) == "The request body is not valid JSON."
    extra = client.post(url, headers=auth, json={**SEED_SEGMENT, "color": "red"})
    assert _message(extra) == "The field color is not a field this request takes."
    limit = client.get(url, headers=auth, params={"limit": 0})
    assert _message(limit) == "The query parameter limit must be at least 1."
    long_key = client.post(url, headers={**auth, "Idempotency-Key": "k" * 201}, json=SEED_SEGMENT)
    assert _message(long_key) == "The header Idempotency-Key must be at most 200 characters."
    item = client.post(url, headers=auth, json={**SEED_SEGMENT, "segment_pain_points": [1]})
    assert _message(item) == "The field segment_pain_points[0] must be a string."
    not_object = client.post(url, headers=auth, json=[1])
    assert _message(not_object) == "The request body must be a JSON object."


def test_a_401_names_the_scheme(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/brands")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_head_healthz_answers(client: TestClient) -> None:
    response = client.head("/healthz")
    assert response.status_code == 200 and response.content == b""


def test_the_metric_in_the_docs_is_the_one_served(client: TestClient) -> None:
    client.get("/healthz")
    metrics = client.get("/metrics").text
    assert "zyntro_requests_total{" in metrics
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    assert "`zyntro_requests_total`" in api and "`zyntro_requests`" not in api
