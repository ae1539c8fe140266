"""`zyntro webhook …` against a real receiver on loopback, and `zyntro worker`."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli import Cli
from tests.conftest import World
from tests.live import ZYNTRO, wait_for
from tests.receiver import Answer, receiver
from zyntro.service import SYSTEM, Service


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("ZYNTRO_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("ZYNTRO_WEBHOOK_RETRY_SCHEDULE", "60")
    return Cli(database_url)


def test_create_list_test_deliveries_delete(cli: Cli, world: World) -> None:
    with receiver() as hook:
        created = cli.json(
            "webhook", "create", "--org", world.org_id, "--url", hook.url,
            "--event", "segment.created", "--brand", world.brand_id,
            "--auth-type", "bearer", "--auth-secret", "token-0123456789abcd",
        )  # fmt: skip
        webhook_id = created["webhook_id"]
        assert created["secret"].startswith("whsec_")
        assert created["auth"] == {"type": "bearer", "token": "…abcd"}
        listed = cli.json("webhook", "list", "--org", world.org_id)
        assert [w["webhook_id"] for w in listed] == [webhook_id]
        assert "token-0123456789abcd" not in cli.ok("webhook", "list", "--org", world.org_id)

        out = cli.ok("webhook", "test", webhook_id)
        assert out.startswith("Delivered evt_") and "HTTP 200" in out
        assert hook.received[0].headers["Authorization"] == "Bearer token-0123456789abcd"
        hook.answer(Answer(500))
        failed = cli.json("webhook", "test", webhook_id)
        assert failed["status"] == "pending" and failed["status_code"] == 500
        assert failed["next_retry_at"]
        rows = cli.json("webhook", "deliveries", webhook_id)
        assert [r["status"] for r in rows] == ["pending", "succeeded"]
        cli.ok("webhook", "deliveries", webhook_id)  # the table

        assert "brand_ids" in cli.fails(
            "webhook", "create", "--org", world.org_id, "--url", hook.url, "--brand", "brand_nope"
        )
        cli.ok("webhook", "delete", webhook_id)
        assert cli.json("webhook", "list", "--org", world.org_id) == []
        assert "No such webhook" in cli.fails("webhook", "test", webhook_id)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL: live tests
def test_the_worker_delivers_alone_and_stops_on_sigterm(
    service: Service, world: World, database_url: str, tmp_path: Path
) -> None:
    service.webhook_allow_private = True
    with receiver() as hook:
        webhook, _ = service.create_webhook(SYSTEM, world.org_id, {"url": hook.url})
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")},
            "ZYNTRO_WEBHOOK_ALLOW_PRIVATE": "true",
        }
        process = subprocess.Popen(
            [ZYNTRO, "--database-url", database_url, "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            service.test_webhook(SYSTEM, webhook.id)
            wait_for(lambda: hook.count() == 1, timeout=20, interval=0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert "Delivering webhooks" in out and "Stopped" in out
