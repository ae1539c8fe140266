"""Domain exceptions. Each carries its HTTP status and machine code; one place renders them."""

from __future__ import annotations

from typing import ClassVar, TypeVar

T = TypeVar("T")


class ZyntroError(Exception):
    """Root of every error the service reports to a user."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "An unexpected error occurred. Please try again later."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class MethodNotAllowed(ZyntroError):
    code = "method_not_allowed"
    status = 405
    default_message = "This endpoint only accepts POST requests."


class PayloadTooLarge(ZyntroError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is larger than 16 KiB."


class RequestTimeout(ZyntroError):
    code = "request_timeout"
    status = 408
    default_message = "The request body did not arrive in time."


class UnsupportedMediaType(ZyntroError):
    code = "unsupported_media_type"
    status = 415
    default_message = (
        "Send the request body as application/json, "
        "application/x-www-form-urlencoded or multipart/form-data."
    )


class InvalidJson(ZyntroError):
    code = "invalid_json"
    status = 400
    default_message = "The request body is not a valid JSON object."


class MissingParameter(ZyntroError):
    code = "missing_parameter"
    status = 400

    def __init__(self, name: str) -> None:
        self.parameter = name
        super().__init__(f"The parameter {name} is required.")


class InvalidParameter(ZyntroError):
    code = "invalid_parameter"
    status = 400

    def __init__(self, name: str, message: str | None = None) -> None:
        self.parameter = name
        super().__init__(
            message or f"The parameter {name} must be a string of at most 256 characters."
        )


class InvalidRequest(ZyntroError):
    code = "invalid_request"
    status = 400
    default_message = "The request is invalid."


class InvalidApiKey(ZyntroError):
    code = "invalid_api_key"
    status = 401
    # One message for unknown, malformed, revoked, expired and deactivated: no oracle.
    default_message = "The API key is invalid, revoked or expired."


class Forbidden(ZyntroError):
    code = "forbidden"
    status = 403
    default_message = "Your role does not allow this action."


class InsufficientScope(Forbidden):
    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"This API key does not have the scope {scope}.")


class IpNotAllowed(Forbidden):
    code = "ip_not_allowed"
    default_message = "This API key may not be used from your IP address."


class OrgMismatch(ZyntroError):
    code = "org_mismatch"
    status = 403
    default_message = "The org_id does not match the organization of this API key."


class NotFound(ZyntroError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class BrandNotFound(NotFound):
    code = "brand_not_found"
    default_message = "No brand with this brand_id exists in your organization."


class NoSegments(NotFound):
    code = "no_segments"
    default_message = (
        "No audience segments have been defined for your brand yet. "
        "You can ask your member in-charge to add audiences."
    )


class Conflict(ZyntroError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with existing data."


class SegmentLimitReached(Conflict):
    """A write would take a brand past `ZYNTRO_MAX_SEGMENTS_PER_BRAND` segments."""

    code = "segment_limit_reached"


class ValidationFailed(ZyntroError):
    """A value that breaks a domain rule (segment fields, names, ids).

    `reason` goes on from the field's name (`must be 1-200 characters long`): the dashboard
    shows it beside the field, the CLI after the option typed, and the message says it in a
    sentence like the public endpoint's (`The field segment_label must be …`). `subject`
    replaces `The field <field>` where that is not what the value is (`Row 3: the field …`)."""

    code = "invalid_parameter"
    status = 400

    def __init__(self, field: str, reason: str, subject: str | None = None) -> None:
        self.field = field
        self.reason = reason
        if subject is None:
            subject = "The request body" if field == "body" else f"The field {field}"
        super().__init__(f"{subject} {reason}.")


class RateLimited(ZyntroError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests. Please slow down and retry later."


class ServiceUnavailable(ZyntroError):
    code = "service_unavailable"
    status = 503
    default_message = "The service is temporarily unavailable. Please retry shortly."


class DraftingNotConfigured(ZyntroError):
    code = "drafting_not_configured"
    status = 501
    default_message = (
        "Drafting with AI is not set up on this server: an administrator sets "
        "ZYNTRO_LLM_BASE_URL and ZYNTRO_LLM_MODEL to turn it on."
    )


class Retryable(ZyntroError):
    """An error whose answer says when to try again (`Retry-After`, in seconds)."""

    def __init__(self, message: str | None = None, retry_after: int = 5) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


class DraftingUnavailable(Retryable):
    code = "drafting_unavailable"
    status = 503
    default_message = "The AI provider is not answering right now. Please try again shortly."


class DraftingRateLimited(Retryable):
    code = "rate_limited"
    status = 429
    default_message = "Too many drafts. Please wait before drafting again."


class DraftingFailed(ZyntroError):
    """The provider answered, but with nothing usable (after one repair), or refused."""

    code = "drafting_failed"
    status = 502
    default_message = "The AI provider did not return usable drafts. Please try again."


def unwrap(result: T | Exception) -> T:
    """One answer of a batch read: the value, or its error raised."""
    if isinstance(result, Exception):
        try:
            raise result
        finally:  # else this frame and the error's traceback hold each other until a full GC
            del result
    return result
