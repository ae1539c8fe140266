"""Dashboard passwords: argon2id hashes, a length rule, session fingerprints, sign-in errors."""

from __future__ import annotations

import functools
import hashlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from zyntro.errors import ValidationFailed, ZyntroError

MIN_LENGTH = 10
MAX_LENGTH = 256


class InvalidCredentials(ZyntroError):
    code = "invalid_credentials"
    status = 401
    # One message for an unknown email and a wrong password: no oracle.
    default_message = "The email or password is incorrect."


class SessionEnded(ZyntroError):
    code = "signed_out"
    status = 401
    default_message = "Your session has ended. Please sign in again."


_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when no member matches, so a wrong email costs as long as a wrong password;
    made on first use (a hash costs tens of ms: every CLI command would pay it at import)."""
    return _hasher.hash("zyntro: no such member")


def validate_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationFailed("password", f"must be {MIN_LENGTH}-{MAX_LENGTH} characters long")
    if "\x00" in password:
        raise ValidationFailed("password", "must not contain NUL characters")
    return password


def hash_password(password: str) -> str:
    """An argon2id hash (salt and parameters included) of a valid password."""
    return _hasher.hash(validate_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; always spends one hash computation."""
    too_long = len(password) > MAX_LENGTH
    if too_long:
        password = password[:MAX_LENGTH]  # never hash unbounded input; still spend the time
    try:
        matched = _hasher.verify(stored_hash or _dummy_hash(), password)
        return matched and stored_hash is not None and not too_long
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def fingerprint(stored_hash: str | None) -> str:
    """A short digest of the hash: sessions carry it, so a new password ends old sessions."""
    if stored_hash is None:
        return ""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]
