"""Every write surface leaves its events in the feed (issue 12): API v1, the dashboard, the
CLI and an import, each read back over GET /api/v1/events after the cursor it started from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.testclient import TestClient

from tests.cli import Cli
from tests.conftest import SEED_SEGMENT, World
from tests.dashboard import PASSWORD, ClientFactory, email_of, sign_in
from zyntro.service import SYSTEM, Service


def _feed_since(api: TestClient, key: str, cursor: str) -> tuple[list[tuple[str, Any]], str]:
    response = api.get(
        "/api/v1/events", params={"cursor": cursor}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    events = [(e["type"], (e["data"] or {}).get("segment_id")) for e in body["data"]]
    return events, body["next_cursor"]


def test_api_dashboard_cli_and_import_each_leave_their_events(
    clients: ClientFactory, service: Service, world: World, database_url: str, tmp_path: Path
) -> None:
    api = clients()
    auth = {"Authorization": f"Bearer {world.owner_key}"}
    _, cursor = _feed_since(api, world.owner_key, "")
    # API v1
    created = api.post(
        f"/api/v1/brands/{world.brand_id}/segments",
        json={"segment_label": "From the API", "segment_type": "behavioral"},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    new_id = created.json()["data"]["segment_id"]
    events, cursor = _feed_since(api, world.owner_key, cursor)
    assert events == [("segment.created", new_id)]

    # The dashboard: delete, then restore from the trash
    service.set_password(SYSTEM, world.in_charge_id, PASSWORD)
    browser = clients()
    csrf = sign_in(browser, email_of(service, world.in_charge_id))
    for path in (
        f"/app/brands/{world.brand_id}/segments/{new_id}/delete",
        f"/app/brands/{world.brand_id}/trash/{new_id}/restore",
    ):
        done = browser.post(path, data={"csrf_token": csrf}, follow_redirects=True)
        assert done.status_code == 200, path
    events, cursor = _feed_since(api, world.owner_key, cursor)
    assert events == [("segment.deleted", new_id), ("segment.restored", new_id)]

    # The CLI: an update, a brand rename
    cli = Cli(database_url)
    cli.ok("segment", "update", world.segment_ids[0], "--tone", "calm")
    cli.ok("brand", "rename", world.brand_id, "Renamed")
    events, cursor = _feed_since(api, world.owner_key, cursor)
    assert events == [("segment.updated", world.segment_ids[0]), ("brand.renamed", None)]

    # An import: one event per created or updated segment, none for an unchanged one
    existing = service.get_segment(SYSTEM, world.segment_ids[1]).to_public()
    unchanged = service.get_segment(SYSTEM, world.segment_ids[2]).to_public()
    rows = [{**existing, "segment_tone": "imported"}, unchanged, dict(SEED_SEGMENT)]
    path = tmp_path / "rows.json"
    path.write_bytes(orjson.dumps(rows))
    cli.ok("segment", "import", str(path), "--brand", world.brand_id, "--member", world.owner_id)
    events, _ = _feed_since(api, world.owner_key, cursor)
    assert sorted(t for t, _ in events) == ["segment.created", "segment.updated"]
    assert ("segment.updated", world.segment_ids[1]) in events
