"""What both clients share, none of it doing I/O: settings, requests, answers, errors, retries.

`ZyntroClient` and `AsyncZyntroClient` only send the request this module builds, sleep for
the delay it decides, and hand the response back to it (httpx's BaseClient split).
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from zyntro import __version__
from zyntro.client.errors import (
    APIError,
    ConfigurationError,
    NoSegments,
    RateLimited,
    ServiceUnavailable,
    TransportError,
    UnexpectedResponse,
    ZyntroError,
    _class_for,
    _RetryableError,
)
from zyntro.client.models import AudienceSegment, AudiencesResponse, Brand, SegmentPage

DEFAULT_BASE_URL = "https://app.zyntrohq.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3
FETCH_AUDIENCES_PATH = "/apis/public/fetchAudiences.php"
V1_PATH = "/api/v1"
USER_AGENT = f"zyntro-python/{__version__}"

_BACKOFF_FIRST = 0.5  # seconds: the ceiling of the first wait, doubling per retry
_BACKOFF_CAP = 8.0
_RETRY_AFTER_JITTER = 0.1  # up to 10 % on top of Retry-After, so clients don't return in step
_MAX_RETRY_AFTER = 60.0  # a longer wait is the caller's decision: the error is raised instead
# Failures where the request got no answer; the call only reads, so sending it again is safe.
# Read/write/pool timeouts are not retried: the timeout is the caller's budget per attempt.
_RETRYABLE_TRANSPORT = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
# A body that is not the API's (a proxy's or load balancer's page) but a status that is clear.
_FALLBACK_BY_STATUS: dict[int, type[APIError]] = {429: RateLimited, 503: ServiceUnavailable}


@dataclass(frozen=True, slots=True, repr=False)
class _Config:
    api_key: str
    org_id: str
    base_url: str
    timeout: float
    max_retries: int

    def __repr__(self) -> str:  # the key never: reprs end up in logs and tracebacks
        return (
            f"_Config(api_key=<redacted>, org_id={self.org_id!r}, base_url={self.base_url!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )


def _resolve_config(
    api_key: str | None,
    org_id: str | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    environ: Mapping[str, str],
) -> _Config:
    """Arguments first, then `ZYNTRO_API_KEY` / `ZYNTRO_ORG_ID` / `ZYNTRO_BASE_URL`."""
    key = _setting(api_key, environ.get("ZYNTRO_API_KEY"))
    if not key:
        raise ConfigurationError(
            "api_key",
            "No API key: pass api_key=... or set ZYNTRO_API_KEY "
            "(create one in your Zyntro account under Me > API Keys).",
        )
    org = _setting(org_id, environ.get("ZYNTRO_ORG_ID"))
    if not org:
        raise ConfigurationError("org_id", "No organization: pass org_id=... or set ZYNTRO_ORG_ID.")
    url = (_setting(base_url, environ.get("ZYNTRO_BASE_URL")) or DEFAULT_BASE_URL).rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError("base_url", f"base_url must be an http(s) URL, not {url!r}.")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigurationError("timeout", "timeout must be a positive number of seconds.")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError("max_retries", "max_retries must be an integer of 0 or more.")
    return _Config(key, org, url, float(timeout), max_retries)


def _setting(given: str | None, from_env: str | None) -> str:
    value = given if given is not None else from_env
    return (value or "").strip()


class _BaseClient:
    """The no-I/O half of a client: built from settings, it makes requests and reads answers."""

    def __init__(
        self,
        api_key: str | None,
        org_id: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        clock: Callable[[], float],
    ) -> None:
        self._config = _resolve_config(api_key, org_id, base_url, timeout, max_retries, os.environ)
        self._clock = clock  # wall-clock seconds, to read a Retry-After given as a date
        self._random = random.random

    @property
    def base_url(self) -> str:
        return self._config.base_url

    @property
    def org_id(self) -> str:
        return self._config.org_id

    @property
    def timeout(self) -> float:
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        return self._config.max_retries

    def __repr__(self) -> str:  # never the API key
        return f"{type(self).__name__}(org_id={self.org_id!r}, base_url={self.base_url!r})"

    def _fetch_request(self, brand_id: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            self._config.base_url + FETCH_AUDIENCES_PATH,
            json={"api_key": self._config.api_key, "org_id": self.org_id, "brand_id": brand_id},
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            extensions={"timeout": httpx.Timeout(self._config.timeout).as_dict()},
        )

    def _read_fetch(self, response: httpx.Response) -> AudiencesResponse:
        """The answer to a fetch; `no_segments` is an empty answer, every other error raises."""
        request_id = response.headers.get("x-request-id")
        body = _json_object(response.content)
        if response.status_code != 200:
            error = self._api_error(response, body, request_id)
            if not isinstance(error, NoSegments):
                raise error
            return AudiencesResponse(
                (), error.message, error.status_code, request_id, response.content
            )
        data = body.get("data") if body else None
        message = body.get("message") if body else None
        if body is None or body.get("status") != "success" or not isinstance(data, list):
            raise self._unexpected(response, request_id)
        try:
            segments = tuple(AudienceSegment.from_api(_mapping(item)) for item in data)
        except ValueError as exc:
            raise self._unexpected(response, request_id, f" ({exc})") from exc
        message = message if isinstance(message, str) else ""
        return AudiencesResponse(segments, message, 200, request_id, response.content)

    def _api_error(
        self, response: httpx.Response, body: dict[str, Any] | None, request_id: str | None
    ) -> APIError:
        """The exception for an error answer: by its `code`, else by its status, else generic."""
        status = response.status_code
        code = body.get("code") if body else None
        message = body.get("message") if body else None
        if not isinstance(code, str) or not isinstance(message, str):
            fallback = _FALLBACK_BY_STATUS.get(status)
            if fallback is None:
                return self._unexpected(response, request_id)
            code = fallback.error_code or ""
            message = f"The server answered HTTP {status} ({response.reason_phrase})."
        cls = _class_for(code)
        if issubclass(cls, _RetryableError):
            retry_after = _retry_after_seconds(response.headers.get("retry-after"), self._clock())
            return cls(
                message,
                status_code=status,
                code=code,
                request_id=request_id,
                retry_after=retry_after,
            )
        return cls(message, status_code=status, code=code, request_id=request_id)

    def _unexpected(
        self, response: httpx.Response, request_id: str | None, detail: str = ""
    ) -> UnexpectedResponse:
        status = response.status_code
        where = self.base_url + FETCH_AUDIENCES_PATH
        hint = "check base_url"
        location = response.headers.get("location")
        if 300 <= status < 400 and location:
            hint = f"it redirects to {location}; use that address as base_url"
        return UnexpectedResponse(
            f"HTTP {status} from {where} is not a Zyntro API answer{detail}: {hint}.",
            status_code=status,
            code=UnexpectedResponse.error_code or "",
            request_id=request_id,
        )

    def _transport_error(self, exc: httpx.TransportError) -> TransportError:
        detail = str(exc) or "no detail"
        hint = ""
        if self.base_url == DEFAULT_BASE_URL:  # a local server is chosen, not found
            hint = " (the default address: base_url or ZYNTRO_BASE_URL chooses the server)"
        return TransportError(
            f"Could not get an answer from {self.base_url}{hint}: {type(exc).__name__}: {detail}"
        )

    def _retry_delay(self, retries_done: int, error: ZyntroError) -> float | None:
        """Seconds to wait before sending again, or None to raise `error` now."""
        if retries_done >= self._config.max_retries:
            return None
        backoff = self._backoff(retries_done)
        if isinstance(error, TransportError):
            return backoff if isinstance(error.__cause__, _RETRYABLE_TRANSPORT) else None
        if not isinstance(error, _RetryableError):
            return None
        if error.retry_after is None:
            return backoff
        if error.retry_after > _MAX_RETRY_AFTER:
            return None
        # Never earlier than the server asked, a little later to spread the returning clients.
        return max(backoff, error.retry_after * (1 + _RETRY_AFTER_JITTER * self._random()))

    def _backoff(self, retries_done: int) -> float:
        """Exponential backoff with "equal jitter": between half the ceiling and the ceiling."""
        ceiling = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2.0**retries_done)
        return ceiling / 2 + self._random() * ceiling / 2

    # --- management API v1: requests and answers (docs/api-v1.md) ----------------------------

    def _v1_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | None] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        return httpx.Request(
            method,
            self._config.base_url + V1_PATH + path,
            params={k: v for k, v in (params or {}).items() if v is not None},
            json=dict(body) if body is not None else None,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "Authorization": f"Bearer {self._config.api_key}",
                **(headers or {}),
            },
            extensions={"timeout": httpx.Timeout(self._config.timeout).as_dict()},
        )

    def _segments_request(
        self,
        brand_id: str,
        limit: int,
        cursor: str | None,
        segment_type: str | None,
        updated_since: datetime | str | None,
    ) -> httpx.Request:
        if isinstance(updated_since, datetime):
            moment = updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)
            updated_since = moment.astimezone(UTC).isoformat()
        params = {
            "limit": limit,
            "cursor": cursor,
            "segment_type": segment_type,
            "updated_since": updated_since,
        }
        return self._v1_request("GET", _segments_path(brand_id), params=params)

    def _create_request(
        self, brand_id: str, segment: Mapping[str, Any], idempotency_key: str | None
    ) -> httpx.Request:
        # A key of our own when none is given, so a retried POST never creates a second segment.
        key = idempotency_key or uuid.uuid4().hex
        return self._v1_request(
            "POST", _segments_path(brand_id), body=segment, headers={"Idempotency-Key": key}
        )

    def _read_v1(self, response: httpx.Response) -> dict[str, Any] | None:
        """The body of a management API answer (None for 204 No Content); errors raise."""
        request_id = response.headers.get("x-request-id")
        if response.status_code == 204:
            return None
        body = _json_object(response.content)
        if not 200 <= response.status_code < 300:
            raise self._api_error(response, body, request_id)
        if body is None or body.get("status") != "success" or "data" not in body:
            raise self._v1_unexpected(response)
        return body

    def _v1_unexpected(self, response: httpx.Response, detail: str = "") -> UnexpectedResponse:
        return UnexpectedResponse(
            f"HTTP {response.status_code} from {response.request.url.copy_with(query=None)} "
            f"is not a Zyntro API answer{detail}: check base_url.",
            status_code=response.status_code,
            code=UnexpectedResponse.error_code or "",
            request_id=response.headers.get("x-request-id"),
        )

    def _read_brands(self, response: httpx.Response) -> list[Brand]:
        body = self._read_v1(response) or {}
        try:
            return [Brand.from_api(_mapping(item)) for item in _list(body.get("data"))]
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc

    def _read_segment(self, response: httpx.Response) -> AudienceSegment:
        body = self._read_v1(response) or {}
        try:
            return AudienceSegment.from_api(_mapping(body.get("data")))
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc

    def _read_page(self, response: httpx.Response) -> SegmentPage:
        body = self._read_v1(response) or {}
        cursor = body.get("next_cursor")
        try:
            segments = tuple(
                AudienceSegment.from_api(_mapping(item)) for item in _list(body.get("data"))
            )
            if cursor is not None and not isinstance(cursor, str):
                raise ValueError("next_cursor is not a string")
        except ValueError as exc:
            raise self._v1_unexpected(response, f" ({exc})") from exc
        return SegmentPage(segments, cursor, response.headers.get("etag"))


def _segments_path(brand_id: str, segment_id: str | None = None) -> str:
    path = f"/brands/{quote(brand_id, safe='')}/segments"
    return path if segment_id is None else f"{path}/{quote(segment_id, safe='')}"


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("data is not a list")
    return value


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except ValueError:  # not JSON, or not UTF-8
        return None
    return value if isinstance(value, dict) else None


def _mapping(item: Any) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError("a segment is not a JSON object")
    return item


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: delay-seconds or an HTTP date; None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
