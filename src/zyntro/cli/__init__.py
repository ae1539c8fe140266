"""The `zyntro` command line: thin commands over `zyntro.service`."""

from __future__ import annotations

import typer

from zyntro.cli.accounts import brand_app, key_app, member_app, org_app
from zyntro.cli.audiences import audiences_app
from zyntro.cli.common import State
from zyntro.cli.segments import segment_app
from zyntro.cli.server import audit_app, db_app, demo, serve

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
        help="SQLAlchemy URL (default sqlite:///./zyntro.db).",
    ),
) -> None:
    ctx.obj = State(database_url)
    ctx.call_on_close(ctx.obj.close)


app.command("demo")(demo)
app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(brand_app, name="brand")
app.add_typer(member_app, name="member")
app.add_typer(key_app, name="key")
app.add_typer(segment_app, name="segment")
app.add_typer(audit_app, name="audit")
app.add_typer(audiences_app, name="audiences")


def main() -> None:
    app()
