"""Error mapping and retries of both clients, with `httpx.MockTransport` and a fake clock."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import zyntro.client as sdk
from tests.clock import FakeClock
from tests.sdk import Connect
from zyntro.api.openapi import PUBLIC_ERRORS

EXPECTED_CLASS: dict[str, type[sdk.APIError]] = {
    "method_not_allowed": sdk.MethodNotAllowed,
    "payload_too_large": sdk.PayloadTooLarge,
    "request_timeout": sdk.RequestTimeout,
    "unsupported_media_type": sdk.UnsupportedMediaType,
    "invalid_json": sdk.InvalidJson,
    "missing_parameter": sdk.MissingParameter,
    "invalid_parameter": sdk.InvalidParameter,
    "invalid_request": sdk.InvalidRequest,
    "invalid_api_key": sdk.InvalidApiKey,
    "ip_not_allowed": sdk.IpNotAllowed,
    "insufficient_scope": sdk.InsufficientScope,
    "org_mismatch": sdk.OrgMismatch,
    "brand_not_found": sdk.BrandNotFound,
    "no_segments": sdk.NoSegments,
    "rate_limited": sdk.RateLimited,
    "internal_error": sdk.InternalError,
    "service_unavailable": sdk.ServiceUnavailable,
}
SUCCESS = {"status": "success", "message": "1 audience segment …", "data": []}

Answer = httpx.Response | Exception


class Script:
    """A mock server answering from a list (the last answer repeats); counts the attempts."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        # A fresh copy each time: a response object belongs to the one request it answers.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def attempts(self) -> int:
        return len(self.requests)


def error(status: int, code: str, message: str = "A sentence.", **headers: str) -> httpx.Response:
    headers.setdefault("x-request-id", "req-123")
    body = {"status": "error", "message": message, "code": code}
    return httpx.Response(status, json=body, headers=headers)


def ok() -> httpx.Response:
    return httpx.Response(200, json=SUCCESS)


# --- mapping --------------------------------------------------------------------------------


def test_every_public_error_code_has_its_class() -> None:
    """The SDK cannot lag the API: the server's own table of codes is the list to cover."""
    assert {code for _, code, _ in PUBLIC_ERRORS} == set(EXPECTED_CLASS)
    for code, cls in EXPECTED_CLASS.items():
        assert cls.error_code == code


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code"), [(s, c) for s, c, _ in PUBLIC_ERRORS if c != "no_segments"]
)
async def test_error_code_maps_to_its_class(connect: Connect, status: int, code: str) -> None:
    script = Script(error(status, code, "What went wrong.", **{"retry-after": "5"}))
    async with connect(transport=script.transport, max_retries=0) as client:
        with pytest.raises(sdk.APIError) as raised:
            await client.fetch("brand_1")
    exc = raised.value
    assert type(exc) is EXPECTED_CLASS[code]
    assert isinstance(exc, sdk.ZyntroError)
    assert (exc.status_code, exc.code, exc.message) == (status, code, "What went wrong.")
    assert exc.request_id == "req-123"
    assert str(exc) == f"What went wrong. (HTTP {status}, code={code}, request_id=req-123)"
    if isinstance(exc, sdk.RateLimited | sdk.ServiceUnavailable):
        assert exc.retry_after == 5.0


@pytest.mark.anyio
async def test_no_segments_is_an_empty_list(connect: Connect) -> None:
    script = Script(error(404, "no_segments", "No audience segments yet."))
    async with connect(transport=script.transport) as client:
        assert await client.fetch("brand_1") == []
        response = await client.fetch_response("brand_1")
    assert (response.status_code, response.message) == (404, "No audience segments yet.")
    assert script.attempts == 2


