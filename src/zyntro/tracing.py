"""OpenTelemetry traces: a span per request, per database scope and read, per cache miss.

Off by default. `create_app` imports this module only when `settings.tracing_wanted` says
so (`OTEL_EXPORTER_OTLP_ENDPOINT` or `ZYNTRO_OTEL=true`): with tracing off nothing of
OpenTelemetry is loaded, and the request path is the very same code as without this module
(the app picks its traced handlers once, at start: `zyntro.api.traced.TracedApp`).

The spans (docs/operations.md, "Traces"):
- one SERVER span per request, `{method} {route}`, with HTTP's semantic-convention attributes
  and `zyntro.request_id`; a `traceparent` header sent by the caller is its parent;
- `cache miss api_key` / `cache miss brand` on the public endpoint's miss path, and under it
  `SELECT api_keys` / `SELECT brands`, the batch reads (`store/hot.py`);
- `store.read` / `store.write` around each transaction of the service (`Store.read/write`);
- `webhook_delivery`, a CLIENT span for the webhook deliveries to come (not used yet).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.semconv.attributes import (
    client_attributes,
    db_attributes,
    error_attributes,
    http_attributes,
    network_attributes,
    url_attributes,
)
from opentelemetry.trace import Span, SpanKind, StatusCode

from zyntro.identity import Principal
from zyntro.observability import METHODS, UNMATCHED
from zyntro.store.hot import BrandEntry, HotReader

if TYPE_CHECKING:
    from zyntro.service import Service

log = logging.getLogger("zyntro")

DEFAULT_SERVICE_NAME = "zyntro"
SCOPE = "zyntro"  # the instrumentation scope of every span made here
REQUEST_ID = "zyntro.request_id"
CACHE = "zyntro.cache"
WEBHOOK_EVENT = "zyntro.webhook.event"
_FRAMEWORK_REQUEST_ID: ContextVar[str | None] = ContextVar("zyntro_request_id", default=None)
_OTHER_METHOD = "_OTHER"  # HTTP semantic conventions: a method outside the known set

A = TypeVar("A")
R = TypeVar("R")


def service_resource() -> Resource:
    """The resource from `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`; the service is
    named `zyntro` unless they name it."""
    resource = Resource.create()
    name = resource.attributes.get(SERVICE_NAME)
    if not isinstance(name, str) or name.startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def exporters_from_environment() -> list[SpanExporter]:
    """`OTEL_TRACES_EXPORTER` (default `otlp`: OTLP over HTTP, configured by the standard
    `OTEL_EXPORTER_OTLP_*` variables), `console`, or `none`; comma-separated for several."""
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    exporters: list[SpanExporter] = []
    for name in (part.strip().lower() for part in chosen.split(",")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name not in ("none", ""):
            log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r ignored", name)
    return exporters


class Tracing:
    """A tracer provider of the app's own and the spans it makes.

    `install=True` (the server) also makes it OpenTelemetry's global provider, so that any
    other instrumented library in the process reports to the same place; tests leave the
    global alone.
    """

    def __init__(self, processors: Sequence[SpanProcessor], *, install: bool = False) -> None:
        # The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        self.provider = TracerProvider(resource=service_resource())
        self.provider.add_span_processor(_FrameworkSpans())  # first: before any export
        for processor in processors:
            self.provider.add_span_processor(processor)
        if install:
            trace.set_tracer_provider(self.provider)
        self.tracer = self.provider.get_tracer(SCOPE)

    @classmethod
    def from_environment(cls) -> Tracing:
        """As the standard OTEL_* variables say (batched export: `OTEL_BSP_*`)."""
        processors = [BatchSpanProcessor(exporter) for exporter in exporters_from_environment()]
        return cls(processors, install=True)

    @classmethod
    def to_exporter(cls, exporter: SpanExporter) -> Tracing:
        """Each span handed to `exporter` as it ends (tests: `InMemorySpanExporter`)."""
        return cls([SimpleSpanProcessor(exporter)])

    def shutdown(self) -> None:
        """Export what is pending, then stop (the app's lifespan ends)."""
        self.provider.shutdown()

    # --- requests ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        scheme: str,
        client: str | None,
        http_version: str,
        headers: Mapping[str, str],
    ) -> AbstractContextManager[Span]:
        """The SERVER span of one request; `end_request` names it once routed."""
        known = method in METHODS
        attributes: dict[str, str] = {
            http_attributes.HTTP_REQUEST_METHOD: method if known else _OTHER_METHOD,
            url_attributes.URL_PATH: path,  # never the query string: it may carry a key
            url_attributes.URL_SCHEME: scheme,
            network_attributes.NETWORK_PROTOCOL_VERSION: http_version,
        }
        if not known:
            attributes[http_attributes.HTTP_REQUEST_METHOD_ORIGINAL] = method[:20]
        if client:
            attributes[client_attributes.CLIENT_ADDRESS] = client
        return self.tracer.start_as_current_span(
            method if known else "HTTP",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes=attributes,
        )

    def end_request(self, route: str, method: str, status: int, request_id: str) -> None:
        """The current request span's route, status and request id (the app's `_done`)."""
        span = trace.get_current_span()
        known = method in METHODS
        name = method if known else "HTTP"
        if route != UNMATCHED:
            span.set_attribute(http_attributes.HTTP_ROUTE, route)
            name = f"{name} {route}"
        span.update_name(name)
        span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, status)
        span.set_attribute(REQUEST_ID, request_id)
        if status >= 500:  # a 4xx is the client's doing: the server span stays unset
            span.set_attribute(error_attributes.ERROR_TYPE, str(status))
            span.set_status(StatusCode.ERROR)

    @contextmanager
    def framework(self, request_id: str) -> Iterator[None]:
        """A request for FastAPI: its SERVER span gets the request id (`_FrameworkSpans`)."""
        token = _FRAMEWORK_REQUEST_ID.set(request_id)
        try:
            yield
        finally:
            _FRAMEWORK_REQUEST_ID.reset(token)

    # --- the public endpoint's cache misses and reads ------------------------------------

    def cache_miss(
        self, what: str, read: Callable[[A], Awaitable[R]]
    ) -> Callable[[A], Awaitable[R]]:
        """`read` (the endpoint's read of a miss) inside a `cache miss {what}` span. An error
        it raises for the request (an unknown key) is an answer, not a failure of the span;
        a database failure shows on the read's own span."""
        tracer = self.tracer
        name = f"cache miss {what}"
        attributes = {CACHE: what}

        async def traced(item: A) -> R:
            with tracer.start_as_current_span(
                name, attributes=attributes, record_exception=False, set_status_on_exception=False
            ):
                return await read(item)

        return traced

    def database(self, system: str) -> DatabaseSpans:
        return DatabaseSpans(self.tracer, system)

    def instrument(self, service: Service) -> None:
        """Spans around the service's transactions and the public endpoint's batch reads."""
        store = service.store
        spans = self.database(store.engine.dialect.name)
        store.spans = spans.scope
        service.reader.use_db(TracedHotReader(store.engine, spans))

    # --- webhooks (the hook for deliveries, which do not exist yet) ----------------------

    def webhook_delivery(
        self, url: str, event: str, attempt: int = 1
    ) -> AbstractContextManager[Span]:
        """A CLIENT span for one delivery attempt of a webhook: the delivery code wraps each
        POST in it (`with app.tracing.webhook_delivery(url, event, attempt):`) when the app
        traces. `url` without its query string or credentials."""
        return self.tracer.start_as_current_span(
            "POST",
            kind=SpanKind.CLIENT,
            attributes={
                http_attributes.HTTP_REQUEST_METHOD: "POST",
                url_attributes.URL_FULL: url,
                http_attributes.HTTP_REQUEST_RESEND_COUNT: attempt - 1,
                WEBHOOK_EVENT: event,
            },
        )


