"""The delivery loop: claim due deliveries, send each, record the outcomes, schedule retries.

Every `zyntro serve` process runs one (unless `ZYNTRO_WEBHOOK_DELIVERY=false`), and so does
`zyntro worker`. Workers share nothing but the database: a claim moves a delivery's
`next_attempt_at` past a lease (the webhook's timeout and a margin), under `FOR UPDATE SKIP
LOCKED` on PostgreSQL and SQLite's write lock otherwise, so each due delivery goes to one
worker; if that worker dies, the delivery is due again when the lease ends.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx

from zyntro.domain import format_timestamp, utcnow
from zyntro.observability import log
from zyntro.store import Store
from zyntro.store.queries import webhooks as q
from zyntro.webhooks import sender
from zyntro.webhooks.model import Delivery, Webhook
from zyntro.webhooks.schedule import DEFAULT_SCHEDULE, Pauses, parse_schedule, retry_delay

if TYPE_CHECKING:
    from zyntro.settings import Settings

POLL_SECONDS = 0.25  # other processes' new deliveries are seen within this
LEASE_MARGIN_SECONDS = 5.0  # beyond the webhook's timeout, before a claim lapses
PRUNE_EVERY_SECONDS = 3600.0
RETENTION = timedelta(days=30)
WARN_EVERY_SECONDS = 60.0
MAX_ENDPOINTS = 100  # endpoints served by one claim
MAX_CLIENTS = 1000  # webhooks with a connection pool open in one process


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """The settings of delivery (docs/webhooks.md)."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    allow_private: bool = False
    disable_after: int = 20
    per_endpoint: int = 8
    concurrency: int = 128

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            schedule=parse_schedule(settings.webhook_retry_schedule),
            allow_private=settings.webhook_allow_private,
            disable_after=settings.webhook_disable_after,
            per_endpoint=settings.webhook_concurrency,
        )

    @property
    def span(self) -> float:
        """How long the schedule retries an event: a webhook is disabled only after failing
        for at least this long, so an outage shorter than it never disables one."""
        return sum(self.schedule)


@dataclass(slots=True)
class _Result:
    delivery: Delivery
    webhook: Webhook
    outcome: sender.Outcome
    at: datetime


