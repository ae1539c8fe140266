"""Dashboard passwords, sign-in with its throttle, and the sessions they start."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from zyntro import passwords
from zyntro.domain import Member, utcnow
from zyntro.errors import ValidationFailed
from zyntro.identity import Actor
from zyntro.service.accounts import Accounts
from zyntro.service.recording import record_audit
from zyntro.service.rules import member_actor, require_owner
from zyntro.service.throttle import (
    Origin,
    Policy,
    count_attempt,
    counters,
    email_key,
    normalise_email,
    refund_attempt,
)
from zyntro.store import queries
from zyntro.store.queries import two_factor as two_factor_queries
from zyntro.totp import PendingSignIn, SecondFactorRequired

ANONYMOUS = "anonymous"  # the audit log's actor of a failed sign-in


@dataclass(frozen=True)
class NewSession:
    """What a session cookie carries: a random token (the database keeps only its digest)
    and the fingerprint of the password it began with."""

    token: str
    fingerprint: str


class SignIn(Accounts):
    """Members signing in to the dashboard; attempts are throttled in the database."""

    # Attempts within a window before a lock: per email and source (address or known
    # device), per email from every source but known devices, per client address.
    SIGN_IN_LIMITS = {"source": 5, "email": 30, "client": 30}
    SIGN_IN_WINDOWS = {
        "source": timedelta(hours=24),
        "email": timedelta(hours=24),
        "client": timedelta(minutes=15),
    }
    SIGN_IN_LOCK = timedelta(minutes=15)  # the first lock; each next one lasts twice as long
    SIGN_IN_LONGEST_LOCK = timedelta(hours=24)
    SIGN_IN_MEMORY = timedelta(hours=24)  # a counter quiet this long forgets earlier locks
    SESSION_LIFETIME = timedelta(days=7)  # at the latest; the cookie may end it sooner
    _PRUNE_SECONDS = 60.0
    _pruned_at = -_PRUNE_SECONDS

    def set_password(
        self,
        actor: Actor,
        member_id: str,
        password: str,
        current_password: str | None = None,
        origin: Origin | None = None,
    ) -> str:
        """Set a dashboard password: the member (who confirms the current one, checked and
        throttled as a sign-in from `origin`), an owner of the organization, or the
        administrator. Every session of the member ends; the new fingerprint is returned."""
        member = self.get_member(actor, member_id)
        confirming = not actor.is_system and actor.member_id == member.id
        if not confirming:
            require_owner(actor, member.org_id)
        passwords.validate_password(password)  # before a right current password is counted
        if confirming:
            if origin is None:
                raise ValueError("a member's own password change needs the attempt's origin")
            self._confirm_password(actor, member, current_password or "", origin)
        hashed = passwords.hash_password(password)
        now = utcnow()
        with self._write() as conn:
            if confirming:
                assert origin is not None
                refund_attempt(conn, counters(origin, member.email), self._policy(), now)
            queries.set_password_hash(conn, member.id, hashed)
            queries.delete_member_sessions(conn, member.id)
            record_audit(
                conn, actor, "member.set_password", ("member", member.id), member.org_id, now
            )
        return passwords.fingerprint(hashed)

    def _confirm_password(
        self, actor: Actor, member: Member, password: str, origin: Origin
    ) -> None:
        keys = counters(origin, member.email)
        now = utcnow()
        with self._write() as conn:
            count_attempt(conn, keys, self._policy(), now)
            stored = queries.get_password_hash(conn, member.id)
        if stored is None or passwords.verify_password(stored, password):
            return  # counted until the new password is written, then refunded with it
        with self._write() as conn:
            record_audit(
                conn,
                actor,
                "member.password_check_failed",
                ("member", member.id),
                member.org_id,
                now,
            )
        raise ValidationFailed("current_password", "is not your current password")

    def sign_in(self, email: str, password: str, origin: Origin) -> tuple[Actor, NewSession]:
        """The member an email and password belong to, and the session it begins.

        The attempt is counted before the password is checked (`service/throttle.py`); past
        a limit, sign-in is refused for a while without checking anything. A deactivated
        member's right password gets the very answer of a wrong one. A member with two-factor
        sign-in on gets `SecondFactorRequired` instead of a session.
        """
        address = normalise_email(email)
        keys = counters(origin, address)
        now = utcnow()
        self._prune(now)
        with self._write() as conn:
            count_attempt(conn, keys, self._policy(), now)
            found = queries.members_by_email(conn, address)
        matched: tuple[Member, str] | None = None
        refused: set[str] = set()
        for member, stored in found:
            if stored is not None and passwords.verify_password(stored, password):
                if member.active:
                    matched = (member, stored)
                    break
                refused.add(member.id)
        if not any(stored for _member, stored in found):
            passwords.verify_password(None, password)  # an unknown email takes as long
        if matched is None:
            with self._write() as conn:
                _record_failure(conn, found, refused, email_key(origin, address), now)
            raise passwords.InvalidCredentials()
        member, stored = matched
        actor = member_actor(member)
        pending: PendingSignIn | None = None
        session: NewSession | None = None
        with self._write() as conn:
            if passwords.needs_rehash(stored):
                stored = passwords.hash_password(password)
                queries.set_password_hash(conn, member.id, stored)
            authenticator = two_factor_queries.get_authenticator(conn, member.id)
            if authenticator is not None and authenticator.enabled:
                # No session and no refund yet: the attempt stays counted until a right code
                # (service/two_factor.py), so a known password does not reset the counters.
                pending = PendingSignIn(member.id, address, passwords.fingerprint(stored), now)
            else:
                refund_attempt(conn, keys, self._policy(), now)
                session = self._begin_session(conn, actor, member, stored, now)
        if pending is not None:
            raise SecondFactorRequired(pending)
        assert session is not None
        return actor, session

    @staticmethod
    def _begin_session(
        conn: sa.Connection, actor: Actor, member: Member, stored: str | None, now: datetime
    ) -> NewSession:
        """A signed-in member's new session, their last sign-in, and the audit row."""
        session = _insert_session(conn, member.id, passwords.fingerprint(stored), now)
        two_factor_queries.set_last_sign_in(conn, member.id, now)
        record_audit(conn, actor, "member.sign_in", ("member", member.id), member.org_id, now)
        return session

    def start_session(self, actor: Actor) -> NewSession:
        """A new session for a signed-in member (after they changed their own password)."""
        assert actor.member_id is not None
        with self._write() as conn:
            stored = queries.get_password_hash(conn, actor.member_id)
            return _insert_session(conn, actor.member_id, passwords.fingerprint(stored), utcnow())

    def end_session(self, token: str) -> None:
        """Sign-out: the session ends for every process at once (each request reads it)."""
        with self._write() as conn:
            queries.delete_session(conn, _session_id(token))

    def session_actor(self, member_id: str, fingerprint: str, token: str) -> Actor:
        """The actor of a dashboard session: not signed out, not older than the session
        lifetime, the member still active, with the same password as when it began."""
        with self.store.read() as conn:
            return self._session_actor(conn, member_id, fingerprint, token)

    def _session_actor(
        self, conn: sa.Connection, member_id: str, fingerprint: str, token: str
    ) -> Actor:
        found = queries.session_member(
            conn, _session_id(token), member_id, utcnow() - self.SESSION_LIFETIME
        )
        if found is None:
            raise passwords.SessionEnded()
        member, stored = found
        if (
            not member.active
            or stored is None
            or not hmac.compare_digest(passwords.fingerprint(stored), fingerprint)
        ):
            raise passwords.SessionEnded()
        return member_actor(member)

    def _policy(self) -> Policy:
        return Policy(
            limits=self.SIGN_IN_LIMITS,
            windows=self.SIGN_IN_WINDOWS,
            first_lock=self.SIGN_IN_LOCK,
            longest_lock=self.SIGN_IN_LONGEST_LOCK,
            memory=self.SIGN_IN_MEMORY,
        )

    def _prune(self, now: datetime) -> None:
        """Forget stale throttle counters and sessions, at most once a minute per process."""
        clock = time.monotonic()
        if clock - self._pruned_at < self._PRUNE_SECONDS:
            return
        self._pruned_at = clock
        with self._write() as conn:
            queries.prune_sign_in_throttle(conn, now - self.SIGN_IN_MEMORY)
            queries.prune_sessions(conn, now - self.SESSION_LIFETIME)