class _FrameworkSpans(SpanProcessor):
    """FastAPI's SERVER spans as this app's own: the request id, and no query string values
    (a caller may put a key there; the access log never writes one either)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if span.kind is not SpanKind.SERVER:  # type: ignore[attr-defined]
            return
        # FastAPI starts its span from the request's headers alone (a fresh OpenTelemetry
        # context), in the task that runs the request: a context variable reaches it.
        request_id = _FRAMEWORK_REQUEST_ID.get()
        if request_id is not None:
            span.set_attribute(REQUEST_ID, request_id)
        attributes = span.attributes  # type: ignore[attr-defined]
        query = attributes.get(url_attributes.URL_QUERY) if attributes else None
        if isinstance(query, str):
            names = [part.partition("=")[0] for part in query.split("&")]
            span.set_attribute(url_attributes.URL_QUERY, "&".join(f"{n}=REDACTED" for n in names))


class DatabaseSpans:
    """CLIENT spans of one database system (`sqlite`, `postgresql`)."""

    def __init__(self, tracer: trace.Tracer, system: str) -> None:
        self._tracer = tracer
        self._system = system

    @contextmanager
    def scope(self, kind: str) -> Iterator[None]:
        """`store.read` or `store.write`: one transaction of the service, statements included,
        within a request's trace. The server's own rounds outside requests (the change feed's
        poll four times a second, the key usage flush) would only bury the requests' traces."""
        if not trace.get_current_span().is_recording():
            yield
            return
        with self._tracer.start_as_current_span(
            f"store.{kind}",
            kind=SpanKind.CLIENT,
            attributes={db_attributes.DB_SYSTEM_NAME: self._system},
        ):
            yield

    def select(self, table: str, batch: int) -> AbstractContextManager[Span]:
        """One `SELECT ... WHERE ... IN (batch values)` of the public endpoint."""
        attributes: dict[str, str | int] = {
            db_attributes.DB_SYSTEM_NAME: self._system,
            db_attributes.DB_OPERATION_NAME: "SELECT",
            db_attributes.DB_COLLECTION_NAME: table,
        }
        if batch > 1:  # the conventions set it for batches only
            attributes[db_attributes.DB_OPERATION_BATCH_SIZE] = batch
        return self._tracer.start_as_current_span(
            f"SELECT {table}", kind=SpanKind.CLIENT, attributes=attributes
        )


class TracedHotReader(HotReader):
    """The public endpoint's batch reads, each in a span. On PostgreSQL the misses of
    concurrent requests are read together (api/coalesce.py): the span is a child of the
    request that started the batch."""

    def __init__(self, engine: sa.Engine, spans: DatabaseSpans) -> None:
        super().__init__(engine)
        self._spans = spans

    def principals(self, digests: list[str]) -> dict[str, Principal]:
        with self._spans.select("api_keys", len(digests)):
            return super().principals(digests)

    def brands(self, brand_ids: list[str]) -> dict[str, BrandEntry]:
        with self._spans.select("brands", len(brand_ids)):
            return super().brands(brand_ids)
