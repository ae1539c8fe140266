"""The `zyntro` CLI through Typer's runner (README's command list), on both backends."""

from __future__ import annotations

import csv
import io
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.cli import Cli, runner
from tests.conftest import SEED_SEGMENT
from tests.helpers import PATH, SEGMENT_KEYS
from tests.live import ZYNTRO, free_port
from zyntro.api.app import create_app
from zyntro.cli import app
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


@pytest.fixture
def account(cli: Cli) -> dict[str, str]:
    """An organization with a brand, an in-charge member and a plain member, via the CLI."""
    org = cli.json("org", "create", "Acme")
    brand = cli.json("brand", "create", "--org", org["org_id"], "Acme Shoes")
    lead = cli.json(
        "member", "add", "--org", org["org_id"], "--email", "lead@acme.example",
        "--name", "Lead", "--role", "in_charge",
    )  # fmt: skip
    member = cli.json(
        "member", "add", "--org", org["org_id"], "--email", "m@acme.example",
        "--name", "Member", "--role", "member",
    )  # fmt: skip
    return {
        "org_id": org["org_id"],
        "brand_id": brand["brand_id"],
        "lead_id": lead["member_id"],
        "member_id": member["member_id"],
    }


def _add_segment(cli: Cli, account: dict[str, str], label: str, *extra: str) -> Any:
    return cli.json(
        "segment", "add", "--brand", account["brand_id"], "--member", account["lead_id"],
        "--label", label, "--type", "demographic", *extra,
    )  # fmt: skip


# --- organizations, brands, members -----------------------------------------------------------


def test_org_create_and_list(cli: Cli) -> None:
    created = cli.json("org", "create", "Acme")
    assert created["org_id"].startswith("org_") and created["name"] == "Acme"
    listed = cli.json("org", "list")
    assert isinstance(listed, list)
    assert created["org_id"] in [row["org_id"] for row in listed]
    human = cli.ok("org", "create", "Human")
    assert human.startswith("Created organization org_") and human.count("\n") == 1


def test_brand_create_list_rename_delete(cli: Cli, account: dict[str, str]) -> None:
    org = account["org_id"]
    brand = cli.json("brand", "create", "--org", org, "Second")
    assert brand["brand_id"].startswith("brand_") and brand["org_id"] == org
    listed = cli.json("brand", "list", "--org", org)
    assert {row["brand_id"] for row in listed} == {account["brand_id"], brand["brand_id"]}
    renamed = cli.json("brand", "rename", brand["brand_id"], "Renamed")
    assert renamed["brand_id"] == brand["brand_id"] and renamed["name"] == "Renamed"
    assert cli.json("brand", "delete", brand["brand_id"])["brand_id"] == brand["brand_id"]
    assert [row["brand_id"] for row in cli.json("brand", "list", "--org", org)] == [
        account["brand_id"]
    ]
    assert "brand_" in cli.ok("brand", "create", "--org", org, "Human")


def test_member_add_list_set_role_deactivate(cli: Cli, account: dict[str, str]) -> None:
    org = account["org_id"]
    owner = cli.json(
        "member", "add", "--org", org, "--email", "Owner@Acme.example", "--name", "Boss",
        "--role", "owner",
    )  # fmt: skip
    assert owner["member_id"].startswith("mem_")
    assert owner["role"] == "owner" and owner["email"] == "owner@acme.example"
    listed = cli.json("member", "list", "--org", org)
    assert {row["member_id"] for row in listed} == {
        owner["member_id"],
        account["lead_id"],
        account["member_id"],
    }
    changed = cli.json("member", "set-role", account["member_id"], "in_charge")
    assert changed["role"] == "in_charge"
    gone = cli.json("member", "deactivate", account["member_id"])
    assert gone["member_id"] == account["member_id"] and gone["active"] is False
    rows = {row["member_id"]: row for row in cli.json("member", "list", "--org", org)}
    assert rows[account["member_id"]]["active"] is False


# --- keys --------------------------------------------------------------------------------------


