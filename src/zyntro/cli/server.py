"""`zyntro db upgrade`, `zyntro serve`, `zyntro demo`, `zyntro audit list`."""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from zyntro.cli.backup import db_backup, db_copy, db_restore
from zyntro.cli.common import (
    DEMO_DATABASE,
    JsonOption,
    check_database_url,
    handle_errors,
    service,
    state,
)
from zyntro.cli.output import console, emit, emit_table, show
from zyntro.errors import ZyntroError
from zyntro.identity import SYSTEM

if TYPE_CHECKING:
    from zyntro.demo import DemoInfo
    from zyntro.settings import Settings

# What these commands run (granian, the app, Alembic) is imported inside them, when they run:
# `zyntro --help` and the other commands never load it (tests/test_cli_startup.py).


# Abuse limits of the HTTP server (docs/security.md). Slow clients cost the Rust side a socket,
# never a Python worker; these bound how long and how much of one they may hold. The request
# body's cap and deadline are the app's (api/body.py): granian has no body timeout.
BACKLOG = 2048  # connections the kernel queues before accept
# Connections one worker serves at once (a keep-alive one keeps its slot between requests);
# more wait, unread, on their sockets. Bodies being read hold at most half (api/body.py).
BACKPRESSURE = 512
HEADER_READ_TIMEOUT_MS = 5_000  # a request's headers must arrive within this (slowloris)
MAX_BUFFER_BYTES = 64 * 1024  # HTTP/1 read buffer: request line + headers must fit
MAX_HEADERS_BYTES = 32 * 1024  # HTTP/2 header list
MAX_STREAMS = 100  # HTTP/2 streams per connection

