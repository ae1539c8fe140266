"""Issue 15 items 1-7: the traps a new user fell into with the CLI and `make run`, each run
through the installed console script (`.venv/bin/zyntro`) as that user ran it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli import Script
from tests.conftest import SEED_SEGMENT, World
from tests.live import free_port, live_server
from zyntro.service import SYSTEM, Service
from zyntro.store import Store

DOCS = Path(__file__).resolve().parent.parent / "docs"
LIBRARY_WORDS = ("Input should", "Value error", "Error", "Warning", "Traceback")


@pytest.fixture
def zyntro(tmp_path: Path) -> Script:
    return Script(tmp_path)


@pytest.fixture
def demo(zyntro: Script) -> dict[str, Any]:
    info: dict[str, Any] = zyntro.json("demo", "--no-serve")
    return info


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Script, dict[str, Any]]:
    """One demo for the tests that only add to it (each subprocess costs a start-up)."""
    script = Script(tmp_path_factory.mktemp("demo"))
    info: dict[str, Any] = script.json("demo", "--no-serve")
    script.env["ZYNTRO_DATABASE_URL"] = info["database_url"]
    return script, info


def _ours(message: str) -> str:
    assert not any(words in message for words in LIBRARY_WORDS), message
    return message


# --- 1. the CLI finds the demo's data, and never makes an empty database -----------------


def test_the_demo_says_how_to_point_the_cli_at_its_data(zyntro: Script) -> None:
    text = zyntro.ok("demo", "--no-serve")
    export = re.search(r"export (ZYNTRO_DATABASE_URL=\S+)", text)
    assert export is not None, text
    name, url = export.group(1).split("=", 1)
    orgs = orjson.loads(zyntro.ok("org", "list", "--json", env={name: url}))
    assert [org["name"] for org in orgs] == ["Demo Organization"]


def test_a_read_on_a_missing_database_says_so_and_creates_nothing(
    zyntro: Script, demo: dict[str, Any]
) -> None:
    error = zyntro.fails("org", "list")
    assert error.startswith("error: no database at ./zyntro.db;"), error
    assert "ZYNTRO_DATABASE_URL or --database-url" in error
    assert str(zyntro.cwd / "zyntro-demo.db") in error  # the demo's data is named
    assert not (zyntro.cwd / "zyntro.db").exists()
    zyntro.ok("org", "create", "Acme")  # a command that starts a database may
    assert (zyntro.cwd / "zyntro.db").exists()


# --- 2. running the demo again keeps what was typed into it --------------------------------


def test_the_demo_run_again_keeps_its_data(zyntro: Script, demo: dict[str, Any]) -> None:
    env = {"ZYNTRO_DATABASE_URL": demo["database_url"]}
    args = ("--brand", demo["brand_id"], "--member", demo["member_id"], "--type", "lifecycle")
    zyntro.ok("segment", "add", *args, "--label", "Typed by hand", env=env)
    text = zyntro.ok("demo", "--no-serve")
    assert "kept from the last run" in text and demo["brand_id"] in text
    assert demo["api_key"] not in text  # a new key, printed this once
    assert "Typed by hand" in _labels(demo["database_url"], demo["brand_id"])

    fresh = zyntro.json("demo", "--no-serve", "--fresh")
    moved = zyntro.cwd / fresh["moved_to"]
    assert fresh["reused"] is False and moved.exists()
    assert "Typed by hand" in _labels(f"sqlite:///{moved}", demo["brand_id"])
    assert "Typed by hand" not in _labels(demo["database_url"], fresh["brand_id"])


def _labels(url: str, brand_id: str) -> list[str]:
    """The brand's segment labels in the fetchAudiences order, read in process."""
    service = Service(Store(url))
    try:
        return [s.segment_label for s in service.list_segments(SYSTEM, brand_id)]
    finally:
        service.close()


def _list(demo: dict[str, Any]) -> tuple[str, ...]:
    return ("segment", "list", "--brand", demo["brand_id"], "--json")


# --- 3. ids are never cut; headers never split -----------------------------------------------


