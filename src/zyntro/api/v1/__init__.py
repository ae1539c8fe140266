"""The management API, version 1: `Authorization: Bearer <key>`, roles checked by the service."""

from __future__ import annotations

from fastapi import APIRouter

from zyntro.api.v1 import brands, drafts, events, history, segments

router = APIRouter(prefix="/api/v1", tags=["management API v1"])
router.include_router(brands.router)
router.include_router(drafts.router)  # before segments: .../segments/draft is no segment id
router.include_router(segments.router)
router.include_router(history.router)
router.include_router(events.router)

__all__ = ["router"]
