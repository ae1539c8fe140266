"""Operations endpoints: liveness, readiness, metrics (docs/api.md, "Operations")."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import PlainTextResponse, Response

from zyntro.errors import ServiceUnavailable
from zyntro.observability import log
from zyntro.responses import JSON_TYPE

router = APIRouter(tags=["operations"])

_OK = b'{"status":"ok"}'


@router.head("/healthz", include_in_schema=False)  # probes that send HEAD (no body)
@router.get("/healthz", summary="Liveness: 200 while the process runs")
async def healthz() -> Response:
    return Response(_OK, media_type=JSON_TYPE)


@router.get(
    "/readyz",
    summary="Readiness: 200 when the database answers, else 503",
    responses={503: {"description": "The database cannot be reached"}},
)
async def readyz(request: Request) -> Response:
    try:
        await anyio.to_thread.run_sync(request.app.state.service.store.ping)
    except Exception as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        raise ServiceUnavailable() from None
    return Response(_OK, media_type=JSON_TYPE)


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
