"""`zyntro doctor`'s webhooks check: disabled webhooks, overdue deliveries, the address guard.

Returns (status, message, action) with the doctor's statuses (`ok`, `warning`, `problem`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zyntro.settings import Settings

BACKLOG_WARNING_SECONDS = 60  # a due delivery not attempted for this long: delivery lags
BACKLOG_PROBLEM_SECONDS = 15 * 60  # ... for this long: nothing is delivering


def webhook_health(settings: Settings) -> tuple[str, str, str]:
    """Disabled webhooks, deliveries overdue (no server or worker delivering, or too few), and
    the address guard turned off outside demo mode."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from zyntro.domain import utcnow
    from zyntro.store import Store
    from zyntro.store.engine import is_sqlite, normalise_url
    from zyntro.store.queries import webhooks as webhook_queries

    url = settings.database_url
    if is_sqlite(url):  # a check creates nothing: not even an empty SQLite file
        database = make_url(normalise_url(url)).database
        if not database or not Path(database).exists():
            return ("ok", "not checked: no database yet", "")
    store = Store(url)
    try:
        with store.read() as conn:
            disabled = webhook_queries.disabled_webhooks(conn)
            pending, overdue, oldest = webhook_queries.delivery_backlog(conn, utcnow())
    except sa.exc.SQLAlchemyError:
        return ("ok", "not checked: the database cannot be read (see database)", "")
    finally:
        store.dispose()
    lag = (utcnow() - oldest).total_seconds() if oldest is not None and overdue else 0.0
    if lag > BACKLOG_PROBLEM_SECONDS:
        return (
            "problem",
            f"{overdue} deliveries overdue, the oldest by {lag / 60:.0f} min: nothing delivers",
            "run `zyntro serve` (ZYNTRO_WEBHOOK_DELIVERY=true) or `zyntro worker`",
        )
    if disabled:
        names = ", ".join(f"{w.id} ({w.failure_count} failures)" for w in disabled[:3])
        return (
            "warning",
            f"{len(disabled)} webhook(s) disabled: {names}",
            "fix the endpoint, then enable it again (PATCH enabled=true, the dashboard, "
            "or `zyntro webhook enable`)",
        )
    if lag > BACKLOG_WARNING_SECONDS:
        return (
            "warning",
            f"{overdue} deliveries overdue, the oldest by {lag:.0f} s",
            "add delivery capacity (`zyntro worker`), or look for a slow endpoint",
        )
    if settings.webhook_allow_private and not settings.demo:
        return (
            "warning",
            "ZYNTRO_WEBHOOK_ALLOW_PRIVATE is on: webhooks may reach this network's private "
            "addresses",
            "turn it off in production",
        )
    return (
        "ok",
        f"{pending} deliveries pending, none overdue; private webhook targets are refused"
        if not settings.webhook_allow_private
        else f"{pending} deliveries pending, none overdue (demo: private targets allowed)",
        "",
    )
