"""Dashboard pages: brands, segments, Me > API Keys, members, the API page; by role."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from tests.conftest import World, make_world
from tests.dashboard import PASSWORD, ClientFactory, csrf_of, email_of, sign_in
from tests.helpers import PATH, backdate
from zyntro.service import SYSTEM, Service


def signed_in(clients: ClientFactory, service: Service, member_id: str) -> tuple[TestClient, str]:
    client = clients()
    return client, sign_in(client, email_of(service, member_id))


def fetch(client: TestClient, key: str, world: World, brand_id: str | None = None) -> object:
    return client.post(
        PATH, json={"api_key": key, "org_id": world.org_id, "brand_id": brand_id or world.brand_id}
    )


SEGMENT_FORM = {
    "segment_label": "Night Owls",
    "segment_type": "Late Night",  # typed loosely; stored as late_night
    "segment_tag": "after_hours",
    "segment_decision_drivers": "Speed, Convenience",
    "segment_pain_points": ["slow_support", "closed_stores"],
    "segment_pain_points__pending": "no_delivery, tired",  # typed, not yet a tag
    "segment_use_cases": ["push_offers"],
    "segment_tone": "calm_helpful",
    "reasoning": "Half of the orders arrive after 22:00.",
}


# --- every page, every role ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner_id", "in_charge_id", "member_id"])
def test_every_page_renders_for_every_role(
    clients: ClientFactory, service: Service, people: World, role: str
) -> None:
    client, _ = signed_in(clients, service, getattr(people, role))
    seg = people.segment_ids[0]
    for path in (
        "/app/brands",
        f"/app/brands/{people.brand_id}",
        f"/app/brands/{people.empty_brand_id}",
        f"/app/brands/{people.brand_id}/segments/{seg}",
        "/app/me",
        "/app/me/keys",
        "/app/members",
        "/app/api",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert '<script src="/app/static/htmx.min.js' in response.text


def test_static_files_come_from_the_package(clients: ClientFactory) -> None:
    client = clients()
    htmx = client.get("/app/static/htmx.min.js")
    assert htmx.status_code == 200
    assert "htmx" in htmx.text[:200]
    assert client.get("/app/static/app.css").status_code == 200
    assert client.get("/app/static/app.js").status_code == 200


def test_dashboard_is_not_in_the_openapi_document(clients: ClientFactory) -> None:
    paths = clients().get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/app")]


def test_names_are_escaped(clients: ClientFactory, service: Service, people: World) -> None:
    service.create_brand(SYSTEM, people.org_id, "<script>alert(1)</script>")
    client, _ = signed_in(clients, service, people.member_id)
    page = client.get("/app/brands").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- brands --------------------------------------------------------------------------------


def test_in_charge_creates_renames_and_deletes_brands(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.in_charge_id)
    created = client.post("/app/brands", data={"name": "Spring Line", "csrf_token": token})
    assert created.status_code == 200
    assert "Brand “Spring Line” created." in created.text
    brand = next(b for b in service.list_brands(SYSTEM, people.org_id) if b.name == "Spring Line")
    renamed = client.post(
        f"/app/brands/{brand.id}/rename", data={"name": "Summer Line", "csrf_token": token}
    )
    assert "Brand renamed to “Summer Line”." in renamed.text
    empty = client.post(f"/app/brands/{brand.id}/rename", data={"name": " ", "csrf_token": token})
    assert empty.status_code == 422
    assert "is required" in empty.text
    deleted = client.post(f"/app/brands/{brand.id}/delete", data={"csrf_token": token})
    assert "deleted" in deleted.text
    assert all(b.id != brand.id for b in service.list_brands(SYSTEM, people.org_id))


def test_brand_name_errors_show_beside_the_field(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.owner_id)
    response = client.post("/app/brands", data={"name": "x" * 201, "csrf_token": token})
    assert response.status_code == 422
    assert 'id="name-error"' in response.text
    assert "must be 1-200 characters" in response.text


def test_plain_member_reads_brands_but_cannot_change_them(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.member_id)
    page = client.get("/app/brands").text
    assert "New brand" not in page and "Rename" not in page
    for path, data in (
        ("/app/brands", {"name": "Mine"}),
        (f"/app/brands/{people.brand_id}/rename", {"name": "Mine"}),
        (f"/app/brands/{people.brand_id}/delete", {}),
    ):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
        assert "Only an owner or a member in-charge" in response.text
    assert service.get_brand(SYSTEM, people.brand_id).name == "Brand"


def test_another_organizations_brand_is_not_found(
    clients: ClientFactory, service: Service, people: World
) -> None:
    other = make_world(service, segments=1)
    client, token = signed_in(clients, service, people.owner_id)
    assert client.get(f"/app/brands/{other.brand_id}").status_code == 404
    seg = other.segment_ids[0]
    assert client.get(f"/app/brands/{other.brand_id}/segments/{seg}").status_code == 404
    assert client.get(f"/app/brands/{people.brand_id}/segments/{seg}").status_code == 404
    response = client.post(f"/app/brands/{other.brand_id}/delete", data={"csrf_token": token})
    assert response.status_code == 404
    assert service.get_brand(SYSTEM, other.brand_id)


# --- segments ------------------------------------------------------------------------------


def test_create_a_segment_and_fetch_it(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.in_charge_id)
    new = client.get(f"/app/brands/{people.brand_id}/segments/new")
    assert 'data-tags="segment_pain_points"' in new.text
    response = client.post(
        f"/app/brands/{people.brand_id}/segments", data={**SEGMENT_FORM, "csrf_token": token}
    )
    assert response.status_code == 200
    assert "Segment “Night Owls” created" in response.text
    body = fetch(client, people.owner_key, people).json()  # type: ignore[attr-defined]
    assert body["message"].startswith("4 audience segments")
    segment = body["data"][-1]
    assert segment["segment_label"] == "Night Owls"
    assert segment["segment_type"] == "late_night"
    assert segment["segment_tag"] == "after_hours"
    assert segment["segment_decision_drivers"] == "Speed, Convenience"
    assert segment["segment_pain_points"] == [
        "slow_support",
        "closed_stores",
        "no_delivery",
        "tired",
    ]
    assert segment["segment_use_cases"] == ["push_offers"]
    assert segment["segment_tone"] == "calm_helpful"
    assert segment["reasoning"] == "Half of the orders arrive after 22:00."
    assert segment["initiated_by"] == people.in_charge_id


def test_segment_errors_show_beside_each_field(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.owner_id)
    response = client.post(
        f"/app/brands/{people.brand_id}/segments",
        data={
            "csrf_token": token,
            "segment_label": "",
            "segment_type": "9 lives!",
            "segment_pain_points": ["ok", "x" * 201],
            "reasoning": "r" * 4001,
            "segment_tone": "kept as typed",
        },
    )
    assert response.status_code == 422
    page = response.text
    for field in ("segment_label", "segment_type", "segment_pain_points", "reasoning"):
        assert f'id="{field}-error"' in page, field
    assert 'id="segment_tone-error"' not in page
    assert 'value="kept as typed"' in page  # what was typed is kept
    assert "must be lowercase snake_case" in page
    assert len(service.list_segments(SYSTEM, people.brand_id)) == 3


def test_edit_and_delete_a_segment(clients: ClientFactory, service: Service, people: World) -> None:
    client, token = signed_in(clients, service, people.in_charge_id)
    seg = people.segment_ids[1]
    backdate(service, [seg])  # times are whole seconds: an edit right away could tie
    before = service.get_segment(SYSTEM, seg)
    page = client.get(f"/app/brands/{people.brand_id}/segments/{seg}").text
    assert 'id="segment-form"' in page and html.escape(before.segment_label) in page
    form = {
        **SEGMENT_FORM,
        "segment_label": "Renamed",
        "segment_pain_points": [],
        "segment_pain_points__pending": "",
        "csrf_token": token,
    }
    saved = client.post(f"/app/brands/{people.brand_id}/segments/{seg}", data=form)
    assert "Segment “Renamed” saved." in saved.text
    after = service.get_segment(SYSTEM, seg)
    assert after.segment_label == "Renamed" and after.segment_pain_points == ()
    assert after.created_at == before.created_at and after.updated_at > before.updated_at
    assert after.initiated_by == before.initiated_by
    deleted = client.post(
        f"/app/brands/{people.brand_id}/segments/{seg}/delete", data={"csrf_token": token}
    )
    assert "Segment “Renamed” deleted." in deleted.text
    assert seg not in [s.id for s in service.list_segments(SYSTEM, people.brand_id)]


def test_plain_member_sees_segments_read_only(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.member_id)
    seg = people.segment_ids[0]
    table = client.get(f"/app/brands/{people.brand_id}").text
    assert "New segment" not in table and ">Edit<" not in table and ">Delete<" not in table
    assert "You can read these segments" in table
    view = client.get(f"/app/brands/{people.brand_id}/segments/{seg}").text
    assert "<form" not in view.split("</header>", 1)[1]
    assert "Segment 0" in view
    assert client.get(f"/app/brands/{people.brand_id}/segments/new").status_code == 403
    for path in (
        f"/app/brands/{people.brand_id}/segments",
        f"/app/brands/{people.brand_id}/segments/{seg}",
        f"/app/brands/{people.brand_id}/segments/{seg}/delete",
    ):
        response = client.post(path, data={**SEGMENT_FORM, "csrf_token": token})
        assert response.status_code == 403, path
    assert service.get_segment(SYSTEM, seg).segment_label == "Segment 0"


# --- Me > API Keys -------------------------------------------------------------------------


def test_key_shown_once_works_then_revoked(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.member_id)
    created = client.post(
        "/app/me/keys", data={"label": "laptop script", "expires_in": "30", "csrf_token": token}
    )
    assert created.status_code == 201
    found = re.search(r'id="new-key-value" type="text" readonly value="(zk_\w+)"', created.text)
    assert found, created.text
    key = found.group(1)
    assert "shown only once" in created.text
    listing = client.get("/app/me/keys").text
    assert key not in listing and key[:8] in listing and "laptop script" in listing
    assert fetch(client, key, people).status_code == 200  # type: ignore[attr-defined]
    stored = next(
        k for k in service.list_keys(SYSTEM, people.member_id) if k.label == "laptop script"
    )
    assert stored.expires_at is not None
    key_id = stored.id
    revoked = client.post(f"/app/me/keys/{key_id}/revoke", data={"csrf_token": token})
    assert "revoked" in revoked.text
    refused = fetch(client, key, people)
    assert refused.status_code == 401  # type: ignore[attr-defined]
    assert refused.json()["code"] == "invalid_api_key"  # type: ignore[attr-defined]


def test_key_errors_and_other_members_keys(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.member_id)
    bad = client.post(
        "/app/me/keys", data={"label": "x" * 201, "expires_in": "", "csrf_token": token}
    )
    assert bad.status_code == 422 and 'id="label-error"' in bad.text
    bad = client.post("/app/me/keys", data={"label": "", "expires_in": "-3", "csrf_token": token})
    assert bad.status_code == 422 and 'id="expires_in-error"' in bad.text
    owners_key = service.list_keys(SYSTEM, people.owner_id)[0]
    response = client.post(f"/app/me/keys/{owners_key.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 403
    assert service.list_keys(SYSTEM, people.owner_id)[0].revoked_at is None


# --- members -------------------------------------------------------------------------------


def test_owner_adds_promotes_and_deactivates_a_member(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.owner_id)
    added = client.post(
        "/app/members",
        data={
            "email": "New.Person@Example.com",
            "name": "New Person",
            "role": "member",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert "New Person (new.person@example.com) added as Member." in added.text
    newcomer = next(
        m for m in service.list_members(SYSTEM, people.org_id) if m.name == "New Person"
    )
    newcomer_browser = clients()
    sign_in(newcomer_browser, "new.person@example.com")
    promoted = client.post(
        f"/app/members/{newcomer.id}/role", data={"role": "in_charge", "csrf_token": token}
    )
    assert "New Person is now Member in-charge." in promoted.text
    assert "New segment" in newcomer_browser.get(f"/app/brands/{people.brand_id}").text
    deactivated = client.post(f"/app/members/{newcomer.id}/deactivate", data={"csrf_token": token})
    assert "New Person deactivated." in deactivated.text
    assert newcomer_browser.get("/app/brands", follow_redirects=False).status_code == 303


def test_member_form_errors(clients: ClientFactory, service: Service, people: World) -> None:
    client, token = signed_in(clients, service, people.owner_id)
    existing = email_of(service, people.member_id)
    for data, field in (
        ({"email": "not-an-email", "name": "A", "role": "member"}, "email"),
        ({"email": existing, "name": "A", "role": "member"}, "email"),
        ({"email": "a@example.com", "name": "", "role": "member"}, "name"),
        ({"email": "a@example.com", "name": "A", "role": "boss"}, "role"),
        (
            {"email": "a@example.com", "name": "A", "role": "member", "password": "short"},
            "password",
        ),
    ):
        response = client.post("/app/members", data={**data, "csrf_token": token})
        assert response.status_code == 422, data
        assert f'id="{field}-error"' in response.text, data
    assert all(m.email != "a@example.com" for m in service.list_members(SYSTEM, people.org_id))


def test_only_owners_manage_members(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.in_charge_id)
    page = client.get("/app/members").text
    assert "Add a member" not in page and "Deactivate" not in page
    assert email_of(service, people.member_id) in page
    for path, data in (
        ("/app/members", {"email": "x@example.com", "name": "X", "role": "owner"}),
        (f"/app/members/{people.member_id}/role", {"role": "owner"}),
        (f"/app/members/{people.member_id}/deactivate", {}),
    ):
        response = client.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    member = service.get_member(SYSTEM, people.member_id)
    assert member.active and member.role.value == "member"


# --- the API page --------------------------------------------------------------------------


def test_api_page_has_ids_and_snippets(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, _ = signed_in(clients, service, people.member_id)
    page = html.unescape(client.get("/app/api").text)
    assert people.org_id in page and people.brand_id in page and people.empty_brand_id in page
    assert "curl -s -X POST http://testserver/apis/public/fetchAudiences.php" in page
    # The SDK, not raw HTTP; no tool that is not everywhere (uuidgen).
    assert 'ZyntroClient(org_id="' + people.org_id + '", base_url="http://testserver")' in page
    assert f'client.fetch_audiences("{people.brand_id}")' in page
    assert "/api/v1/brands" in page and "Idempotency-Key" in page and "uuidgen" not in page
    assert '"url": "http://testserver/mcp"' in page  # the MCP client configuration
    assert csrf_of(page)


def test_an_unreadable_form_is_a_400_page(
    clients: ClientFactory, service: Service, people: World
) -> None:
    client, token = signed_in(clients, service, people.owner_id)
    fields = [("csrf_token", token)] + [("segment_use_cases", str(n)) for n in range(500)]
    response = client.post(
        f"/app/brands/{people.brand_id}/segments",
        content="&".join(f"{k}={v}" for k, v in fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "<h1>That did not work</h1>" in response.text
