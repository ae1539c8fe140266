"""The sign-in throttle: which counters a password attempt touches, and how they lock.

An attempt is counted *before* its password is checked, in a write transaction that holds
the counters' rows (PostgreSQL row locks, SQLite's write lock): however many arrive at once,
no more than a limit are ever checked. A right password refunds its count afterwards.

Counters (the limits are `SignIn.SIGN_IN_LIMITS`; docs/security.md has the policy):
- `source`: one email from one source, a client address or a known device (a browser that
  signed in to this email before and shows its signed cookie);
- `email`: one email from every source that is not a known device (the ceiling that keeps
  brute force bounded however many addresses it comes from);
- `client`: one client address, over every email (guessing across accounts).
Each lock lasts twice as long as the one before on the same counter, up to a day; a counter
that has been quiet for a day starts over.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from zyntro.errors import RateLimited
from zyntro.store import queries


@dataclass(frozen=True)
class Origin:
    """Where a password attempt comes from, and the server secret its counters are keyed
    under (settings' `secret_key`): a client address, and the known device it proved, if
    any (the device id of a signed cookie that names the email tried)."""

    secret: str
    address: str
    device: str | None = None


@dataclass(frozen=True)
class Policy:
    limits: Mapping[str, int]  # attempts counted within the counter's window before a lock
    windows: Mapping[str, timedelta]
    first_lock: timedelta
    longest_lock: timedelta
    memory: timedelta  # a counter quiet for this long forgets its earlier locks


def normalise_email(email: str) -> str:
    return email.strip().lower()[:254]


def _digest(secret: str, *parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def device_tag(secret: str, email: str) -> str:
    """What a known-device cookie holds for an email it signed in to (never the email)."""
    return _digest(secret, "device", normalise_email(email))[:32]


def email_key(origin: Origin, email: str) -> str:
    """The key of an email's counter: also how the audit log names an email no member has."""
    return _digest(origin.secret, "email", normalise_email(email))


def counters(origin: Origin, email: str) -> dict[str, str]:
    """kind → row key of every counter an attempt on `email` from `origin` touches."""
    email = normalise_email(email)
    if origin.device is not None:
        return {"source": _digest(origin.secret, "source", email, "device", origin.device)}
    return {
        "source": _digest(origin.secret, "source", email, "address", origin.address),
        "email": email_key(origin, email),
        "client": _digest(origin.secret, "client", origin.address),
    }


def count_attempt(
    conn: sa.Connection, keys: Mapping[str, str], policy: Policy, now: datetime
) -> None:
    """Count one attempt on every counter, or raise `RateLimited` (counting nothing) while
    any of them is locked."""
    rows = _claim(conn, keys, now)
    locked = [row.locked_until for row in rows.values() if _locked(row, now)]
    if locked:
        raise RateLimited(
            f"Too many failed sign-in attempts. Try again in {_duration(max(locked) - now)}."
        )
    for kind, row in rows.items():
        window = policy.windows[kind]
        fresh = row.locked_until is not None or row.window_started_at <= now - window
        failures = 1 if fresh else row.failures + 1
        lockouts = 0 if _quiet(row, now, policy) else row.lockouts
        locked_until = None
        if failures >= policy.limits[kind]:  # this attempt is checked; the next one waits
            locked_until = now + min(policy.first_lock * 2**lockouts, policy.longest_lock)
            lockouts += 1
        queries.update_sign_in_throttle(
            conn,
            row.key,
            failures=failures,
            window_started_at=now if fresh else row.window_started_at,
            locked_until=locked_until,
            lockouts=lockouts,
        )


def refund_attempt(
    conn: sa.Connection, keys: Mapping[str, str], policy: Policy, now: datetime
) -> None:
    """The password was right: its source starts over, and the shared counters take back
    the attempt (and the lock it set, if it was the one that reached the limit)."""
    for kind, row in _claim(conn, keys, now).items():
        if kind == "source":
            queries.delete_sign_in_throttle(conn, row.key)
            continue
        lock_was_ours = _locked(row, now) and row.failures == policy.limits[kind]
        queries.update_sign_in_throttle(
            conn,
            row.key,
            failures=max(0, row.failures - 1),
            window_started_at=row.window_started_at,
            locked_until=None if lock_was_ours else row.locked_until,
            lockouts=max(0, row.lockouts - 1) if lock_was_ours else row.lockouts,
        )


def _claim(conn: sa.Connection, keys: Mapping[str, str], now: datetime) -> dict[str, Any]:
    order = sorted(keys.items(), key=lambda item: item[1])  # one lock order for everyone
    return {kind: queries.claim_sign_in_throttle(conn, key, now) for kind, key in order}


def _locked(row: Any, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _quiet(row: Any, now: datetime, policy: Policy) -> bool:
    last: datetime = max(row.window_started_at, row.locked_until or row.window_started_at)
    return last <= now - policy.memory


def _duration(wait: timedelta) -> str:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{math.ceil(minutes / 60)} hours"