class Deliverer:
    """One process's delivery loop over a store."""

    def __init__(self, store: Store, policy: DeliveryPolicy) -> None:
        self.store = store
        self.policy = policy
        self.token = secrets.token_hex(8)
        self._in_flight: Counter[str] = Counter()
        self._paused = Pauses()  # endpoints that keep failing (webhooks/schedule.py)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._closing: list[httpx.AsyncClient] = []
        self._results: list[_Result] = []
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._results_ready: asyncio.Event | None = None
        self._stopping = False
        self._running = False
        # How long an idle loop waits before looking again: others' new deliveries are seen
        # within it. A server on PostgreSQL lengthens it, as the change feed's notifications
        # wake the loop (api/upkeep.follow_changes).
        self.poll_seconds = POLL_SECONDS
        self.delivered = 0  # outcomes recorded by this process (the bench reads it)
        self.on_recorded: list[Callable[[int], None]] = []
        # (url, event type, attempt number) -> the span of one attempt, when the app traces
        self.trace: Callable[[str, str, int], AbstractContextManager[Any]] | None = None

    def wake(self) -> None:
        """Look for due deliveries now (safe from any thread)."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    def stop(self) -> None:
        """Claim nothing more; `run` returns once what is in flight is recorded."""
        self._stopping = True
        self.wake()

    async def run(self) -> None:
        """Deliver until cancelled or stopped. An app served twice at once (two test clients
        of one app) runs one loop: the second waits."""
        if self._running:
            await anyio.sleep_forever()
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False
            self._loop = self._wake = None

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._results_ready = asyncio.Event()
        warned_at: float | None = None
        pruned_at = 0.0
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._record_loop)
                while not self._stopping:
                    wait = self.poll_seconds
                    try:
                        claimed, next_due = await anyio.to_thread.run_sync(self._claim)
                        if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                            pruned_at = time.monotonic()
                            await anyio.to_thread.run_sync(self._prune)
                        warned_at = None
                    except Exception as exc:  # the database may be away: try again shortly
                        claimed, next_due = [], None
                        now = time.monotonic()
                        if warned_at is None or now - warned_at >= WARN_EVERY_SECONDS:
                            warned_at = now
                            log.warning(
                                "could not claim webhook deliveries: %s", type(exc).__name__
                            )
                    for delivery, webhook in claimed:
                        self._in_flight[webhook.id] += 1
                        tasks.start_soon(self._deliver, self._client(webhook.id), delivery, webhook)
                    if claimed and self._free() > 0:
                        continue  # more may be due
                    if next_due is not None:
                        wait = min(wait, max(0.0, (next_due - utcnow()).total_seconds()))
                    pause_ends = self._paused.seconds_to_next_end()
                    if pause_ends is not None:  # look again when the first pause ends
                        wait = min(wait, pause_ends)
                    self._wake.clear()
                    with anyio.move_on_after(wait):
                        await self._wake.wait()
                while sum(self._in_flight.values()) or self._results:
                    await anyio.sleep(0.05)
                tasks.cancel_scope.cancel()
        finally:
            if self._results:  # cancelled with outcomes unrecorded: record them now
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._record, self._take())
            with anyio.CancelScope(shield=True):
                await self._close_clients()

    def _client(self, webhook_id: str) -> httpx.AsyncClient:
        """The webhook's own connection pool: small (its concurrency), so finding a free
        connection stays cheap, and one endpoint's connections never crowd another's."""
        client = self._clients.get(webhook_id)
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:  # idle pools of old webhooks: let them go
                stale = [c for w, c in self._clients.items() if w not in self._in_flight]
                self._clients = {w: c for w, c in self._clients.items() if w in self._in_flight}
                for old in stale:
                    self._closing.append(old)
            client = self._clients[webhook_id] = sender.new_client(self.policy.per_endpoint)
        return client

    async def _close_clients(self) -> None:
        for client in [*self._clients.values(), *self._closing]:
            await client.aclose()
        self._clients.clear()
        self._closing.clear()

    def _free(self) -> int:
        return self.policy.concurrency - sum(self._in_flight.values())

    def deliver_now(self, delivery_id: str, wait: float = 10.0) -> Delivery:
        """One attempt at this delivery now, in this thread (`zyntro webhook test`); if a
        server or worker claimed it first, its outcome, waited for up to `wait` seconds."""

        async def attempt_it() -> None:
            self._results_ready = asyncio.Event()
            claimed, _ = await anyio.to_thread.run_sync(self._claim, [delivery_id])
            for delivery, webhook in claimed:
                self._in_flight[webhook.id] += 1
                await self._deliver(self._client(webhook.id), delivery, webhook)
            await self._close_clients()
            if self._results:
                await anyio.to_thread.run_sync(self._record, self._take())

        anyio.run(attempt_it)
        deadline = time.monotonic() + wait
        while True:
            with self.store.read() as conn:
                delivery = q.get_delivery(conn, delivery_id)
            assert delivery is not None
            if delivery.attempts or time.monotonic() > deadline:
                return delivery
            time.sleep(0.1)

    def _claim(
        self, only: list[str] | None = None
    ) -> tuple[list[tuple[Delivery, Webhook]], datetime | None]:
        """Claim what is due (at most the free slots, per endpoint too); and when the next
        delivery falls due."""
        now = utcnow()
        with self.store.read() as conn:
            due = q.next_due(conn)
        free = self._free()
        if due is None or due > now or free <= 0:
            return [], due
        busy = dict(self._in_flight)
        full = [w for w, n in busy.items() if n >= self.policy.per_endpoint]
        if only is None:  # an attempt asked for by hand (`zyntro webhook test`) goes at once
            full += self._paused.active()
        with self.store.write() as conn:
            # Endpoint by endpoint, each up to its free slots: one endpoint's backlog never
            # fills a claim, nor hides the others' due deliveries behind its own.
            claimed: list[tuple[Delivery, Webhook]] = []
            for webhook_id, timeout in q.due_webhooks(conn, now, MAX_ENDPOINTS, full, only):
                room = min(self.policy.per_endpoint - busy.get(webhook_id, 0), free)
                if room <= 0:
                    break
                ids = q.due_deliveries(conn, webhook_id, now, room, not self.store.is_sqlite, only)
                lease = now + timedelta(seconds=timeout + LEASE_MARGIN_SECONDS)
                claimed += q.claim_deliveries(conn, ids, self.token, lease)
                free -= len(ids)
        return claimed, None

    async def _deliver(self, client: Any, delivery: Delivery, webhook: Webhook) -> None:
        moment = utcnow()
        url = webhook.url.split("?", 1)[0]
        span = (
            nullcontext()
            if self.trace is None
            else self.trace(url, delivery.event_type, delivery.attempts + 1)
        )
        try:
            with span:
                outcome = await sender.attempt(
                    client, webhook, delivery, moment, self.policy.allow_private
                )
        except Exception as exc:  # a bug, not the receiver's doing: count it as a failure
            log.exception("webhook attempt failed unexpectedly")
            outcome = sender.Outcome(None, 0, "", f"internal error: {type(exc).__name__}")
        finally:
            self._in_flight[webhook.id] -= 1
            if self._in_flight[webhook.id] <= 0:
                del self._in_flight[webhook.id]
        self._results.append(_Result(delivery, webhook, outcome, moment))
        assert self._results_ready is not None
        self._results_ready.set()
        if self._wake is not None:
            self._wake.set()  # a slot is free

    def _take(self) -> list[_Result]:
        taken, self._results = self._results, []
        return taken

    async def _record_loop(self) -> None:
        """Write outcomes in batches, one transaction each (a delivery's claim is held until
        its outcome is written: a crash before then leaves it to be retried)."""
        assert self._results_ready is not None
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            batch = self._take()
            if not batch:
                continue
            try:
                await anyio.to_thread.run_sync(self._record, batch)
            except Exception as exc:  # the leases lapse and the deliveries are sent again
                log.warning("could not record webhook deliveries: %s", type(exc).__name__)
            else:
                if self._wake is not None and any(not r.outcome.ok for r in batch):
                    self._wake.set()  # a retry is now due at a time the loop has not seen

    def _record(self, batch: list[_Result]) -> None:
        policy = self.policy
        with self.store.write() as conn:
            attempts = []
            finished: list[dict[str, Any]] = []
            succeeded = []
            failures: Counter[str] = Counter()
            retry_after: dict[str, float] = {}  # the longest a failing receiver asked for
            for result in batch:
                outcome, delivery = result.outcome, result.delivery
                attempts.append(
                    {
                        "delivery_id": delivery.id,
                        "attempted_at": result.at,
                        "status_code": outcome.status_code,
                        "latency_ms": outcome.latency_ms,
                        "response": outcome.response,
                        "error": outcome.error,
                    }
                )
                values: dict[str, Any] = {
                    "delivery_id": delivery.id,
                    "delivered_at": None,
                    "last_status_code": outcome.status_code,
                    "last_latency_ms": outcome.latency_ms,
                    "last_response": outcome.response,
                    "last_error": outcome.error,
                }
                if outcome.ok:
                    values.update(state="succeeded", next_attempt_at=None, delivered_at=result.at)
                    succeeded.append(result.webhook.id)
                else:
                    failures[result.webhook.id] += 1
                    if outcome.retry_after is not None:
                        asked = retry_after.get(result.webhook.id, 0.0)
                        retry_after[result.webhook.id] = max(asked, outcome.retry_after)
                    delay = None
                    if not delivery.final_attempt:
                        delay = retry_delay(
                            policy.schedule, delivery.attempts + 1, outcome.retry_after
                        )
                    if delay is None:
                        values.update(state="failed", next_attempt_at=None)
                    else:
                        # From when the answer came: Retry-After counts from the response.
                        answered = result.at + timedelta(milliseconds=outcome.latency_ms)
                        values.update(
                            state="pending", next_attempt_at=answered + timedelta(seconds=delay)
                        )
                finished.append(values)
            q.finish_deliveries(conn, self.token, finished)
            q.insert_attempts(conn, attempts)
            recovered = [w for w in succeeded if w not in failures]
            q.webhook_succeeded(conn, recovered)
            for webhook_id in recovered:
                self._paused.succeeded(webhook_id)
            now = utcnow()
            for webhook_id, count in failures.items():
                total, since = q.webhook_failed(conn, webhook_id, count, now)
                self._paused.failed(webhook_id, total, policy.schedule, retry_after.get(webhook_id))
                lasted = (now - since).total_seconds()
                if total >= policy.disable_after and lasted >= policy.span:
                    reason = f"{total} failed attempts in a row since {format_timestamp(since)} UTC"
                    q.update_webhook(
                        conn,
                        webhook_id,
                        {"enabled": False, "disabled_reason": reason[:200], "updated_at": now},
                    )
                    log.warning("webhook %s disabled: %s", webhook_id, reason)
        self.delivered += len(batch)
        for listener in self.on_recorded:
            listener(len(batch))

    def _prune(self) -> None:
        with self.store.write() as conn:
            q.prune_deliveries(conn, utcnow() - RETENTION)


def run_worker(store: Store, settings: Settings) -> None:
    """`zyntro worker`: deliver until SIGTERM or SIGINT, then record what is in flight."""
    deliverer = Deliverer(store, DeliveryPolicy.from_settings(settings))

    async def main() -> None:
        async with anyio.create_task_group() as tasks:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _signal in signals:
                        deliverer.stop()
                        return

            tasks.start_soon(stop_on_signal)
            await deliverer.run()
            tasks.cancel_scope.cancel()

    anyio.run(main)
