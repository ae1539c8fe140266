"""Dashboard passwords, sign-in with its throttle, and the sessions they start."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from zyntro import passwords
from zyntro.domain import utcnow
from zyntro.errors import Forbidden, RateLimited, ValidationFailed
from zyntro.identity import Actor
from zyntro.service.accounts import Accounts
from zyntro.service.recording import record_audit
from zyntro.service.rules import member_actor, require_owner
from zyntro.store import queries


class SignIn(Accounts):
    """Members signing in to the dashboard; failures are throttled in the database."""

    SIGN_IN_WINDOW = timedelta(minutes=15)
    SIGN_IN_LOCK = timedelta(minutes=15)
    # Failures within the window before a lock: per email, and per client address.
    SIGN_IN_LIMITS = {"email": 5, "client": 30}

    def set_password(
        self,
        actor: Actor,
        member_id: str,
        password: str,
        current_password: str | None = None,
    ) -> str:
        """Set a dashboard password: the member (who confirms the current one), an owner of the
        organization, or the administrator. Sessions signed in with the old one end; the new
        session fingerprint is returned."""
        member = self.get_member(actor, member_id)
        if not actor.is_system and actor.member_id == member.id:
            with self.store.read() as conn:
                stored = queries.get_password_hash(conn, member.id)
            if stored is not None and not passwords.verify_password(stored, current_password or ""):
                raise ValidationFailed("current_password", "is not your current password")
        else:
            require_owner(actor, member.org_id)
        hashed = passwords.hash_password(password)
        now = utcnow()
        with self._write() as conn:
            queries.set_password_hash(conn, member.id, hashed)
            record_audit(
                conn, actor, "member.set_password", ("member", member.id), member.org_id, now
            )
        return passwords.fingerprint(hashed)

    def sign_in(self, email: str, password: str, client: str) -> tuple[Actor, str]:
        """The member an email and password belong to, and the fingerprint its session carries.

        Failures count per email and per client address in the database, so every process
        shares them; past a limit, sign-in is refused for a while without checking anything.
        """
        address = email.strip().lower()[:254]
        throttle_keys = {
            "email": _sign_in_key("email", address),
            "client": _sign_in_key("client", client),
        }
        now = utcnow()
        with self.store.read() as conn:
            locked_until = queries.sign_in_locked_until(conn, list(throttle_keys.values()), now)
        if locked_until is not None:
            minutes = max(1, -(-int((locked_until - now).total_seconds()) // 60))
            raise RateLimited(
                f"Too many failed sign-in attempts. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}."
            )
        with self.store.read() as conn:
            candidates = [(m, h) for m, h in queries.members_by_email(conn, address) if h]
        matched = next(
            ((m, h) for m, h in candidates if passwords.verify_password(h, password)), None
        )
        if not candidates:
            passwords.verify_password(None, password)  # an unknown email takes as long
        if matched is None:
            self._sign_in_failed(throttle_keys, now)
            raise passwords.InvalidCredentials()
        member, stored = matched
        if not member.active:
            raise Forbidden("This member has been deactivated. Ask an owner of your organization.")
        actor = member_actor(member)
        with self._write() as conn:
            queries.clear_sign_in_throttle(conn, throttle_keys["email"])
            if passwords.needs_rehash(stored):
                stored = passwords.hash_password(password)
                queries.set_password_hash(conn, member.id, stored)
            record_audit(conn, actor, "member.sign_in", ("member", member.id), member.org_id, now)
        return actor, passwords.fingerprint(stored)

    def _sign_in_failed(self, throttle_keys: Mapping[str, str], now: datetime) -> None:
        with self._write() as conn:
            queries.prune_sign_in_throttle(conn, now - self.SIGN_IN_WINDOW, now)
            for kind, key in throttle_keys.items():
                row = queries.get_sign_in_throttle(conn, key, for_update=True)
                if row is None or row.window_started_at <= now - self.SIGN_IN_WINDOW:
                    failures, started = 1, now
                else:
                    failures, started = row.failures + 1, row.window_started_at
                locked = row.locked_until if row is not None else None
                if failures >= self.SIGN_IN_LIMITS[kind]:
                    locked, failures, started = now + self.SIGN_IN_LOCK, 0, now
                queries.put_sign_in_throttle(conn, key, failures, started, locked)

    def session_actor(self, member_id: str, fingerprint: str) -> Actor:
        """The actor of a dashboard session: the member must still be active, with the same
        password as when the session began."""
        with self.store.read() as conn:
            member = queries.get_member(conn, member_id)
            stored = queries.get_password_hash(conn, member_id) if member else None
        if (
            member is None
            or not member.active
            or stored is None
            or not hmac.compare_digest(passwords.fingerprint(stored), fingerprint)
        ):
            raise passwords.SessionEnded()
        return member_actor(member)


def _sign_in_key(kind: str, value: str) -> str:
    """A throttle row's key: a digest, so no email or address is stored."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
