"""`Authorization: Bearer <key>`: the member a management API request acts for."""

from __future__ import annotations

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from zyntro.api.deps import service_of
from zyntro.errors import InvalidApiKey
from zyntro.service import Actor

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="zk_…",
    description="An API key from Me > API Keys, as `Authorization: Bearer <key>`.",
)


_Credentials = Depends(_bearer)


class MissingApiKey(InvalidApiKey):
    default_message = "Send your API key in the Authorization header: Bearer <key>."


async def key_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None = _Credentials
) -> Actor:
    """The key's member; one `invalid_api_key` error for every way a key can be wrong."""
    if credentials is None or not credentials.credentials:
        raise MissingApiKey()
    service = service_of(request)
    principal = await anyio.to_thread.run_sync(service.principal_for_key, credentials.credentials)
    return principal.actor


KeyActor = Depends(key_actor)
