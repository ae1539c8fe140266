"""The receiver docs/webhooks.md shows, run as it is written (only its secret and port filled
in) against a real `zyntro serve`: it prints the events it gets and refuses a forged one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_world
from tests.live import free_port, live_server, wait_for
from zyntro.service import Service
from zyntro.store import Store

DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
ENV = {"ZYNTRO_WEBHOOK_ALLOW_PRIVATE": "true", "ZYNTRO_WEBHOOK_RETRY_SCHEDULE": "0.2,0.2"}
pytestmark = pytest.mark.slow


def _docs_receiver() -> str:
    found = re.search(r"## A receiver in 15 lines\n\n```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found, "docs/webhooks.md has a Python receiver"
    return found.group(1)


def test_the_docs_receiver_is_at_most_15_lines() -> None:
    lines = [line for line in _docs_receiver().splitlines() if line.strip()]
    assert len(lines) <= 15, lines


@contextmanager
def _run_receiver(tmp_path: Path, secret: str, port: int) -> Iterator[Path]:
    code = _docs_receiver()
    assert '"whsec_…"' in code and '("0.0.0.0", 8080)' in code
    script = tmp_path / "receiver.py"
    code = code.replace('"whsec_…"', repr(secret))
    script.write_text(code.replace('("0.0.0.0", 8080)', f'("127.0.0.1", {port})'))
    out = tmp_path / "receiver.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-u", str(script)], stdout=sink, stderr=subprocess.DEVNULL
        )
        try:
            wait_for(lambda: _listening(port), timeout=20, interval=0.1)
            yield out
        finally:
            process.kill()
            process.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.TransportError:
        return False
    return True  # a GET is answered (501) once it listens


def test_the_docs_receiver_verifies_real_deliveries_and_refuses_a_forgery(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "zyntro.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    service = Service(Store(url))
    world = make_world(service, segments=0)
    owner = service.act_as(world.owner_id)
    service.webhook_allow_private = True
    port = free_port()
    webhook, secret = service.create_webhook(
        owner, world.org_id, {"url": f"http://127.0.0.1:{port}/hook"}
    )
    with _run_receiver(tmp_path, secret, port) as out, live_server(url, env=ENV) as base:
        created = httpx.post(
            f"{base}/api/v1/brands/{world.brand_id}/segments",
            json={"segment_label": "Runners", "segment_type": "behavioral"},
            headers={"Authorization": f"Bearer {world.owner_key}"},
        )
        assert created.status_code == 201, created.text
        segment_id = created.json()["data"]["segment_id"]

        def delivered() -> bool:
            [delivery], _ = service.webhook_deliveries(owner, webhook.id)
            return delivery.state == "succeeded"

        wait_for(delivered, timeout=20, interval=0.1)
        [delivery], _ = service.webhook_deliveries(owner, webhook.id)
        assert delivery.attempt_log[-1].status_code == 204
        printed = out.read_text()
        assert f"segment.created {delivery.event_id} " in printed and segment_id in printed

        forged = httpx.post(
            f"http://127.0.0.1:{port}/hook",
            content=b'{"type": "segment.deleted"}',
            headers={
                "webhook-id": "evt_forged",
                "webhook-timestamp": "1700000000",
                "webhook-signature": "v1,AAAA",
            },
        )
        assert forged.status_code == 400
        assert "segment.deleted" not in out.read_text()
    service.close()
