"""Webhook delivery across real `zyntro serve` processes: a server killed mid-delivery
redelivers after a restart; two nodes on PostgreSQL deliver each event once; a receiver that
does not answer in time counts as a failure."""

from __future__ import annotations

import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_world
from tests.helpers import truncate
from tests.live import live_process, live_server, wait_for
from tests.receiver import Answer, receiver
from zyntro.api.app import create_app
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store

ENV = {"ZYNTRO_WEBHOOK_ALLOW_PRIVATE": "true", "ZYNTRO_WEBHOOK_RETRY_SCHEDULE": "0.1,0.1"}
pytestmark = pytest.mark.slow


def _sqlite(tmp_path: Path, template: Path) -> str:
    path = tmp_path / "zyntro.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def test_a_server_killed_mid_delivery_redelivers_after_restart(
    tmp_path: Path, sqlite_template: Path
) -> None:
    url = _sqlite(tmp_path, sqlite_template)
    service = Service(Store(url))
    world = make_world(service, segments=0)
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    with receiver() as hook:
        webhook, _secret = service.create_webhook(
            owner, world.org_id, {"url": hook.url, "timeout_seconds": 5}
        )
        hook.answer(Answer(delay=60))  # the first attempt hangs until the server dies
        with live_process(url, env=ENV) as (_base, process):
            delivery = service.test_webhook(owner, webhook.id)
            wait_for(lambda: hook.arrived == 1, timeout=10)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        assert hook.count() == 0

        with live_server(url, env=ENV):
            # The claim lapses (timeout + margin) and the restarted server sends it again.
            wait_for(lambda: hook.count() == 1, timeout=30, interval=0.2)
        assert hook.received[0].headers["webhook-id"] == delivery.event_id
        shown = service.webhook_deliveries(owner, webhook.id)[0][0]
        assert shown.state == "succeeded"
    service.close()


@pytest.mark.postgres
def test_two_nodes_on_postgresql_deliver_each_event_exactly_once(postgres_url: str) -> None:
    truncate(postgres_url)
    service = Service(Store(postgres_url))
    world = make_world(service, segments=0)
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    events = 30
    with receiver() as hook:
        webhook, _ = service.create_webhook(owner, world.org_id, {"url": hook.url})
        with live_server(postgres_url, env=ENV), live_server(postgres_url, env=ENV):
            sent = [service.test_webhook(owner, webhook.id).event_id for _ in range(events)]
            wait_for(lambda: hook.count() >= events, timeout=30, interval=0.1)
            wait_for(
                lambda: all(
                    d.state == "succeeded"
                    for d in service.webhook_deliveries(owner, webhook.id, limit=100)[0]
                ),
                timeout=10,
            )
        ids = Counter(r.headers["webhook-id"] for r in hook.received)
        assert sorted(ids) == sorted(sent)
        assert set(ids.values()) == {1}, [i for i, n in ids.items() if n > 1]
    service.close()


def test_a_receiver_that_does_not_answer_in_time_counts_as_a_failure(
    tmp_path: Path, sqlite_template: Path
) -> None:
    url = _sqlite(tmp_path, sqlite_template)
    service = Service(Store(url))
    world = make_world(service, segments=0)
    owner = service.act_as(world.owner_id)
    settings = Settings(
        database_url=url,
        log_level="ERROR",
        webhook_allow_private=True,
        webhook_retry_schedule="0.1",
    )
    with receiver() as hook, TestClient(create_app(settings, service)):
        webhook, _ = service.create_webhook(
            owner, world.org_id, {"url": hook.url, "timeout_seconds": 5}
        )
        hook.answer(Answer(delay=8))
        service.test_webhook(owner, webhook.id)

        def settled() -> bool:
            return service.webhook_deliveries(owner, webhook.id)[0][0].state != "pending"

        wait_for(settled, timeout=20, interval=0.1)
        delivery = service.webhook_deliveries(owner, webhook.id)[0][0]
        assert delivery.state == "succeeded" and delivery.attempts == 2
        first = delivery.attempt_log[0]
        assert first.status_code is None and first.error == "timeout after 5 s"
        assert first.latency_ms >= 5000
    service.close()