def test_key_create_list_revoke(cli: Cli, account: dict[str, str]) -> None:
    member = account["member_id"]
    created = cli.json("key", "create", "--member", member, "--label", "ci", "--expires-in", "30")
    assert created["key_id"].startswith("key_")
    assert len(created["api_key"]) == 45 and created["api_key"].startswith("zk_")
    assert created["label"] == "ci" and created["expires_at"]
    listed = cli.json("key", "list", "--member", member)
    assert [row["key_id"] for row in listed] == [created["key_id"]]
    assert "api_key" not in listed[0] and created["api_key"] not in orjson.dumps(listed).decode()
    assert listed[0]["prefix"] == created["api_key"][:8]
    revoked = cli.json("key", "revoke", created["key_id"])
    assert revoked["key_id"] == created["key_id"] and revoked["revoked_at"]
    assert cli.json("key", "list", "--member", member)[0]["revoked_at"] == revoked["revoked_at"]


def test_key_create_shows_the_key_once_in_text(cli: Cli, account: dict[str, str]) -> None:
    out = cli.ok("key", "create", "--member", account["member_id"])
    assert "zk_" in out and "key_" in out
    listed = cli.ok("key", "list", "--member", account["member_id"])
    plain = next(word for word in out.split() if word.startswith("zk_"))
    assert plain not in listed


def test_a_key_from_the_cli_works_against_the_api(
    cli: Cli, account: dict[str, str], database_url: str
) -> None:
    _add_segment(cli, account, "One")
    key = cli.json("key", "create", "--member", account["member_id"])
    body = {"api_key": key["api_key"], "org_id": account["org_id"], "brand_id": account["brand_id"]}
    store = Store(database_url)
    service = Service(store)
    try:
        settings = Settings(database_url=database_url, log_level="WARNING")
        with TestClient(create_app(settings, service)) as client:
            assert client.post(PATH, json=body).status_code == 200
            cli.ok("key", "revoke", key["key_id"])
            # another process revoked it: every server refuses it within a second (SPEC §4)
            for _ in range(40):
                if client.post(PATH, json=body).status_code == 401:
                    break
                time.sleep(0.05)
            assert client.post(PATH, json=body).status_code == 401
    finally:
        service.close()


# --- segments ------------------------------------------------------------------------------------


def test_segment_add_with_every_option(cli: Cli, account: dict[str, str]) -> None:
    segment = _add_segment(
        cli, account, "Full",
        "--tag", "t", "--drivers", "Quality, Price", "--pain-point", "a", "--pain-point", "b",
        "--use-case", "c", "--tone", "warm", "--reasoning", "why",
    )  # fmt: skip
    assert list(segment) == SEGMENT_KEYS
    assert segment["segment_id"].startswith("seg_")
    assert segment["initiated_by"] == account["lead_id"]
    assert segment["segment_pain_points"] == ["a", "b"]
    assert segment["segment_use_cases"] == ["c"]
    assert (segment["segment_tag"], segment["segment_tone"], segment["reasoning"]) == (
        "t",
        "warm",
        "why",
    )
    assert segment["segment_decision_drivers"] == "Quality, Price"


def test_segment_list_update_delete(cli: Cli, account: dict[str, str]) -> None:
    first = _add_segment(cli, account, "First")
    second = _add_segment(cli, account, "Second")
    listed = cli.json("segment", "list", "--brand", account["brand_id"])
    assert {row["segment_id"] for row in listed} == {first["segment_id"], second["segment_id"]}
    assert all(list(row) == SEGMENT_KEYS for row in listed)
    updated = cli.json(
        "segment", "update", first["segment_id"], "--member", account["lead_id"],
        "--tone", "bold", "--use-case", "x", "--use-case", "y",
    )  # fmt: skip
    assert updated["segment_id"] == first["segment_id"]
    assert updated["segment_tone"] == "bold" and updated["segment_use_cases"] == ["x", "y"]
    assert updated["segment_label"] == "First"
    deleted = cli.json("segment", "delete", second["segment_id"], "--member", account["lead_id"])
    assert deleted["segment_id"] == second["segment_id"]
    listed = cli.json("segment", "list", "--brand", account["brand_id"])
    assert [row["segment_id"] for row in listed] == [first["segment_id"]]


