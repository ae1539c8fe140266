"""One delivery attempt over httpx: signed, authenticated, to a checked address, no redirects."""

from __future__ import annotations

import functools
import ssl
import time
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
import httpx

from zyntro import __version__
from zyntro.webhooks import guard
from zyntro.webhooks.auth import auth_headers
from zyntro.webhooks.model import EXCERPT_CHARS, Delivery, Webhook
from zyntro.webhooks.schedule import parse_retry_after
from zyntro.webhooks.signing import signature_headers

USER_AGENT = f"Zyntro-Webhooks/{__version__}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to."""

    status_code: int | None
    latency_ms: int
    response: str
    error: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every pool (making one reads the CA bundle: ~50 ms)."""
    return httpx.create_ssl_context()


def new_client(max_connections: int) -> httpx.AsyncClient:
    """A connection pool for one webhook's attempts. No proxies from the environment (they
    would bypass the address guard) and no redirects."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        verify=_tls(),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )


async def attempt(
    client: httpx.AsyncClient,
    webhook: Webhook,
    delivery: Delivery,
    moment: datetime,
    allow_private: bool,
) -> Outcome:
    """Send the delivery's payload once; every failure becomes an `Outcome`, never raises."""
    started = time.perf_counter()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **auth_headers(webhook.auth),
        **signature_headers(
            delivery.event_id, moment, delivery.payload, webhook.signing_secrets(moment)
        ),
    }
    url = httpx.URL(webhook.url)
    extensions: dict[str, object] = {}
    if not allow_private:
        try:  # resolved and checked now, and the checked address is the one connected to
            addresses = await anyio.to_thread.run_sync(guard.safe_addresses, webhook.url)
        except guard.UnsafeAddress as refusal:
            return Outcome(None, _ms(started), "", f"refused: {refusal.reason}"[:200])
        headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        url = url.copy_with(host=str(addresses[0]))
    try:
        request = client.build_request(
            "POST",
            url,
            content=delivery.payload.encode(),
            headers=headers,
            timeout=httpx.Timeout(webhook.timeout_seconds),
            extensions=extensions,
        )
        with anyio.fail_after(webhook.timeout_seconds):  # the whole attempt, body included
            response = await client.send(request, stream=True)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Outcome(None, _ms(started), "", f"timeout after {webhook.timeout_seconds} s")
    except httpx.HTTPError as exc:
        return Outcome(None, _ms(started), "", f"connection error: {type(exc).__name__}")
    retry_after = parse_retry_after(response.headers.get("retry-after"), moment)
    return Outcome(response.status_code, _ms(started), excerpt, "", retry_after)


async def _excerpt(response: httpx.Response) -> str:
    """The start of the receiver's answer, as text; the rest is not read."""
    taken = b""
    async for chunk in response.aiter_bytes():
        taken += chunk
        if len(taken) >= EXCERPT_CHARS * 4:
            break
    return taken.decode("utf-8", "replace")[:EXCERPT_CHARS]


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
