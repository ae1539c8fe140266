"""Key rules on the surfaces test_keys_access.py does not reach: each key's use a day on the
keys pages, a brand-limited key on every brand route of /api/v1, a trusted proxy in front of
/api/v1 over IPv6, and a roll seen by two real server processes (docs/security.md, "API keys")."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx2 as httpx
import pytest
from starlette.testclient import TestClient

from tests.cli import Cli
from tests.conftest import SEED_SEGMENT, World
from tests.dashboard import ClientFactory, email_of, sign_in
from tests.helpers import PATH
from tests.live import live_server, wait_for
from tests.test_keys_access import _app, _bearer, _fetch, _org_key, assert_error
from zyntro.domain import utcnow
from zyntro.service import SYSTEM, Service
from zyntro.store.queries.usage import add_key_usage

# --- usage a day on the keys pages --------------------------------------------------------


def test_the_keys_pages_show_each_keys_use_a_day(
    clients: ClientFactory, service: Service, people: World
) -> None:
    owner = clients()
    sign_in(owner, email_of(service, people.owner_id))
    org_key_id, org_key = _org_key(service, people, "audiences:read")
    (personal,) = service.list_keys(SYSTEM, people.owner_id)
    for _ in range(3):
        assert _fetch(owner, org_key, people).status_code == 200
    assert _fetch(owner, org_key, people, people.empty_brand_id).status_code == 404
    assert _fetch(owner, people.owner_key, people).status_code == 200
    service.flush_usage()
    today = utcnow().date()
    earlier = today - timedelta(days=3)
    with service.store.write() as conn:  # an earlier day's counts, as a flush then wrote them
        add_key_usage(
            conn, [(org_key_id, earlier, 7, 2), (org_key_id, today - timedelta(40), 9, 9)]
        )

    listed = owner.get("/app/org/keys").text
    assert f'href="/app/org/keys/{org_key_id}/usage"' in listed  # the 30-day total links there
    page = owner.get(f"/app/org/keys/{org_key_id}/usage")
    assert page.status_code == 200, page.text
    text = page.text
    assert "11 requests, 3 errors" in text  # the 30 days; the day 40 days ago is not among them
    assert text.count('<tr id="day-') == 30
    rows = {
        day: text.split(f'id="day-{day.isoformat()}"')[1].split("</tr>")[0]
        for day in (today, earlier)
    }
    assert '<td data-label="Requests" class="num">4</td>' in rows[today]
    assert '<td data-label="Errors" class="num">1</td>' in rows[today]
    assert '<td data-label="Requests" class="num">7</td>' in rows[earlier]
    assert '<td data-label="Errors" class="num">2</td>' in rows[earlier]

    mine = owner.get(f"/app/me/keys/{personal.id}/usage")
    assert mine.status_code == 200 and "1 request, 0 errors" in mine.text
    assert f'href="/app/me/keys/{personal.id}/usage"' in owner.get("/app/me/keys").text
    # Each page shows its own kind of key only; a member sees neither the organization's
    # keys nor another member's.
    assert owner.get(f"/app/me/keys/{org_key_id}/usage").status_code == 404
    assert owner.get(f"/app/org/keys/{personal.id}/usage").status_code == 404
    member = clients()
    sign_in(member, email_of(service, people.member_id))
    assert member.get(f"/app/org/keys/{org_key_id}/usage").status_code == 403
    assert member.get(f"/app/me/keys/{personal.id}/usage").status_code in (403, 404)


# --- a brand-limited key on every brand route ---------------------------------------------

BRAND_ROUTES = [
    ("GET", "/brands/{b}", None),
    ("PATCH", "/brands/{b}", {"name": "Renamed"}),
    ("GET", "/brands/{b}/segments", None),
    ("POST", "/brands/{b}/segments", {"segment_label": "x", "segment_type": "behavioral"}),
    ("GET", "/brands/{b}/segments/{s}", None),
    ("PATCH", "/brands/{b}/segments/{s}", {"segment_label": "y"}),
    ("DELETE", "/brands/{b}/segments/{s}", None),
    ("POST", "/brands/{b}/segments/draft", {"description": "runners who buy twice a year"}),
    ("GET", "/brands/{b}/trash", None),
    ("POST", "/brands/{b}/segments/{s}/restore", None),
    ("GET", "/brands/{b}/segments/{s}/revisions", None),
    ("POST", "/brands/{b}/segments/{s}/revisions/rev_01JAAAAAAAAAAAAAAAAAAAAAAA/restore", None),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), BRAND_ROUTES, ids=[f"{m} {p}" for m, p, _ in BRAND_ROUTES]
)
def test_a_limited_key_meets_another_brand_as_a_missing_one_on_every_route(
    client: TestClient,
    service: Service,
    world: World,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    other = service.create_brand(SYSTEM, world.org_id, "Other brand")
    lead = service.act_as(world.in_charge_id)
    segment = service.add_segment(lead, other.id, {**SEED_SEGMENT, "segment_label": "Theirs"})
    _id, limited = _org_key(
        service, world, "segments:read", "segments:write", brands=[world.brand_id]
    )

    def call(brand_id: str) -> httpx.Response:
        url = "/api/v1" + path.format(b=brand_id, s=segment.id)
        return client.request(method, url, json=body, headers=_bearer(limited))

    outside, missing = call(other.id), call("brand_nonexistent")
    assert outside.status_code == missing.status_code, outside.text
    assert outside.json() == missing.json()
    # Drafting is not set up here: it says so before looking at the brand, to both alike.
    expected = "drafting_not_configured" if path.endswith("/draft") else "brand_not_found"
    assert outside.json()["code"] == expected
    assert service.get_segment(SYSTEM, segment.id).segment_label == "Theirs"  # untouched


# --- a trusted proxy in front of /api/v1, over IPv6 ---------------------------------------


def test_the_api_believes_forwarded_for_only_from_a_trusted_proxy_v4_and_v6(
    service: Service, database_url: str, world: World
) -> None:
    _id, v6_key = _org_key(service, world, "segments:read", allowlist=["2001:db8::/32"])
    _id, v4_key = _org_key(service, world, "segments:read", allowlist=["203.0.113.0/24"])
    app = _app(service, database_url, trusted_proxies="10.0.0.1, fd00::1")
    cases = [  # (peer, X-Forwarded-For, key, allowed)
        ("fd00::1", "2001:db8::7", v6_key, True),
        ("fd00::1", "203.0.113.9", v4_key, True),
        ("10.0.0.1", "2001:db8::7", v6_key, True),
        ("fd00::1", "198.51.100.1", v4_key, False),  # forwarded, but from elsewhere
        ("fd00::2", "2001:db8::7", v6_key, False),  # the header of an untrusted peer
        ("2001:db8::9", "203.0.113.9", v4_key, False),  # a client naming an allowed address
        ("2001:db8::9", "", v6_key, True),  # no proxy: the socket's peer
    ]
    for peer, forwarded, key, allowed in cases:
        headers = _bearer(key) | ({"X-Forwarded-For": forwarded} if forwarded else {})
        with TestClient(app, client=(peer, 4000)) as via:  # type: ignore[arg-type]
            answer = via.get("/api/v1/key", headers=headers)
            fetched = _fetch(via, key, world, headers=headers)
        if allowed:
            assert answer.status_code == 200, (peer, forwarded, answer.text)
            assert fetched.status_code == 403 and fetched.json()["code"] == "insufficient_scope"
        else:
            assert_error(answer, 403, "ip_not_allowed")
            assert_error(fetched, 403, "ip_not_allowed")


# --- a roll across two server processes ---------------------------------------------------


def test_a_roll_on_one_server_is_honoured_by_another_within_a_second(
    service: Service, database_url: str, world: World
) -> None:
    """Two `zyntro serve` processes on one database: a roll made through one is seen by the
    other, the previous secret working through its grace and refused within a second after it
    (and at once without grace), though both processes had it cached."""
    key_id, first = _org_key(service, world, "audiences:read")
    body = {"api_key": first, "org_id": world.org_id, "brand_id": world.brand_id}
    owner = _bearer(world.owner_key)
    with live_server(database_url) as one, live_server(database_url) as two:

        def answer(base: str, key: str) -> int:
            return httpx.post(base + PATH, json={**body, "api_key": key}).status_code

        assert answer(one, first) == answer(two, first) == 200  # cached in both

        # With 3 s of grace, through the API of the first process.
        grace = 3
        rolled = httpx.post(
            f"{one}/api/v1/keys/{key_id}/roll", json={"grace_seconds": grace}, headers=owner
        )
        grace_ends = time.time() + grace  # no later than this
        assert rolled.status_code == 200, rolled.text
        data = rolled.json()["data"]
        second = data["api_key"]
        assert data["key_id"] == key_id and data["previous_secret_until"] is not None
        wait_for(lambda: answer(two, second) == 200, timeout=1.0)
        assert answer(two, first) == answer(one, first) == 200  # within its grace
        time.sleep(max(0.0, grace_ends - time.time()))
        wait_for(lambda: answer(two, first) == 401, timeout=1.0)
        assert answer(one, first) == 401
        assert answer(two, second) == answer(one, second) == 200

        # Without grace: the secret of a moment ago stops at once on the other process.
        rolled = httpx.post(
            f"{one}/api/v1/keys/{key_id}/roll", json={"grace_seconds": 0}, headers=owner
        )
        assert rolled.status_code == 200 and rolled.json()["data"]["previous_secret_until"] is None
        third = rolled.json()["data"]["api_key"]
        wait_for(lambda: answer(two, second) == 401, timeout=1.0)
        assert answer(one, second) == 401
        wait_for(lambda: answer(two, third) == 200, timeout=1.0)


# --- the CLI shows the scopes a key has ---------------------------------------------------


def test_the_cli_shows_the_scopes_a_personal_key_has_as_introspection_does(
    database_url: str, client: TestClient, world: World
) -> None:
    cli = Cli(database_url)
    made = cli.json("key", "create", "--member", world.member_id)
    has = ["audiences:read", "segments:read", "events:read", "keys:manage"]  # a member's role
    assert made["scopes"] == has
    seen = client.get("/api/v1/key", headers=_bearer(str(made["api_key"]))).json()["data"]
    assert seen["scopes"] == has
    # the same object, field for field and in the same order, but the secret (once) and the
    # use the introspection itself just made
    shown = {name: value for name, value in made.items() if name != "api_key"}
    assert list(shown) == list(seen) and shown == {**seen, "last_used_at": None}
    rolled = cli.json("key", "roll", made["key_id"], "--grace", "1h")
    assert rolled["previous_secret_until"] is not None and "previous_until" not in rolled
    listed = cli.json("key", "list", "--member", world.member_id)
    assert [k["scopes"] for k in listed] == [has, has]  # the world's key and this one
    narrowed = cli.json("key", "create", "--member", world.member_id, "--scope", "segments:read")
    assert narrowed["scopes"] == ["segments:read"]


# --- organization keys outlive their creator, whichever surface deactivates them ---------


def test_organization_keys_outlive_a_creator_deactivated_in_the_dashboard_or_the_cli(
    clients: ClientFactory, service: Service, people: World, database_url: str
) -> None:
    second = service.add_member(SYSTEM, people.org_id, "o2@example.com", "O2", "owner")  # type: ignore[arg-type]
    made = []
    for creator in (people.owner_id, people.in_charge_id):
        if creator == people.in_charge_id:
            service.set_role(SYSTEM, creator, "owner")  # type: ignore[arg-type]
        _key, personal = service.create_key(SYSTEM, creator, "mine")
        answer = clients().post(
            "/api/v1/keys",
            json={"kind": "organization", "scopes": ["audiences:read", "segments:read"]},
            headers=_bearer(personal),
        )
        assert answer.status_code == 201, answer.text
        made.append((personal, answer.json()["data"]["api_key"]))

    service.set_password(SYSTEM, second.id, "correct horse battery staple")
    dashboard = clients()
    token = sign_in(dashboard, "o2@example.com")
    gone = dashboard.post(f"/app/members/{people.owner_id}/deactivate", data={"csrf_token": token})
    assert gone.status_code == 200, gone.text
    Cli(database_url).json("member", "deactivate", people.in_charge_id)

    api = clients()
    for personal, org_key in made:
        assert_error(api.get("/api/v1/key", headers=_bearer(personal)), 401, "invalid_api_key")
        assert api.get("/api/v1/brands", headers=_bearer(org_key)).status_code == 200
        assert _fetch(api, org_key, people).status_code == 200


# --- the CLI's client meets the refusals as fetchAudiences gives them --------------------


def test_zyntro_audiences_fetch_says_what_the_key_may_not_do(
    service: Service, database_url: str, world: World
) -> None:
    other = service.create_brand(SYSTEM, world.org_id, "Other brand")
    _id, reader = _org_key(service, world, "segments:read")
    _id, limited = _org_key(service, world, "audiences:read", brands=[world.brand_id])
    _id, elsewhere = _org_key(service, world, "audiences:read", allowlist=["2001:db8::/32"])
    cli = Cli(database_url)
    with live_server(database_url) as base:

        def fetch(key: str, brand_id: str) -> str:
            args = ["audiences", "fetch", "--org", world.org_id, "--brand", brand_id]
            result = cli.run(*args, "--url", base, "--api-key", "-", stdin=key + "\n")
            assert result.exit_code == 1 and result.stdout == "", result.output
            return result.stderr.strip()

        assert "scope audiences:read" in fetch(reader, world.brand_id)
        assert fetch(limited, other.id) == fetch(limited, "brand_nonexistent")
        assert "No brand" in fetch(limited, other.id)
        assert "IP address" in fetch(elsewhere, world.brand_id)
        ok = cli.run(
            "audiences",
            "fetch",
            "--org",
            world.org_id,
            "--brand",
            world.brand_id,
            "--url",
            base,
            "--api-key",
            "-",
            stdin=limited + "\n",
        )
        assert ok.exit_code == 0 and "Segment 0" in ok.stdout, ok.output


# --- introspection: when last used, and a rolled key -------------------------------------


def test_introspection_shows_when_the_key_was_last_used_and_its_roll(
    client: TestClient, service: Service, world: World
) -> None:
    key_id, old = _org_key(service, world, "audiences:read", "segments:read")
    before = client.get("/api/v1/key", headers=_bearer(old)).json()["data"]
    assert before["last_used_at"] is None and before["previous_secret_until"] is None
    assert _fetch(client, old, world).status_code == 200
    service.flush_usage()
    used = client.get("/api/v1/key", headers=_bearer(old)).json()["data"]
    assert used["last_used_at"] is not None
    _rolled, new = service.roll_key(SYSTEM, key_id)
    for secret in (old, new):  # the previous secret, in its grace, is the same key
        seen = client.get("/api/v1/key", headers=_bearer(secret))
        data = seen.json()["data"]
        assert data["key_id"] == key_id and data["prefix"] == new[:8]
        assert data["previous_secret_until"] is not None
        assert old not in seen.text and new not in seen.text
