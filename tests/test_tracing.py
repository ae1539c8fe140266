"""OpenTelemetry traces (docs/operations.md, "Traces"), on SQLite and PostgreSQL.

With tracing on, the spans go to the SDK's in-memory exporter (in-process apps) or to a
real OTLP/HTTP receiver on loopback (`zyntro serve`, its RSGI path). With tracing off, the
app never loads OpenTelemetry: no provider, no span.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World
from tests.helpers import PATH
from tests.live import live_server, wait_for
from zyntro import keys
from zyntro.api.app import ZyntroApp, create_app
from zyntro.api.traced import TracedApp
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store
from zyntro.tracing import REQUEST_ID, Tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(
    service: Service, settings: Settings, exporter: InMemorySpanExporter, world: World
) -> Iterator[TestClient]:
    # After `world`: its writes are then older than the app's change feed, which does not
    # hand them on. Written after the app started, they would reach the feed a poll later and
    # drop the keys its first requests cached, so the cache hits these tests count would
    # depend on when that poll comes (it failed a CI run on PostgreSQL).
    app = create_app(settings, service, Tracing.to_exporter(exporter))
    assert isinstance(app, TracedApp)
    with TestClient(app) as client:
        exporter.clear()  # what the lifespan's start may have read
        yield client


def spans_of(exporter: InMemorySpanExporter, request_id: str) -> list[ReadableSpan]:
    """The spans of the one trace whose request span carries `request_id`."""
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.attributes and s.attributes.get(REQUEST_ID) == request_id]
    assert len(roots) == 1, [s.name for s in spans]
    trace_id = roots[0].context.trace_id  # type: ignore[union-attr]
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), [s.name for s in spans]  # each name once
    return named


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_a_fetch_has_a_request_span_and_its_miss_reads_the_database(
    traced: TestClient, exporter: InMemorySpanExporter, world: World
) -> None:
    first = traced.post(PATH, json=world.body(), headers={"X-Request-Id": "trace-one"})
    assert first.status_code == 200
    spans = by_name(spans_of(exporter, "trace-one"))
    request = spans["POST /apis/public/fetchAudiences.php"]
    assert request.kind is SpanKind.SERVER and request.parent is None
    assert request.attributes == {
        "http.request.method": "POST",
        "url.path": PATH,
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "client.address": "testclient",
        "http.route": PATH,
        "http.response.status_code": 200,
        "zyntro.request_id": "trace-one",
    }
    # The key missed the cache: read with its brand, under the miss's span.
    miss = spans["cache miss api_key"]
    assert parent_of(miss) == span_id(request)
    keys, brands = spans["SELECT api_keys"], spans["SELECT brands"]
    assert parent_of(keys) == parent_of(brands) == span_id(miss)
    assert keys.kind is SpanKind.CLIENT
    system = "sqlite" if "sqlite" in str(traced.app.service.store.url) else "postgresql"  # type: ignore[attr-defined]
    assert keys.attributes == {
        "db.system.name": system,
        "db.operation.name": "SELECT",
        "db.collection.name": "api_keys",
    }
    assert set(spans) == {request.name, miss.name, keys.name, brands.name}

    # Warm: the caches answer, no database span.
    second = traced.post(PATH, json=world.body(), headers={"X-Request-Id": "trace-two"})
    assert second.content == first.content
    assert [s.name for s in spans_of(exporter, "trace-two")] == [request.name]


def test_a_brand_missing_from_the_cache_is_read_in_its_own_miss_span(
    traced: TestClient, exporter: InMemorySpanExporter, world: World
) -> None:
    assert traced.post(PATH, json=world.body()).status_code == 200  # the key is cached
    body = world.body(brand_id=world.empty_brand_id)
    answer = traced.post(PATH, json=body, headers={"X-Request-Id": "cold-brand"})
    assert answer.status_code == 404
    spans = by_name(spans_of(exporter, "cold-brand"))
    assert set(spans) == {
        "POST /apis/public/fetchAudiences.php",
        "cache miss brand",
        "SELECT brands",
    }
    assert (
        spans["cache miss brand"].status.status_code is StatusCode.UNSET
    )  # an answer, not a fault


def test_a_v1_write_has_a_database_write_span(
    traced: TestClient, exporter: InMemorySpanExporter, service: Service, world: World
) -> None:
    key = service.create_key(SYSTEM, world.in_charge_id, "lead key")[1]
    exporter.clear()
    response = traced.post(
        f"/api/v1/brands/{world.brand_id}/segments",
        headers={"Authorization": f"Bearer {key}", "X-Request-Id": "write-one"},
        json=SEED_SEGMENT,
    )
    assert response.status_code == 201, response.text
    spans = spans_of(exporter, "write-one")
    request = next(s for s in spans if s.kind is SpanKind.SERVER)
    assert request.name == "POST /api/v1/brands/{brand_id}/segments"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/api/v1/brands/{brand_id}/segments"
    assert request.attributes["http.response.status_code"] == 201
    writes = [s for s in spans if s.name == "store.write"]
    assert len(writes) == 1
    assert writes[0].kind is SpanKind.CLIENT
    # Under the request, through FastAPI's worker thread.
    ancestors = {span_id(s): parent_of(s) for s in spans}
    node: int | None = span_id(writes[0])
    while ancestors.get(node) is not None:  # type: ignore[arg-type]
        node = ancestors[node]  # type: ignore[index]
    assert node == span_id(request)


def test_the_servers_background_rounds_are_not_traced(
    traced: TestClient, exporter: InMemorySpanExporter, service: Service, world: World
) -> None:
    """The change feed's poll and the key usage flush run outside requests: no trace of them
    buries the requests' (they run four times a second)."""
    assert traced.post(PATH, json=world.body()).status_code == 200  # a use to flush
    exporter.clear()
    service.follow_changes()
    assert service.flush_usage() == 1
    assert exporter.get_finished_spans() == ()


