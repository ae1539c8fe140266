"""The SDK's exceptions: one root, split into configuration, transport and API (status) errors.

`zyntro.client.ZyntroError` is the SDK's root and is unrelated to the server-side
`zyntro.errors.ZyntroError`: catch this one around client calls.
"""

from __future__ import annotations

from typing import ClassVar


class ZyntroError(Exception):
    """Root of every error the Zyntro SDK raises."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class ConfigurationError(ZyntroError, ValueError):
    """The client cannot be built: a missing API key or org id, or an invalid setting."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(message)


class TransportError(ZyntroError):
    """The request did not get an HTTP answer (DNS, connect, TLS, timeout, broken connection).

    The httpx exception is the `__cause__`. There is no status code: no response arrived.
    """


class APIError(ZyntroError):
    """The API answered with an error; unknown codes are raised as this class itself."""

    error_code: ClassVar[str | None] = None  # the API's error code a subclass stands for

    def __init__(
        self, message: str, *, status_code: int, code: str, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        rid = f", request_id={self.request_id}" if self.request_id else ""
        return f"{self.message} (HTTP {self.status_code}, code={self.code}{rid})"


class MethodNotAllowed(APIError):
    error_code = "method_not_allowed"


class PayloadTooLarge(APIError):
    error_code = "payload_too_large"


class RequestTimeout(APIError):
    """The request body did not reach the server in time (a stalled network)."""

    error_code = "request_timeout"


class UnsupportedMediaType(APIError):
    error_code = "unsupported_media_type"


class InvalidJson(APIError):
    error_code = "invalid_json"


class MissingParameter(APIError):
    error_code = "missing_parameter"


class InvalidParameter(APIError):
    error_code = "invalid_parameter"


class InvalidRequest(APIError):
    error_code = "invalid_request"


class InvalidApiKey(APIError):
    error_code = "invalid_api_key"


class OrgMismatch(APIError):
    error_code = "org_mismatch"


class BrandNotFound(APIError):
    error_code = "brand_not_found"


class NoSegments(APIError):
    """The brand has no segments. `fetch_audiences` returns `[]` instead of raising this."""

    error_code = "no_segments"


class _RetryableError(APIError):
    """An answer that says "try again later", with the server's `Retry-After` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, request_id=request_id)
        self.retry_after = retry_after


class RateLimited(_RetryableError):
    error_code = "rate_limited"


class InternalError(APIError):
    error_code = "internal_error"


class ServiceUnavailable(_RetryableError):
    error_code = "service_unavailable"


class UnexpectedResponse(APIError):
    """A response that is not the Zyntro API's JSON (a proxy's page, a wrong base_url)."""

    error_code = "unexpected_response"


class Forbidden(APIError):
    """Management API: the key's member may not do this (only owners and members in-charge
    change segments)."""

    error_code = "forbidden"


class NotFound(APIError):
    """Management API: no such segment (in this brand of your organization)."""

    error_code = "not_found"


class Conflict(APIError):
    """Management API: the Idempotency-Key was already used with a different request."""

    error_code = "conflict"


class DraftingNotConfigured(APIError):
    """Management API: the server has no AI provider, so it cannot draft (HTTP 501)."""

    error_code = "drafting_not_configured"


class DraftingUnavailable(_RetryableError):
    """Management API: the server's AI provider timed out, is busy or failing (HTTP 503)."""

    error_code = "drafting_unavailable"


class DraftingFailed(APIError):
    """Management API: the AI provider's answer was unusable, even after one repair (502)."""

    error_code = "drafting_failed"


def _classes_by_code() -> dict[str, type[APIError]]:
    found: dict[str, type[APIError]] = {}
    pending: list[type[APIError]] = [APIError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.error_code is not None and "error_code" in vars(cls):
            found[cls.error_code] = cls
    return found


_BY_CODE: dict[str, type[APIError]] = _classes_by_code()


def _class_for(code: str) -> type[APIError]:
    """The exception class of an error `code`; an unknown code is a plain `APIError`."""
    return _BY_CODE.get(code, APIError)
