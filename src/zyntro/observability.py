"""Request ids, the one structured log line per request, and Prometheus metrics.

The access log and the request metrics sit on the hot path of the public endpoint, so they
avoid the `logging` machinery and prometheus-client's per-call label lookups: lines are
encoded with orjson and written in batches; counts are plain dict increments that a custom
collector turns into metric families when /metrics is scraped.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
log = logging.getLogger("zyntro")

# Request ids: random per process, then a counter: unique, and cheaper than a uuid4 each.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is 1-128 safe characters, else a new one."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for the application's own (non-access) log records."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if "request_id" in record.__dict__:
            line["request_id"] = record.__dict__["request_id"]
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("zyntro")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class AccessLog:
    """One JSON line per request (never a key, a body or a query string), written in batches.

    Lines wait at most `FLUSH_SECONDS` (the app flushes on a timer and at shutdown) or until
    `BATCH` of them are pending. They gather in one growing buffer: keeping each line as its
    own bytes object until the flush cost several µs a request, as the allocator handed the
    freed batch back to the system and faulted it in again (measured; docs/performance.md).
    """

    BATCH = 256
    FLUSH_SECONDS = 0.2

    def __init__(self, level: str, stream: IO[bytes] | None = None) -> None:
        self.enabled = logging.getLevelName(level.upper()) <= logging.INFO
        self.stream = stream
        self._buffer = bytearray()
        self._count = 0
        self._lock = threading.Lock()
        self._second = -1
        self._stamp = ""

    def _timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:  # formatting a time costs more than the rest of the line
            self._second = now
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
        return self._stamp

    def request(self, method: str, path: str, status: int, seconds: float, request_id: str) -> None:
        if not self.enabled:
            return
        self._buffer += orjson.dumps(
            {
                "ts": self._timestamp(),
                "level": "info",
                "logger": "zyntro.access",
                "msg": "request",
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": int(seconds * 1_000_000) / 1000,  # to the µs, cheaper than round
                "request_id": request_id,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self._count += 1
        if self._count >= self.BATCH:
            self.flush()

    def agent_call(
        self,
        method: str,
        target: str,
        status: int,
        seconds: float,
        request_id: str,
        transport: str,
    ) -> None:
        """One line per MCP tool call or resource read (docs/ai.md): the tool's name or the
        resource's URI, never its arguments; `status` as an HTTP status of the same outcome."""
        if not self.enabled:
            return
        self._buffer += orjson.dumps(
            {
                "ts": self._timestamp(),
                "level": "info",
                "logger": "zyntro.access",
                "msg": "mcp",
                "mcp_method": method,
                "target": target,
                "transport": transport,
                "status": status,
                "duration_ms": int(seconds * 1_000_000) / 1000,
                "request_id": request_id,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self._count += 1
        if self._count >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._buffer, self._count = self._buffer, bytearray(), 0
        if pending:
            stream = self.stream or sys.stderr.buffer
            stream.write(pending)
            stream.flush()


_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Label values come from closed sets, whatever a client sends: these methods or OTHER, a route
# template of the app or UNMATCHED (a series costs memory for the life of the process).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
OTHER = "other"
UNMATCHED = "unmatched"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


class Metrics(Collector):
    """Request counts and latency by route template, method and status: no ids or keys in
    labels, and no label value a client can invent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counts: dict[tuple[str, str, int], int] = {}
        # route -> [count per bucket (+Inf last), sum of seconds]
        self._latency: dict[str, tuple[list[int], list[float]]] = {}
        self.registry.register(self)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """`route`: a template of the app's routes, or UNMATCHED."""
        key = (route, method if method in METHODS else OTHER, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        entry = self._latency.get(route)
        if entry is None:
            entry = self._latency[route] = ([0] * (len(_BUCKETS) + 1), [0.0])
        entry[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
        entry[1][0] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "zyntro_requests",
            "HTTP requests by route template, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in list(self._counts.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "zyntro_request_duration_seconds",
            "HTTP request latency by route template",
            labels=["route"],
        )
        for route, (counts, total) in list(self._latency.items()):
            cumulative = list(itertools.accumulate(counts))
            buckets = [(str(b), c) for b, c in zip(_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", cumulative[-1]))
            latency.add_metric([route], buckets, total[0])
        yield latency
