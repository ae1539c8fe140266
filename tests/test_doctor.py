"""`zyntro doctor`: one line a check; exit code 1 only when a check is a problem."""

from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import REDIS_URL, make_world
from tests.live import free_port, live_server
from zyntro import doctor as doctor_module
from zyntro.cli import app
from zyntro.domain import utcnow
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate
from zyntro.store.tables import webhook_deliveries

runner = CliRunner()
SECRET = secrets.token_urlsafe(32)


@pytest.fixture
def healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a healthy single-node setup: a real secret, a free port on loopback,
    a backup directory holding a fresh backup."""
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "zyntro-1.backup").write_bytes(b"backup")
    for name in [k for k in os.environ if k.startswith("ZYNTRO_")]:
        monkeypatch.delenv(name)  # nothing of the test run's own environment
    return {
        "ZYNTRO_SECRET_KEY": SECRET,
        "ZYNTRO_HOST": "127.0.0.1",
        "ZYNTRO_PORT": str(free_port()),
        "ZYNTRO_BACKUP_DIR": str(backups),
    }


def run_doctor(database_url: str, env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    """Exit code, and the checks of `zyntro doctor --json` by name."""
    result = runner.invoke(app, ["--database-url", database_url, "doctor", "--json"], env=env)
    assert "Traceback" not in result.output, result.output
    report = orjson.loads(result.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    problems = [c for c in checks.values() if c["status"] == "problem"]
    assert report["ok"] is (not problems) is (result.exit_code == 0), report
    assert report["problems"] == len(problems)
    assert report["warnings"] == sum(c["status"] == "warning" for c in checks.values())
    return result.exit_code, checks


def statuses(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


def test_a_healthy_setup_is_all_ok_and_exits_0(database_url: str, healthy: dict[str, str]) -> None:
    code, checks = run_doctor(database_url, healthy)
    assert code == 0
    assert set(statuses(checks).values()) == {"ok"}, checks
    assert list(checks) == [
        "database",
        "redis",
        "secret",
        "bind",
        "proxy",
        "webhooks",
        "disk",
        "backup",
    ]
    assert "current revision" in checks["database"]["message"]
    assert "min old" in checks["backup"]["message"]


def test_text_output_is_one_line_a_check_with_what_to_do(
    database_url: str, healthy: dict[str, str]
) -> None:
    env = {**healthy, "ZYNTRO_SECRET_KEY": "change-me"}
    result = runner.invoke(app, ["--database-url", database_url, "doctor"], env=env)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 9  # eight checks and the summary
    assert lines[-1] == "1 problem(s), 0 warning(s)"
    (secret,) = [line for line in lines if line.startswith("problem")]
    assert "placeholder" in secret and "→ set ZYNTRO_SECRET_KEY" in secret
    assert sum(line.startswith("ok ") for line in lines) == 7


def test_json_shape(database_url: str, healthy: dict[str, str]) -> None:
    result = runner.invoke(app, ["--database-url", database_url, "doctor", "--json"], env=healthy)
    report = orjson.loads(result.stdout)
    assert set(report) == {"ok", "problems", "warnings", "checks"}
    assert report["ok"] is True and report["problems"] == report["warnings"] == 0
    for check in report["checks"]:
        assert set(check) == {"name", "status", "message", "action"}
        assert check["status"] in ("ok", "warning", "problem")
        assert isinstance(check["message"], str) and check["message"]


def test_an_out_of_date_schema(empty_database_url: str, healthy: dict[str, str]) -> None:
    """PostgreSQL: a problem (the server refuses to start); SQLite: a warning (it migrates
    itself at start)."""
    store = Store(empty_database_url)
    migrate.upgrade(store.engine, "0003")
    store.dispose()
    code, checks = run_doctor(empty_database_url, healthy)
    database = checks["database"]
    assert "revision 0003" in database["message"]
    assert "zyntro db upgrade" in database["action"]
    if empty_database_url.startswith("sqlite"):
        assert (code, database["status"]) == (0, "warning")
    else:
        assert (code, database["status"]) == (1, "problem")


def test_a_schema_newer_than_this_version_is_a_problem(
    database_url: str, healthy: dict[str, str]
) -> None:
    store = Store(database_url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    try:
        code, checks = run_doctor(database_url, healthy)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE alembic_version SET version_num = '{migrate.script_head()}'"
            )
        store.dispose()
    assert code == 1
    assert checks["database"]["status"] == "problem"
    assert "newer than this version knows" in checks["database"]["message"]


def test_an_unreachable_database(unreachable_database_url: str, healthy: dict[str, str]) -> None:
    code, checks = run_doctor(unreachable_database_url, healthy)
    assert code == 1
    assert checks["database"]["status"] == "problem"
    assert "ZYNTRO_DATABASE_URL" in checks["database"]["action"]


def test_a_malformed_database_url_is_a_problem_that_does_not_repeat_it(
    healthy: dict[str, str],
) -> None:
    for url in ("nonsense://user:hunter2@host/db", "postgresql://user:hunter2@host:port/db"):
        code, checks = run_doctor(url, healthy)
        assert (code, checks["database"]["status"]) == (1, "problem")
        assert checks["database"]["message"] == "ZYNTRO_DATABASE_URL is not a usable database URL"
        assert "hunter2" not in str(checks)


def test_the_placeholder_secret_is_a_problem_and_a_short_one_a_warning(
    database_url: str, healthy: dict[str, str]
) -> None:
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_SECRET_KEY": "change-me"})
    assert (code, checks["secret"]["status"]) == (1, "problem")
    assert "placeholder" in checks["secret"]["message"]
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_SECRET_KEY": "short-secret"})
    assert (code, checks["secret"]["status"]) == (0, "warning")
    assert "12 characters" in checks["secret"]["message"]


def test_an_unreachable_redis_is_a_problem(database_url: str, healthy: dict[str, str]) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_REDIS_URL": closed})
    assert (code, checks["redis"]["status"]) == (1, "problem")
    assert "fail open" in checks["redis"]["message"]


@pytest.mark.redis
def test_a_reachable_redis_is_ok(
    database_url: str, healthy: dict[str, str], redis_prefix: str
) -> None:
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_REDIS_URL": REDIS_URL})
    assert (code, checks["redis"]["status"]) == (0, "ok")


@pytest.mark.parametrize(
    ("age_hours", "status", "code"), [(1, "ok", 0), (30, "warning", 0), (24 * 8, "problem", 1)]
)
def test_the_newest_backup_age(
    database_url: str, healthy: dict[str, str], age_hours: float, status: str, code: int
) -> None:
    backups = Path(healthy["ZYNTRO_BACKUP_DIR"])
    then = time.time() - age_hours * 3600
    for n, path in enumerate([backups / "zyntro-1.backup", backups / "zyntro-0.backup"]):
        path.write_bytes(b"backup")
        os.utime(path, (then - n * 3600, then - n * 3600))  # the newest one counts
    (backups / ".partial").write_bytes(b"")  # a backup being written is not one yet
    os.utime(backups / ".partial", (time.time(), time.time()))
    got, checks = run_doctor(database_url, healthy)
    assert (got, checks["backup"]["status"]) == (code, status), checks["backup"]


def test_an_empty_or_missing_backup_directory(
    database_url: str, healthy: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    code, checks = run_doctor(
        database_url, {**healthy, "ZYNTRO_BACKUP_DIR": str(tmp_path / "empty")}
    )
    assert (code, checks["backup"]["status"]) == (0, "warning")
    assert "no backup" in checks["backup"]["message"]
    missing = str(tmp_path / "missing")
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_BACKUP_DIR": missing})
    assert (code, checks["backup"]["status"]) == (1, "problem")


def test_a_port_held_by_another_program_is_a_problem(
    database_url: str, healthy: dict[str, str]
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = str(other.getsockname()[1])
        code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_PORT": port})
    assert (code, checks["bind"]["status"]) == (1, "problem")
    assert "another program" in checks["bind"]["message"]


@pytest.mark.slow
def test_a_port_served_by_zyntro_is_ok(database_url: str, healthy: dict[str, str]) -> None:
    with live_server(database_url) as base_url:
        port = base_url.rsplit(":", 1)[1]
        code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_PORT": port})
    assert (code, checks["bind"]["status"]) == (0, "ok")
    assert "Zyntro server" in checks["bind"]["message"]


def test_an_address_not_of_this_machine_is_a_problem(
    database_url: str, healthy: dict[str, str]
) -> None:
    code, checks = run_doctor(database_url, {**healthy, "ZYNTRO_HOST": "192.0.2.1"})  # TEST-NET-1
    assert (code, checks["bind"]["status"]) == (1, "problem")
    assert "not an address of this machine" in checks["bind"]["message"]


@pytest.mark.parametrize(
    ("host", "proxies", "status"),
    [
        ("127.0.0.1", "", "ok"),
        ("0.0.0.0", "", "warning"),  # public, plain HTTP, no proxy declared
        ("0.0.0.0", "10.0.0.0/8, 192.168.1.7", "ok"),
        ("127.0.0.1", "0.0.0.0/0", "warning"),  # anyone may claim any address
        ("127.0.0.1", "10.0.0.0/8,nonsense", "problem"),
    ],
)
def test_proxy_settings_are_coherent(
    database_url: str, healthy: dict[str, str], host: str, proxies: str, status: str
) -> None:
    env = {**healthy, "ZYNTRO_HOST": host, "ZYNTRO_TRUSTED_PROXIES": proxies}
    code, checks = run_doctor(database_url, env)
    assert checks["proxy"]["status"] == status, checks["proxy"]
    assert code == (1 if status == "problem" else 0)


def test_disk_space_and_wal_of_sqlite(
    database_url: str, healthy: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, checks = run_doctor(database_url, healthy)
    disk = checks["disk"]
    if not database_url.startswith("sqlite"):
        assert disk["status"] == "ok" and "not applicable" in disk["message"]
        return
    assert "free; database" in disk["message"] and "WAL" in disk["message"]
    # A disk with less room than the thresholds ask for.
    monkeypatch.setattr(doctor_module, "DISK_WARNING_BYTES", 1 << 62)
    code, checks = run_doctor(database_url, healthy)
    assert (code, checks["disk"]["status"]) == (0, "warning")
    monkeypatch.setattr(doctor_module, "DISK_PROBLEM_BYTES", 1 << 62)
    code, checks = run_doctor(database_url, healthy)
    assert (code, checks["disk"]["status"]) == (1, "problem")


def test_webhooks_disabled_or_overdue_are_reported(
    database_url: str, healthy: dict[str, str]
) -> None:
    _, checks = run_doctor(database_url, healthy)
    assert checks["webhooks"]["status"] == "ok"
    assert checks["webhooks"]["message"] == (
        "0 deliveries pending, none overdue; private webhook targets are refused"
    )
    store = Store(database_url)
    service = Service(store)
    world = make_world(service, segments=0)
    service.webhook_allow_private = True
    webhook, _ = service.create_webhook(SYSTEM, world.org_id, {"url": "http://127.0.0.1:9/x"})
    service.update_webhook(SYSTEM, webhook.id, {"enabled": False})
    code, checks = run_doctor(database_url, healthy)
    assert (code, checks["webhooks"]["status"]) == (0, "warning")
    assert f"1 webhook(s) disabled: {webhook.id}" in checks["webhooks"]["message"]
    # A delivery due 20 minutes ago that nothing has attempted: nothing is delivering.
    service.update_webhook(SYSTEM, webhook.id, {"enabled": True})
    service.test_webhook(SYSTEM, webhook.id)
    with store.write() as conn:
        conn.execute(
            sa.update(webhook_deliveries).values(next_attempt_at=utcnow() - timedelta(minutes=20))
        )
    code, checks = run_doctor(database_url, healthy)
    assert (code, checks["webhooks"]["status"]) == (1, "problem")
    assert "zyntro worker" in checks["webhooks"]["action"]
    service.close()
