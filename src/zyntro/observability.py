"""Request ids, the one structured log line per request, and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
access_log = logging.getLogger("zyntro.access")
log = logging.getLogger("zyntro")


def request_id_from(header: bytes | None) -> str:
    """The caller's X-Request-Id when it is 1-128 safe characters, else a new one."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header.decode("ascii")
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object a line; request fields come in through `extra`."""

    _FIELDS = ("method", "path", "status", "duration_ms", "request_id")

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in self._FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
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


class Metrics:
    """Request counts and latency by route template and status: no ids or keys in labels."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zyntro_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "zyntro_request_duration_seconds",
            "HTTP request latency by route template",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
