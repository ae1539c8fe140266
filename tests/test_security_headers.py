"""Finding 16 (docs/security.md): every response carries a Content-Security-Policy and
`X-Content-Type-Options: nosniff`, over ASGI and over granian's RSGI (`zyntro serve`), and the
API reference at /docs loads nothing from another origin."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import World
from tests.live import live_server
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.service import Service
from zyntro.settings import Settings

PATH = "/apis/public/fetchAudiences.php"
SECRET = "headers-test-secret-0123456789abcdefghijklmnop"
# Directives the policy must hold: no origin but the server's own, no inline code, no framing.
REQUIRED_DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}

Request = tuple[str, str, dict[str, object]]  # method, path, httpx keyword arguments


def _surfaces(world: World) -> list[Request]:
    """One request per kind of answer: the public endpoint (success, errors), the ops routes,
    the OpenAPI document and its UI, the dashboard (page, redirect, static file, missing
    file), the management API, and the framework's own 404 and 405."""
    return [
        ("POST", PATH, {"json": world.body()}),
        ("POST", PATH, {"json": world.body(api_key="zk_nope")}),
        ("POST", PATH, {"content": b"x" * 20_000}),
        ("GET", PATH, {}),
        ("GET", "/healthz", {}),
        ("GET", "/readyz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/docs", {}),
        ("GET", "/app/sign-in", {}),
        ("GET", "/app/brands", {"follow_redirects": False}),
        ("GET", "/app/static/app.js", {}),
        ("GET", "/app/static/missing.js", {}),
        ("GET", "/api/v1/brands", {}),
        ("GET", "/api/v1/brands", {"headers": {"authorization": f"Bearer {world.owner_key}"}}),
        ("GET", "/nope", {}),
        ("POST", "/healthz", {}),
    ]


def _policy(response: httpx.Response) -> dict[str, str]:
    header = response.headers.get("content-security-policy")
    assert header is not None, (response.request.url, response.status_code)
    directives = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value.strip()
    return directives


def assert_security_headers(response: httpx.Response) -> None:
    where = (response.request.method, str(response.request.url), response.status_code)
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], where
    assert len(response.headers.get_list("content-security-policy")) == 1, where
    policy = _policy(response)
    for directive, value in REQUIRED_DIRECTIVES.items():
        assert policy.get(directive) == value, (where, directive, policy)
    # Nothing but the server itself (and data: images) anywhere in the policy.
    sources = " ".join(policy.values()).split()
    assert set(sources) <= {"'self'", "'none'", "data:"}, (where, sources)


def _check_every_surface(send: Callable[..., httpx.Response], world: World) -> None:
    seen = set()
    for method, path, arguments in _surfaces(world):
        response = send(method, path, **arguments)
        seen.add(response.status_code)
        assert_security_headers(response)
    # The list did reach the answers it means to: successes, redirects and errors.
    assert {200, 303, 401, 404, 405, 413} <= seen, seen


@pytest.fixture
def dashboard_client(service: Service, database_url: str) -> Iterator[TestClient]:
    """The app with the dashboard enabled (a signing secret set)."""
    settings = Settings(database_url=database_url, log_level="WARNING", secret_key=SECRET)
    with TestClient(create_app(settings, service)) as test_client:
        yield test_client


def test_finding_16_every_asgi_response_has_csp_and_nosniff(
    dashboard_client: TestClient, world: World
) -> None:
    _check_every_surface(dashboard_client.request, world)


def test_finding_16_the_database_down_answers_have_them_too(down_client: TestClient) -> None:
    body = {"api_key": keys.generate_key(), "org_id": "org_x", "brand_id": "brand_x"}
    for method, path, arguments in [("GET", "/readyz", {}), ("POST", PATH, {"json": body})]:
        response = down_client.request(method, path, **arguments)  # type: ignore[arg-type]
        assert response.status_code == 503
        assert_security_headers(response)


@pytest.mark.slow
def test_finding_16_every_rsgi_response_has_csp_and_nosniff(
    database_url: str, world: World
) -> None:
    env = {"ZYNTRO_SECRET_KEY": SECRET}
    with live_server(database_url, env=env) as base_url, httpx.Client(base_url=base_url) as http:
        _check_every_surface(http.request, world)
        _check_docs_assets(http.get)


class _Links(HTMLParser):
    """Every URL a page loads or links to: src, href, and url(...) in style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self._in_script = tag == "script"
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1
        if tag == "style" or "style" in values:
            raise AssertionError("an inline style on the docs page")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _docs_links(page: httpx.Response) -> _Links:
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    return links


def _check_docs_assets(get: Callable[[str], httpx.Response]) -> list[httpx.Response]:
    page = get("/docs")
    links = _docs_links(page)
    assert links.inline_scripts == 0, page.text
    # No other origin anywhere in the page's text: not in a tag, not in a script string.
    assert re.findall(r"(?:https?:)?//[\w.-]+", page.text) == [], page.text
    assets = []
    for url in links.urls:
        if url.startswith("data:"):
            continue
        parts = urlsplit(urljoin(str(page.url), url))
        assert parts.netloc == urlsplit(str(page.url)).netloc, url
        asset = get(parts.path)
        assert asset.status_code == 200, url
        assert asset.content, url
        assert_security_headers(asset)
        assets.append(asset)
    return assets


def test_finding_16_docs_load_nothing_from_another_origin(client: TestClient) -> None:
    assets = _check_docs_assets(client.get)
    kinds = {asset.headers["content-type"].split(";")[0] for asset in assets}
    # Swagger UI itself (script and stylesheet) and the script that starts it, from the server.
    assert {"text/javascript", "text/css"} <= kinds, kinds
    scripts = [a for a in assets if a.headers["content-type"].startswith("text/javascript")]
    assert any("SwaggerUIBundle" in script.text[:5000] for script in scripts)
    # ...for this server's OpenAPI document, which the page names.
    assert 'data-openapi-url="/openapi.json"' in client.get("/docs").text


def test_finding_16_no_other_docs_ui_loads_a_cdn(client: TestClient) -> None:
    # FastAPI's ReDoc page pulls its script from a CDN and its fonts from Google.
    assert client.get("/redoc").status_code == 404
