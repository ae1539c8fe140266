"""Two-factor sign-in's pieces with no storage: TOTP secrets and codes (pyotp), the secret
sealed at rest (AES-GCM, `cryptography`), recovery codes and their digests, and the errors.

pyotp and cryptography are imported on first use: the CLI's other commands never pay for them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from zyntro.errors import ZyntroError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ISSUER = "Zyntro Audiences"
STEP_SECONDS = 30  # RFC 6238's time step, what every authenticator app uses
DIGITS = 6
# Steps either side of now that are accepted: a code typed as it changes, a phone's clock a
# little off (RFC 6238 §5.2 recommends at most one step back).
WINDOW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's: no i, l, o, u
_RECOVERY_LENGTH = 16  # 80 bits
_SEALED_PREFIX = "v1."
_TOTP_CODE = re.compile(r"\d{6}")


class InvalidCode(ZyntroError):
    code = "invalid_code"
    status = 401
    default_message = (
        "That code is not right. Type the 6-digit code your authenticator app shows now, "
        "or one of your recovery codes."
    )


class CodeAlreadyUsed(InvalidCode):
    code = "code_already_used"
    default_message = "That code has been used already. Wait for the next one and type it."


class SecretUnreadable(InvalidCode):
    code = "authenticator_unreadable"
    default_message = (
        "Your authenticator can no longer be checked (the server's secret key changed): "
        "sign in with a recovery code, or ask an owner to reset your two-factor sign-in."
    )


class SignInExpired(ZyntroError):
    code = "sign_in_expired"
    status = 401
    default_message = "Signing in took too long. Type your email and password again."


def new_secret() -> str:
    """A random base32 TOTP secret of 160 bits (RFC 4226's recommended length)."""
    import pyotp

    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    """The `otpauth://` URI an authenticator app reads from the QR code."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step within the window whose code is `code` (compared in constant time)."""
    import pyotp

    code = code.strip().replace(" ", "")
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = current_step(now)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # no early exit: every step costs the same
    return found


def looks_like_totp(code: str) -> bool:
    """Six digits (spaces allowed) are an authenticator code; anything else a recovery code."""
    return bool(_TOTP_CODE.fullmatch(code.strip().replace(" ", "")))


# --- the secret at rest ------------------------------------------------------------------


def _cipher(server_secret: str) -> AESGCM:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"zyntro two-factor secret v1"
    ).derive(server_secret.encode())
    return AESGCM(key)


def seal(server_secret: str, member_id: str, secret: str) -> str:
    """The TOTP secret encrypted and authenticated under a key derived from the server
    secret, bound to its member (a row copied to another member does not open)."""
    nonce = os.urandom(12)
    sealed = _cipher(server_secret).encrypt(nonce, secret.encode(), member_id.encode())
    return _SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(server_secret: str, member_id: str, stored: str) -> str:
    """The TOTP secret, or `SecretUnreadable` when it was sealed under another server secret."""
    from cryptography.exceptions import InvalidTag

    if not stored.startswith(_SEALED_PREFIX):
        raise SecretUnreadable()
    try:
        raw = base64.urlsafe_b64decode(stored[len(_SEALED_PREFIX) :])
        plain = _cipher(server_secret).decrypt(raw[:12], raw[12:], member_id.encode())
    except (InvalidTag, ValueError):
        raise SecretUnreadable() from None
    return plain.decode()


# --- recovery codes ----------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like `7k2m-x9qa-3fpt-h4wd`: 80 random bits each, shown to the member once."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def recovery_digest(member_id: str, code: str) -> str:
    """What is stored of a recovery code. SHA-256 suffices: 80 random bits cannot be
    searched, and one digest per attempt is compared with the member's rows."""
    normal = "".join(c for c in code.lower() if c.isascii() and c.isalnum())[:64]
    return hashlib.sha256(f"{member_id}\x1f{normal}".encode()).hexdigest()


# --- sign-in in two steps ----------------------------------------------------------------


@dataclass(frozen=True)
class PendingSignIn:
    """A right password of a member with two-factor sign-in on: the code is still to come.
    The dashboard keeps it in the signed session cookie until then."""

    member_id: str
    email: str
    fingerprint: str  # of the password hash it was checked against
    started_at: datetime


class SecondFactorRequired(ZyntroError):
    """Raised by a right password when the member has two-factor sign-in on: no session
    begins until `complete_sign_in` has a right code."""

    code = "second_factor_required"
    status = 401
    default_message = "Type the code from your authenticator app to finish signing in."

    def __init__(self, pending: PendingSignIn) -> None:
        self.pending = pending
        super().__init__()
