"""The app with OpenTelemetry traces (zyntro.tracing): chosen once, by `create_app`.

`ZyntroApp` itself holds no tracing code, so with tracing off a request runs exactly what it
ran before traces existed. `TracedApp` wraps each request of the public endpoint in its
SERVER span, named once the request is answered (`_done`, which runs inside it). The other
routes are FastAPI's: its own instrumentation, given this app's tracer provider, makes their
SERVER span (with the full route template) and spans for their dependencies, endpoint and
serialization; the request id reaches that span through the context (`Tracing.framework`).
"""

from __future__ import annotations

from typing import Any

from fastapi.telemetry import TelemetryConfig
from starlette.types import Receive, Scope, Send

from zyntro.api.app import ZyntroApp
from zyntro.api.public import PATH
from zyntro.api.public_request import decode_headers, rsgi_address
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.tracing import Tracing


class TracedApp(ZyntroApp):
    """`ZyntroApp`, each request in a span; its database reads and writes and its public
    endpoint's cache misses in spans of their own."""

    def __init__(self, service: Service, settings: Settings, tracing: Tracing) -> None:
        self.tracing = tracing  # before the app is built: framework_telemetry reads it
        super().__init__(service, settings)
        tracing.instrument(service)
        self.public.trace(tracing)
        if self.deliverer is not None:  # each webhook attempt in a client span
            self.deliverer.trace = tracing.webhook_delivery
        self.closing.append(tracing.shutdown)

    def framework_telemetry(self) -> TelemetryConfig:
        # Traces only: the metrics stay Prometheus' (/metrics), the logs the app's own.
        return {"tracer_provider": self.tracing.provider, "metrics": False, "logs": False}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await super().__call__(scope, receive, send)
            return
        client = scope.get("client")
        with self.tracing.request(
            scope["method"],
            scope["path"],
            scope.get("scheme", "http"),
            str(client[0]) if client else None,
            scope.get("http_version", "1.1"),
            dict(decode_headers(scope["headers"])),
        ):
            await super().__call__(scope, receive, send)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http" or scope.path != PATH:
            await super().__rsgi__(scope, protocol)
            return
        client = rsgi_address(scope.client)
        with self.tracing.request(
            scope.method,
            scope.path,
            scope.scheme,
            client[0] if client else None,
            scope.http_version,
            dict(scope.headers.items()),
        ):
            await super().__rsgi__(scope, protocol)

    async def _framework(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> int:
        with self.tracing.framework(request_id):
            return await super()._framework(scope, receive, send, request_id)

    def _done(
        self, route: str, method: str, path: str, status: int, started: float, request_id: str
    ) -> None:
        super()._done(route, method, path, status, started, request_id)
        if path == PATH:  # the span is this app's own (the framework names its own)
            self.tracing.end_request(route, method, status, request_id)
