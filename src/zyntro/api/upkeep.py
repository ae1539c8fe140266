"""The server's background work, run by every process in the app's lifespan: usage and access
log flushes, following the change feed, webhook delivery, and the purge of expired events and
trash."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from zyntro.observability import AccessLog
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store
from zyntro.webhooks.worker import Deliverer, DeliveryPolicy

if TYPE_CHECKING:
    from zyntro.store.notify import ChangeSignal

log = logging.getLogger("zyntro")

USAGE_FLUSH_SECONDS = 5.0
# Other processes' writes are seen within this (within one second: docs/decisions.md, "Caches").
CHANGE_POLL_SECONDS = 0.25
CHANGE_FALLBACK_SECONDS, CHANGE_BATCH_SECONDS = 5.0, 0.05  # PostgreSQL (NOTIFY): _follow_loop
FEED_WARN_SECONDS = 60.0  # an unreadable change feed is reported this often, not every poll

FIRST_PURGE_SECONDS = 60.0  # not at start-up: a restart is not the moment for extra writes
PURGE_SECONDS = 600.0  # then every ten minutes


def configure_retention(service: Service, settings: Settings) -> None:
    service.event_retention = timedelta(days=settings.event_retention_days)
    service.trash_retention = timedelta(days=settings.trash_retention_days)


async def purge_expired(
    service: Service, first: float = FIRST_PURGE_SECONDS, every: float = PURGE_SECONDS
) -> None:
    """Prune expired events and purge the expired trash after `first` seconds, then every
    `every`. Every process of every node may run it at once: a row already gone is skipped."""
    await anyio.sleep(first)
    while True:
        try:
            await anyio.to_thread.run_sync(service.purge_expired)
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("could not purge expired events and trash: %s", type(exc).__name__)
        await anyio.sleep(every)


def deliverer(service: Service, settings: Settings) -> Deliverer | None:
    """This process's webhook delivery loop (docs/webhooks.md), unless turned off."""
    if not settings.webhook_delivery:
        return None
    # A store of its own: delivery never waits for the request path's connections, and its
    # polls stay out of the request traces.
    deliverer = Deliverer(Store(service.store.url), DeliveryPolicy.from_settings(settings))
    service.delivery_listeners.append(deliverer.wake)
    service.on_event.append(lambda _note: deliverer.wake())  # its deliveries are due now
    return deliverer


async def flush_usage(service: Service) -> None:
    while True:
        await anyio.sleep(USAGE_FLUSH_SECONDS)
        try:
            await anyio.to_thread.run_sync(service.flush_usage, False)  # counts once a minute
        except Exception as exc:  # the database may be away; the uses wait for the next round
            log.warning("could not record key usage: %s", type(exc).__name__)


async def flush_access_log(access_log: AccessLog) -> None:
    while True:
        await anyio.sleep(AccessLog.FLUSH_SECONDS)
        access_log.flush()


async def follow_changes(service: Service, deliverer: Deliverer | None = None) -> None:
    """Keep the caches true to others' writes (SQLite polls; PostgreSQL: docs/scaling.md).
    On PostgreSQL the same notifications wake `deliverer`, which then looks for others' new
    deliveries only every CHANGE_FALLBACK_SECONDS when idle instead of polling four times a
    second: every write that makes deliveries records a change, and so notifies."""
    signal = service.change_signal()
    wake = None
    if signal is not None and deliverer is not None:
        deliverer.poll_seconds = CHANGE_FALLBACK_SECONDS
        wake = deliverer.wake
    try:
        await _follow_loop(service, signal, wake)
    finally:
        if signal is not None:
            signal.close()


async def _follow_loop(
    service: Service, signal: ChangeSignal | None, wake: Callable[[], None] | None
) -> None:
    warned_at: float | None = None  # while the feed cannot be read: one warning a minute
    notified = False
    while True:
        try:
            await anyio.to_thread.run_sync(service.follow_changes, notified)
        except Exception as exc:  # the database may be away; keep serving what is cached
            now = time.monotonic()
            if warned_at is None or now - warned_at >= FEED_WARN_SECONDS:
                warned_at = now
                log.warning("could not read the change feed: %s", type(exc).__name__)
        else:
            if warned_at is not None:
                warned_at = None
                log.warning("the change feed is readable again")
        if signal is None:
            await anyio.sleep(CHANGE_POLL_SECONDS)
            continue
        notified = await anyio.to_thread.run_sync(
            signal.wait, CHANGE_FALLBACK_SECONDS, abandon_on_cancel=True
        )
        if notified and wake is not None:
            wake()
        await anyio.sleep(CHANGE_BATCH_SECONDS)  # changes committed together: one read