@pytest.mark.anyio
async def test_unknown_code_is_a_plain_api_error(connect: Connect) -> None:
    script = Script(error(402, "payment_required", "Your plan has ended."))
    async with connect(transport=script.transport) as client:
        with pytest.raises(sdk.APIError) as raised:
            await client.fetch("brand_1")
    assert type(raised.value) is sdk.APIError
    assert (raised.value.status_code, raised.value.code) == (402, "payment_required")
    assert script.attempts == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), sdk.UnexpectedResponse),
        (httpx.Response(404, text="Not Found"), sdk.UnexpectedResponse),
        (httpx.Response(429, text="slow down"), sdk.RateLimited),
        (httpx.Response(503, text="<html>maintenance</html>"), sdk.ServiceUnavailable),
        (httpx.Response(200, text="<html>a login page</html>"), sdk.UnexpectedResponse),
        (httpx.Response(200, json={"status": "success", "data": {}}), sdk.UnexpectedResponse),
        (httpx.Response(200, json=["not", "an", "object"]), sdk.UnexpectedResponse),
    ],
)
async def test_answers_that_are_not_the_api(
    connect: Connect, response: httpx.Response, expected: type[sdk.APIError]
) -> None:
    async with connect(transport=Script(response).transport, max_retries=0) as client:
        with pytest.raises(expected) as raised:
            await client.fetch("brand_1")
    assert raised.value.status_code == response.status_code
    assert raised.value.code == expected.error_code


@pytest.mark.anyio
async def test_malformed_segment_keeps_the_reason(connect: Connect) -> None:
    body = {"status": "success", "message": "", "data": [{"segment_id": "seg_1"}]}
    async with connect(transport=Script(httpx.Response(200, json=body)).transport) as client:
        with pytest.raises(sdk.UnexpectedResponse, match="created_at is missing") as raised:
            await client.fetch("brand_1")
    assert isinstance(raised.value.__cause__, ValueError)


@pytest.mark.anyio
async def test_redirect_names_the_new_address(connect: Connect) -> None:
    moved = httpx.Response(301, headers={"location": "https://zyntro.test/apis/x"})
    async with connect(transport=Script(moved).transport) as client:
        with pytest.raises(sdk.UnexpectedResponse, match="redirects to https://zyntro.test"):
            await client.fetch("brand_1")


@pytest.mark.anyio
async def test_transport_error_wraps_httpx(connect: Connect) -> None:
    script = Script(httpx.ConnectError("connection refused"))
    async with connect(transport=script.transport, max_retries=0) as client:
        with pytest.raises(sdk.TransportError) as raised:
            await client.fetch("brand_1")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert not hasattr(raised.value, "status_code")
    assert "http://zyntro.test" in raised.value.message
    assert not isinstance(raised.value, sdk.APIError)


# --- retries --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rate_limited_waits_retry_after_then_succeeds(
    connect: Connect, clock: FakeClock
) -> None:
    script = Script(error(429, "rate_limited", **{"retry-after": "2"}), ok())
    async with connect(transport=script.transport) as client:
        assert await client.fetch("brand_1") == []
    assert script.attempts == 2
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.2


@pytest.mark.anyio
async def test_retry_after_as_an_http_date(connect: Connect, clock: FakeClock) -> None:
    when = email.utils.formatdate(clock.now + 7, usegmt=True)
    script = Script(error(503, "service_unavailable", **{"retry-after": when}), ok())
    async with connect(transport=script.transport) as client:
        await client.fetch("brand_1")
    assert len(clock.sleeps) == 1 and 7.0 <= clock.sleeps[0] <= 7.7


@pytest.mark.anyio
async def test_gives_up_after_max_retries(connect: Connect, clock: FakeClock) -> None:
    script = Script(error(503, "service_unavailable", **{"retry-after": "1"}))
    async with connect(transport=script.transport, max_retries=3) as client:
        with pytest.raises(sdk.ServiceUnavailable):
            await client.fetch("brand_1")
    assert script.attempts == 4
    assert len(clock.sleeps) == 3
    assert all(1.0 <= s <= 8.0 for s in clock.sleeps)
    assert len({r.content for r in script.requests}) == 1  # the same request each time


@pytest.mark.anyio
async def test_max_retries_zero_sends_once(connect: Connect, clock: FakeClock) -> None:
    script = Script(error(429, "rate_limited", **{"retry-after": "1"}))
    async with connect(transport=script.transport, max_retries=0) as client:
        with pytest.raises(sdk.RateLimited):
            await client.fetch("brand_1")
    assert (script.attempts, clock.sleeps) == (1, [])