def _record_failure(
    conn: sa.Connection,
    found: list[tuple[Member, str | None]],
    refused: set[str],
    unknown_email: str,
    now: datetime,
) -> None:
    """Audit rows of a failed sign-in: one in each organization with a member of that email
    (`member.sign_in_refused` when it was a deactivated member's right password). An email
    no member has is kept without an organization, as its throttle key (never the email)."""
    for member, _stored in found:
        action = "member.sign_in_refused" if member.id in refused else "member.sign_in_failed"
        queries.record_audit(
            conn,
            org_id=member.org_id,
            actor=ANONYMOUS,
            action=action,
            target_type="member",
            target_id=member.id,
            moment=now,
        )
    if not found:
        queries.record_audit(
            conn,
            org_id=None,
            actor=ANONYMOUS,
            action="member.sign_in_failed",
            target_type="email",
            target_id=unknown_email,
            moment=now,
        )


def _insert_session(
    conn: sa.Connection, member_id: str, fingerprint: str, now: datetime
) -> NewSession:
    token = secrets.token_urlsafe(32)
    queries.insert_session(conn, _session_id(token), member_id, now)
    return NewSession(token=token, fingerprint=fingerprint)


def _session_id(token: str) -> str:
    """The stored id of a session token: its digest (the token has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()
