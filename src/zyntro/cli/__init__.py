"""The `zyntro` command line: thin commands over `zyntro.service`."""

from __future__ import annotations

import sys

import typer

from zyntro.cli.accounts import brand_app, key_app, member_app, org_app
from zyntro.cli.agents import mcp
from zyntro.cli.audiences import audiences_app
from zyntro.cli.common import DEFAULT_DATABASE_URL, State
from zyntro.cli.doctor import doctor
from zyntro.cli.drafting import brand_profile, segment_draft
from zyntro.cli.history import events_app
from zyntro.cli.history import register as register_history
from zyntro.cli.output import visible
from zyntro.cli.segments import segment_app
from zyntro.cli.server import audit_app, db_app, demo, serve
from zyntro.cli.two_factor import member_reset_two_factor, org_require_two_factor
from zyntro.cli.webhooks import webhook_app, worker

app = typer.Typer(
    help="Zyntro Audiences: audience segments for brands, and the fetchAudiences API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="ZYNTRO_DATABASE_URL",
        help=f"SQLAlchemy URL (default {DEFAULT_DATABASE_URL}).",
    ),
) -> None:
    ctx.obj = State(database_url)
    ctx.call_on_close(ctx.obj.close)


app.command("demo")(demo)
app.command("serve")(serve)
app.command("doctor")(doctor)
app.command("mcp")(mcp)
app.command("worker")(worker)
app.add_typer(db_app, name="db")
org_app.command("require-2fa")(org_require_two_factor)
member_app.command("reset-2fa")(member_reset_two_factor)
app.add_typer(org_app, name="org")
app.add_typer(brand_app, name="brand")
app.add_typer(member_app, name="member")
app.add_typer(key_app, name="key")
segment_app.command("draft")(segment_draft)
brand_app.command("profile")(brand_profile)
register_history(segment_app)
app.add_typer(segment_app, name="segment")
app.add_typer(events_app, name="events")
app.add_typer(audit_app, name="audit")
app.add_typer(audiences_app, name="audiences")
app.add_typer(webhook_app, name="webhook")


def main() -> None:
    """The console script: like `app()`, but a usage error is one line on stderr too."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # Typer's usage errors (its own click)
        message = usage_message(exc)
        if "\n" in message and hasattr(exc, "show"):
            exc.show()  # a group called without a command: its help, as usual
        else:
            print(f"error: {visible(message)} (see --help)", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def usage_message(exc: Exception) -> str:
    """A usage error in our words: `--limit must be at least 1`, not pydantic's sentence."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    param, cause = getattr(exc, "param", None), exc.__cause__
    if getattr(param, "param_type_name", None) == "argument" and "Missing argument" in message:
        # As --help names it (TARGET_URL), not click's quoted 'target_url'.
        return f"{str(getattr(param, 'name', 'an argument')).upper()} is required"
    errors = getattr(cause, "errors", None)
    if param is None or not callable(errors):
        return str(message)
    from zyntro.wording import requirement

    found = errors()
    opts = [opt for opt in getattr(param, "opts", ()) if opt.startswith("--")]
    name = opts[0] if opts else str(getattr(param, "human_readable_name", "the value")).upper()
    return f"{name} {requirement(found[0])}" if found else str(message)
