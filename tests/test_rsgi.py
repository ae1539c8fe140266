"""`zyntro serve` answers over granian's RSGI; the in-process tests drive the app over ASGI.

These tests send the same requests to both and require the same answers: status, body and
every header the app sets (granian's own `date` and `server` aside). Together with the live
tests elsewhere (CLI changes, two nodes, faults, the browser flows), they are what shows that
the RSGI adapter and the ASGI bridge behave like the ASGI app the rest of the suite tests.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World
from tests.helpers import PATH
from tests.live import free_port, live_server, wait_for

pytestmark = pytest.mark.slow  # starts `zyntro serve` and granian processes
_JSON = "application/json"
# granian's own: the date, its name, and `connection: close` when it answers before the body
# was read (a 413), so that the unread rest cannot be taken for the next request
SERVER_HEADERS = {"date", "server", "connection"}
RATE = re.compile(r'"default";r=(\d+);t=(\d+)')
ROOT = Path(__file__).resolve().parent.parent
GRANIAN = str(Path(sys.executable).with_name("granian"))


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def public_requests(world: World) -> list[tuple[str, dict[str, Any]]]:
    """(label, httpx request arguments): every branch of SPEC §2 and the odd inputs."""
    body = world.body()
    json_headers = {"content-type": "application/json"}
    form = f"api_key={world.owner_key}&org_id={world.org_id}&brand_id={world.brand_id}"
    return [
        ("success json", {"json": body}),
        ("success json, request id", {"json": body, "headers": {"x-request-id": "abc-123"}}),
        (
            "success form",
            {
                "content": form.encode(),
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
        ),
        ("success multipart", {"files": {k: (None, str(v)) for k, v in body.items()}}),
        ("success no content type", {"content": orjson.dumps(body)}),
        (
            "success chunked",
            {"content": _chunks(orjson.dumps(body), 7), "headers": json_headers},
        ),
        (
            "success bearer",
            {
                "json": world.body(api_key=None),
                "headers": {"authorization": f"Bearer {world.owner_key}"},
            },
        ),
        (
            "success x-api-key",
            {"json": world.body(api_key=""), "headers": {"x-api-key": world.owner_key}},
        ),
        ("empty brand", {"json": world.body(brand_id=world.empty_brand_id)}),
        ("member key", {"json": world.body(api_key=world.member_key)}),
        ("invalid json", {"content": b"{", "headers": json_headers}),
        ("json array", {"content": b"[1, 2]", "headers": json_headers}),
        ("not utf-8 form", {"content": b"api_key=\xff", "headers": {"content-type": _form()}}),
        ("bad multipart", {"content": b"--x", "headers": {"content-type": _multipart_type()}}),
        ("unsupported type", {"content": b"a", "headers": {"content-type": "text/plain"}}),
        ("too large declared", {"content": b"x" * 20_000, "headers": json_headers}),
        ("too large chunked", {"content": _chunks(b"x" * 20_000), "headers": json_headers}),
        ("missing org", {"json": {"api_key": world.owner_key, "brand_id": world.brand_id}}),
        ("not a string", {"json": world.body(org_id=5)}),
        ("too long", {"json": world.body(brand_id="b" * 300)}),
        (
            "differing keys",
            {"json": world.body(), "headers": {"x-api-key": world.member_key}},
        ),
        ("bad checksum", {"json": world.body(api_key=world.owner_key[:-1] + "0")}),
        ("short key", {"json": world.body(api_key="zk_short")}),
        ("wrong org", {"json": world.body(org_id="org_01M8B824YYW609X4YQVB744YHQ")}),
        ("unknown brand", {"json": world.body(brand_id="brand_01M8B824Z2CDJXCXBRBX2QNB6C")}),
        ("malformed brand", {"json": world.body(brand_id="nope")}),
        ("unsafe request id", {"json": body, "headers": {"x-request-id": "a b"}}),
        (  # a repeated header counts with its last value, over both interfaces
            "repeated content type",
            {
                "content": orjson.dumps(body),
                "headers": [("content-type", "text/plain"), ("content-type", _JSON)],
            },
        ),
        (
            "repeated content type, last unsupported",
            {
                "content": orjson.dumps(body),
                "headers": [("content-type", _JSON), ("content-type", "text/plain")],
            },
        ),
        (
            "repeated x-api-key",
            {
                "json": world.body(api_key=None),
                "headers": [("x-api-key", "zk_nope"), ("x-api-key", world.owner_key)],
            },
        ),
    ]


def _form() -> str:
    return "application/x-www-form-urlencoded"


def _multipart_type() -> str:
    return "multipart/form-data; boundary=x"


def comparable(response: httpx.Response) -> dict[str, Any]:
    """What must be equal over both interfaces."""
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        if name in SERVER_HEADERS:
            continue
        if name == "x-request-id" and value != response.request.headers.get("x-request-id"):
            value = "<generated>"
        if name == "ratelimit":  # the seconds left in the window may differ by one
            match = RATE.fullmatch(value)
            assert match, value
            value = f"remaining={match.group(1)}"
        assert name not in headers, f"{name} sent twice"
        headers[name] = value
    assert int(headers["content-length"]) == len(response.content)
    return {"status": response.status_code, "headers": headers, "body": response.content}


@pytest.fixture
def live(database_url: str) -> Iterator[httpx.Client]:
    env = {"ZYNTRO_SECRET_KEY": secrets.token_hex(16)}  # the dashboard signs sessions
    with live_server(database_url, env=env) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


def test_public_answers_are_the_same_over_rsgi_and_asgi(
    client: TestClient, live: httpx.Client, world: World
) -> None:
    # Fresh arguments for each request: a chunked body's generator is spent by one request.
    copies = (public_requests(world), public_requests(world), public_requests(world))
    for (label, arguments), (_, again), (_, spare) in zip(*copies, strict=True):
        over_rsgi = _early_answer_safe(live, arguments, spare)
        over_asgi = client.request("POST", PATH, **again)
        assert comparable(over_rsgi) == comparable(over_asgi), label


def _early_answer_safe(
    live: httpx.Client, arguments: dict[str, Any], spare: dict[str, Any]
) -> httpx.Response:
    """POST over the network. A 413 is sent before the body is read and the connection then
    closed; a client still writing the body can see that close before the answer (a race of
    the transport, not of the answer). One more try, with a fresh copy of the arguments."""
    try:
        return live.request("POST", PATH, **arguments)
    except (httpx.RemoteProtocolError, httpx.WriteError):
        return live.request("POST", PATH, **spare)


def test_other_methods_and_spellings_of_the_path(
    client: TestClient, live: httpx.Client, world: World
) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        over_rsgi, over_asgi = live.request(method, PATH), client.request(method, PATH)
        assert over_rsgi.status_code == 405, method
        assert comparable(over_rsgi) == comparable(over_asgi), method
    # ASGI paths are percent-decoded; the RSGI adapter routes on the same decoded path.
    for path in (PATH.replace(".php", "%2Ephp"), PATH + "?api_key=x"):
        over_rsgi = live.post(path, json=world.body())
        assert over_rsgi.status_code == 200, path
        assert comparable(over_rsgi) == comparable(client.post(path, json=world.body())), path


def test_a_client_gone_mid_body_is_a_bad_request_not_a_server_error(live: httpx.Client) -> None:
    """As over ASGI (`http.disconnect`): what arrived is judged, a 400, never a 500."""
    host, port = live.base_url.host, live.base_url.port
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    for request in (
        head + 'Content-Length: 100\r\n\r\n{"api_k',  # declared, cut short
        head + "Content-Length: 100\r\n\r\n",
        head + 'Transfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n',  # chunked, cut short
    ):
        with socket.create_connection((host, port)) as sock:
            sock.sendall(request.encode())
            time.sleep(0.2)
    public = [
        line
        for line in wait_until_counted(live, 3).splitlines()
        if line.startswith("zyntro_requests_total") and f'route="{PATH}"' in line
    ]
    assert any('status="400"' in line and line.endswith(" 3.0") for line in public), public
    assert not any('status="500"' in line for line in public), public


def wait_until_counted(live: httpx.Client, count: int) -> str:
    """/metrics once the public route has counted `count` requests (they end asynchronously)."""
    text = ""

    def counted() -> bool:
        nonlocal text
        text = live.get("/metrics").text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("zyntro_requests_total") and f'route="{PATH}"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total >= count

    wait_for(counted, timeout=5)
    return text


def test_framework_routes_answer_the_same_through_the_asgi_bridge(
    client: TestClient, live: httpx.Client, world: World
) -> None:
    auth = {"authorization": f"Bearer {world.owner_key}"}
    for path in (
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/nowhere",
        "/app/static/htmx.min.js",
        f"/api/v1/brands/{world.brand_id}",
        "/api/v1/brands?x=%42",
    ):
        over_rsgi, over_asgi = live.get(path, headers=auth), client.get(path, headers=auth)
        assert over_rsgi.status_code in (200, 404), path
        assert comparable(over_rsgi) == comparable(over_asgi), path
    # A conditional GET and a HEAD.
    one = live.get(f"/api/v1/brands/{world.brand_id}", headers=auth)
    again = live.get(
        f"/api/v1/brands/{world.brand_id}", headers={**auth, "if-none-match": one.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    for path in ("/healthz", "/app/static/htmx.min.js"):  # HEAD: 405, and a static file's
        over_rsgi, over_asgi = live.head(path), client.head(path)
        assert over_rsgi.content == b"", path
        assert over_rsgi.status_code == over_asgi.status_code, path
        assert over_rsgi.headers.get("etag") == over_asgi.headers.get("etag"), path
    # Redirects and cookies of the dashboard.
    page = live.get("/app")
    assert page.status_code == 303 and page.headers["location"] == "/app/sign-in"
    assert "zyntro_session=" in page.headers["set-cookie"]


def test_request_bodies_stream_through_the_asgi_bridge(live: httpx.Client, world: World) -> None:
    """A JSON body sent chunked reaches FastAPI whole, and a write lands."""
    url = f"/api/v1/brands/{world.brand_id}/segments"
    auth = {"authorization": f"Bearer {world.owner_key}", "content-type": "application/json"}
    created = live.post(url, headers=auth, content=_chunks(orjson.dumps(SEED_SEGMENT), 50))
    assert created.status_code == 201, created.text
    listed = live.get(url, headers=auth).json()
    segment_id = created.json()["data"]["segment_id"]
    assert segment_id in [segment["segment_id"] for segment in listed["data"]]
    bad = live.post(url, headers=auth, content=_chunks(b'{"segment_label": ', 5))
    assert bad.status_code == 400, bad.text
    assert bad.headers["content-type"].startswith("application/json")


# --- the bridge on its own: streamed bodies both ways ----------------------------------------


@pytest.fixture
def bridge() -> Iterator[httpx.Client]:
    """granian's RSGI interface serving tests/apps/bridge.py."""
    port = free_port()
    process = subprocess.Popen(
        [GRANIAN, "--interface", "rsgi", "--port", str(port), "tests.apps.bridge:app"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_for(lambda: _answers(http), timeout=20, interval=0.1)
            yield http
    finally:
        process.terminate()
        process.wait(timeout=15)


def _answers(http: httpx.Client) -> bool:
    try:
        http.get("/stream")
    except httpx.TransportError:
        return False
    return True


def test_a_streamed_response_arrives_whole(bridge: httpx.Client) -> None:
    from tests.apps.bridge import CHUNK, CHUNKS

    response = bridge.get("/stream")
    assert response.status_code == 200
    assert response.content == b"".join(bytes([n]) + CHUNK for n in range(CHUNKS))


def test_a_streamed_request_body_arrives_whole(bridge: httpx.Client) -> None:
    body = secrets.token_bytes(700_000)
    expected = f"{len(body)} {hashlib.sha256(body).hexdigest()} /echo/a b"
    assert bridge.post("/echo/a%20b", content=_chunks(body, 65_536)).text == expected
    assert bridge.post("/echo/a%20b", content=body).text == expected
    empty = f"0 {hashlib.sha256(b'').hexdigest()} /echo/a b"
    assert bridge.post("/echo/a%20b").text == empty


def test_a_failing_app_answers_500(bridge: httpx.Client) -> None:
    assert bridge.get("/boom").status_code == 500
    assert bridge.get("/stream").status_code == 200  # and the server goes on
