"""`Authorization: Bearer <key>`: the member a management API request acts for.

A key's requests count against the public endpoint's limits: the same `RateLimits` (the one
`ZyntroApp` builds), so the same quota per key and the same invalid-key count per client
address whichever surface a request reaches (docs/api-v1.md, "Rate limits").
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Message, Receive, Scope, Send

from zyntro.api.deps import service_of
from zyntro.api.public_request import encode_headers
from zyntro.errors import InvalidApiKey, InvalidRequest, RateLimited
from zyntro.identity import Principal
from zyntro.ratelimit import Headers, RateLimits
from zyntro.service import Actor

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="zk_…",
    description="An API key from Me > API Keys, as `Authorization: Bearer <key>`.",
)

_Credentials = Depends(_bearer)
# The scope entry holding the RateLimit headers of this request's answer.
_RATE = "zyntro.ratelimit"
# The scope entry holding the key's principal (the MCP tools read it: agents/http.py).
PRINCIPAL = "zyntro.principal"


class MissingApiKey(InvalidApiKey):
    default_message = "Send your API key in the Authorization header: Bearer <key>."


class LimitedRoute(APIRoute):
    """A route whose every answer, errors included, carries the RateLimit headers."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_limits(message: Message) -> None:
            rate: Headers | None = scope.get(_RATE)
            if message["type"] == "http.response.start" and rate:
                names = {name.encode("latin-1") for name, _value in rate}
                kept = [h for h in message.get("headers", ()) if bytes(h[0]).lower() not in names]
                message["headers"] = [*kept, *encode_headers(rate)]  # the limiter's Retry-After
            await send(message)

        await super().handle(scope, receive, send_with_limits)


def _limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.limits
    return limits


def _client(request: Request) -> str:
    # The host alone, as the public endpoint keys its per-address count.
    return request.client.host if request.client else "unknown"


async def key_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None = _Credentials
) -> Actor:
    """The key's member; one `invalid_api_key` error for every way a key can be wrong."""
    limits = _limits_of(request)
    request.scope[_RATE] = limits.untouched
    if len(set(request.headers.getlist("authorization"))) > 1:
        raise InvalidRequest("The Authorization header is repeated with different values.")
    if credentials is None or not credentials.credentials:
        raise MissingApiKey()
    principal = await _principal(request, limits, credentials.credentials)
    request.scope[PRINCIPAL] = principal
    # The key is valid: from here on it counts against its own limit.
    allowed, request.scope[_RATE] = await limits.hit_key(principal.key_id)
    if not allowed:
        raise RateLimited()
    return principal.actor


async def _principal(request: Request, limits: RateLimits, api_key: str) -> Principal:
    """The key's principal, in the public endpoint's order: the cache, then (unless the
    address is over its invalid-key quota) the database; an invalid key counts against the
    address."""
    service = service_of(request)
    client = _client(request)
    try:
        principal = service.reader.cached_principal(api_key)
        if principal is None:
            blocked = limits.blocked(client)
            if blocked is not None:  # spare the database
                request.scope[_RATE] = blocked
                raise RateLimited()
            principal = await anyio.to_thread.run_sync(service.principal_for_key, api_key)
    except InvalidApiKey:
        allowed, request.scope[_RATE] = await limits.hit_invalid_key(client)
        if not allowed:
            raise RateLimited() from None
        raise
    return principal


KeyActor = Depends(key_actor)