def test_a_plain_member_cannot_add_segments(cli: Cli, account: dict[str, str]) -> None:
    line = cli.fails(
        "segment", "add", "--brand", account["brand_id"], "--member", account["member_id"],
        "--label", "Nope", "--type", "demographic",
    )  # fmt: skip
    assert "owner" in line or "in-charge" in line or "in_charge" in line
    assert cli.json("segment", "list", "--brand", account["brand_id"]) == []


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_segment_export_and_import_round_trip(
    cli: Cli, account: dict[str, str], tmp_path: Path, kind: str
) -> None:
    _add_segment(cli, account, "One", "--pain-point", "p1", "--pain-point", "p2")
    _add_segment(cli, account, 'Two, "quoted"', "--reasoning", "multi\nline")
    exported = cli.ok("segment", "export", "--brand", account["brand_id"], "--format", kind)
    if kind == "json":
        assert orjson.loads(exported) == cli.json("segment", "list", "--brand", account["brand_id"])
    else:
        rows = list(csv.DictReader(io.StringIO(exported)))
        assert list(rows[0]) == SEGMENT_KEYS and len(rows) == 2
    path = tmp_path / f"export.{kind}"
    cli.ok("segment", "export", "--brand", account["brand_id"], "--format", kind, "-o", str(path))
    assert path.read_text(encoding="utf-8") == exported
    result = cli.json(
        "segment", "import", "--brand", account["brand_id"], "--member", account["lead_id"],
        str(path),
    )  # fmt: skip
    assert result == {
        "brand_id": account["brand_id"],
        "brands": 1,
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "reattributed": 0,
    }
    again = cli.ok("segment", "export", "--brand", account["brand_id"], "--format", kind)
    assert again == exported


