"""`GET /api/v1/brands`: the brands of the key's organization."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.http import conditional_json
from zyntro.api.v1.models import ERRORS, BrandList, BrandOne, BrandPublic
from zyntro.service import Actor

router = APIRouter(route_class=LimitedRoute)


@router.get(
    "/brands",
    response_model=BrandList,
    responses=ERRORS,
    summary="List the brands of your organization",
)
def list_brands(request: Request, actor: Actor = requires(Scope.SEGMENTS_READ)) -> Response:
    assert actor.org_id is not None
    brands = service_of(request).list_brands(actor, actor.org_id)
    return conditional_json(
        request, {"status": "success", "data": [BrandPublic.of(b) for b in brands]}
    )


@router.get(
    "/brands/{brand_id}", response_model=BrandOne, responses=ERRORS, summary="Get one brand"
)
def get_brand(
    brand_id: str, request: Request, actor: Actor = requires(Scope.SEGMENTS_READ)
) -> Response:
    brand = service_of(request).get_brand(actor, brand_id)
    return conditional_json(request, {"status": "success", "data": BrandPublic.of(brand)})