def test_an_incoming_traceparent_is_the_request_span_parent(
    traced: TestClient, exporter: InMemorySpanExporter, world: World
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traced.post(
        PATH,
        json=world.body(),
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "X-Request-Id": "joined"},
    )
    request = next(s for s in spans_of(exporter, "joined") if s.kind is SpanKind.SERVER)
    assert request.context is not None and request.parent is not None
    assert request.context.trace_id == int(trace_id, 16)
    assert request.parent.span_id == int(parent_id, 16)


def test_a_database_away_marks_the_request_and_read_spans(
    unreachable_database_url: str, exporter: InMemorySpanExporter
) -> None:
    store = Store(unreachable_database_url)
    settings = Settings(database_url=unreachable_database_url, log_level="CRITICAL")
    app = create_app(settings, Service(store), Tracing.to_exporter(exporter))
    body = {"api_key": keys.generate_key(), "org_id": "org_x", "brand_id": "brand_x"}
    with TestClient(app) as client:
        answer = client.post(PATH, json=body, headers={"X-Request-Id": "db-away"})
    store.dispose()
    assert answer.status_code == 503
    spans = by_name(spans_of(exporter, "db-away"))
    request = spans["POST /apis/public/fetchAudiences.php"]
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes is not None and request.attributes["error.type"] == "503"
    read = spans["SELECT api_keys"]
    assert read.status.status_code is StatusCode.ERROR
    assert [event.name for event in read.events] == ["exception"]