@pytest.mark.anyio
async def test_backoff_grows_with_jitter_and_stays_bounded(
    connect: Connect, clock: FakeClock
) -> None:
    script = Script(error(503, "service_unavailable"))  # no Retry-After: backoff alone
    async with connect(transport=script.transport, max_retries=10) as client:
        with pytest.raises(sdk.ServiceUnavailable):
            await client.fetch("brand_1")
    assert script.attempts == 11
    for n, slept in enumerate(clock.sleeps):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= slept <= ceiling, (n, slept)
    assert sum(clock.sleeps) <= 0.5 + 1 + 2 + 4 + 8 * 7


@pytest.mark.anyio
async def test_zero_retry_after_still_backs_off(connect: Connect, clock: FakeClock) -> None:
    script = Script(error(429, "rate_limited", **{"retry-after": "0"}), ok())
    async with connect(transport=script.transport) as client:
        await client.fetch("brand_1")
    assert 0.25 <= clock.sleeps[0] <= 0.5


@pytest.mark.anyio
async def test_long_retry_after_is_left_to_the_caller(connect: Connect, clock: FakeClock) -> None:
    script = Script(error(429, "rate_limited", **{"retry-after": "3600"}))
    async with connect(transport=script.transport) as client:
        with pytest.raises(sdk.RateLimited) as raised:
            await client.fetch("brand_1")
    assert raised.value.retry_after == 3600.0
    assert (script.attempts, clock.sleeps) == (1, [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "missing_parameter"),
        (401, "invalid_api_key"),
        (403, "org_mismatch"),
        (404, "brand_not_found"),
        (500, "internal_error"),
    ],
)
async def test_no_retry_on_other_errors(
    connect: Connect, clock: FakeClock, status: int, code: str
) -> None:
    script = Script(error(status, code))
    async with connect(transport=script.transport) as client:
        with pytest.raises(sdk.APIError):
            await client.fetch("brand_1")
    assert (script.attempts, clock.sleeps) == (1, [])


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.ConnectError("refused"),
        lambda: httpx.ConnectTimeout("slow connect"),
        lambda: httpx.ReadError("connection reset"),
        lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_connection_failures_are_retried(
    connect: Connect, clock: FakeClock, failure: Callable[[], Exception]
) -> None:
    script = Script(failure(), failure(), ok())
    async with connect(transport=script.transport) as client:
        assert await client.fetch("brand_1") == []
    assert script.attempts == 3 and len(clock.sleeps) == 2


@pytest.mark.anyio
async def test_connection_failures_give_up_after_max_retries(
    connect: Connect, clock: FakeClock
) -> None:
    script = Script(httpx.ConnectError("refused"))
    async with connect(transport=script.transport, max_retries=2) as client:
        with pytest.raises(sdk.TransportError) as raised:
            await client.fetch("brand_1")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert (script.attempts, len(clock.sleeps)) == (3, 2)


@pytest.mark.anyio
async def test_read_timeout_is_not_retried(connect: Connect, clock: FakeClock) -> None:
    """The timeout is the caller's budget for one attempt; retrying would multiply it."""
    script = Script(httpx.ReadTimeout("read timed out"), ok())
    async with connect(transport=script.transport) as client:
        with pytest.raises(sdk.TransportError) as raised:
            await client.fetch("brand_1")
    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)
    assert (script.attempts, clock.sleeps) == (1, [])


def test_retry_after_parsing() -> None:
    from zyntro.client._base import _retry_after_seconds

    now = 1_750_000_000.0
    cases: dict[Any, float | None] = {
        None: None,
        "5": 5.0,
        " 2.5 ": 2.5,
        "-3": 0.0,
        "nan": None,
        "soon": None,
        email.utils.formatdate(now + 30, usegmt=True): 30.0,
        email.utils.formatdate(now - 30, usegmt=True): 0.0,
    }
    for header, seconds in cases.items():
        assert _retry_after_seconds(header, now) == seconds, header
