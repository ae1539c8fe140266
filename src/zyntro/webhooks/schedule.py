"""When a failed attempt is tried again: the schedule, its jitter, and `Retry-After`."""

from __future__ import annotations

import email.utils
import math
import random
import time
from datetime import UTC, datetime

# Seconds after each failed attempt (5 s, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h: about 24 h in
# all, eight attempts); `ZYNTRO_WEBHOOK_RETRY_SCHEDULE` replaces it.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 28800.0, 28800.0)
JITTER = 0.2  # each delay lands within ±20 %, so retries of many events spread out
MAX_RETRY_AFTER = 86_400.0  # a receiver may push a retry back by a day at most


def parse_schedule(text: str) -> tuple[float, ...]:
    """`"1,2,4"` → (1.0, 2.0, 4.0); empty → the default. Raises ValueError on anything else."""
    if not text.strip():
        return DEFAULT_SCHEDULE
    delays = tuple(float(part) for part in text.split(","))
    if not delays or any(not math.isfinite(d) or d < 0 or d > MAX_RETRY_AFTER for d in delays):
        raise ValueError("delays must be 0-86400 seconds, comma-separated")
    return delays


def retry_delay(
    schedule: tuple[float, ...],
    failures: int,
    retry_after: float | None,
    rand: float | None = None,
) -> float | None:
    """Seconds until the next attempt after the `failures`-th failed one, or None when the
    schedule is spent. Never sooner than the receiver's `Retry-After`."""
    if failures > len(schedule):
        return None
    base = schedule[failures - 1]
    spread = 1 + JITTER * (2 * (random.random() if rand is None else rand) - 1)
    delay = base * spread
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now` (delay-seconds or an HTTP date); None if absent."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


# After this many failed attempts in a row an endpoint is paused: its due deliveries wait as
# long as a first retry would (or the receiver's Retry-After), then one claim's worth probes
# it again. A failing endpoint with a backlog then costs a few attempts a pause, not one per
# queued event, so it does not slow the deliveries to the others (docs/webhooks.md).
PAUSE_AFTER = 5


class Pauses:
    """The endpoints one process has paused, and until when (monotonic seconds). Each process
    pauses on the failures it records, counted in the database across all of them. The record
    thread adds and removes; the claim and the loop read copies."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def failed(
        self, webhook_id: str, in_a_row: int, schedule: tuple[float, ...], retry_after: float | None
    ) -> None:
        """`in_a_row` failures so far: from PAUSE_AFTER on, pause as long as a first retry."""
        if in_a_row >= PAUSE_AFTER:
            pause = retry_delay(schedule, 1, retry_after) or 0.0
            self._until[webhook_id] = time.monotonic() + pause

    def succeeded(self, webhook_id: str) -> None:
        self._until.pop(webhook_id, None)

    def active(self) -> list[str]:
        """The endpoints paused now (those whose pause ended are let go)."""
        now = time.monotonic()
        for webhook_id, until in list(self._until.items()):
            if until <= now:
                self._until.pop(webhook_id, None)
        return list(self._until)

    def seconds_to_next_end(self) -> float | None:
        """How long until the first pause ends; None when none is paused."""
        ends = list(self._until.values())
        return max(0.0, min(ends) - time.monotonic()) if ends else None
