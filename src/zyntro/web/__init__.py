"""The account dashboard under `/app`: server-rendered pages, htmx served from the package."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from zyntro.web import (
    auth,
    brand_profile,
    brands,
    drafts,
    history,
    keys,
    members,
    segments,
    two_factor,
)
from zyntro.web.templating import STATIC

STATIC_PATH = "/app/static"

router = APIRouter()
for _module in (auth, brands, segments, history, keys, members, two_factor, drafts, brand_profile):
    router.include_router(_module.router)


def static_files() -> StaticFiles:
    """htmx, the stylesheet and the small script of the dashboard; no CDN, no build step."""
    return StaticFiles(directory=STATIC)


__all__ = ["STATIC_PATH", "router", "static_files"]
