"""Fuzzing: schemathesis against /openapi.json, and hypothesis properties of the public body
parser and the API key format. Bounded so the whole file runs in well under three minutes."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import World, make_world
from tests.helpers import ERROR_KEYS, JSON_TYPE, PATH
from zyntro import keys
from zyntro.api.app import ZyntroApp, create_app
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

# Limits high enough that the fuzzer's invalid keys keep reaching the checks behind them.
UNLIMITED = {"rate_limit": "1000000/minute", "invalid_key_rate_limit": "1000000/minute"}
# Operations fuzzed: the public endpoint and the operations routes. The management API
# (/api/v1) and the dashboard are still being built; they join this list when they settle.
FUZZED_PATHS = ["/apis/public/fetchAudiences.php", "/healthz", "/readyz", "/metrics"]


def _fuzz_app() -> tuple[ZyntroApp, World]:
    """One app over one SQLite file for the module. Built at import: schemathesis loads the
    schema when the module is collected (its fixture-based loader does not support pytest 9)."""
    folder = Path(tempfile.mkdtemp(prefix="zyntro-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # runs after the app stops
    url = f"sqlite:///{folder / 'fuzz.db'}"
    store = Store(url)
    migrate.upgrade(store.engine)
    service = Service(store)
    world = make_world(service)
    return create_app(Settings(database_url=url, log_level="CRITICAL", **UNLIMITED), service), world


FUZZ_APP, FUZZ_WORLD = _fuzz_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", FUZZ_APP).include(path=FUZZED_PATHS)


@schema.parametrize()
@settings(
    max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    """No 5xx, and every response as documented: status, content type, headers, body."""
    response = case.call_and_validate(
        excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )
    assert response.status_code < 500, response.text


# --- hypothesis: the body parser ---------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_client() -> TestClient:
    # No `with`: the app's lifespan already runs under schemathesis.
    return TestClient(FUZZ_APP)


@pytest.fixture(scope="module")
def fuzz_world() -> World:
    return FUZZ_WORLD


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "text/plain",
        "APPLICATION/JSON",
        "",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(["api_key", "org_id", "brand_id"]) | st.text(max_size=12)


def _assert_sound(response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["ratelimit-policy"].startswith('"default";q=')
    body = response.json()
    if response.status_code == 200:
        assert list(body) == ["status", "message", "data"] and body["status"] == "success"
    else:
        assert list(body) == ERROR_KEYS and body["status"] == "error", body
        assert isinstance(body["message"], str) and body["message"]


@given(raw=st.binary(max_size=2048), content_type=CONTENT_TYPES)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(raw=b"\xff\xfe{", content_type="application/x-www-form-urlencoded")
@example(raw=b'{"api_key": "\\ud800"}', content_type=None)
@example(
    raw=b"--xyz\r\nContent-Disposition: form-data\r\n\r\n",
    content_type="multipart/form-data; boundary=xyz",
)
def test_any_bytes_get_an_answer_in_the_one_shape(
    fuzz_client: TestClient, raw: bytes, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    _assert_sound(fuzz_client.post(PATH, content=raw, headers=headers))


@given(
    value=st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=5) | JSON_VALUES,
    use_form=st.booleans(),
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_json_or_form_gets_an_answer_in_the_one_shape(
    fuzz_client: TestClient, value: Any, use_form: bool
) -> None:
    if use_form and isinstance(value, dict):
        fields = {str(k): json.dumps(v) if not isinstance(v, str) else v for k, v in value.items()}
        response = fuzz_client.post(PATH, data=fields)
    else:
        response = fuzz_client.post(PATH, content=json.dumps(value).encode())
    _assert_sound(response)


@given(
    api_key=st.one_of(st.text(max_size=60), st.none()),
    org_id=st.one_of(st.text(max_size=60), st.none()),
    brand_id=st.one_of(st.text(max_size=60), st.none()),
    which=st.sets(st.sampled_from(["api_key", "org_id", "brand_id"])),
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_valid_requests_with_fields_swapped_for_junk(
    fuzz_client: TestClient,
    fuzz_world: World,
    api_key: str | None,
    org_id: str | None,
    brand_id: str | None,
    which: set[str],
) -> None:
    """Near-valid requests: real key, org and brand, some of them replaced by anything."""
    junk = {"api_key": api_key, "org_id": org_id, "brand_id": brand_id}
    body = fuzz_world.body(**{name: junk[name] for name in which})
    response = fuzz_client.post(PATH, json=body)
    _assert_sound(response)
    if not which:
        assert response.status_code == 200


# --- hypothesis: the key format and checksum -----------------------------------------------


@given(data=st.data())
@settings(max_examples=500, deadline=None)
def test_a_key_with_one_character_changed_fails(data: st.DataObject) -> None:
    key = keys.generate_key()
    assert keys.is_well_formed(key)
    position = data.draw(st.integers(0, len(key) - 1), label="position")
    replacement = data.draw(
        st.characters(codec="utf-8").filter(lambda c: c != key[position]), label="replacement"
    )
    changed = key[:position] + replacement + key[position + 1 :]
    assert not keys.is_well_formed(changed)


@given(text=st.text(alphabet=keys.BASE62, min_size=42, max_size=42))
@settings(max_examples=500, deadline=None)
def test_a_key_is_well_formed_only_with_its_checksum(text: str) -> None:
    """Any zk_ + 42 base62 characters: accepted exactly when the last 6 are the checksum."""
    candidate = keys.PREFIX + text
    assert keys.is_well_formed(candidate) == (keys.checksum(text[:36]) == text[36:])
    assert keys.is_well_formed(keys.PREFIX + text[:36] + keys.checksum(text[:36]))


@given(text=st.text(min_size=45, max_size=45))
@settings(max_examples=500, deadline=None)
def test_no_other_45_character_string_is_a_key(text: str) -> None:
    if not text.startswith(keys.PREFIX) or not all(c in keys.BASE62 for c in text[3:]):
        assert not keys.is_well_formed(text)


@given(body=st.text(alphabet=keys.BASE62, min_size=36, max_size=36), data=st.data())
@settings(max_examples=500, deadline=None)
def test_checksum_catches_any_single_change_of_the_body(body: str, data: st.DataObject) -> None:
    key = keys.PREFIX + body + keys.checksum(body)
    assert keys.is_well_formed(key)
    position = data.draw(st.integers(3, 44), label="position")
    replacement = data.draw(st.sampled_from(keys.BASE62).filter(lambda c: c != key[position]))
    assert not keys.is_well_formed(key[:position] + replacement + key[position + 1 :])
