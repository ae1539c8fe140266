"""Two-factor sign-in (issue 13, People), over SQLite and PostgreSQL: enrolment, the code
after the password, wrong codes counted in the sign-in throttle, no replay, single-use
recovery codes, the organization's requirement, turning it off, an owner's reset, what owners
see, and the secret sealed at rest."""

from __future__ import annotations

import functools
import re
from contextlib import ExitStack
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.cli import Cli
from tests.conftest import World
from tests.dashboard import (
    PASSWORD,
    SECRET,
    ClientFactory,
    csrf_of,
    dashboard_app,
    email_of,
    enrol,
    sign_in,
    submit_code,
    submit_password,
    totp_code,
)
from zyntro import passwords
from zyntro.errors import Conflict
from zyntro.service import SYSTEM, Service
from zyntro.service.throttle import Origin
from zyntro.store import queries
from zyntro.store.tables import audit_log, recovery_codes, sign_in_throttle, two_factor
from zyntro.totp import SecondFactorRequired, SignInExpired


@functools.cache
def _password_hash() -> str:
    return passwords.hash_password(PASSWORD)


@pytest.fixture
def people(service: Service, world: World) -> World:
    """The world's three members with `PASSWORD`: one argon2 hash for the whole module
    (each sign-in still verifies it for real), so fixtures spend no hashing time."""
    with service.store.write() as conn:
        for member_id in (world.owner_id, world.in_charge_id, world.member_id):
            queries.set_password_hash(conn, member_id, _password_hash())
    return world


SETUP_KEY = re.compile(r'<code id="setup-key">([A-Z2-7 ]+)</code>')
RECOVERY = re.compile(r"<li><code>([0-9a-z]{4}(?:-[0-9a-z]{4}){3})</code></li>")


def actions(service: Service, member_id: str) -> list[str]:
    """The audit log's actions on a member, oldest first."""
    with service.store.read() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.target_id == member_id)
            .order_by(audit_log.c.seq)
        )
        return [row.action for row in rows]


def signed_in(client: TestClient) -> bool:
    return client.get("/app/brands", follow_redirects=False).status_code == 200


