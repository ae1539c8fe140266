"""The OpenAPI document (with the public endpoint, which bypasses FastAPI's router for speed)
and its UI at /docs, served whole from the package."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from zyntro.api.public import PATH
from zyntro.api.schemas import (
    AudienceSegment,
    ErrorBody,
    FetchAudiencesRequest,
    FetchAudiencesSuccess,
)

# (status, code, when) in docs/api.md's order.
PUBLIC_ERRORS: tuple[tuple[int, str, str], ...] = (
    (405, "method_not_allowed", "Any method but POST (`Allow: POST` is sent)."),
    (413, "payload_too_large", "The body is over 16 KiB."),
    (408, "request_timeout", "The body did not arrive within ZYNTRO_BODY_TIMEOUT_SECONDS."),
    (415, "unsupported_media_type", "A content type other than JSON, form or multipart."),
    (400, "invalid_json", "JSON that does not parse, or is not an object."),
    (400, "missing_parameter", "api_key, org_id or brand_id absent or empty."),
    (400, "invalid_parameter", "A value that is not a string, or over 256 characters."),
    (400, "invalid_request", "Header and body keys differ, or an unreadable form body."),
    (401, "invalid_api_key", "Unknown, malformed, revoked or expired key, or deactivated member."),
    (403, "ip_not_allowed", "A valid key with an IP allowlist, sent from another address."),
    (403, "insufficient_scope", "A valid key without the scope audiences:read."),
    (403, "org_mismatch", "A valid key, but org_id is not the key's organization."),
    (404, "brand_not_found", "No such brand in the key's organization, or outside its limits."),
    (404, "no_segments", "The brand has no segments."),
    (429, "rate_limited", "Over the key's rate limit; `Retry-After` is set."),
    (500, "internal_error", "Anything unexpected."),
    (503, "service_unavailable", "The database cannot be reached; `Retry-After` is set."),
)

_REF = "#/components/schemas/{model}"

DOCS_PATH = "/docs"
DOCS_ASSETS_PATH = "/docs/assets"
# Swagger UI's files come from the fastapi-offline distribution (its version pinned by uv.lock,
# so they change only with the lock); the script that starts it is ours (swagger/).
_SWAGGER_UI = ("fastapi_offline", "static")
_OWN_ASSETS = Path(__file__).with_name("swagger")
_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zyntro Audiences · API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""


def _ref(model: type[Any]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _example(model: type[Any]) -> Any:
    extra = model.model_config.get("json_schema_extra")
    return extra.get("example") if isinstance(extra, dict) else None


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, code, when in PUBLIC_ERRORS:
        entry = responses.setdefault(
            str(status),
            {
                "description": "",
                "content": {"application/json": {"schema": _ref(ErrorBody), "examples": {}}},
            },
        )
        entry["description"] = (entry["description"] + " " if entry["description"] else "") + (
            f"`{code}`: {when}"
        )
        entry["content"]["application/json"]["examples"][code] = {
            "value": {"status": "error", "message": when, "code": code}
        }
    return responses


def public_path_item() -> dict[str, Any]:
    body_schema = _ref(FetchAudiencesRequest)
    return {
        "post": {
            "tags": ["public"],
            "summary": "Fetch the audience segments of a brand",
            "operationId": "fetchAudiences",
            "description": (
                "Returns every audience segment of the brand, ordered by `created_at` then "
                "`segment_id`. The key may also come in `Authorization: Bearer <key>` or "
                "`X-API-Key`. Every response carries `Cache-Control: no-store` and "
                "`X-Request-Id`. Checks run in the order of the error list."
            ),
            "parameters": [
                {
                    "name": "X-API-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
                {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 128},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": body_schema},
                    "application/x-www-form-urlencoded": {"schema": body_schema},
                    "multipart/form-data": {"schema": body_schema},
                },
            },
            "responses": {
                "200": {
                    "description": "The brand's segments.",
                    "content": {
                        "application/json": {
                            "schema": _ref(FetchAudiencesSuccess),
                            # Here, not only in the schema: pydantic sorts the keys of a
                            # schema's example, and the seed's field order is part of the API.
                            "example": _example(FetchAudiencesSuccess),
                        }
                    },
                },
                **_error_responses(),
            },
        }
    }


def install(app: FastAPI) -> None:
    """Make `app.openapi()` include the public endpoint and its schemas; serve Swagger UI on
    /docs from the package (FastAPI's own /docs and /redoc load theirs from CDNs; the app is
    created without them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("paths", {})[PATH] = public_path_item()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (FetchAudiencesRequest, AudienceSegment, FetchAudiencesSuccess, ErrorBody):
            definition = model.model_json_schema(ref_template=_REF)
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    page = _DOCS_PAGE.format(
        assets=DOCS_ASSETS_PATH, openapi_url=html.escape(app.openapi_url or "")
    )

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.mount(
        DOCS_ASSETS_PATH,
        StaticFiles(directory=_OWN_ASSETS, packages=[_SWAGGER_UI]),
        name="docs-assets",
    )
