"""`zyntro doctor`: what is wrong with a deployment, one check a line (docs/operations.md).

Each check is a small function of the settings returning a `Check`: `ok`, a `warning` (the
server runs, but something deserves a look) or a `problem` (the server cannot start, or runs
without something it was told to have). Checks never change anything: no file, table or key
is created, and a database is only read.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import secrets
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from zyntro.cli.output import byte_size
from zyntro.errors import ZyntroError
from zyntro.settings import PLACEHOLDER_SECRET, Settings

MIN_SECRET_CHARS = 32  # what `secrets.token_urlsafe(24)` gives: 192 bits
MiB = 1024 * 1024
DISK_PROBLEM_BYTES = 100 * MiB  # below this (or below the database's size): a problem
DISK_WARNING_BYTES = 1024 * MiB  # below this (or below twice the database's size): a warning
WAL_WARNING_BYTES = 64 * MiB  # a WAL this large (and larger than the database) is not checkpointed
BACKUP_WARNING_HOURS = 26  # a daily backup, with some slack
BACKUP_PROBLEM_HOURS = 7 * 24
TIMEOUT_SECONDS = 3.0  # each network probe (database, Redis, a running server)


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str
    action: str = ""  # what to do about it (empty when ok)


def ok(name: str, message: str) -> Check:
    return Check(name, Status.OK, message)


def warning(name: str, message: str, action: str) -> Check:
    return Check(name, Status.WARNING, message, action)


def problem(name: str, message: str, action: str) -> Check:
    return Check(name, Status.PROBLEM, message, action)


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; a check that fails unexpectedly is reported as a problem."""
    results = []
    for check in CHECKS:
        try:
            results.append(check(settings))
        except Exception as exc:
            name = check.__name__.removeprefix("check_")
            results.append(
                problem(name, f"the check failed: {type(exc).__name__}: {exc}", "report this")
            )
    return results