def test_tables_keep_ids_whole_at_80_columns_and_fold_the_rest(
    shared: tuple[Script, dict[str, Any]],
) -> None:
    zyntro, demo = shared
    env: dict[str, str] = {}
    label = "A rather long label that must fold inside its column"
    zyntro.ok(
        "segment", "add", "--brand", demo["brand_id"], "--member", demo["member_id"],
        "--type", "demographic", "--label", label, env=env,
    )  # fmt: skip
    segments = orjson.loads(zyntro.ok(*_list(demo), env=env))
    for columns in (80, 100):
        text = zyntro.ok("segment", "list", "--brand", demo["brand_id"], columns=columns, env=env)
        assert max(len(line) for line in text.splitlines()) <= columns
        # The whole table, its right edge included: nothing cropped at the terminal's edge.
        assert all(line[-1] in "┓┃┩│┘" for line in text.splitlines()), text
        assert "Sustainability" in text  # words wrap whole where the column has room
        for segment in segments:
            assert segment["segment_id"] in text  # whole, on one line
        for header in ("segment_id", "segment_label", "segment_type", "updated_at"):
            assert header in text
        assert "…" not in text
    audit = zyntro.ok("audit", "list", "--org", demo["org_id"], env=env)
    assert demo["member_id"] in audit and "…" not in audit
    # Too narrow for a table: one block of `field  value` lines a row, ids whole.
    narrow = zyntro.ok("segment", "list", "--brand", demo["brand_id"], columns=40, env=env)
    assert f"segment_id     {segments[0]['segment_id']}" in narrow


# --- 5. messages in our words ---------------------------------------------------------------


def test_usage_errors_are_in_our_words(shared: tuple[Script, dict[str, Any]]) -> None:
    zyntro, demo = shared
    env: dict[str, str] = {}
    role = zyntro.fails(
        "member", "add", "--org", demo["org_id"], "--email", "a@b.example", "--name", "A",
        "--role", "admin", env=env,
    )  # fmt: skip
    assert _ours(role) == (
        "error: --role must be one of owner, in_charge, member (not 'admin') (see --help)"
    )
    limit = zyntro.fails("audit", "list", "--org", demo["org_id"], "--limit", "0", env=env)
    assert _ours(limit) == "error: --limit must be at least 1 (see --help)"
    # A rule the service checks names the option typed (and the field, where they differ).
    expires = zyntro.fails("key", "create", "--member", demo["member_id"], "--expires-in", "0")
    assert expires == "error: --expires-in must be 1-3650 days"
    add = ("segment", "add", "--brand", demo["brand_id"], "--member", demo["member_id"])
    label = zyntro.fails(*add, "--label", "", "--type", "demographic")
    assert label == "error: --label (segment_label) must be 1-200 characters long"
    assert (
        zyntro.fails("brand", "create", "--org", demo["org_id"], " ") == "error: NAME is required"
    )
    target = zyntro.fails("db", "copy", "sqlite:///a.db", env=env)
    assert target == "error: TARGET_URL is required (see --help)"  # as --help names it
    missing = zyntro.fails("brand", "delete", "brand_nope", env=env)
    assert missing == "error: No brand brand_nope exists."  # no "your organization": admin
    no_tty = zyntro.fails("member", "set-password", demo["member_id"], env=env)
    assert "--password-stdin" in _ours(no_tty)


def test_database_errors_name_the_database_and_the_reason(zyntro: Script) -> None:
    mysql = zyntro.fails("--database-url", "mysql://u:secret@db/x", "org", "list")
    assert _ours(mysql) == (
        "error: mysql://u:***@db/x is not a database Zyntro runs on: use sqlite:///FILE or "
        "postgresql://user@host/db"
    )
    port = free_port()
    url = f"postgresql://postgres:secret@127.0.0.1:{port}/zyntro"
    down = zyntro.fails("--database-url", url, "org", "list")
    assert down.startswith(
        f"error: cannot reach the database postgresql://postgres:***@127.0.0.1:{port}/zyntro: "
    )
    assert "refused" in down and "secret" not in down
    folder = zyntro.fails("--database-url", "sqlite:////no/such/dir/z.db", "org", "create", "A")
    assert folder == (
        "error: cannot reach the database sqlite:////no/such/dir/z.db: unable to open database file"
    )


def test_db_upgrade_says_whether_it_migrated(zyntro: Script) -> None:
    first = zyntro.ok("db", "upgrade")
    assert first.startswith("Database schema created at revision ")
    assert zyntro.ok("db", "upgrade").startswith("Database schema already at revision ")


def test_import_and_export_say_what_they_did(shared: tuple[Script, dict[str, Any]]) -> None:
    zyntro, demo = shared
    env: dict[str, str] = {}
    other = orjson.loads(
        zyntro.ok("brand", "create", "--org", demo["org_id"], "Export", "--json", env=env)
    )["brand_id"]
    out = zyntro.cwd / "out.json"
    said = zyntro.ok(
        "segment", "export", "--brand", demo["brand_id"], "--output", str(out), env=env
    )
    assert re.fullmatch(rf"Wrote \d+ segments of {demo['brand_id']} to {out} \(json\)\n", said)
    one = zyntro.cwd / "one.json"
    one.write_bytes(orjson.dumps([{**SEED_SEGMENT, "segment_label": "One"}]))
    member = ("--brand", other, "--member", demo["member_id"])
    said = zyntro.ok("segment", "import", *member, str(one), env=env)
    assert said.startswith(f"Imported 1 row into {other}: 1 created")


