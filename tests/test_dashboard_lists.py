"""Issue 15 items 9, 10 and 12 over SQLite and PostgreSQL: every dashboard list searches,
filters and pages (the v1 cursor underneath), in a stable order it explains; revoked keys fold
away; a segment names its creator. The browser's view of them: tests/browser/test_first_hour.py."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from tests.conftest import SEED_SEGMENT, World
from tests.dashboard import ClientFactory, email_of, sign_in
from zyntro.service import SYSTEM, Service
from zyntro.web.listing import PAGE_SIZE

_ROW_ID = re.compile(r'<tr id="(seg_[^"]+)"')


def _signed_in(clients: ClientFactory, service: Service, member_id: str) -> TestClient:
    client = clients()
    sign_in(client, email_of(service, member_id))
    return client


def _import(service: Service, world: World, count: int) -> list[str]:
    """`count` segments that share one created_at (as an import makes them), ids shuffled."""
    rows = [
        {
            **SEED_SEGMENT,
            "segment_id": f"seg_imported_{(n * 37) % count:03d}",
            "segment_label": f"Imported {(n * 37) % count:03d}",
            "segment_type": "behavioral" if n % 3 else "lifecycle",
            "segment_tag": "vip" if n % 10 == 0 else "",
            "created_at": "2024-05-01 09:00:00",
            "updated_at": "2024-05-01 09:00:00",
        }
        for n in range(count)
    ]
    lead = service.act_as(world.in_charge_id)
    return service.import_segments(lead, world.empty_brand_id, rows).segment_ids


def test_segments_page_in_the_fetch_audiences_order(
    clients: ClientFactory, service: Service, people: World
) -> None:
    _import(service, people, 60)
    client = _signed_in(clients, service, people.member_id)
    served = [s.id for s in service.list_segments(SYSTEM, people.empty_brand_id)]
    url = f"/app/brands/{people.empty_brand_id}"
    first = client.get(url).text
    assert _ROW_ID.findall(first) == served[:PAGE_SIZE]  # shared created_at: by segment_id
    assert "1–25 of 60 segments" in first and "in fetchAudiences order" in first
    assert "60 audience segments" in first
    seen = _ROW_ID.findall(first)
    page = first
    while 'rel="next"' in page:
        next_url = html.unescape(re.search(r'rel="next" href="([^"]+)"', page).group(1))
        assert "cursor=" in next_url
        page = client.get(url + next_url).text
        seen += _ROW_ID.findall(page)
    assert seen == served  # every segment once, in the endpoint's order
    assert "51–60 of 60 segments" in page and "First page" in page


def test_segments_search_and_type_filter(
    clients: ClientFactory, service: Service, people: World
) -> None:
    _import(service, people, 40)
    client = _signed_in(clients, service, people.member_id)
    url = f"/app/brands/{people.empty_brand_id}"
    by_label = client.get(url, params={"q": "imported 03"}).text
    assert sorted(_ROW_ID.findall(by_label)) == [f"seg_imported_03{n}" for n in range(10)]
    assert "1–10 of 10 segments matching" in by_label
    by_tag = client.get(url, params={"q": "VIP"}).text  # the tag, case-insensitively
    assert len(_ROW_ID.findall(by_tag)) == 4
    lifecycle = client.get(url, params={"type": "lifecycle"}).text
    expected = [s.id for s in service.list_segments(SYSTEM, people.empty_brand_id)]
    expected = [i for i in expected if service.get_segment(SYSTEM, i).segment_type == "lifecycle"]
    assert _ROW_ID.findall(lifecycle) == expected
    assert '<option value="lifecycle" selected>' in lifecycle
    nothing = client.get(url, params={"q": "100%_"}).text  # LIKE's wildcards are literal
    assert "No segment matches" in nothing and "Show all 40" in nothing
    stale = client.get(url, params={"cursor": "not-a-cursor", "start": "999"}).text
    assert "1–25 of 40 segments" in stale  # an old link starts again, no error page


def test_brands_members_and_keys_search_and_page(
    clients: ClientFactory, service: Service, people: World
) -> None:
    for n in range(30):
        service.create_brand(SYSTEM, people.org_id, f"Brand {n:02d}")
    keys = [service.create_key(SYSTEM, people.owner_id, f"key {n}")[0] for n in range(4)]
    for key in keys[:3]:
        service.revoke_key(SYSTEM, key.id)
    client = _signed_in(clients, service, people.owner_id)
    brands = client.get("/app/brands").text
    assert "1–25 of 32 brands" in brands and 'rel="next"' in brands
    found = client.get("/app/brands", params={"q": "brand 1"}).text
    assert "1–10 of 10 brands matching" in found
    members = client.get("/app/members", params={"type": "in_charge"}).text
    assert "1–1 of 1 member matching" in members
    assert '<option value="in_charge" selected>Member in-charge</option>' in members
    page = client.get("/app/me/keys").text
    assert "3 revoked keys folded away" in page and "key 3" in page and "key 0" not in page
    revoked = client.get("/app/me/keys", params={"type": "revoked"}).text
    assert "key 0" in revoked and "key 3" not in revoked


def test_a_segment_names_its_creator(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client = _signed_in(clients, service, people.member_id)
    segment_id = people.segment_ids[0]
    page = client.get(f"/app/brands/{people.brand_id}/segments/{segment_id}").text
    creator = service.get_member(SYSTEM, service.get_segment(SYSTEM, segment_id).initiated_by)
    assert f'by <span title="{creator.id}">{html.escape(creator.name)}</span>' in page


def test_one_label_per_role(clients: ClientFactory, service: Service, people: World) -> None:
    client = _signed_in(clients, service, people.in_charge_id)
    for path in ("/app/brands", "/app/members", "/app/me"):
        text = client.get(path).text
        assert "in_charge<" not in text and "in charge" not in text, path
        assert "Member in-charge" in text, path
