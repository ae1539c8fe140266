"""The dashboard session: a signed cookie holding the member, the token of its session row, a
password fingerprint, a CSRF token and a one-shot notice (or, between a right password and its
two-factor code, the sign-in that waits for the code); and the known-device cookie that
sign-in leaves. Signed, not encrypted: neither holds a password, a key or a TOTP secret."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from zyntro.settings import PLACEHOLDER_SECRET, Settings
from zyntro.totp import PendingSignIn

COOKIE = "zyntro_session"
MAX_AGE_SECONDS = 12 * 60 * 60
DEVICE_COOKIE = "zyntro_device"
DEVICE_MAX_AGE_SECONDS = 90 * 24 * 60 * 60
DEVICE_ACCOUNTS = 5  # emails a device is remembered for, the latest signed in to first
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SALT = "zyntro.dashboard.session"
_DEVICE_SALT = "zyntro.dashboard.device"
# Demo mode with the placeholder secret signs with a key that lives as long as the process.
_DEMO_SECRET = secrets.token_urlsafe(32)


def signing_secret(settings: Settings) -> str | None:
    """The key that signs sessions; None while it is the placeholder outside demo mode."""
    secret = settings.secret_key
    if secret and secret != PLACEHOLDER_SECRET:
        return secret
    return _DEMO_SECRET if settings.demo else None


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    member_id: str | None = None
    fingerprint: str = ""
    token: str = ""  # names the session's row: sign-out deletes it
    notice: str | None = None
    pending: PendingSignIn | None = None  # a right password waiting for its two-factor code
    changed: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"c": self.csrf}
        if self.member_id:
            data["m"], data["f"], data["s"] = self.member_id, self.fingerprint, self.token
        if self.notice:
            data["n"] = self.notice
        if self.pending is not None:
            p = self.pending
            data["p"] = [p.member_id, p.email, p.fingerprint, int(p.started_at.timestamp())]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Session | None:
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        member_id, fingerprint, notice = data.get("m"), data.get("f", ""), data.get("n")
        if member_id is not None and not isinstance(member_id, str):
            return None
        return cls(
            csrf=data["c"],
            member_id=member_id,
            fingerprint=str(fingerprint),
            token=str(data.get("s", "")),
            notice=notice if isinstance(notice, str) else None,
            pending=_pending(data.get("p")),
        )

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf.encode(), token.encode())

    def begin(self, member_id: str, fingerprint: str, token: str) -> None:
        """Sign in: a new CSRF token, so nothing learnt before sign-in carries over."""
        self.csrf = secrets.token_urlsafe(24)
        self.member_id, self.fingerprint, self.token = member_id, fingerprint, token
        self.pending = None
        self.changed = True

    def await_code(self, pending: PendingSignIn) -> None:
        """The password was right; sign-in goes on with a two-factor code."""
        self.pending = pending
        self.changed = True

    def end(self) -> None:
        self.csrf = secrets.token_urlsafe(24)
        self.member_id, self.fingerprint, self.token, self.notice = None, "", "", None
        self.pending = None
        self.changed = True

    def flash(self, notice: str) -> None:
        """A line shown once, on the next page (after a redirect)."""
        self.notice = notice
        self.changed = True

    def take_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        if notice:
            self.changed = True
        return notice


def _pending(value: Any) -> PendingSignIn | None:
    if not (isinstance(value, list) and len(value) == 4):
        return None
    member_id, email, fingerprint, started = value
    if not all(isinstance(v, str) for v in (member_id, email, fingerprint)):
        return None
    try:
        moment = datetime.fromtimestamp(started, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return PendingSignIn(member_id, email, fingerprint, moment)


@dataclass(frozen=True)
class KnownDevice:
    """A browser that signed in before: its id, and tags of the emails it signed in to."""

    id: str
    accounts: tuple[str, ...]

    def knows(self, tag: str) -> bool:
        return any(hmac.compare_digest(tag, account) for account in self.accounts)

    def remembering(self, tag: str) -> KnownDevice:
        others = tuple(account for account in self.accounts if account != tag)
        return KnownDevice(self.id, (tag, *others)[:DEVICE_ACCOUNTS])


class SessionCodec:
    """Reads and writes the session and known-device cookies for one signing secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._devices = URLSafeTimedSerializer(secret, salt=_DEVICE_SALT)

    def load(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # tampered, from another secret, or expired
            return None
        return Session.from_json(data)

    def save(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(session.to_json()),
            max_age=MAX_AGE_SECONDS,
            path="/app",
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )

    def load_device(self, request: Request) -> KnownDevice | None:
        raw = request.cookies.get(DEVICE_COOKIE)
        if not raw:
            return None
        try:
            data = self._devices.loads(raw, max_age=DEVICE_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("d"), str):
            return None
        accounts = data.get("a")
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            return None
        return KnownDevice(data["d"], tuple(accounts[:DEVICE_ACCOUNTS]))

    def save_device(self, request: Request, response: Response, device: KnownDevice) -> None:
        response.set_cookie(
            DEVICE_COOKIE,
            self._devices.dumps({"d": device.id, "a": list(device.accounts)}),
            max_age=DEVICE_MAX_AGE_SECONDS,
            path="/app",
            httponly=True,
            samesite="lax",
            secure=is_https(request),
        )


def new_device() -> KnownDevice:
    return KnownDevice(secrets.token_urlsafe(16), ())


def is_https(request: Request) -> bool:
    """True when the browser speaks https to us, directly or through a proxy that says so."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"
