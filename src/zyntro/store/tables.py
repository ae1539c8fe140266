"""The schema, in SQLAlchemy Core. Migrations under `migrations/` build exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones); always hands back aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


ID = sa.String(64)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Every member must use two-factor sign-in (service/two_factor.py).
    sa.Column("require_two_factor", sa.Boolean(), nullable=False, server_default=sa.false()),
)

brands = sa.Table(
    "brands",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # The fetchAudiences success body, kept by the service in every transaction that changes
    # the brand's segments; NULL when it has none. The endpoint's one read for a brand.
    sa.Column("public_body", sa.LargeBinary(), nullable=True),
    # The brand profile (what it sells, to whom, its voice): what drafting tells the model.
    sa.Column("profile_offering", sa.Text(), nullable=False, server_default=""),
    sa.Column("profile_audience", sa.Text(), nullable=False, server_default=""),
    sa.Column("profile_voice", sa.Text(), nullable=False, server_default=""),
    # "brand within org" and the org's brand list.
    sa.Index(None, "org_id", "id"),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_sign_in_at", UTCDateTime(), nullable=True),  # the dashboard's, for owners
    sa.UniqueConstraint("org_id", "email"),
    sa.CheckConstraint("role in ('owner', 'in_charge', 'member')", name="role"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # NULL for an organization key (owned by the organization, not by a member).
    sa.Column("member_id", ID, sa.ForeignKey("members.id"), nullable=True, index=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),  # SHA-256 hex; never the key
    sa.Column("prefix", sa.String(8), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    # Space-separated; NULL: not narrowed (scopes: all the member's role allows).
    sa.Column("scopes", sa.String(200), nullable=True),
    sa.Column("brands", sa.Text(), nullable=True),
    sa.Column("allowlist", sa.Text(), nullable=True),
    # After a roll: the previous secret's digest, accepted until previous_until.
    sa.Column("previous_digest", sa.String(64), nullable=True),
    sa.Column("previous_until", UTCDateTime(), nullable=True),
    sa.CheckConstraint("member_id IS NOT NULL OR scopes IS NOT NULL", name="org_key_scopes"),
    # Partial: nearly every row is NULL, and a full index's statistics would make SQLite's
    # planner scan the table instead of using it (store/hot.py's lookup of a rolled secret).
    sa.Index(
        None,
        "previous_digest",
        unique=True,
        sqlite_where=sa.text("previous_digest IS NOT NULL"),
        postgresql_where=sa.text("previous_digest IS NOT NULL"),
    ),
)

# Requests and errors per key and day (UTC), added up off the request path (zyntro/usage.py).
api_key_usage = sa.Table(
    "api_key_usage",
    metadata,
    sa.Column("key_id", ID, sa.ForeignKey("api_keys.id"), primary_key=True),
    sa.Column("day", sa.Date(), primary_key=True),
    sa.Column("requests", sa.Integer(), nullable=False),
    sa.Column("errors", sa.Integer(), nullable=False),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("brand_id", ID, sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # No foreign key: imported segments keep the creator id of the account they came from.
    sa.Column("initiated_by", ID, nullable=False),
    sa.Column("segment_label", sa.String(200), nullable=False),
    sa.Column("segment_tag", sa.String(200), nullable=False, server_default=""),
    sa.Column("segment_type", sa.String(40), nullable=False),
    sa.Column("segment_decision_drivers", sa.String(1000), nullable=False, server_default=""),
    sa.Column("segment_pain_points", sa.JSON(), nullable=False),
    sa.Column("segment_use_cases", sa.JSON(), nullable=False),
    sa.Column("segment_tone", sa.String(200), nullable=False, server_default=""),
    sa.Column("reasoning", sa.Text(), nullable=False, server_default=""),
    # The segment's served JSON object (`Segment.to_public`, orjson): a brand's body is these
    # joined. NULL only in rows written around the service; the rebuild encodes those itself.
    sa.Column("public_json", sa.LargeBinary(), nullable=True),
    # The endpoint's one read: a brand's segments in order.
    sa.Index(None, "brand_id", "created_at", "id"),
)

# One row per write, in the writing transaction: what other processes poll to drop cache entries.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("entity_id", ID, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("org_id", ID, nullable=True, index=True),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("target_type", sa.String(20), nullable=False),
    sa.Column("target_id", ID, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)

# --- dashboard and management API ---

# Password attempts, per email and source, per email, per client address, shared by every
# process. An attempt is counted before its password is checked and refunded if it was right.
sign_in_throttle = sa.Table(
    "sign_in_throttle",
    metadata,
    # HMAC-SHA256 (under the server secret) of what is counted: no email or address is stored.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("window_started_at", UTCDateTime(), nullable=False),
    sa.Column("locked_until", UTCDateTime(), nullable=True),
    # Locks in a row: each lasts twice as long as the one before (service/throttle.py).
    sa.Column("lockouts", sa.Integer(), nullable=False, server_default="0"),
)

# Dashboard sessions: the signed cookie names one, and sign-out deletes it for every process.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's random token
    sa.Column("member_id", ID, sa.ForeignKey("members.id"), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
)

# The first response to a POST with an Idempotency-Key, replayed for the same key (24 hours).
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("member_id", ID, primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("response", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
)

# A member's TOTP authenticator: begun at enrolment, on once a first code confirms it.
two_factor = sa.Table(
    "two_factor",
    metadata,
    sa.Column("member_id", ID, sa.ForeignKey("members.id"), primary_key=True),
    # The base32 secret sealed with AES-GCM under a key derived from ZYNTRO_SECRET_KEY.
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),  # NULL: enrolment not finished
    # The time step (Unix time // 30) of the last code accepted: no code of it or before it
    # is accepted again, so a code cannot be replayed within its window.
    sa.Column("last_step", sa.Integer(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# Single-use recovery codes: SHA-256 of the member id and the 80-bit code, never the code.
recovery_codes = sa.Table(
    "recovery_codes",
    metadata,
    sa.Column("member_id", ID, sa.ForeignKey("members.id"), primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("used_at", UTCDateTime(), nullable=True),
)

# --- events, trash and revisions ---

# The outbox: one row per event, written in the transaction of the change it tells of
# (service/recording.record_event). Readers page by `seq`: events are inserted just before
# their transaction commits, one writing transaction at a time (PostgreSQL: an advisory
# lock), so they become visible in `seq` order and a cursor never skips a late commit.
events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", ID, nullable=False, unique=True),  # evt_ + time-sortable id
    # segment.created|updated|deleted|restored, brand.created|renamed|deleted, webhook.test…
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("brand_id", ID, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),  # retention prune
    sa.Column("body", sa.Text(), nullable=False),  # the event's public JSON, as served
    # The feed's one read: an organization's events in `seq` order after a cursor.
    sa.Index(None, "org_id", "seq"),
)

# Deleted segments, kept (with the 12 fields as they were) until restored or purged.
trashed_segments = sa.Table(
    "trashed_segments",
    metadata,
    sa.Column("id", ID, primary_key=True),  # the segment's id, which a restore gives back
    sa.Column("brand_id", ID, sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=False, index=True),  # the purge's read
    sa.Column("deleted_by", sa.String(80), nullable=False),
    sa.Column("segment", sa.Text(), nullable=False),  # the public 12-field JSON
    sa.Index(None, "brand_id", "deleted_at"),
)

# Every change of a segment: who, when, and its 12 fields before and after (JSON; NULL before
# a creation and after a deletion). Gone with the segment when the trash is purged.
segment_revisions = sa.Table(
    "segment_revisions",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", ID, nullable=False, unique=True),  # rev_ + time-sortable id
    sa.Column("segment_id", ID, nullable=False),
    sa.Column("brand_id", ID, sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("before", sa.Text(), nullable=True),
    sa.Column("after", sa.Text(), nullable=True),
    sa.Index(None, "segment_id", "seq"),
    sa.Index(None, "brand_id"),
)

# --- webhooks (docs/webhooks.md) ---

# An organization's endpoints. The signing secret and the auth credentials are needed in full to
# send, so they are kept as given; no surface ever shows them back (docs/decisions.md).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("org_id", ID, sa.ForeignKey("organizations.id"), nullable=False, index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("events", sa.JSON(), nullable=False),  # event types, or ["*"]
    sa.Column("brand_ids", sa.JSON(), nullable=False),  # [] = every brand
    sa.Column("timeout_seconds", sa.Integer(), nullable=False),
    sa.Column("auth", sa.JSON(), nullable=False),  # {"type": ..., credentials}
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("previous_secret", sa.String(100), nullable=True),
    sa.Column("previous_secret_until", UTCDateTime(), nullable=True),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sa.String(200), nullable=False, server_default=""),
    # Attempts failed in a row, and when that run began (reset by a success or a PATCH).
    sa.Column("failure_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("failing_since", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# One event for one webhook: the payload as signed, and where its delivery stands. A worker
# claims a due row by moving `next_attempt_at` past its lease: a worker killed mid-delivery
# leaves the row due again when the lease ends (at-least-once).
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "webhook_id",
        ID,
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("org_id", ID, nullable=False),
    sa.Column("event_id", ID, nullable=False),
    sa.Column("event_type", sa.String(40), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # pending, succeeded, failed
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("claim", sa.String(32), nullable=True),  # the claiming worker's token
    sa.Column("final_attempt", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("last_status_code", sa.Integer(), nullable=True),
    sa.Column("last_latency_ms", sa.Integer(), nullable=True),
    sa.Column("last_response", sa.String(1024), nullable=False, server_default=""),
    sa.Column("last_error", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    # The workers' reads: due rows by time, and one webhook's due rows (migration 0011);
    # and a webhook's deliveries, newest first.
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "webhook_id", "state", "next_attempt_at"),
    sa.Index(None, "webhook_id", "id"),
)

# Every attempt, for the deliveries page.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "delivery_id",
        ID,
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("attempted_at", UTCDateTime(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("latency_ms", sa.Integer(), nullable=False),
    sa.Column("response", sa.String(1024), nullable=False, server_default=""),
    sa.Column("error", sa.String(200), nullable=False, server_default=""),
)