def test_segment_import_into_another_brand(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "new.json"
    path.write_bytes(orjson.dumps({"status": "success", "message": "", "data": [SEED_SEGMENT]}))
    args = ["segment", "import", "--brand", account["brand_id"], "--member", account["lead_id"]]
    assert cli.json(*args, str(path))["created"] == 1
    assert cli.json(*args, str(path))["unchanged"] == 1
    text = cli.ok(*args, str(path))
    assert text.startswith("Imported 1 row into") and text.count("\n") == 1
    assert len(cli.json("segment", "list", "--brand", account["brand_id"])) == 1


def test_segment_import_bad_row_names_it_and_writes_nothing(
    cli: Cli, account: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "segment_label,segment_type\nGood,behavioral\nBad,Not Snake\n", encoding="utf-8"
    )
    line = cli.fails(
        "segment", "import", "--brand", account["brand_id"], "--member", account["lead_id"],
        str(path),
    )  # fmt: skip
    assert "Row 2" in line and "segment_type" in line
    assert cli.json("segment", "list", "--brand", account["brand_id"]) == []


def test_segment_export_unknown_format(cli: Cli, account: dict[str, str]) -> None:
    assert "format" in cli.fails(
        "segment", "export", "--brand", account["brand_id"], "--format", "xml"
    )


# --- audit, db, serve, demo ----------------------------------------------------------------------


def test_audit_list(cli: Cli, account: dict[str, str]) -> None:
    _add_segment(cli, account, "Audited")
    rows = cli.json("audit", "list", "--org", account["org_id"])
    assert isinstance(rows, list)
    actions = [row["action"] for row in rows]
    assert "segment.create" in actions and "brand.create" in actions
    assert actions.index("segment.create") < actions.index("brand.create")  # newest first


def test_db_upgrade_from_empty(empty_database_url: str) -> None:
    cli = Cli(empty_database_url)
    out = cli.ok("db", "upgrade")
    store = Store(empty_database_url)
    try:
        assert migrate.is_current(store.engine)
        head = migrate.head_revision(store.engine)
        assert head is not None and head in out
    finally:
        store.dispose()
    cli.ok("db", "upgrade")  # again: nothing to do
    assert cli.json("org", "create", "After upgrade")["org_id"].startswith("org_")


def test_an_unmigrated_database_migrates_only_when_embedded(empty_database_url: str) -> None:
    """SQLite sets itself up; a shared PostgreSQL is changed only by `zyntro db upgrade`."""
    cli = Cli(empty_database_url)
    if empty_database_url.startswith("sqlite"):
        assert cli.json("org", "create", "Right away")["org_id"].startswith("org_")
    else:
        assert "zyntro db upgrade" in cli.fails("org", "create", "Too early")


def test_serve_passes_its_options(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Settings] = []
    monkeypatch.setattr("zyntro.cli.server.run_server", served.append)
    port = free_port()  # serve checks that nothing listens there
    cli.ok("serve", "--host", "0.0.0.0", "--port", str(port), "--workers", "3")
    assert [(s.host, s.port, s.workers) for s in served] == [("0.0.0.0", port, 3)]
    assert served[0].database_url == cli.database_url


def test_demo_creates_data_and_a_working_curl_line(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--no-serve", "--database", str(database), "--json"])
    assert result.exit_code == 0, result.output
    info = orjson.loads(result.stdout)
    assert info["org_id"].startswith("org_") and info["brand_id"].startswith("brand_")
    assert info["member_id"].startswith("mem_") and len(info["api_key"]) == 45
    words = shlex.split(info["curl"])
    assert words[0] == "curl" and words[words.index("-X") + 1] == "POST"
    assert words[words.index("-X") + 2].endswith(PATH)
    body = orjson.loads(words[words.index("-d") + 1])
    assert body == {
        "api_key": info["api_key"],
        "org_id": info["org_id"],
        "brand_id": info["brand_id"],
    }
    url = f"sqlite:///{database}"
    service = Service(Store(url))
    try:
        settings = Settings(database_url=url, log_level="WARNING")
        with TestClient(create_app(settings, service)) as client:
            response = client.post(PATH, json=body)
        assert response.status_code == 200
        assert response.json()["status"] == "success" and len(response.json()["data"]) == 3
    finally:
        service.close()


def test_demo_starts_fresh_when_asked(tmp_path: Path) -> None:
    """`--fresh` (issue 15: a plain re-run keeps the data, see test_first_hour_cli.py)."""
    database = str(tmp_path / "demo.db")
    first = orjson.loads(
        runner.invoke(app, ["demo", "--no-serve", "--database", database, "--json"]).stdout
    )
    args = ["demo", "--no-serve", "--database", database, "--fresh", "--json"]
    second = orjson.loads(runner.invoke(app, args).stdout)
    assert first["org_id"] != second["org_id"]
    cli = Cli(f"sqlite:///{database}")
    assert [row["org_id"] for row in cli.json("org", "list")] == [second["org_id"]]
    assert (
        Cli(f"sqlite:///{second['moved_to']}").json("org", "list")[0]["org_id"] == (first["org_id"])
    )


def test_demo_prints_a_human_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--no-serve", "--database", str(tmp_path / "d.db")])
    assert result.exit_code == 0, result.output
    assert "curl " in result.stdout and "org_" in result.stdout and "zk_" in result.stdout


# --- errors ---------------------------------------------------------------------------------------


def test_domain_errors_are_one_line_on_stderr(cli: Cli, account: dict[str, str]) -> None:
    assert "organization" in cli.fails("brand", "create", "--org", "org_missing", "B").lower()
    assert cli.fails("brand", "rename", "brand_missing", "X")
    assert cli.fails("member", "deactivate", "mem_missing")
    assert cli.fails("key", "create", "--member", "mem_missing")
    assert cli.fails("key", "revoke", "key_missing")
    assert cli.fails("segment", "list", "--brand", "brand_missing")
    assert cli.fails("segment", "delete", "seg_missing")
    assert cli.fails(
        "member", "add", "--org", account["org_id"], "--email", "not-an-email", "--name", "X",
        "--role", "member",
    )  # fmt: skip
    assert cli.fails(
        "member", "add", "--org", account["org_id"], "--email", "lead@acme.example",
        "--name", "Twin", "--role", "member",
    )  # fmt: skip
    assert "segment_type" in cli.fails(
        "segment", "add", "--brand", account["brand_id"], "--member", account["lead_id"],
        "--label", "L", "--type", "Not Snake",
    )  # fmt: skip
    assert cli.fails("segment", "update", "seg_missing", "--tone", "x")


def test_a_missing_import_file_is_an_error(cli: Cli, account: dict[str, str]) -> None:
    result = cli.run(
        "segment", "import", "--brand", account["brand_id"], "--member", account["lead_id"],
        "/nonexistent/file.json",
    )  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.stdout == ""


def test_an_unreachable_database_is_one_line(unreachable_database_url: str) -> None:
    line = Cli(unreachable_database_url).fails("org", "list")
    assert "database" in line.lower()


def test_usage_errors_exit_non_zero_without_traceback(cli: Cli) -> None:
    for args in (["org"], ["nope"], ["member", "add", "--org", "x"], ["key", "create"]):
        result = cli.run(*args)
        assert result.exit_code != 0, args
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["org", "create"],
        ["org", "list", "--bogus"],
        ["member", "add", "--org", "x", "--role", "boss"],
    ],
)
def test_usage_errors_of_the_console_script_are_one_line(args: list[str]) -> None:
    """The installed `zyntro` command, not the test runner: what a user's terminal shows."""
    result = subprocess.run([ZYNTRO, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