def test_tracing_off_loads_no_opentelemetry_sdk_and_makes_no_span(database_url: str) -> None:
    """The default app: not a TracedApp, and after requests of every kind (public, warm and
    cold, a v1 write, an ops route) OpenTelemetry's SDK was never imported (FastAPI loads
    the API, a no-op without a provider), so no provider was installed and no span made."""
    code = f"""
import json, sys
from starlette.testclient import TestClient
from zyntro import keys
from zyntro.api.app import ZyntroApp, create_app
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store
from zyntro.store import Store

service = Service(Store({database_url!r}))
org = service.create_org(SYSTEM, "Org")
brand = service.create_brand(SYSTEM, org.id, "Brand")
lead = service.add_member(SYSTEM, org.id, "lead@example.com", "Lead", Role.IN_CHARGE)
key = service.create_key(SYSTEM, lead.id, "lead key")[1]
segment = {SEED_SEGMENT!r}
service.add_segment(service.act_as(lead.id), brand.id, segment)
app = create_app(Settings(database_url={database_url!r}, log_level="WARNING"), service)
assert type(app) is ZyntroApp, type(app)
body = {{"api_key": key, "org_id": org.id, "brand_id": brand.id}}
statuses = []
with TestClient(app) as client:
    for _ in range(2):  # cold, then warm
        statuses.append(client.post("{PATH}", json=body).status_code)
    statuses.append(client.post(
        "/api/v1/brands/" + brand.id + "/segments",
        headers={{"Authorization": "Bearer " + key}}, json=segment,
    ).status_code)
    statuses.append(client.get("/healthz").status_code)
from opentelemetry import trace
sdk = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exp")))
print(json.dumps([statuses, sdk, type(trace.get_tracer_provider()).__name__]))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ZYNTRO_"))}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    statuses, loaded, provider = json.loads(result.stdout.splitlines()[-1])
    assert statuses == [200, 200, 201, 200]
    assert loaded == []
    assert provider == "ProxyTracerProvider"  # the API's placeholder: nothing installed


def test_tracing_off_in_process_leaves_the_global_provider_alone(
    client: TestClient, world: World
) -> None:
    assert type(client.app) is ZyntroApp
    assert client.post(PATH, json=world.body()).status_code == 200
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"ZYNTRO_OTEL": "true"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"ZYNTRO_OTEL": "true", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_what_turns_tracing_on(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], wanted: bool
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_") or name == "ZYNTRO_OTEL":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().tracing_wanted is wanted


# --- `zyntro serve` (RSGI) exporting to a real OTLP/HTTP receiver --------------------------


class _Receiver(BaseHTTPRequestHandler):
    spans: list[tuple[dict[str, Any], Any]]  # (resource attributes, span)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((resource, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[dict[str, Any], Any]]]]:
    received: list[tuple[dict[str, Any], Any]] = []
    handler = type("Receiver", (_Receiver,), {"spans": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _attributes(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = (
            value.int_value if value.HasField("int_value") else value.string_value
        )
    return values


@pytest.mark.slow
def test_the_served_app_exports_its_spans_over_otlp(
    database_url: str,
    world: World,
    otlp_receiver: tuple[str, list[tuple[dict[str, Any], Any]]],
) -> None:
    endpoint, received = otlp_receiver
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    with live_server(database_url, env=env) as base_url:
        answer = httpx.post(
            base_url + PATH, json=world.body(), headers={"X-Request-Id": "over-rsgi"}
        )
        assert answer.status_code == 200

        def exported() -> list[Any]:
            return [s for _r, s in received if _attributes(s).get(REQUEST_ID) == "over-rsgi"]

        wait_for(lambda: exported(), timeout=10)
        (request,) = exported()
        resource = next(r for r, s in received if s is request)
        assert resource["service.name"] == "zyntro"
        assert request.name == "POST /apis/public/fetchAudiences.php"
        attributes = _attributes(request)
        assert attributes["http.route"] == PATH
        assert attributes["http.response.status_code"] == 200
        assert attributes["client.address"] == "127.0.0.1"
        wait_for(lambda: any(s.name == "SELECT api_keys" for _r, s in received), timeout=10)
        children = {s.name for _r, s in received if s.trace_id == request.trace_id}
        assert {"cache miss api_key", "SELECT api_keys", "SELECT brands"} <= children

        # A framework route over RSGI: FastAPI's span, with the request id.
        assert httpx.get(base_url + "/healthz", headers={"X-Request-Id": "ops"}).is_success
        wait_for(lambda: any(_attributes(s).get(REQUEST_ID) == "ops" for _r, s in received), 10)
        (health,) = [s for _r, s in received if _attributes(s).get(REQUEST_ID) == "ops"]
        assert health.name == "GET /healthz"
        assert _attributes(health)["http.response.status_code"] == 200
