"""`/api/v1/brands`: the brands of the key's organization; a brand's name and profile."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from zyntro.access import Scope
from zyntro.api.deps import service_of
from zyntro.api.v1.auth import LimitedRoute, requires
from zyntro.api.v1.http import conditional_json, json_response
from zyntro.api.v1.models import (
    BODY_WRITE_ERRORS,
    ERRORS,
    BrandList,
    BrandOne,
    BrandPublic,
    BrandUpdate,
)
from zyntro.domain import validate_brand_profile, validate_name
from zyntro.errors import ValidationFailed
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


@router.patch(
    "/brands/{brand_id}",
    response_model=BrandOne,
    responses=BODY_WRITE_ERRORS,
    summary="Rename a brand or change its profile (owner or member in-charge)",
)
def update_brand(
    brand_id: str,
    body: BrandUpdate,
    request: Request,
    actor: Actor = requires(Scope.SEGMENTS_WRITE),
) -> Response:
    """Fields left out keep their values. The profile (what the brand sells, to whom, its
    voice) is what drafting shows the model (docs/ai.md)."""
    if body.name is None and body.profile is None:
        raise ValidationFailed("body", "must have name, profile, or both")
    service = service_of(request)
    brand = service.get_brand(actor, brand_id)
    parts = body.profile.model_dump(exclude_unset=True) if body.profile is not None else {}
    validate_brand_profile(parts)  # both checked before either is written
    if body.name is not None:
        validate_name("name", body.name)
    if parts:
        brand = service.set_brand_profile(actor, brand.id, parts)
    if body.name is not None:
        brand = service.rename_brand(actor, brand.id, body.name)
    return json_response({"status": "success", "data": BrandPublic.of(brand)})
