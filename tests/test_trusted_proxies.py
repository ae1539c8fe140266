"""ZYNTRO_TRUSTED_PROXIES: the client address behind a reverse proxy, from X-Forwarded-For only
when the socket's peer is a trusted proxy; for the public endpoint's invalid-key limit and for
the dashboard's sign-in throttle alike. (Through a real nginx: tests/test_deploy_nginx.py.)"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from tests.conftest import World
from tests.dashboard import PASSWORD, dashboard_app, email_of, sign_in, with_passwords
from tests.helpers import PATH
from tests.test_signin_hardening import WRONG, attempt, small_limits
from zyntro import keys
from zyntro.api.app import create_app
from zyntro.proxies import MAX_HOPS, TrustedProxies, parse_address, parse_networks
from zyntro.service import Service
from zyntro.settings import Settings

PROXY = "10.0.0.5"  # the proxy's address, inside the trusted network
TRUSTED = "10.0.0.0/24, 2001:db8:1::/64"


def proxies(value: str = TRUSTED) -> TrustedProxies:
    found = TrustedProxies.from_setting(value)
    assert found is not None
    return found


# --- the rules ------------------------------------------------------------------------------


def test_no_trusted_proxies_means_none_at_all() -> None:
    assert TrustedProxies.from_setting("") is None
    assert TrustedProxies.from_setting(" , ") is None


def test_a_spoofed_header_from_an_untrusted_peer_is_ignored() -> None:
    assert proxies().client("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    assert proxies().client("10.0.1.5", "198.51.100.1") == "10.0.1.5"  # just outside /24
    assert proxies().client("2001:db8:2::1", "198.51.100.1") == "2001:db8:2::1"


def test_a_trusted_peer_forwards_its_client() -> None:
    assert proxies().client(PROXY, "198.51.100.1") == "198.51.100.1"
    assert proxies().client(PROXY, " 198.51.100.1 ") == "198.51.100.1"
    assert proxies().client(PROXY, None) == PROXY  # no header: the peer itself
    assert proxies().client(PROXY, "") == PROXY


def test_the_right_most_untrusted_entry_is_the_client() -> None:
    # What the client wrote itself (left of what the proxy appended) is ignored.
    assert proxies().client(PROXY, "1.1.1.1, 2.2.2.2, 198.51.100.1") == "198.51.100.1"
    # A chain of trusted proxies is walked through to the first untrusted hop.
    chain = "1.1.1.1, 198.51.100.1, 10.0.0.7, 10.0.0.6"
    assert proxies().client(PROXY, chain) == "198.51.100.1"
    # Every entry trusted: the left-most one (a request from inside the network).
    assert proxies().client(PROXY, "10.0.0.9, 10.0.0.7") == "10.0.0.9"


def test_ipv6_peers_entries_and_ports() -> None:
    v6 = "2001:db8:1::10"
    assert proxies().client(v6, "2001:db8:ffff::1") == "2001:db8:ffff::1"
    assert proxies().client(v6, "[2001:db8:ffff::1]:4711") == "2001:db8:ffff::1"
    assert proxies().client(v6, "2001:DB8:FFFF:0::1") == "2001:db8:ffff::1"  # canonical
    assert proxies().client(PROXY, "198.51.100.1:4711") == "198.51.100.1"
    assert proxies().client(PROXY, "::ffff:198.51.100.1") == "198.51.100.1"  # IPv4-mapped
    assert proxies().client("::ffff:10.0.0.5", "198.51.100.1") == "198.51.100.1"
    assert proxies("::1").client("::1", "198.51.100.1, ::1") == "198.51.100.1"


@pytest.mark.parametrize(
    "forwarded",
    ["unknown", "not an address", "198.51.100.1:http", "[2001:db8::1", "[::1]x", "300.1.1.1", ","],
)
def test_a_malformed_entry_stops_at_the_last_trusted_hop(forwarded: str) -> None:
    assert proxies().client(PROXY, forwarded) == PROXY
    # Behind a second trusted hop, that hop is the client: never the malformed text.
    assert proxies().client(PROXY, f"{forwarded}, 10.0.0.7") == "10.0.0.7"
    # Left of the client, malformed entries are never looked at.
    assert proxies().client(PROXY, f"{forwarded}, 198.51.100.1") == "198.51.100.1"


def test_at_most_max_hops_entries_are_looked_at() -> None:
    trusted_chain = ", ".join(["10.0.0.9"] * (MAX_HOPS + 5))
    assert proxies().client(PROXY, "198.51.100.1, " + trusted_chain) == "10.0.0.9"


def test_parsing_of_addresses_and_networks() -> None:
    assert str(parse_address("[::1]")) == "::1"
    assert parse_address("") is None
    assert parse_address("1.2.3.4:") is None
    assert parse_networks("10.0.0.1, 10.1.2.3/16 ,::1,fd00::/8") == parse_networks(
        "10.0.0.1/32,10.1.0.0/16,::1/128,fd00::/8"
    )
    with pytest.raises(ValueError, match="'10.0.0.0/33'"):
        parse_networks("10.0.0.1, 10.0.0.0/33")


def test_the_setting_is_checked_and_normalised() -> None:
    settings = Settings(trusted_proxies=" 127.0.0.1 , 10.1.2.3/16, ::1 ")
    assert settings.trusted_proxies == "127.0.0.1/32, 10.1.0.0/16, ::1/128"
    assert Settings().trusted_proxies == ""
    with pytest.raises(ValidationError, match="nginx.internal"):
        Settings(trusted_proxies="nginx.internal")


# --- where it is used -------------------------------------------------------------------------


def _guesses(client: TestClient, world: World, forwarded: str, count: int) -> list[int]:
    return [
        client.post(
            PATH,
            json=world.body(api_key=keys.generate_key()),
            headers={"X-Forwarded-For": forwarded},
        ).status_code
        for _ in range(count)
    ]


def test_the_invalid_key_limit_counts_the_forwarded_client(
    service: Service, settings: Settings, world: World
) -> None:
    settings = settings.model_copy(
        update={"invalid_key_rate_limit": "2/minute", "trusted_proxies": "10.0.0.0/24"}
    )
    app = create_app(settings, service)
    with TestClient(app, client=(PROXY, 40000)) as via_proxy:
        assert _guesses(via_proxy, world, "198.51.100.1", 3) == [401, 401, 429]
        # Another client behind the same proxy has its own quota...
        assert _guesses(via_proxy, world, "198.51.100.2", 2) == [401, 401]
        # ...and one that prepends a made-up address is still counted as itself.
        assert _guesses(via_proxy, world, "192.0.2.77, 198.51.100.1", 1) == [429]
    # Not through a trusted proxy: the header is the sender's own invention, and ignored.
    with TestClient(app, client=("203.0.113.9", 40000)) as direct:
        statuses = [_guesses(direct, world, f"192.0.2.{n}", 1)[0] for n in range(3)]
        assert statuses == [401, 401, 429]


def test_without_the_setting_the_header_is_ignored(
    service: Service, settings: Settings, world: World
) -> None:
    app = create_app(settings.model_copy(update={"invalid_key_rate_limit": "2/minute"}), service)
    with TestClient(app, client=(PROXY, 40000)) as client:
        statuses = [_guesses(client, world, f"198.51.100.{n}", 1)[0] for n in range(3)]
        assert statuses == [401, 401, 429]


@pytest.fixture
def people(service: Service, world: World) -> World:
    return with_passwords(service, world)


def test_the_sign_in_throttle_counts_the_forwarded_client(
    service: Service, database_url: str, people: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_limits(monkeypatch, source=2, email=50, client=50)
    app = dashboard_app(service, database_url, trusted_proxies="10.0.0.0/24")
    email = email_of(service, people.owner_id)

    def browser(stack: ExitStack, peer: str, forwarded: str) -> TestClient:
        headers = {"X-Forwarded-For": forwarded}
        return stack.enter_context(TestClient(app, client=(peer, 50000), headers=headers))

    with ExitStack() as stack:
        attacker = browser(stack, PROXY, "198.51.100.66")
        for _ in range(2):
            assert attempt(attacker, email, WRONG).status_code == 401
        assert attempt(attacker, email, PASSWORD).status_code == 429
        # The owner comes through the same proxy from another address: not locked out.
        sign_in(browser(stack, PROXY, "198.51.100.1"), email)
        # A sender that is not a trusted proxy cannot pick its address by the header.
        direct = [browser(stack, "203.0.113.9", f"192.0.2.{n}") for n in range(3)]
        assert [attempt(b, email, WRONG).status_code for b in direct[:2]] == [401, 401]
        assert attempt(direct[2], email, PASSWORD).status_code == 429
