"""The dashboard's Webhooks page: the secret shown once, status and failure count, deliveries
with redeliver, send a test; members in the plain role are refused."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import World
from tests.dashboard import csrf_of, dashboard_app, email_of, sign_in, with_passwords
from tests.live import wait_for
from tests.receiver import Answer, receiver
from zyntro.service import Service


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the HTTP surface
def test_the_webhooks_page(service: Service, world: World, database_url: str) -> None:
    with_passwords(service, world)
    app = dashboard_app(
        service, database_url, webhook_allow_private=True, webhook_retry_schedule="60"
    )
    with receiver() as hook, TestClient(app) as browser:
        token = sign_in(browser, email_of(service, world.owner_id))
        page = browser.get("/app/webhooks")
        assert page.status_code == 200 and 'href="/app/webhooks"' in page.text
        created = browser.post(
            "/app/webhooks",
            data={"csrf_token": token, "url": hook.url, "events": ["segment.created"]},
        )
        assert created.status_code == 200, created.text
        secret = re.search(r'value="(whsec_[^"]+)"', created.text)
        assert secret, created.text
        webhook_id = re.search(r"/app/webhooks/(wh_[0-9A-Z]+)/test", created.text)
        assert webhook_id
        path = f"/app/webhooks/{webhook_id.group(1)}"
        detail = browser.get(path)
        assert secret.group(1) not in detail.text  # shown once
        assert "0</span> failed attempts in a row" in detail.text

        hook.answer(Answer(500))
        token = csrf_of(detail.text)
        sent = browser.post(path + "/test", data={"csrf_token": token}, follow_redirects=False)
        assert sent.status_code == 303
        wait_for(lambda: hook.count() == 1, timeout=10)
        wait_for(lambda: "HTTP 500" in browser.get(path).text, timeout=10)
        detail = browser.get(path)
        assert "1</span> failed attempts in a row" in detail.text
        delivery_id = re.search(r'id="(dlv_[0-9A-Z]+)"', detail.text)
        assert delivery_id
        retried = browser.post(
            f"{path}/deliveries/{delivery_id.group(1)}/retry",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert retried.status_code == 303
        wait_for(lambda: hook.count() == 2, timeout=10)
        wait_for(lambda: "HTTP 200" in browser.get(path).text, timeout=10)

        refused = browser.post(
            "/app/webhooks", data={"csrf_token": token, "url": "ftp://example.com/x"}
        )
        assert refused.status_code == 422 and "http://" in refused.text

    with TestClient(app) as member:
        sign_in(member, email_of(service, world.member_id))
        assert 'href="/app/webhooks"' not in member.get("/app/brands").text
        assert member.get("/app/webhooks").status_code == 403


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the HTTP surface
def test_deliveries_page_25_at_a_time(service: Service, world: World, database_url: str) -> None:
    with_passwords(service, world)
    app = dashboard_app(service, database_url, webhook_allow_private=True)
    owner = service.act_as(world.owner_id)
    with receiver() as hook, TestClient(app) as browser:
        webhook, _secret = service.create_webhook(
            owner, world.org_id, {"url": hook.url, "events": ["key.created"]}
        )
        for _ in range(25):
            service.test_webhook(owner, webhook.id)
        service.create_key(owner, world.owner_id, "the 26th delivery")  # key.created
        sign_in(browser, email_of(service, world.owner_id))
        first = browser.get(f"/app/webhooks/{webhook.id}").text
        assert "1–25 of 26 deliveries" in first
        assert first.count('<tr id="dlv_') == 25 and "key.created" in first  # newest first
        found = re.search(r'<a class="button" rel="next" href="([^"]+)"', first)
        assert found, "a Next page link"
        second = browser.get(f"/app/webhooks/{webhook.id}" + html.unescape(found.group(1))).text
        assert "26–26 of 26" in second and second.count('<tr id="dlv_') == 1
        assert "webhook.test" in second and "key.created" not in second.split('id="deliveries"')[1]
        assert 'rel="next"' not in second and "First page" in second
