"""The SDK against the project's own app, in-process: one suite, run for both clients
(the harness, `connect` and `AnyClient`, is tests/sdk.py). The live-server tests in
test_client_live.py cover the socket.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import zyntro.client
from tests.clock import FakeClock
from tests.conftest import SEED_SEGMENT, World
from tests.helpers import SEGMENT_KEYS
from tests.sdk import AnyClient, Connect, build_client
from zyntro.api.app import create_app
from zyntro.client import (
    AsyncZyntroClient,
    AudienceSegment,
    BrandNotFound,
    InvalidApiKey,
    InvalidParameter,
    MissingParameter,
    OrgMismatch,
    ZyntroClient,
)
from zyntro.service import Service
from zyntro.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("no_client_env")


@pytest.fixture
def app(settings: Settings, service: Service) -> Any:
    return create_app(settings, service)


def _keys(world: World) -> dict[str, str]:
    return {"api_key": world.owner_key, "org_id": world.org_id}


# --- against the app, in-process -------------------------------------------------------------


@pytest.mark.anyio
async def test_fetch_returns_typed_segments(connect: Connect, app: Any, world: World) -> None:
    async with connect(app=app, **_keys(world)) as client:
        segments = await client.fetch(world.brand_id)
    assert [s.segment_id for s in segments] == world.segment_ids
    assert [s.segment_label for s in segments] == ["Segment 0", "Segment 1", "Segment 2"]
    first = segments[0]
    assert first.segment_pain_points == tuple(SEED_SEGMENT["segment_pain_points"])
    assert first.segment_use_cases == tuple(SEED_SEGMENT["segment_use_cases"])
    assert first.segment_decision_drivers == SEED_SEGMENT["segment_decision_drivers"]
    assert first.initiated_by == world.in_charge_id
    for moment in (first.created_at, first.updated_at):
        assert moment.tzinfo is not None and moment.utcoffset() == UTC.utcoffset(None)
        assert abs((datetime.now(UTC) - moment).total_seconds()) < 300


@pytest.mark.anyio
async def test_response_keeps_message_request_id_and_raw_body(
    connect: Connect, app: Any, world: World
) -> None:
    async with connect(app=app, **_keys(world)) as client:
        response = await client.fetch_response(world.brand_id)
    assert response.status_code == 200
    assert response.message.startswith("3 audience segments have been defined for your brand.")
    assert response.request_id
    raw = httpx.Response(200, content=response.content).json()
    assert raw["data"] == [segment.to_api() for segment in response.segments]


@pytest.mark.anyio
async def test_brand_without_segments_is_an_empty_list(
    connect: Connect, app: Any, world: World
) -> None:
    async with connect(app=app, **_keys(world)) as client:
        assert await client.fetch(world.empty_brand_id) == []
        response = await client.fetch_response(world.empty_brand_id)
    assert response.segments == ()
    assert response.status_code == 404
    assert b'"no_segments"' in response.content
    assert response.message.startswith("No audience segments have been defined")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "error", "status", "code"),
    [
        ({"api_key": "zk_" + "A" * 42}, InvalidApiKey, 401, "invalid_api_key"),
        ({"org_id": "org_someone_else"}, OrgMismatch, 403, "org_mismatch"),
        ({"brand": "brand_missing"}, BrandNotFound, 404, "brand_not_found"),
        ({"brand": ""}, MissingParameter, 400, "missing_parameter"),
        ({"brand": "b" * 257}, InvalidParameter, 400, "invalid_parameter"),
    ],
)
async def test_app_errors_raise_their_class(
    connect: Connect,
    app: Any,
    world: World,
    change: dict[str, str],
    error: type[Exception],
    status: int,
    code: str,
) -> None:
    options = {**_keys(world), **change}
    brand = options.pop("brand", world.brand_id)
    async with connect(app=app, **options) as client:
        with pytest.raises(error) as raised:
            await client.fetch(brand)
    assert isinstance(raised.value, zyntro.client.APIError)
    assert type(raised.value) is error
    assert (raised.value.status_code, raised.value.code) == (status, code)
    assert raised.value.message and raised.value.request_id


# --- the request the client sends -----------------------------------------------------------


@pytest.mark.anyio
async def test_request_is_the_seed_payload(connect: Connect) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "message": "0", "data": []})

    transport = httpx.MockTransport(answer)
    async with connect(transport=transport, base_url="http://api.test/", timeout=2.5) as client:
        assert await client.fetch("brand_1") == []
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://api.test/apis/public/fetchAudiences.php"
    assert httpx.Response(200, content=request.content).json() == {
        "api_key": "zk_test",
        "org_id": "org_test",
        "brand_id": "brand_1",
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"zyntro-python/{zyntro.__version__}"
    assert request.extensions["timeout"] == httpx.Timeout(2.5).as_dict()


# --- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "mentions"), [("api_key", "ZYNTRO_API_KEY"), ("org_id", "ZYNTRO_ORG_ID")]
)
def test_missing_key_or_org_fails_at_construction(
    kind: str, clock: FakeClock, missing: str, mentions: str
) -> None:
    with pytest.raises(zyntro.client.ConfigurationError) as raised:
        build_client(kind, clock, **{missing: None})
    assert raised.value.setting == missing
    assert mentions in raised.value.message
    assert isinstance(raised.value, zyntro.client.ZyntroError)
    assert isinstance(raised.value, ValueError)


def test_blank_values_count_as_missing(
    kind: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZYNTRO_API_KEY", "  ")
    with pytest.raises(zyntro.client.ConfigurationError):
        build_client(kind, clock, api_key=None)
    with pytest.raises(zyntro.client.ConfigurationError):
        build_client(kind, clock, org_id="")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("base_url", "ftp://zyntro.test"),
        ("base_url", "not a url"),
        ("timeout", 0),
        ("timeout", -1.0),
        ("max_retries", -1),
        ("max_retries", 1.5),
    ],
)
def test_invalid_settings_fail_at_construction(
    kind: str, clock: FakeClock, option: str, value: Any
) -> None:
    with pytest.raises(zyntro.client.ConfigurationError) as raised:
        build_client(kind, clock, **{option: value})
    assert raised.value.setting == option


@pytest.mark.anyio
async def test_environment_supplies_key_org_and_url(
    kind: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZYNTRO_API_KEY", "zk_from_env")
    monkeypatch.setenv("ZYNTRO_ORG_ID", "org_from_env")
    monkeypatch.setenv("ZYNTRO_BASE_URL", "http://env.test:8080/")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "message": "", "data": []})

    raw = build_client(
        kind, clock, api_key=None, org_id=None, base_url=None, transport=httpx.MockTransport(answer)
    )
    client = AnyClient(raw)
    try:
        assert (raw.org_id, raw.base_url) == ("org_from_env", "http://env.test:8080")
        await client.fetch("brand_env")
    finally:
        await client.close()
    assert str(seen[0].url) == "http://env.test:8080/apis/public/fetchAudiences.php"
    body = httpx.Response(200, content=seen[0].content).json()
    assert (body["api_key"], body["org_id"]) == ("zk_from_env", "org_from_env")


def test_arguments_win_over_environment(
    kind: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZYNTRO_ORG_ID", "org_from_env")
    monkeypatch.setenv("ZYNTRO_BASE_URL", "http://env.test")
    client = build_client(kind, clock, org_id="org_arg", base_url="https://arg.test")
    assert (client.org_id, client.base_url) == ("org_arg", "https://arg.test")


def test_defaults_and_repr_without_the_key(kind: str) -> None:
    cls = AsyncZyntroClient if kind == "async" else ZyntroClient
    client = cls(api_key="zk_secret_value", org_id="org_1")
    assert client.base_url == "https://app.zyntrohq.com"
    assert (client.timeout, client.max_retries) == (10.0, 3)
    assert "zk_secret_value" not in repr(client)
    assert "org_1" in repr(client)


def test_sync_client_is_a_context_manager() -> None:
    with ZyntroClient(api_key="zk_1", org_id="org_1") as client:
        assert not client._http.is_closed
    assert client._http.is_closed


@pytest.mark.anyio
async def test_async_client_is_a_context_manager() -> None:
    async with AsyncZyntroClient(api_key="zk_1", org_id="org_1") as client:
        assert not client._http.is_closed
    assert client._http.is_closed


# --- the model ------------------------------------------------------------------------------


def _seed_item() -> dict[str, Any]:
    return {
        "segment_id": "seg_1",
        "created_at": "2025-01-15 10:30:00",
        "updated_at": "2025-01-15 14:45:00",
        "initiated_by": "mem_1",
        **SEED_SEGMENT,
    }


def test_segment_has_exactly_the_seed_fields_and_is_frozen() -> None:
    assert [f.name for f in fields(AudienceSegment)] == SEGMENT_KEYS
    segment = AudienceSegment.from_api(_seed_item())
    with pytest.raises(FrozenInstanceError):
        segment.segment_label = "changed"  # type: ignore[misc]
    assert segment.created_at == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    assert segment.updated_at == datetime(2025, 1, 15, 14, 45, tzinfo=UTC)
    assert isinstance(segment.segment_pain_points, tuple)
    assert hash(segment) == hash(AudienceSegment.from_api(_seed_item()))
    assert segment.to_api() == _seed_item()
    assert list(segment.to_api()) == SEGMENT_KEYS


def test_segment_ignores_fields_a_newer_server_adds() -> None:
    segment = AudienceSegment.from_api({**_seed_item(), "segment_color": "teal"})
    assert not hasattr(segment, "segment_color")


@pytest.mark.parametrize(
    "change",
    [
        {"segment_tag": None},
        {"segment_pain_points": "a, b"},
        {"segment_use_cases": ["ok", 3]},
        {"created_at": "yesterday"},
        {"updated_at": 1736937000},
    ],
)
def test_segment_refuses_wrong_types(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AudienceSegment.from_api({**_seed_item(), **change})


def test_segment_refuses_a_missing_field() -> None:
    item = _seed_item()
    del item["reasoning"]
    with pytest.raises(ValueError, match="reasoning"):
        AudienceSegment.from_api(item)


# --- the public surface ---------------------------------------------------------------------


def _public_names(module_file: Path) -> set[str]:
    """Names a client module defines at top level (not imports) without a leading `_`."""
    names: set[str] = set()
    for node in ast.parse(module_file.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_all_lists_every_public_name() -> None:
    package = Path(zyntro.client.__file__).parent
    defined = set().union(*(_public_names(path) for path in package.glob("*.py")))
    assert defined - {"__all__"} == set(zyntro.client.__all__)
    assert len(zyntro.client.__all__) == len(set(zyntro.client.__all__))
    for name in zyntro.client.__all__:
        assert getattr(zyntro.client, name) is not None


def test_docs_mention_every_public_name() -> None:
    text = (ROOT / "docs" / "sdk.md").read_text()
    missing = [name for name in zyntro.client.__all__ if f"`{name}" not in text]
    assert missing == []


def test_sdk_is_not_the_server_error_root() -> None:
    import zyntro.errors

    assert zyntro.client.ZyntroError is not zyntro.errors.ZyntroError
    assert not issubclass(zyntro.client.APIError, zyntro.errors.ZyntroError)


def test_sdk_imports_without_the_server_stack() -> None:
    code = (
        "import sys, zyntro.client; "
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'starlette', 'orjson') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
