"""`zyntro mcp`: the MCP server over stdio, for an agent on the same machine (docs/ai.md).

The process reads the database through the service, as every `zyntro` command does, but
acts only as the member of one API key (`ZYNTRO_API_KEY`): the same tenancy as the APIs.
Each tool call looks the key up again (a revoked key stops working at the next call) and
counts against the key's rate limit, in Redis with the servers when `ZYNTRO_REDIS_URL` is set.
Standard output carries the protocol; the log and the access lines go to standard error.
"""

from __future__ import annotations

import anyio.to_thread

from zyntro.agents.server import Request, build_server
from zyntro.errors import RateLimited
from zyntro.identity import Principal
from zyntro.observability import AccessLog, configure_logging, request_id_from
from zyntro.ratelimit import RateLimits
from zyntro.service import Service
from zyntro.settings import Settings


class StdioAccess:
    """One API key for the life of the process."""

    transport = "stdio"

    def __init__(self, service: Service, api_key: str, limits: RateLimits, log: AccessLog):
        self.service = service
        self.api_key = api_key
        self.limits = limits
        self.access_log = log
        self._session = request_id_from(None)  # this process's calls: <session>.<JSON-RPC id>

    def check_key(self) -> Principal:
        """The key's principal, or `InvalidApiKey`: asked once before serving."""
        self.service.follow_changes()  # from here on, other processes' writes are seen
        return self.service.principal_for_key(self.api_key)

    async def principal(self, request: Request) -> Principal:
        def lookup() -> Principal:
            self.service.follow_changes()  # a key revoked meanwhile is dropped from the cache
            return self.service.principal_for_key(self.api_key)

        principal = await anyio.to_thread.run_sync(lookup)
        allowed, headers = await self.limits.hit_key(principal.key_id)
        if not allowed:
            retry = next((value for name, value in headers if name == "Retry-After"), "a few")
            raise RateLimited(f"Too many requests for this API key; retry in {retry} s.")
        return principal

    def request_id(self, request: Request) -> str:
        return f"{self._session}.{request.request_id}"

    def logged(self) -> None:
        self.access_log.flush()  # an agent makes few calls: each line at once


async def serve(service: Service, settings: Settings, api_key: str, writes: bool) -> None:
    """Check the key, then answer MCP on stdin/stdout until the client closes stdin; with
    `writes`, the write tools too."""
    configure_logging(settings.log_level)
    limits = RateLimits(
        settings.rate_limit,
        settings.invalid_key_rate_limit,
        settings.redis_url or None,
        settings.redis_prefix,
    )
    access = StdioAccess(service, api_key, limits, AccessLog(settings.log_level))
    try:
        await anyio.to_thread.run_sync(access.check_key)
        await build_server(service, access, writes=writes).run_stdio_async()
    finally:
        await limits.aclose()
        access.access_log.flush()
