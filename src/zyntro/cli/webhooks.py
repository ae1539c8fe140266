"""`zyntro webhook …` (create, list, delete, enable, test, deliveries) and `zyntro worker`."""

from __future__ import annotations

from typing import Any

import typer

from zyntro.cli.common import JsonOption, handle_errors, service, state
from zyntro.cli.output import emit, emit_table, show
from zyntro.identity import SYSTEM

webhook_app = typer.Typer(
    help="Signed webhooks: endpoints that receive events.", no_args_is_help=True
)

_AUTH_HELP = (
    "none, bearer (--auth-secret is the token), basic (--auth-user, --auth-secret), "
    "api_key (--auth-secret, optional --auth-header), custom_header (--auth-header, --auth-secret)."
)


def _auth(kind: str, user: str | None, secret: str | None, header: str | None) -> dict[str, Any]:
    """The `auth` object of the API from the command's options."""
    values: dict[str, Any] = {"type": kind}
    if kind == "bearer":
        values["token"] = secret
    elif kind == "basic":
        values.update(username=user, password=secret)
    elif kind == "api_key":
        values["key"] = secret
        if header:
            values["header_name"] = header
    elif kind == "custom_header":
        values.update(header_name=header, header_value=secret)
    return values


@webhook_app.command("create")
@handle_errors
def webhook_create(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    url: str = typer.Option(..., "--url", help="Where events are POSTed (http or https)."),
    event: list[str] = typer.Option(
        [], "--event", help="An event type to send (repeatable); all types when left out."
    ),
    brand: list[str] = typer.Option(
        [], "--brand", help="Only events of this brand (repeatable); every brand when left out."
    ),
    description: str = typer.Option("", "--description"),
    timeout: int = typer.Option(30, "--timeout", help="Seconds per attempt, 5-120."),
    auth_type: str = typer.Option("none", "--auth-type", help=_AUTH_HELP),
    auth_user: str | None = typer.Option(None, "--auth-user", help="basic: the user name."),
    auth_secret: str | None = typer.Option(
        None, "--auth-secret", envvar="ZYNTRO_WEBHOOK_AUTH_SECRET", help="The credential."
    ),
    auth_header: str | None = typer.Option(None, "--auth-header", help="The header's name."),
    as_json: bool = JsonOption,
) -> None:
    """Create a webhook; its signing secret is printed this once."""
    values = {
        "url": url,
        "events": event or ["*"],
        "brand_ids": brand,
        "description": description,
        "timeout_seconds": timeout,
        "auth": _auth(auth_type, auth_user, auth_secret, auth_header),
    }
    webhook, secret = service(ctx).create_webhook(SYSTEM, org, values)
    emit(
        as_json,
        {**webhook.to_public(), "secret": secret},
        f"Created webhook {webhook.id} for {webhook.url}",
        f"Signing secret: {secret}",
        "Store it now: it is shown only once (rotate it from the API or the dashboard).",
    )


@webhook_app.command("list")
@handle_errors
def webhook_list(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    as_json: bool = JsonOption,
) -> None:
    """List an organization's webhooks, with their status and failure count."""
    rows = [
        {**w.to_public(), "events": ",".join(w.events)}
        for w in service(ctx).list_webhooks(SYSTEM, org)
    ]
    columns = ["webhook_id", "url", "events", "status", "failure_count", "disabled_reason"]
    emit_table(as_json, rows, columns)


@webhook_app.command("delete")
@handle_errors
def webhook_delete(ctx: typer.Context, webhook_id: str, as_json: bool = JsonOption) -> None:
    """Delete a webhook and its deliveries."""
    service(ctx).delete_webhook(SYSTEM, webhook_id)
    emit(as_json, {"webhook_id": webhook_id, "deleted": True}, f"Deleted webhook {webhook_id}")


@webhook_app.command("enable")
@handle_errors
def webhook_enable(ctx: typer.Context, webhook_id: str, as_json: bool = JsonOption) -> None:
    """Enable a disabled webhook again (its failure count starts from 0)."""
    webhook = service(ctx).update_webhook(SYSTEM, webhook_id, {"enabled": True})
    emit(as_json, webhook.to_public(), f"Enabled webhook {webhook.id}")


@webhook_app.command("test")
@handle_errors
def webhook_test(ctx: typer.Context, webhook_id: str, as_json: bool = JsonOption) -> None:
    """Send a webhook.test event now and print how the endpoint answered."""
    from zyntro.webhooks.worker import Deliverer, DeliveryPolicy

    svc = service(ctx)
    queued = svc.test_webhook(SYSTEM, webhook_id)
    deliverer = Deliverer(svc.store, DeliveryPolicy.from_settings(state(ctx).settings))
    delivery = deliverer.deliver_now(queued.id)
    public = delivery.to_public()
    if delivery.state == "succeeded":
        code, latency = delivery.last_status_code, delivery.last_latency_ms
        line = f"Delivered {queued.event_id}: HTTP {code} in {latency} ms"
    elif delivery.last_status_code is not None:
        line = f"Not delivered {queued.event_id}: HTTP {delivery.last_status_code}"
    else:
        line = f"Not delivered {queued.event_id}: {delivery.last_error or 'no answer yet'}"
    if delivery.state == "pending" and public["next_retry_at"]:
        line += f" (retried from {public['next_retry_at']} UTC by a server or worker)"
    emit(as_json, public, line)


@webhook_app.command("deliveries")
@handle_errors
def webhook_deliveries(
    ctx: typer.Context,
    webhook_id: str,
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    as_json: bool = JsonOption,
) -> None:
    """A webhook's latest deliveries, newest first."""
    page, _more = service(ctx).webhook_deliveries(SYSTEM, webhook_id, limit)
    rows = [d.to_public() for d in page]
    if as_json:
        emit_table(True, rows, [])
        return
    columns = [
        "delivery_id",
        "event_type",
        "status",
        "attempts",
        "status_code",
        "latency_ms",
        "next_retry_at",
        "error",
    ]
    emit_table(False, rows, columns)


@handle_errors
def worker(ctx: typer.Context) -> None:
    """Deliver webhooks without serving HTTP, until stopped (SIGTERM or Ctrl+C)."""
    from zyntro.store import Store, migrate
    from zyntro.webhooks.worker import run_worker

    settings = state(ctx).settings
    store = Store(settings.database_url)
    try:
        migrate.prepare(store.engine)
        show("Delivering webhooks (Ctrl+C to stop)")
        run_worker(store, settings)
    finally:
        store.dispose()
    show("Stopped: every attempt in flight was recorded")
