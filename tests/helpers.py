"""Shared pieces of the tests: the public endpoint's expectations (SPEC §2), and writes to the
test databases that no service method makes."""

from __future__ import annotations

import re
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa

from zyntro.domain import utcnow
from zyntro.service import Service
from zyntro.service.recording import rebuild_brand_body
from zyntro.store.tables import metadata, segments

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def backdate(service: Service, segment_ids: list[str], moment: datetime = LONG_AGO) -> None:
    """As if the segments had been written long ago (times are whole seconds, so an edit
    right after creation could otherwise tie). Like every write, it refreshes the bodies
    the endpoint serves and drops this process's cached ones."""
    with service.store.write() as conn:
        conn.execute(
            sa.update(segments)
            .where(segments.c.id.in_(segment_ids))
            .values(created_at=moment, updated_at=moment, public_json=None)  # re-encoded below
        )
        brand_ids = conn.execute(
            sa.select(segments.c.brand_id).where(segments.c.id.in_(segment_ids)).distinct()
        ).scalars()
        for brand_id in brand_ids:
            rebuild_brand_body(conn, brand_id, utcnow())
    service.reader.cache.clear()


def truncate(url: str) -> None:
    """Empty every table of the PostgreSQL database at `url`."""
    engine = sa.create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


PATH = "/apis/public/fetchAudiences.php"
JSON_TYPE = "application/json; charset=utf-8"
PARAMETERS = ("api_key", "org_id", "brand_id")
ERROR_KEYS = ["status", "message", "code"]
SEGMENT_KEYS = [
    "segment_id",
    "created_at",
    "updated_at",
    "initiated_by",
    "segment_label",
    "segment_tag",
    "segment_type",
    "segment_decision_drivers",
    "segment_pain_points",
    "segment_use_cases",
    "segment_tone",
    "reasoning",
]
LIST_KEYS = ("segment_pain_points", "segment_use_cases")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
# The error table, in the order its checks run.
SPEC_ERRORS = [
    ("method_not_allowed", 405),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("invalid_json", 400),
    ("missing_parameter", 400),
    ("invalid_parameter", 400),
    ("invalid_request", 400),
    ("invalid_api_key", 401),
    ("org_mismatch", 403),
    ("brand_not_found", 404),
    ("no_segments", 404),
    ("rate_limited", 429),
    ("internal_error", 500),
    ("service_unavailable", 503),
]
MORE = "You can ask your member in-charge to add more audiences if you like."


def assert_public_headers(response: httpx.Response) -> None:
    """The headers SPEC §2 puts on every response of the public endpoint."""
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["cache-control"] == "no-store"
    assert 1 <= len(response.headers["x-request-id"]) <= 128


def assert_error_shape(response: httpx.Response) -> dict[str, Any]:
    """Any error body: exactly status, message, code; a sentence and a machine code."""
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert isinstance(body, dict), body
    assert list(body) == ERROR_KEYS, body
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["code"], str) and re.fullmatch(r"[a-z_]+", body["code"])
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A public-endpoint error with this status and code, in the one error shape."""
    assert response.status_code == status, response.text
    body = assert_error_shape(response)
    assert body["code"] == code, body
    assert_public_headers(response)
    return body


def success_message(count: int) -> str:
    if count == 1:
        return f"1 audience segment has been defined for your brand. {MORE}"
    return f"{count} audience segments have been defined for your brand. {MORE}"


def raw_connection(port: int, host: str = "127.0.0.1", timeout: float = 30) -> socket.socket:
    """A plain TCP connection to a live server, for requests written by hand."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket, within: float) -> bytes:
    """All the server sends until it closes the connection (which it must, within `within`)."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection was still open after {within} s: {received[:200]!r}")
