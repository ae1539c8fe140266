"""Every error from a FastAPI route leaves in the one error body (docs/api.md, "Errors")."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from zyntro.errors import ServiceUnavailable, ZyntroError
from zyntro.observability import log
from zyntro.responses import JSON_TYPE, body_for, error_body
from zyntro.wording import request_error

WWW_AUTHENTICATE = 'Bearer realm="zyntro"'

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


async def _zyntro_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZyntroError)
    headers = None
    if exc.status in (429, 503):  # the error's own wait when it has one (errors.Retryable)
        headers = {"Retry-After": str(getattr(exc, "retry_after", 5))}
    if exc.status == 401:  # RFC 9110: a 401 names the scheme that authenticates
        headers = {"WWW-Authenticate": WWW_AUTHENTICATE}
    return error_response(exc.status, body_for(exc), headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, ZyntroError):
        # FastAPI turns any failure to read a route's body into a 400; when the failure was a
        # body limit (api/body.py: too large, too slow), that limit is the answer.
        return await _zyntro_error(request, exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    return error_response(exc.status_code, error_body(code, message), exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # In the public endpoint's voice, naming the field (wording.py), never pydantic's words.
    errors = exc.errors()
    message = request_error(errors[0]) if errors else "The request is invalid."
    return error_response(400, error_body("invalid_request", message))


REQUEST_ID = "zyntro.request_id"  # the scope key ZyntroApp puts the request id under


def user_error(exc: Exception, request_id: str | None = None) -> ZyntroError:
    """What a user is told of any failure, logged once: our own errors as raised; the
    database away as 503; anything else as 500, its details in the log only."""
    if isinstance(exc, ZyntroError):
        return exc
    extra = {"request_id": request_id} if request_id is not None else None
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        log.warning("database unavailable: %s", type(exc).__name__, extra=extra)
        return ServiceUnavailable()
    log.error("unexpected error", exc_info=exc, extra=extra)
    return ZyntroError()


async def _other_error(request: Request, exc: Exception) -> Response:
    return await _zyntro_error(request, user_error(exc, request.scope.get(REQUEST_ID)))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ZyntroError, _zyntro_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _other_error)
    app.add_exception_handler(Exception, _other_error)