db_app = typer.Typer(help="Database schema, backups and copies.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration (SQLite or PostgreSQL)."""
    from zyntro.store import Store, migrate

    url = state(ctx).database_url
    check_database_url(url, create=True)
    store = Store(url)
    try:
        before = migrate.current_revision(store.engine)
        migrate.upgrade(store.engine)
        after = migrate.current_revision(store.engine)
        if before == after:
            show(f"Database schema already at revision {after}: nothing to migrate")
        elif before is None:
            show(f"Database schema created at revision {after}")
        else:
            show(f"Database schema migrated from revision {before} to {after}")
    finally:
        store.dispose()


db_app.command("backup")(db_backup)
db_app.command("restore")(db_restore)
db_app.command("copy")(db_copy)


@audit_app.command("list")
@handle_errors
def audit_list(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Recent changes in an organization, newest first."""
    rows = service(ctx).list_audit(SYSTEM, org, limit)
    emit_table(as_json, rows, ["at", "actor", "action", "target_type", "target_id"])


def run_server(settings: Settings) -> None:
    """Serve the app with granian; worker processes read the same settings from the env."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings, HTTP2Settings

    from zyntro.settings import get_settings

    os.environ["ZYNTRO_DATABASE_URL"] = settings.database_url
    os.environ["ZYNTRO_HOST"] = settings.host
    os.environ["ZYNTRO_PORT"] = str(settings.port)
    os.environ["ZYNTRO_WORKERS"] = str(settings.workers)
    os.environ["ZYNTRO_DEMO"] = "true" if settings.demo else "false"
    os.environ["ZYNTRO_WEBHOOK_ALLOW_PRIVATE"] = str(settings.webhook_allow_private).lower()
    get_settings.cache_clear()
    Granian(
        "zyntro.api.app:create_served_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        interface=Interfaces.RSGI,  # the public path over RSGI, the rest via ASGI (api/rsgi.py)
        log_access=False,  # the app writes its own structured access line
        # SIGTERM/SIGINT: each worker stops accepting, lets the requests in flight finish, then
        # runs the app's shutdown (usage and access log flushed); past this it is killed.
        workers_kill_timeout=settings.shutdown_seconds,
        backlog=BACKLOG,
        backpressure=BACKPRESSURE,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEADER_READ_TIMEOUT_MS,
            max_buffer_size=MAX_BUFFER_BYTES,
        ),
        http2_settings=HTTP2Settings(
            max_headers_size=MAX_HEADERS_BYTES, max_concurrent_streams=MAX_STREAMS
        ),
    ).serve()


def ensure_port_free(host: str, port: int) -> None:
    """Refuse to start where another program already listens.

    granian listens with SO_REUSEPORT, so a second server on a busy port would share it
    with the first (the kernel splitting the connections between them) instead of failing.
    A probe without SO_REUSEPORT cannot bind where anyone listens; SO_REUSEADDR lets it bind
    past the closed connections of a previous run (TIME_WAIT). It is closed before granian
    binds, so the port is served by this server alone unless taken in the instant between.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ZyntroError(
                f"cannot serve on {where}: the address is already in use (another server?)"
            ) from None
        raise ZyntroError(f"cannot serve on {where}: {exc.strerror or exc}") from None


def _check_ready(settings: Settings) -> None:
    from zyntro.settings import PLACEHOLDER_SECRET
    from zyntro.store import Store, migrate

    store = Store(settings.database_url)
    try:
        migrate.prepare(store.engine)
    finally:
        store.dispose()
    if not settings.demo and settings.secret_key == PLACEHOLDER_SECRET:
        console.print(
            "warning: ZYNTRO_SECRET_KEY is the placeholder; dashboard sign-in stays disabled",
            style="yellow",
        )


@handle_errors
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Default ZYNTRO_HOST or 127.0.0.1."),
    port: int | None = typer.Option(None, "--port", help="Default ZYNTRO_PORT or 8000."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Default ZYNTRO_WORKERS or 1."
    ),
) -> None:
    """Serve the HTTP API."""
    settings = state(ctx).settings
    overrides = {"host": host, "port": port, "workers": workers}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    ensure_port_free(settings.host, settings.port)
    _check_ready(settings)
    run_server(settings)


@handle_errors
def demo(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    database: Path = typer.Option(Path(DEMO_DATABASE), "--database", help="Demo SQLite file."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start from new demo data; the old file is moved aside, not lost."
    ),
    no_serve: bool = typer.Option(False, "--no-serve", help="Create the data, then exit."),
    as_json: bool = JsonOption,
) -> None:
    """Demo data in a local SQLite file (kept between runs), a ready curl line, and a server."""
    if not no_serve:  # before the demo database is touched: it may be the running demo's
        ensure_port_free(host, port)
    from zyntro.settings import Settings

    url = f"sqlite:///{database.resolve()}"
    info, moved = _demo_data(database, url, fresh)
    endpoint = f"http://{host}:{port}/apis/public/fetchAudiences.php"
    body = (
        f'{{"api_key": "{info.api_key}", "org_id": "{info.org_id}", "brand_id": "{info.brand_id}"}}'
    )
    curl = f"curl -s -X POST {endpoint} -H 'Content-Type: application/json' -d {shlex.quote(body)}"
    dashboard = f"http://{host}:{port}/app"
    # The demo's server lets webhooks reach this machine; the CLI on its data does too.
    cli = f"export ZYNTRO_DATABASE_URL={shlex.quote(url)} ZYNTRO_WEBHOOK_ALLOW_PRIVATE=true"
    client = (
        f"export ZYNTRO_BASE_URL=http://{host}:{port} ZYNTRO_ORG_ID={info.org_id} "
        f"ZYNTRO_API_KEY={info.api_key}"
    )
    command = _zyntro_command()
    if info.reused:
        kept = "  (kept from the last run, with a new key and password; --fresh starts anew)"
    elif moved is not None:
        kept = f"  (new; the previous demo data is kept in {moved})"
    else:
        kept = "  (new)"
    emit(
        as_json,
        {
            "org_id": info.org_id,
            "brand_id": info.brand_id,
            "member_id": info.member_id,
            "email": info.email,
            "api_key": info.api_key,
            "password": info.password,
            "dashboard_url": dashboard,
            "curl": curl,
            "command": command,
            "database": str(database),
            "database_url": url,
            "reused": info.reused,
            "moved_to": str(moved) if moved is not None else None,
        },
        "Zyntro Audiences demo",
        f"  database   {database}{kept}",
        f"  org_id     {info.org_id}",
        f"  brand_id   {info.brand_id}",
        f"  member_id  {info.member_id} ({info.email})",
        f"  api_key    {info.api_key}",
        "",
        f"Dashboard: {dashboard}",
        f"  email      {info.email}",
        f"  password   {info.password}",
        "",
        "Try it:",
        f"  {curl}",
        "",
        "To use the CLI on this data, in another terminal:",
        f"  {cli}",
        f"  {command} segment list --brand {info.brand_id}",
        "",
        "For the Python SDK, `zyntro audiences fetch` and the docs' examples:",
        f"  {client}",
        "",
    )
    if no_serve:
        return
    show(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    # The demo's webhooks may reach a receiver on this machine (docs/webhooks.md).
    demo_settings = Settings(database_url=url, host=host, port=port, workers=1, demo=True)
    run_server(demo_settings.model_copy(update={"webhook_allow_private": True}))


def _zyntro_command() -> str:
    """How to run this `zyntro` from another terminal: `zyntro` when that is the one on PATH,
    else its full path (`make run` runs `.venv/bin/zyntro`, which no shell finds by name)."""
    script = Path(sys.argv[0])
    if script.name != "zyntro":  # run some other way (python -m, a test runner)
        return "zyntro"
    found = shutil.which("zyntro")
    if found is not None and Path(found).resolve() == script.resolve():
        return "zyntro"
    return shlex.quote(str(script.absolute()))


def _demo_data(database: Path, url: str, fresh: bool) -> tuple[DemoInfo, Path | None]:
    """The earlier run's demo when there is one (nothing typed into it is lost), else new data;
    a file that is not a usable demo (or `--fresh`) is moved aside, never deleted."""
    from zyntro.demo import create_demo_data, reuse_demo_data

    moved = None
    if database.exists():
        if not fresh:
            try:
                info = reuse_demo_data(url)
            except Exception:  # not a database this version can open: keep it, start anew
                info = None
            if info is not None:
                return info, None
        moved = _move_aside(database)
    return create_demo_data(url), moved


def _move_aside(database: Path) -> Path:
    """`zyntro-demo.db` → `zyntro-demo.db.20261129-170512` (its -wal and -shm files with it)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = database.with_name(f"{database.name}.{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = database.with_name(f"{database.name}.{stamp}-{number}")
    for suffix in ("-wal", "-shm", ""):  # the file last: a crash leaves the main file in place
        source = Path(f"{database}{suffix}")
        if source.exists():
            source.rename(f"{target}{suffix}")
    return target
