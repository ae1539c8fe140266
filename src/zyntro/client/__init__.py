"""The Python SDK for the Zyntro Audiences API: `ZyntroClient` and `AsyncZyntroClient`.

See docs/sdk.md for construction, errors, retries and the async client.
"""

from zyntro.client._async import AsyncZyntroClient
from zyntro.client._base import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    FETCH_AUDIENCES_PATH,
    USER_AGENT,
    V1_PATH,
)
from zyntro.client._sync import ZyntroClient
from zyntro.client.errors import (
    APIError,
    BrandNotFound,
    ConfigurationError,
    Conflict,
    Forbidden,
    InternalError,
    InvalidApiKey,
    InvalidJson,
    InvalidParameter,
    InvalidRequest,
    MethodNotAllowed,
    MissingParameter,
    NoSegments,
    NotFound,
    OrgMismatch,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    TransportError,
    UnexpectedResponse,
    UnsupportedMediaType,
    ZyntroError,
)
from zyntro.client.models import AudienceSegment, AudiencesResponse, Brand, SegmentPage

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "FETCH_AUDIENCES_PATH",
    "USER_AGENT",
    "V1_PATH",
    "APIError",
    "AsyncZyntroClient",
    "AudienceSegment",
    "AudiencesResponse",
    "Brand",
    "BrandNotFound",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidApiKey",
    "InvalidJson",
    "InvalidParameter",
    "InvalidRequest",
    "MethodNotAllowed",
    "MissingParameter",
    "NoSegments",
    "NotFound",
    "OrgMismatch",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "SegmentPage",
    "ServiceUnavailable",
    "TransportError",
    "UnexpectedResponse",
    "UnsupportedMediaType",
    "ZyntroClient",
    "ZyntroError",
]
