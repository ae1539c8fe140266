"""Two-factor sign-in (TOTP): enrolment, the code after the password, recovery codes, turning
it off, an owner's reset, and the organization's requirement.

Every code is checked under the sign-in throttle (`service/throttle.py`): the code step of a
sign-in is counted on the counters of its email and source, like a password, and a wrong code
is never refunded. The server secret that seals the TOTP secrets (`zyntro/totp.py`) comes in
with the call, as the throttle's key does (`Origin.secret`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from zyntro import passwords
from zyntro.domain import Member, utcnow
from zyntro.errors import Conflict, Forbidden
from zyntro.identity import Actor
from zyntro.service.recording import record_audit
from zyntro.service.rules import member_actor, require_owner
from zyntro.service.signin import ANONYMOUS, NewSession, SignIn
from zyntro.service.throttle import Origin, count_attempt, counters, refund_attempt
from zyntro.store import queries
from zyntro.store.queries import two_factor as tf
from zyntro.store.queries.two_factor import Authenticator, SignInFacts
from zyntro.totp import (
    CodeAlreadyUsed,
    InvalidCode,
    PendingSignIn,
    SecretUnreadable,
    SignInExpired,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
    recovery_digest,
    seal,
    unseal,
)

log = logging.getLogger("zyntro.two_factor")


@dataclass(frozen=True)
class Enrolment:
    """What a member copies into an authenticator app: the secret and its `otpauth://` URI."""

    secret: str
    uri: str


@dataclass(frozen=True)
class TwoFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    required: bool  # by the member's organization


class TwoFactor(SignIn):
    """Two-factor sign-in for dashboard members."""

    SECOND_FACTOR_TIME = timedelta(minutes=10)  # from a right password to its code

    # --- signing in ----------------------------------------------------------------------

    def complete_sign_in(
        self, pending: PendingSignIn, code: str, origin: Origin
    ) -> tuple[Actor, NewSession]:
        """The second step of sign-in: a code from the authenticator, or a recovery code.
        Counted like a password attempt before it is checked; a right code takes back its
        own count and its password's."""
        now = utcnow()
        if not now - self.SECOND_FACTOR_TIME <= pending.started_at <= now:
            raise SignInExpired()
        keys = counters(origin, pending.email)
        with self._write() as conn:
            count_attempt(conn, keys, self._policy(), now)
        with self.store.read() as conn:
            member = queries.get_member(conn, pending.member_id)
            stored = queries.get_password_hash(conn, pending.member_id)
            authenticator = tf.get_authenticator(conn, pending.member_id)
        if (
            member is None
            or not member.active
            or passwords.fingerprint(stored) != pending.fingerprint
            or authenticator is None
            or not authenticator.enabled
        ):  # deactivated, a new password, or reset since the password was typed
            raise SignInExpired()
        actor = member_actor(member)
        try:
            with self._write() as conn:
                how = _spend_code(conn, member.id, authenticator, code, origin.secret, now)
                for _attempt in ("code", "password"):
                    refund_attempt(conn, keys, self._policy(), now)
                session = self._begin_session(conn, actor, member, stored, now)
                if how == "recovery":
                    _audit(conn, actor, "member.recovery_code_used", member, now)
        except InvalidCode:
            with self._write() as conn:
                queries.record_audit(
                    conn,
                    org_id=member.org_id,
                    actor=ANONYMOUS,
                    action="member.two_factor_failed",
                    target_type="member",
                    target_id=member.id,
                    moment=now,
                )
            raise
        return actor, session

    def session_state(self, member_id: str, fingerprint: str, token: str) -> tuple[Actor, bool]:
        """`session_actor`, and whether the member must set up two-factor sign-in before
        anything else (their organization requires it and they have none)."""
        with self.store.read() as conn:
            actor = self._session_actor(conn, member_id, fingerprint, token)
            return actor, tf.enrolment_due(conn, member_id)

    # --- the member's own ----------------------------------------------------------------

    def two_factor_status(self, actor: Actor, member_id: str) -> TwoFactorStatus:
        member = self._own(actor, member_id)
        with self.store.read() as conn:
            authenticator = tf.get_authenticator(conn, member.id)
            left = tf.recovery_codes_left(conn, member.id)
            required = tf.org_requires_two_factor(conn, member.org_id)
        on = authenticator is not None and authenticator.enabled
        confirmed_at = authenticator.confirmed_at if authenticator is not None else None
        return TwoFactorStatus(on, confirmed_at, left if on else 0, required)

    def begin_enrolment(self, actor: Actor, server_secret: str) -> Enrolment:
        """A new secret for the member's authenticator app; two-factor sign-in is on once a
        first code from it is confirmed. An unfinished enrolment is replaced."""
        member = self._own(actor, actor.member_id or "")
        secret = new_secret()
        with self._write() as conn:
            queries.lock_member(conn, member.id)
            found = tf.get_authenticator(conn, member.id)
            if found is not None and found.enabled:
                raise Conflict("Two-factor sign-in is on already: turn it off first.")
            tf.begin_authenticator(
                conn, member.id, seal(server_secret, member.id, secret), utcnow()
            )
        return Enrolment(secret, provisioning_uri(secret, member.email))

    def pending_enrolment(self, actor: Actor, server_secret: str) -> Enrolment | None:
        """The unfinished enrolment's secret, to show again after a wrong code."""
        member = self._own(actor, actor.member_id or "")
        with self.store.read() as conn:
            found = tf.get_authenticator(conn, member.id)
        if found is None or found.enabled:
            return None
        try:
            secret = unseal(server_secret, member.id, found.sealed_secret)
        except SecretUnreadable:
            return None
        return Enrolment(secret, provisioning_uri(secret, member.email))

    def confirm_enrolment(self, actor: Actor, code: str, server_secret: str) -> list[str]:
        """Turn two-factor sign-in on with a first code; returns the recovery codes, which
        are shown this once (only their digests are kept)."""
        member = self._own(actor, actor.member_id or "")
        now = utcnow()
        with self._write() as conn:
            queries.lock_member(conn, member.id)
            found = tf.get_authenticator(conn, member.id)
            if found is None or found.enabled:
                raise Conflict("There is no two-factor set-up to finish: start it again.")
            secret = unseal(server_secret, member.id, found.sealed_secret)
            step = matching_step(secret, code)
            if step is None:
                raise InvalidCode("That code is not right: type the code the app shows now.")
            tf.claim_step(conn, member.id, step)  # this code cannot also sign in
            tf.confirm_authenticator(conn, member.id, now)
            codes = new_recovery_codes()
            tf.replace_recovery_codes(
                conn, member.id, [recovery_digest(member.id, c) for c in codes]
            )
            _audit(conn, actor, "member.two_factor_enable", member, now)
        return codes

    def replace_recovery_codes(self, actor: Actor, code: str, origin: Origin) -> list[str]:
        """New recovery codes (the old ones stop working), for a right code."""
        codes = new_recovery_codes()
        member = self._own(actor, actor.member_id or "")

        def replace(conn: sa.Connection, now: datetime) -> None:
            tf.replace_recovery_codes(
                conn, member.id, [recovery_digest(member.id, c) for c in codes]
            )
            _audit(conn, actor, "member.recovery_codes_replace", member, now)

        self._with_code(actor, member, code, origin, replace)
        return codes

    def disable_two_factor(self, actor: Actor, code: str, origin: Origin) -> None:
        """Turn the member's own two-factor sign-in off, for a right code or recovery code."""
        member = self._own(actor, actor.member_id or "")

        def disable(conn: sa.Connection, now: datetime) -> None:
            tf.delete_authenticator(conn, member.id)
            _audit(conn, actor, "member.two_factor_disable", member, now)

        self._with_code(actor, member, code, origin, disable)

    # --- owners and the administrator ----------------------------------------------------

    def reset_two_factor(self, actor: Actor, member_id: str) -> Member:
        """An owner (or the administrator) turns a member's two-factor sign-in off, for a
        member who lost their authenticator and recovery codes; their sessions end."""
        member = self.get_member(actor, member_id)
        require_owner(actor, member.org_id)
        if actor.member_id == member.id:
            raise Forbidden("Turn your own two-factor sign-in off under Me, with a code.")
        now = utcnow()
        with self._write() as conn:
            if not tf.delete_authenticator(conn, member.id):
                raise Conflict(f"{member.name} has no two-factor sign-in to reset.")
            queries.delete_member_sessions(conn, member.id)
            _audit(conn, actor, "member.two_factor_reset", member, now)
        return member

    def set_two_factor_required(self, actor: Actor, org_id: str, required: bool) -> None:
        """Require two-factor sign-in of every member (those without it set it up at their
        next page), or stop requiring it. An owner must have it on first."""
        self.get_org(actor, org_id)
        require_owner(actor, org_id)
        now = utcnow()
        with self._write() as conn:
            if required and actor.member_id is not None:
                own = tf.get_authenticator(conn, actor.member_id)
                if own is None or not own.enabled:
                    raise Conflict(
                        "Turn on two-factor sign-in for yourself first (Me > Two-factor sign-in)."
                    )
            tf.set_org_requires_two_factor(conn, org_id, required)
            action = "org.require_two_factor" if required else "org.stop_requiring_two_factor"
            record_audit(conn, actor, action, ("org", org_id), org_id, now)

    def two_factor_required(self, actor: Actor, org_id: str) -> bool:
        self.get_org(actor, org_id)
        with self.store.read() as conn:
            return tf.org_requires_two_factor(conn, org_id)

    def sign_in_facts(self, actor: Actor, org_id: str) -> dict[str, SignInFacts]:
        """member id → last sign-in and whether two-factor sign-in is on: for owners."""
        self.get_org(actor, org_id)
        require_owner(actor, org_id)
        with self.store.read() as conn:
            return tf.sign_in_facts(conn, org_id)

    # --- helpers -------------------------------------------------------------------------

    def _own(self, actor: Actor, member_id: str) -> Member:
        """The member themselves: nobody sets up or turns off another member's authenticator."""
        member = self.get_member(actor, member_id)
        if actor.member_id != member.id:
            raise Forbidden("Members manage their own two-factor sign-in.")
        return member

    def _with_code(
        self,
        actor: Actor,
        member: Member,
        code: str,
        origin: Origin,
        then: Callable[[sa.Connection, datetime], None],
    ) -> None:
        """Run `then` in the transaction that spends a right code; counted like a password
        (always as the client address: a session guessing codes is a stranger)."""
        with self.store.read() as conn:
            authenticator = tf.get_authenticator(conn, member.id)
        if authenticator is None or not authenticator.enabled:
            raise Conflict("Two-factor sign-in is off.")
        keys = counters(origin, member.email)
        now = utcnow()
        with self._write() as conn:
            count_attempt(conn, keys, self._policy(), now)
        try:
            with self._write() as conn:
                _spend_code(conn, member.id, authenticator, code, origin.secret, now)
                refund_attempt(conn, keys, self._policy(), now)
                then(conn, now)
        except InvalidCode:
            with self._write() as conn:
                _audit(conn, actor, "member.two_factor_check_failed", member, now)
            raise


def _spend_code(
    conn: sa.Connection,
    member_id: str,
    authenticator: Authenticator,
    code: str,
    server_secret: str,
    now: datetime,
) -> str:
    """Accept a code once: an authenticator code of a later step than the last accepted
    ("totp"), or an unused recovery code ("recovery"); otherwise `InvalidCode`."""
    if looks_like_totp(code):
        try:
            secret = unseal(server_secret, member_id, authenticator.sealed_secret)
        except SecretUnreadable:
            log.warning(
                "the TOTP secret of %s does not open: ZYNTRO_SECRET_KEY changed?", member_id
            )
            raise
        step = matching_step(secret, code)
        if step is None:
            raise InvalidCode()
        if not tf.claim_step(conn, member_id, step):
            raise CodeAlreadyUsed()
        return "totp"
    if tf.use_recovery_code(conn, member_id, recovery_digest(member_id, code), now):
        return "recovery"
    raise InvalidCode()


def _audit(conn: sa.Connection, actor: Actor, action: str, member: Member, now: datetime) -> None:
    record_audit(conn, actor, action, ("member", member.id), member.org_id, now)
