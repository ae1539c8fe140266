"""What the CLI loads to start (issue 10 item 8), and what a served worker process tunes.

Timings are printed by scripts/bench_cli.py, never asserted: these tests check what is
imported, which is what the timings follow from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from zyntro.cli import app
from zyntro.cli.common import DEFAULT_DATABASE_URL
from zyntro.client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from zyntro.service.accounts import DEFAULT_MAX_KEYS_PER_MEMBER
from zyntro.settings import Settings
from zyntro.store import Store, migrate

# The server stack: none of it is needed to show help or to parse a command line.
SERVER_STACK = (
    "granian",
    "fastapi",
    "starlette",
    "alembic",
    "sqlalchemy",
    "pydantic",
    "httpx",
    "zyntro.api",
    "zyntro.web",
    "zyntro.service",
    "zyntro.store",
    "opentelemetry",
    "zyntro.tracing",
    "mcp",
    "zyntro.agents",
)


def _loaded(code: str, modules: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    """Which of `modules` (or their submodules) a fresh interpreter has loaded after `code`."""
    probe = (
        f"{code}\nimport sys, json\n"
        f"print(json.dumps(sorted(m for m in {modules!r} "
        "if any(n == m or n.startswith(m + '.') for n in sys.modules))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_server_stack() -> None:
    assert _loaded("import zyntro.cli", SERVER_STACK) == []


def test_help_loads_no_server_stack() -> None:
    code = (
        "import sys\nfrom zyntro.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert _loaded(code, SERVER_STACK) == []


def test_a_read_command_loads_no_server_nor_alembic(tmp_path: Path) -> None:
    """On a current SQLite database: the store and its queries, and nothing to serve."""
    url = f"sqlite:///{tmp_path / 'zyntro.db'}"
    store = Store(url)
    migrate.upgrade(store.engine)
    store.dispose()
    code = (
        "from zyntro.cli import app\n"
        f"app(['--database-url', {url!r}, 'org', 'list', '--json'], standalone_mode=False)"
    )
    not_needed = ("granian", "fastapi", "alembic", "httpx", "zyntro.api", "zyntro.web")
    assert _loaded(code, not_needed) == []
    assert _loaded(code, ("sqlalchemy", "zyntro.service")) == ["sqlalchemy", "zyntro.service"]


def test_loading_the_service_hashes_no_password_nor_loads_the_rate_limiter() -> None:
    """Every CLI command loads the service: it must not pay for an argon2 hash (tens of ms,
    the dummy that evens out sign-in timing) or the `limits` library at import."""
    code = (
        "import zyntro.service, zyntro.settings\nfrom zyntro import passwords\n"
        "assert passwords._dummy_hash.cache_info().currsize == 0"
    )
    assert _loaded(code, ("limits", "zyntro.ratelimit")) == []


def test_an_outdated_sqlite_database_is_still_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'zyntro.db'}"
    store = Store(url)
    try:
        migrate.upgrade(store.engine, "0002")
        assert not migrate.is_current(store.engine)
        result = CliRunner().invoke(app, ["--database-url", url, "org", "create", "Later"])
        assert result.exit_code == 0, result.output
        assert migrate.current_revision(store.engine) == migrate.head_revision(store.engine)
    finally:
        store.dispose()


def test_the_head_read_from_the_files_is_alembics(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'zyntro.db'}")
    try:
        assert migrate.script_head() == migrate.head_revision(store.engine) is not None
        assert migrate.current_revision(store.engine) is None
        migrate.upgrade(store.engine)
        assert migrate.is_current(store.engine)
    finally:
        store.dispose()


def test_the_cli_defaults_are_the_servers_and_the_sdks() -> None:
    """The defaults the CLI names without importing their owners."""
    assert Settings.model_fields["database_url"].default == DEFAULT_DATABASE_URL
    # The CLI leaves the key cap to the service's default unless the setting is given.
    assert Settings.model_fields["max_keys_per_member"].default == DEFAULT_MAX_KEYS_PER_MEMBER
    result = CliRunner().invoke(app, ["audiences", "fetch", "--help"], env={"COLUMNS": "300"})
    text = " ".join(result.stdout.replace("│", " ").split())
    # `audiences fetch` defaults to the local server (it ships with it), not the SDK's address.
    assert DEFAULT_BASE_URL.startswith("https://")
    assert "(default http://127.0.0.1:8000, the local server)" in text
    assert f"(default {DEFAULT_TIMEOUT:g})" in text
    assert f"(default {DEFAULT_MAX_RETRIES})" in text


def test_only_a_served_process_tunes_its_collector(tmp_path: Path) -> None:
    """`zyntro serve`'s workers freeze start-up objects; an app made elsewhere leaves GC alone."""
    code = (
        "import gc\n"
        "from starlette.testclient import TestClient\n"
        "from zyntro.api.app import create_app, create_served_app\n"
        "default = gc.get_threshold()\n"
        "with TestClient(create_app()):\n"
        "    pass\n"
        "assert gc.get_threshold() == default and gc.get_freeze_count() == 0\n"
        "create_served_app()\n"
        "print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    )
    env = {
        **os.environ,
        "ZYNTRO_DATABASE_URL": f"sqlite:///{tmp_path / 'zyntro.db'}",
        "ZYNTRO_LOG_LEVEL": "WARNING",
    }
    store = Store(env["ZYNTRO_DATABASE_URL"])
    migrate.upgrade(store.engine)
    store.dispose()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(50000,", "20,", "100)", "True"]


def test_the_app_loads_the_mcp_sdk_when_an_agent_first_calls(tmp_path: Path) -> None:
    """The SDK costs a second and ~30 MB: a worker that serves no agent never loads it."""
    url = f"sqlite:///{tmp_path / 'zyntro.db'}"
    store = Store(url)
    migrate.upgrade(store.engine)
    store.dispose()
    code = (
        "from starlette.testclient import TestClient\n"
        "from zyntro.api.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "    assert client.post('/mcp').status_code == 401\n"
    )
    env = {"ZYNTRO_DATABASE_URL": url, "ZYNTRO_LOG_LEVEL": "WARNING"}
    assert _loaded(code, ("mcp", "zyntro.agents.server"), env) == []


def test_a_setting_out_of_range_is_one_line_naming_it(tmp_path: Path) -> None:
    """`zyntro serve` with ZYNTRO_EVENT_RETENTION_DAYS under its floor of 30 (issue 12) does
    not start, and says which setting and why in one line, without echoing values."""
    from tests.live import ZYNTRO

    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    env.update(
        ZYNTRO_DATABASE_URL=f"sqlite:///{tmp_path / 'z.db'}",
        ZYNTRO_EVENT_RETENTION_DAYS="7",
        ZYNTRO_WORKERS="0",
    )
    result = subprocess.run(
        [ZYNTRO, "serve", "--port", "1"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "unexpected" not in line
    assert sorted(line.removeprefix("error: ").split("; ")) == [
        "ZYNTRO_EVENT_RETENTION_DAYS must be at least 30",
        "ZYNTRO_WORKERS must be at least 1",
    ]


def test_the_mcp_server_loads_no_web_framework() -> None:
    """`zyntro mcp` (stdio) builds the server and the SDK's stdio transport only: FastAPI and
    the API's routes (~0.12 s of imports) are not part of it, its page cursors included."""
    code = "import zyntro.agents.server, zyntro.agents.resources, zyntro.agents.writes"
    assert _loaded(code, ("fastapi", "zyntro.api.v1", "zyntro.web")) == []
