"""The server's periodic upkeep of the events feed and the trash (every process runs it)."""

from __future__ import annotations

import logging
from datetime import timedelta

import anyio
import anyio.to_thread

from zyntro.service import Service
from zyntro.settings import Settings

log = logging.getLogger("zyntro")

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
