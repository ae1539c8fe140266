"""PostgreSQL's own client tools, `pg_dump` and `pg_restore`, run for a database URL.

The password never goes on the command line (other users see it in `ps`): it is handed over
in `PGPASSWORD`. The tools must be on PATH and at least as new as the server, or the error says
which package to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from zyntro.errors import ZyntroError
from zyntro.store.engine import normalise_url

_VERSION = re.compile(r"\(PostgreSQL\)\s+((\d+)[\w.]*)")  # "pg_dump (PostgreSQL) 15.20 (…)"


def server_major(engine: sa.Engine) -> int:
    """The server's major version (`SHOW server_version_num`: 150004 is 15)."""
    with engine.connect() as conn:
        number = int(conn.exec_driver_sql("SHOW server_version_num").scalar_one())
    return number // 10_000


def tool(name: str, server: int) -> str:
    """The path of `pg_dump` or `pg_restore`, checked to be as new as the server."""
    path = shutil.which(name)
    package = f"postgresql-client-{server}"
    if path is None:
        raise ZyntroError(
            f"{name} is not on PATH: install the PostgreSQL {server} client tools "
            f"(Debian/Ubuntu: {package})"
        )
    try:
        output = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ZyntroError(f"{path} --version failed: {exc}") from None
    match = _VERSION.search(output)
    if match is None:
        raise ZyntroError(f"cannot read the version of {path}: {output.strip()!r}")
    major = int(match.group(2))
    if major < server:
        raise ZyntroError(
            f"{path} is version {match.group(1)}, older than the server "
            f"(PostgreSQL {server}): install the PostgreSQL {server} client tools ({package}) "
            f"and put them first on PATH"
        )
    return path


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it."""
    parsed = make_url(normalise_url(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None)
    return libpq.render_as_string(hide_password=False), env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        detail = lines[0] if lines else f"exit code {result.returncode}"
        raise ZyntroError(f"{what} failed: {detail}")


def dump(url: str, file: Path, server: int) -> None:
    """`pg_dump` in its custom format (-Fc) to `file`."""
    pg_dump = tool("pg_dump", server)
    dbname, env = _connection(url)
    argv = [pg_dump, "--format=custom", "--no-password", f"--file={file}", f"--dbname={dbname}"]
    _run(argv, env, "pg_dump")


def restore(file: Path, url: str, server: int) -> None:
    """`pg_restore` of a custom-format dump into the (emptied) database, in one transaction."""
    pg_restore = tool("pg_restore", server)
    dbname, env = _connection(url)
    argv = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={dbname}",
        str(file),
    ]
    _run(argv, env, "pg_restore")
