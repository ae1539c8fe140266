"""The dashboard's trash per brand and history per segment, with their restore buttons."""

from __future__ import annotations

import html
import re

from starlette.testclient import TestClient

from tests.conftest import World
from tests.dashboard import PASSWORD, ClientFactory, email_of, sign_in
from zyntro.service import SYSTEM, Service


def _signed_in(clients: ClientFactory, service: Service, member_id: str) -> tuple[TestClient, str]:
    """A browser signed in as the member (only their password is set: hashing is slow)."""
    service.set_password(SYSTEM, member_id, PASSWORD)
    client = clients()
    return client, sign_in(client, email_of(service, member_id))


def test_a_deleted_segment_goes_to_the_trash_and_comes_back(
    clients: ClientFactory, service: Service, world: World
) -> None:
    client, csrf = _signed_in(clients, service, world.in_charge_id)
    segment_id = world.segment_ids[0]
    brand_page = client.get(f"/app/brands/{world.brand_id}").text
    assert f"/app/brands/{world.brand_id}/trash" in brand_page and "restored" in brand_page
    deleted = client.post(
        f"/app/brands/{world.brand_id}/segments/{segment_id}/delete",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert deleted.status_code == 200 and segment_id not in deleted.text
    trash = client.get(f"/app/brands/{world.brand_id}/trash")
    assert trash.status_code == 200
    assert segment_id in trash.text and "Segment 0" in trash.text
    assert f"/trash/{segment_id}/restore" in trash.text

    restored = client.post(
        f"/app/brands/{world.brand_id}/trash/{segment_id}/restore",
        data={"csrf_token": csrf},
        follow_redirects=True,
    )
    assert restored.status_code == 200 and "restored" in restored.text
    assert f'id="{segment_id}"' in restored.text
    assert "The trash is empty." in client.get(f"/app/brands/{world.brand_id}/trash").text
    missing = client.post(
        f"/app/brands/{world.brand_id}/trash/{segment_id}/restore", data={"csrf_token": csrf}
    )
    assert missing.status_code == 409


def test_history_shows_changes_and_restores_a_version(
    clients: ClientFactory, service: Service, world: World
) -> None:
    segment_id = world.segment_ids[0]
    service.update_segment(SYSTEM, segment_id, {"segment_tone": "warm_direct"})
    client, csrf = _signed_in(clients, service, world.in_charge_id)
    url = f"/app/brands/{world.brand_id}/segments/{segment_id}/history"
    assert url in client.get(f"/app/brands/{world.brand_id}/segments/{segment_id}").text
    page = client.get(url)
    assert page.status_code == 200
    assert "warm_direct" in page.text and "professional_friendly" in page.text
    revisions = service.revisions_page(SYSTEM, segment_id)[0]
    created = revisions[-1][1]
    assert f"/history/{created.id}/restore" in page.text
    back = client.post(
        f"{url}/{created.id}/restore", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert back.status_code == 200 and "reverted" in back.text
    assert service.get_segment(SYSTEM, segment_id).segment_tone == "professional_friendly"


def test_members_read_the_trash_and_history_but_do_not_restore(
    clients: ClientFactory, service: Service, world: World
) -> None:
    segment_id = world.segment_ids[1]
    service.delete_segment(SYSTEM, segment_id)
    client, csrf = _signed_in(clients, service, world.member_id)
    trash = client.get(f"/app/brands/{world.brand_id}/trash")
    assert trash.status_code == 200 and segment_id in trash.text
    assert "/restore" not in trash.text
    history = client.get(f"/app/brands/{world.brand_id}/segments/{segment_id}/history")
    assert history.status_code == 200 and "/restore" not in history.text
    refused = client.post(
        f"/app/brands/{world.brand_id}/trash/{segment_id}/restore", data={"csrf_token": csrf}
    )
    assert refused.status_code == 403
    assert segment_id not in [s.id for s in service.list_segments(SYSTEM, world.brand_id)]


def test_the_trash_pages_and_names_who_deleted_with_their_role(
    clients: ClientFactory, service: Service, world: World
) -> None:
    lead = service.act_as(world.in_charge_id)
    extra = [
        service.add_segment(
            lead, world.brand_id, {"segment_label": f"Extra {n}", "segment_type": "behavioral"}
        ).id
        for n in range(24)
    ]
    for segment_id in [*world.segment_ids, *extra]:  # 27 in the trash
        service.delete_segment(lead, segment_id)
    client, _csrf = _signed_in(clients, service, world.member_id)
    first = client.get(f"/app/brands/{world.brand_id}/trash")
    assert first.status_code == 200
    assert "1–25 of 27 deleted segments" in first.text
    assert "Lead · " in first.text and ">Member in-charge<" in first.text
    assert world.in_charge_id in first.text  # the full id, beside the name
    found = re.search(r'href="(\?[^"]+)" rel="next"|rel="next" href="(\?[^"]+)"', first.text)
    assert found, "a Next page link"
    second = client.get(
        f"/app/brands/{world.brand_id}/trash" + html.unescape(found.group(1) or found.group(2))
    )
    assert "26–27 of 27" in second.text
    shown = {
        segment_id
        for segment_id in [*world.segment_ids, *extra]
        if f'<tr id="{segment_id}"' in first.text
    }
    later = {s for s in [*world.segment_ids, *extra] if f'<tr id="{s}"' in second.text}
    assert len(shown) == 25 and len(later) == 2 and not shown & later
    # The oldest deleted come last: the world's first segments are on the second page.
    assert world.segment_ids[0] in later

    history = client.get(
        f"/app/brands/{world.brand_id}/segments/{world.segment_ids[0]}/history"
    ).text
    assert "Lead · " in history and ">Member in-charge<" in history


def test_a_long_history_pages_and_every_earlier_version_stays_restorable(
    clients: ClientFactory, service: Service, world: World
) -> None:
    lead = service.act_as(world.in_charge_id)
    segment_id = world.segment_ids[0]
    for n in range(25):  # with its creation, 26 revisions
        service.update_segment(lead, segment_id, {"reasoning": f"Take {n}"})
    client, _csrf = _signed_in(clients, service, world.in_charge_id)
    url = f"/app/brands/{world.brand_id}/segments/{segment_id}/history"
    first = client.get(url).text
    assert "1–25 of 26 changes" in first
    assert first.count("Restore this version") == 24  # all but the latest
    found = re.search(r'<a class="button" rel="next" href="([^"]+)"', first)
    assert found, "a Next page link"
    second = client.get(url + html.unescape(found.group(1))).text
    assert "26–26 of 26" in second and "Segment 0" in second  # the title: the segment now
    assert "Created: Segment 0" in second
    assert second.count("Restore this version") == 1  # the creation, on the second page