def check_database(settings: Settings) -> Check:
    """Reachable, and at the revision this version's migrations end at."""
    import sqlalchemy as sa

    from zyntro.store import migrate
    from zyntro.store.engine import create_engine, is_sqlite

    url = settings.database_url
    try:
        sqlite = is_sqlite(url)
        engine = create_engine(url)
    except (sa.exc.ArgumentError, ValueError):  # messages that may repeat the URL's password
        return problem("database", "ZYNTRO_DATABASE_URL is not a usable database URL", "correct it")
    if sqlite:
        path = _sqlite_path(url)
        if path is not None and not path.exists():
            engine.dispose()
            if not path.parent.is_dir():
                return problem(
                    "database",
                    f"the SQLite file's directory {path.parent} does not exist",
                    "create it, or correct ZYNTRO_DATABASE_URL",
                )
            return warning(
                "database",
                f"the SQLite file {path} does not exist yet",
                "run `zyntro db upgrade` (or `zyntro serve`, which creates it)",
            )
    try:
        current = migrate.current_revision(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        return problem(
            "database",
            f"cannot reach the database ({reason})",
            "check ZYNTRO_DATABASE_URL and that the database server runs",
        )
    except ZyntroError as exc:  # more than one revision recorded
        return problem("database", exc.message, "fix the alembic_version table by hand")
    finally:
        engine.dispose()
    head = migrate.script_head() or migrate.head_revision(engine)
    kind = "SQLite" if sqlite else "PostgreSQL"
    if current == head:
        return ok("database", f"{kind} reachable, schema at the current revision {head}")
    if current is not None and not migrate.known_revision(current):
        return problem(
            "database",
            f"the schema is at revision {current}, newer than this version knows ({head})",
            "run the Zyntro version that migrated it, or restore a backup",
        )
    found = f"revision {current}" if current else "no schema"
    if sqlite:  # `zyntro serve` migrates the embedded database itself
        return warning(
            "database",
            f"{kind} has {found}, the current revision is {head}",
            "run `zyntro db upgrade` (`zyntro serve` would migrate it at start)",
        )
    return problem(
        "database",
        f"{kind} has {found}, the current revision is {head}; the server refuses to start",
        "run `zyntro db upgrade`",
    )


def check_redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return ok("redis", "not configured: rate limits are counted per server process")
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return problem(
            "redis",
            f"ZYNTRO_REDIS_URL does not answer ({type(exc).__name__}): rate limits fail open",
            "start Redis, or correct ZYNTRO_REDIS_URL",
        )
    finally:
        client.close()
    return ok("redis", "reachable: rate limits are shared between the nodes")


def check_secret_key(settings: Settings) -> Check:
    secret = settings.secret_key
    generate = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if not secret or secret == PLACEHOLDER_SECRET:
        if settings.demo:
            return ok("secret", "the placeholder, in demo mode: a key per process is used")
        return problem(
            "secret",
            "ZYNTRO_SECRET_KEY is the placeholder: dashboard sign-in is disabled",
            f"set ZYNTRO_SECRET_KEY to a random value, e.g. `{generate}`",
        )
    if len(secret) < MIN_SECRET_CHARS:
        return warning(
            "secret",
            f"ZYNTRO_SECRET_KEY has {len(secret)} characters, fewer than {MIN_SECRET_CHARS}",
            f"use a longer random value, e.g. `{generate}`",
        )
    return ok("secret", f"set, {len(secret)} characters")


def check_bind(settings: Settings) -> Check:
    """The address resolves to one of this machine's, and the port is free or is served by a
    Zyntro server already (answering /healthz): both are fine for `zyntro serve` or a deploy."""
    host, port = settings.host, settings.port
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError) as exc:
        return problem("bind", f"{host} does not resolve ({exc})", "correct ZYNTRO_HOST")
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            if _zyntro_answers(str(address[0]), port):
                return ok("bind", f"{where} is served by a Zyntro server (/healthz answers)")
            return problem(
                "bind",
                f"{where} is held by another program: `zyntro serve` would refuse to start",
                "stop that program, or choose another ZYNTRO_PORT",
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            return problem(
                "bind", f"{host} is not an address of this machine", "correct ZYNTRO_HOST"
            )
        return problem("bind", f"cannot bind {where}: {exc.strerror or exc}", "choose another")
    return ok("bind", f"{where} is free for `zyntro serve`")


def check_proxy(settings: Settings) -> Check:
    """Coherent with a TLS proxy in front: a server reachable beyond this machine must be
    behind one, declared by listing its address in ZYNTRO_TRUSTED_PROXIES."""
    networks = []
    for entry in (part.strip() for part in settings.trusted_proxies.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            return problem(
                "proxy",
                f"ZYNTRO_TRUSTED_PROXIES holds {entry!r}, which is not an address or CIDR",
                "write comma-separated CIDRs, e.g. 127.0.0.1/32,10.0.0.0/8",
            )
    if any(network.prefixlen == 0 for network in networks):
        return warning(
            "proxy",
            "ZYNTRO_TRUSTED_PROXIES trusts every address: any client can choose the address "
            "the rate limiter counts",
            "list only the proxies' own addresses",
        )
    loopback = _is_loopback(settings.host)
    if networks:
        where = "loopback" if loopback else settings.host
        return ok("proxy", f"binds {where}, behind {len(networks)} trusted proxy range(s)")
    if loopback:
        return ok("proxy", "binds loopback only: reachable from this machine alone")
    return warning(
        "proxy",
        f"binds {settings.host} with no trusted proxy: plain HTTP (keys in clear) to "
        "anyone who can reach it, and a proxy's clients would share its address",
        "put a TLS proxy in front (docs/deploy.md) and set ZYNTRO_TRUSTED_PROXIES to its "
        "address, or bind 127.0.0.1",
    )


def check_webhooks(settings: Settings) -> Check:
    """Disabled webhooks, overdue deliveries, the address guard (zyntro/webhooks/health.py)."""
    from zyntro.webhooks.health import webhook_health

    status, message, action = webhook_health(settings)
    return Check("webhooks", Status(status), message, action)


def check_disk(settings: Settings) -> Check:
    """Room to grow, to checkpoint and to back up the SQLite file; a WAL being checkpointed."""
    from zyntro.store.engine import is_sqlite

    if not is_sqlite(settings.database_url):
        return ok("disk", "not applicable: the database is not a SQLite file")
    path = _sqlite_path(settings.database_url)
    if path is None or not path.parent.is_dir():
        return ok("disk", "not applicable: no SQLite file")
    size = path.stat().st_size if path.exists() else 0
    wal = Path(f"{path}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    free = shutil.disk_usage(path.parent).free
    figures = f"{byte_size(free)} free; database {byte_size(size)}, WAL {byte_size(wal_size)}"
    if free < max(DISK_PROBLEM_BYTES, size + wal_size):
        return problem("disk", figures, f"free space on {path.parent}")
    if free < max(DISK_WARNING_BYTES, 2 * (size + wal_size)):
        return warning("disk", figures, f"free space on {path.parent} soon")
    if wal_size > max(WAL_WARNING_BYTES, size):
        return warning(
            "disk",
            f"{figures}: the WAL is not being checkpointed",
            "look for a long-lived reader of the file; restarting the server checkpoints it",
        )
    return ok("disk", figures)


def check_backup(settings: Settings, now: float | None = None) -> Check:
    if not settings.backup_dir:
        return ok("backup", "no backup directory configured (ZYNTRO_BACKUP_DIR)")
    directory = Path(settings.backup_dir)
    if not directory.is_dir():
        return problem(
            "backup",
            f"ZYNTRO_BACKUP_DIR {directory} is not a directory",
            "create it, or correct ZYNTRO_BACKUP_DIR",
        )
    newest = max(
        (e.stat().st_mtime for e in os.scandir(directory) if _backup_file(e)), default=None
    )
    if newest is None:
        return warning("backup", f"no backup in {directory} yet", "run `zyntro db backup`")
    hours = ((time.time() if now is None else now) - newest) / 3600
    age = f"the newest backup in {directory} is {_hours(hours)} old"
    if hours > BACKUP_PROBLEM_HOURS:
        return problem("backup", age, "check the backup job; run `zyntro db backup`")
    if hours > BACKUP_WARNING_HOURS:
        return warning("backup", age, "check the backup job")
    return ok("backup", age)


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_database,
    check_redis,
    check_secret_key,
    check_bind,
    check_proxy,
    check_webhooks,
    check_disk,
    check_backup,
)


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _zyntro_answers(address: str, port: int) -> bool:
    """A Zyntro server answers /healthz there (a wildcard bind is asked on loopback)."""
    if address in ("0.0.0.0", ""):
        address = "127.0.0.1"
    elif address == "::":
        address = "::1"
    host = f"[{address}]" if ":" in address else address
    # The request id is random: a cache in front could not have answered it.
    request = urllib.request.Request(
        f"http://{host}:{port}/healthz", headers={"X-Request-ID": secrets.token_hex(8)}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return bool(response.status == 200 and response.headers.get("x-request-id"))
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _backup_file(entry: os.DirEntry[str]) -> bool:
    """A file, not hidden (a backup being written under a dot name is not one yet)."""
    return entry.is_file() and not entry.name.startswith(".")


def _hours(hours: float) -> str:
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"