# --- 6. copying segments between brands -----------------------------------------------------


def test_segments_copy_between_brands_with_new_ids(zyntro: Script, demo: dict[str, Any]) -> None:
    env = {"ZYNTRO_DATABASE_URL": demo["database_url"]}  # a demo of its own: it counts rows
    other = orjson.loads(
        zyntro.ok("brand", "create", "--org", demo["org_id"], "Second", "--json", env=env)
    )["brand_id"]
    exported = zyntro.cwd / "a.json"
    zyntro.ok("segment", "export", "--brand", demo["brand_id"], "--output", str(exported), env=env)
    target = ("segment", "import", "--brand", other, "--member", demo["member_id"])
    refused = zyntro.fails(*target, str(exported), env=env)
    assert "belongs to another brand" in refused and "--new-ids" in refused
    copied = orjson.loads(zyntro.ok(*target, str(exported), "--new-ids", "--json", env=env))
    assert (copied["created"], copied["updated"]) == (3, 0)
    again = orjson.loads(zyntro.ok(*target, str(exported), "--new-ids", "--json", env=env))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    service = Service(Store(demo["database_url"]))
    try:
        source = service.list_segments(SYSTEM, demo["brand_id"])
        copies = service.list_segments(SYSTEM, other)
        audit = service.list_audit(SYSTEM, demo["org_id"], 1000)
    finally:
        service.close()
    assert [s.segment_label for s in copies] == [s.segment_label for s in source]  # same order
    assert not {s.id for s in copies} & {s.id for s in source}
    assert [row["action"] for row in audit].count("segment.import") == 1  # not the no-op


def test_an_import_that_changes_nothing_writes_no_audit_row(service: Service, world: World) -> None:
    lead = service.act_as(world.in_charge_id)
    rows = [{**SEED_SEGMENT, "segment_id": "seg_same"}]
    service.import_segments(lead, world.brand_id, rows)
    before = service.list_audit(SYSTEM, world.org_id, 1000)
    result = service.import_segments(lead, world.brand_id, rows)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert service.list_audit(SYSTEM, world.org_id, 1000) == before


# --- 7. the client: the local server by default, and a clear word when nothing answers -----


def test_audiences_fetch_says_which_setting_chooses_the_server(zyntro: Script) -> None:
    env = {"ZYNTRO_API_KEY": "zk_x", "ZYNTRO_ORG_ID": "org_x"}
    url = f"http://127.0.0.1:{free_port()}"
    error = zyntro.fails(
        "audiences", "fetch", "--brand", "b", "--max-retries", "0", "--url", url, env=env
    )
    assert error.startswith(
        f"error: no answer from {url}: --url or ZYNTRO_BASE_URL chooses the server"
    )
    help_text = " ".join(zyntro.ok("audiences", "fetch", "--help", columns=200).split())
    assert "default http://127.0.0.1:8000, the local server" in help_text


def test_the_sdk_async_example_runs_against_the_local_server_as_written(
    zyntro: Script, demo: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sdk = (DOCS / "sdk.md").read_text(encoding="utf-8")
    example = sdk.split("## Async", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    with live_server(demo["database_url"]) as base_url:
        port = base_url.rsplit(":", 1)[1]
        code = (
            example.replace("zk_...", demo["api_key"])
            .replace("org_...", demo["org_id"])
            .replace("brand_...", demo["brand_id"])
            .replace("127.0.0.1:8000", f"127.0.0.1:{port}")  # the only change: a free port
            .replace("asyncio.run(main())", "")
        )
        scope: dict[str, Any] = {}
        exec(compile(code, "docs/sdk.md", "exec"), scope)  # noqa: S102 - the doc's own code
        asyncio.run(scope["main"]())
        # The client's table at 80 columns: ids whole, headers in one piece (item 3).
        env = {"ZYNTRO_API_KEY": demo["api_key"], "ZYNTRO_ORG_ID": demo["org_id"]}
        table = zyntro.ok(
            "audiences", "fetch", "--brand", demo["brand_id"], "--url", base_url, env=env
        )
        assert "segment_label" in table and "segment_l\n" not in table and "…" not in table
        ids = orjson.loads(
            zyntro.ok(*_list(demo), env={"ZYNTRO_DATABASE_URL": demo["database_url"]})
        )
        assert all(segment["segment_id"] in table for segment in ids)
    assert capsys.readouterr().out.startswith("3 3 audience segments have been defined")