def test_enrolment_in_the_dashboard_then_sign_in_with_a_code(
    service: Service, people: World, clients: ClientFactory
) -> None:
    owner = clients()
    email = email_of(service, people.owner_id)
    sign_in(owner, email)
    page = owner.get("/app/me/two-factor")
    assert "Set up two-factor sign-in" in page.text
    setup = owner.post("/app/me/two-factor/setup", data={"csrf_token": csrf_of(page.text)})
    assert setup.status_code == 200
    assert 'src="data:image/svg+xml' in setup.text  # the QR code, drawn by the server
    found = SETUP_KEY.search(setup.text)
    assert found, setup.text
    secret = found.group(1).replace(" ", "")
    assert f"secret={secret}" in setup.text  # the otpauth:// URI for manual entry
    token = csrf_of(setup.text)
    wrong = owner.post("/app/me/two-factor/confirm", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and "not right" in wrong.text
    assert SETUP_KEY.search(wrong.text).group(1).replace(" ", "") == secret  # type: ignore[union-attr]
    done = owner.post(
        "/app/me/two-factor/confirm", data={"code": totp_code(secret), "csrf_token": token}
    )
    assert done.status_code == 200
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "Two-factor sign-in is on." in done.text
    assert "member.two_factor_enable" in actions(service, people.owner_id)
    assert not RECOVERY.findall(owner.get("/app/me/two-factor").text)  # shown once
    reload = owner.get("/app/me/two-factor/confirm")  # the address bar after the form
    assert reload.url.path == "/app/me/two-factor" and not RECOVERY.findall(reload.text)

    browser = clients()
    response = submit_password(browser, email)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in/code?next=/app/brands"
    assert not signed_in(browser)  # a right password alone starts no session
    assert submit_code(browser, totp_code(secret, 1)).headers["location"] == "/app/brands"
    assert signed_in(browser)
    with service.store.read() as conn:
        counts = conn.execute(sa.select(sign_in_throttle.c.failures)).scalars().all()
    assert set(counts) <= {0}  # the password's count and the code's were both taken back


def test_a_wrong_code_is_refused_and_counts_in_the_sign_in_throttle(
    service: Service, people: World, clients: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Service, "SIGN_IN_LIMITS", {"source": 3, "email": 30, "client": 30})
    enrolled = enrol(service, people.member_id)
    email = email_of(service, people.member_id)
    browser = clients()
    assert submit_password(browser, email).status_code == 303  # attempt 1 (kept counted)
    wrong = submit_code(browser, "123456" if totp_code(enrolled.secret) != "123456" else "654321")
    assert wrong.status_code == 401  # attempt 2
    assert "not right" in wrong.text
    assert submit_code(browser, "not-a-recovery-code").status_code == 401  # attempt 3: locks
    locked = submit_code(browser, totp_code(enrolled.secret, 1))
    assert locked.status_code == 429  # even the right code, while locked
    assert "Too many failed sign-in attempts" in locked.text
    assert not signed_in(browser)
    assert actions(service, people.member_id).count("member.two_factor_failed") == 2


def test_a_code_cannot_be_replayed_within_its_window(
    service: Service, people: World, clients: ClientFactory
) -> None:
    enrolled = enrol(service, people.member_id)
    email = email_of(service, people.member_id)
    code = totp_code(enrolled.secret, 1)
    first, second = clients(), clients()
    assert submit_password(first, email).status_code == 303
    assert submit_password(second, email).status_code == 303
    assert submit_code(first, code).status_code == 303
    replayed = submit_code(second, code)  # seen over a shoulder, typed at once elsewhere
    assert replayed.status_code == 401
    assert "used already" in replayed.text
    # The code of the step before is older than the last one used: refused as well.
    assert submit_code(second, totp_code(enrolled.secret)).status_code == 401
    assert not signed_in(second)


def test_a_recovery_code_signs_in_once(
    service: Service, people: World, clients: ClientFactory
) -> None:
    enrolled = enrol(service, people.member_id)
    email = email_of(service, people.member_id)
    code = enrolled.recovery_codes[3]
    browser = clients()
    assert submit_password(browser, email).status_code == 303
    assert submit_code(browser, code.upper().replace("-", " ")).status_code == 303
    assert signed_in(browser)
    assert "member.recovery_code_used" in actions(service, people.member_id)
    status = service.two_factor_status(service.act_as(people.member_id), people.member_id)
    assert status.recovery_codes_left == 9
    again = clients()
    assert submit_password(again, email).status_code == 303
    assert submit_code(again, code).status_code == 401
    assert not signed_in(again)


def test_the_organization_requirement_sends_members_to_set_it_up(
    service: Service, people: World, clients: ClientFactory
) -> None:
    owner_actor = service.act_as(people.owner_id)
    with pytest.raises(Conflict, match="for yourself first"):
        service.set_two_factor_required(owner_actor, people.org_id, True)
    owner_2fa = enrol(service, people.owner_id)
    owner = clients()
    assert submit_password(owner, email_of(service, people.owner_id)).status_code == 303
    assert submit_code(owner, totp_code(owner_2fa.secret, 1)).status_code == 303
    members = owner.get("/app/members").text
    assert 'action="/app/members/two-factor"' in members
    response = owner.post(
        "/app/members/two-factor",
        data={"required": "on", "csrf_token": csrf_of(members)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "org.require_two_factor" in actions(service, people.org_id)
    assert signed_in(owner)  # the owner has it: nothing changes for them

    member = clients()
    sign_in_page = submit_password(member, email_of(service, people.member_id))
    assert sign_in_page.headers["location"] == "/app/brands"  # no code to ask yet
    for path in ("/app/brands", "/app/me/keys", "/app/members", f"/app/brands/{people.brand_id}"):
        gated = member.get(path, follow_redirects=False)
        assert gated.status_code == 303 and gated.headers["location"] == "/app/me/two-factor"
    page = member.get("/app/me/two-factor")
    assert "requires two-factor sign-in" in page.text
    blocked = member.post("/app/me/keys", data={"label": "x", "csrf_token": csrf_of(page.text)})
    assert blocked.url.path == "/app/me/two-factor"  # no key was made on the way
    assert service.list_keys(SYSTEM, people.member_id)[0].label == "member key"
    setup = member.post("/app/me/two-factor/setup", data={"csrf_token": csrf_of(page.text)})
    secret = SETUP_KEY.search(setup.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    member.post(
        "/app/me/two-factor/confirm",
        data={"code": totp_code(secret), "csrf_token": csrf_of(setup.text)},
    )
    assert signed_in(member)


def test_a_member_turns_it_off_with_a_code(
    service: Service, people: World, clients: ClientFactory
) -> None:
    enrolled = enrol(service, people.member_id)
    browser = clients()
    assert submit_password(browser, email_of(service, people.member_id)).status_code == 303
    assert submit_code(browser, totp_code(enrolled.secret, 1)).status_code == 303
    page = browser.get("/app/me/two-factor")
    token = csrf_of(page.text)
    wrong = browser.post("/app/me/two-factor/disable", data={"code": "x", "csrf_token": token})
    assert wrong.status_code == 401
    assert "member.two_factor_check_failed" in actions(service, people.member_id)
    off = browser.post(
        "/app/me/two-factor/disable",
        data={"code": enrolled.recovery_codes[0], "csrf_token": token},
    )
    assert "Two-factor sign-in is off." in off.text
    with service.store.read() as conn:
        assert conn.execute(sa.select(two_factor)).all() == []
        assert conn.execute(sa.select(recovery_codes)).all() == []
    assert sign_in(clients(), email_of(service, people.member_id))  # the password alone


def test_an_owner_resets_a_members_two_factor_and_sees_who_has_it(
    service: Service, people: World, clients: ClientFactory
) -> None:
    enrolled = enrol(service, people.member_id)
    member = clients()
    assert submit_password(member, email_of(service, people.member_id)).status_code == 303
    assert submit_code(member, totp_code(enrolled.secret, 1)).status_code == 303

    lead = clients()
    sign_in(lead, email_of(service, people.in_charge_id))
    page = lead.get("/app/members")
    assert "Last sign-in" not in page.text and "Reset 2FA" not in page.text  # owners only
    refused = lead.post(
        f"/app/members/{people.member_id}/two-factor/reset", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 403

    owner = clients()
    sign_in(owner, email_of(service, people.owner_id))
    members = owner.get("/app/members").text
    row = members[members.index(f'<tr id="{people.member_id}"') :]
    row = row[: row.index("</tr>")]
    assert "Reset 2FA" in row and ">on<" in row
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", row)  # the last sign-in
    own_row = members[members.index(f'<tr id="{people.owner_id}"') :]
    assert "Reset 2FA" not in own_row[: own_row.index("</tr>")]  # not their own: Me, with a code
    reset = owner.post(
        f"/app/members/{people.member_id}/two-factor/reset",
        data={"csrf_token": csrf_of(members)},
    )
    assert "is reset" in reset.text
    assert not signed_in(member)  # the member's sessions ended
    audit = actions(service, people.member_id)
    assert audit[-1] == "member.two_factor_reset"
    with service.store.read() as conn:
        actor = conn.execute(
            sa.select(audit_log.c.actor).where(audit_log.c.action == "member.two_factor_reset")
        ).scalar_one()
    assert actor == people.owner_id
    assert sign_in(clients(), email_of(service, people.member_id))  # the password alone now


def test_the_secret_is_sealed_and_another_server_secret_cannot_open_it(
    service: Service, people: World, database_url: str
) -> None:
    enrolled = enrol(service, people.member_id)
    with service.store.read() as conn:
        stored = conn.execute(sa.select(two_factor.c.secret)).scalar_one()
        digests = conn.execute(sa.select(recovery_codes.c.digest)).scalars().all()
    assert enrolled.secret not in stored and stored.startswith("v1.")
    assert not any(code in digest for code in enrolled.recovery_codes for digest in digests)
    # A new ZYNTRO_SECRET_KEY: authenticator codes cannot be checked; recovery codes still work.
    app = dashboard_app(service, database_url, secret_key=SECRET + "-rotated")
    email = email_of(service, people.member_id)
    with ExitStack() as stack:
        browser = stack.enter_context(TestClient(app))
        assert submit_password(browser, email).status_code == 303
        refused = submit_code(browser, totp_code(enrolled.secret, 1))
        assert refused.status_code == 401 and "secret key changed" in refused.text
        assert submit_code(browser, enrolled.recovery_codes[0]).status_code == 303
        assert signed_in(browser)


def test_the_cli_resets_and_requires_two_factor(
    service: Service, people: World, database_url: str
) -> None:
    cli = Cli(database_url)
    enrol(service, people.owner_id)
    enrol(service, people.member_id)
    listed = {row["member_id"]: row for row in cli.json("member", "list", "--org", people.org_id)}
    assert listed[people.member_id]["two_factor"] is True
    assert listed[people.in_charge_id]["two_factor"] is False
    assert "two_factor" in cli.ok("member", "list", "--org", people.org_id)
    required = cli.json("org", "require-2fa", people.org_id)
    assert required == {"org_id": people.org_id, "require_two_factor": True}
    assert service.two_factor_required(SYSTEM, people.org_id)
    reset = cli.ok("member", "reset-2fa", people.member_id)
    assert "is reset" in reset and "sessions have ended" in reset
    assert service.sign_in_facts(SYSTEM, people.org_id)[people.member_id].two_factor is False
    assert "no two-factor sign-in to reset" in cli.fails("member", "reset-2fa", people.member_id)
    cli.ok("org", "require-2fa", people.org_id, "--off")
    assert not service.two_factor_required(SYSTEM, people.org_id)
    seen = [
        (row["actor"], row["action"]) for row in cli.json("audit", "list", "--org", people.org_id)
    ]
    assert ("system", "member.two_factor_reset") in seen
    assert ("system", "org.require_two_factor") in seen
    assert ("system", "org.stop_requiring_two_factor") in seen


def test_the_code_step_ends_with_time_and_with_changes_to_the_member(
    service: Service, people: World
) -> None:
    enrolled = enrol(service, people.member_id)
    origin = Origin(SECRET, "192.0.2.10")
    with pytest.raises(SecondFactorRequired) as waiting:
        service.sign_in(email_of(service, people.member_id), PASSWORD, origin)
    pending = waiting.value.pending
    late = replace(pending, started_at=pending.started_at - timedelta(minutes=11))
    with pytest.raises(SignInExpired):
        service.complete_sign_in(late, totp_code(enrolled.secret, 1), origin)
    service.reset_two_factor(service.act_as(people.owner_id), people.member_id)
    with pytest.raises(SignInExpired):  # reset meanwhile: sign in again, with the password
        service.complete_sign_in(pending, totp_code(enrolled.secret, 1), origin)
