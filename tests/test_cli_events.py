"""`zyntro events list [--follow]`, `zyntro segment trash|restore|history|revert`."""

from __future__ import annotations

import os
import signal
import subprocess

import orjson

from tests.cli import Cli
from tests.conftest import World
from tests.live import ZYNTRO
from zyntro.service import SYSTEM, Service


def test_events_list_shows_every_write_and_the_cursor_to_go_on_from(
    database_url: str, service: Service, world: World
) -> None:
    cli = Cli(database_url)
    service.delete_segment(SYSTEM, world.segment_ids[0])
    result = cli.run("events", "list", "--org", world.org_id)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "brand.created",
        "brand.created",
        "key.created",  # the world's two members' keys
        "key.created",
        *["segment.created"] * 3,
        "segment.deleted",
    ]
    assert world.segment_ids[0] in lines[-1] and "Segment 0" in lines[-1]
    cursor = result.stderr.strip().removeprefix("Next cursor: ")
    nothing = cli.run("events", "list", "--org", world.org_id, "--cursor", cursor, "--json")
    assert nothing.stdout == ""
    service.update_segment(SYSTEM, world.segment_ids[1], {"segment_tone": "warm"})
    later = cli.ok("events", "list", "--org", world.org_id, "--cursor", cursor, "--json")
    [event] = [orjson.loads(line) for line in later.splitlines()]
    assert event["type"] == "segment.updated" and event["data"]["segment_tone"] == "warm"
    deleted = cli.ok("events", "list", "--org", world.org_id, "--type", "segment.deleted")
    assert len(deleted.splitlines()) == 1
    assert "type" in cli.fails("events", "list", "--org", world.org_id, "--type", "nope")
    assert "organization" in cli.fails("events", "list", "--org", "org_nothing")


def test_trash_restore_history_and_revert(
    database_url: str, service: Service, world: World
) -> None:
    cli = Cli(database_url)
    segment_id = world.segment_ids[0]
    cli.ok("segment", "update", segment_id, "--tone", "warm", "--member", world.in_charge_id)
    cli.ok("segment", "delete", segment_id)
    trash = cli.json("segment", "trash", "--brand", world.brand_id)
    assert [t["segment_id"] for t in trash] == [segment_id]
    assert trash[0]["deleted_by"] == "system" and trash[0]["segment_tone"] == "warm"
    assert "purge_at" in cli.ok("segment", "trash", "--brand", world.brand_id)
    member_refused = cli.fails("segment", "restore", segment_id, "--member", world.member_id)
    assert "owner or a member in-charge" in member_refused
    out = cli.ok("segment", "restore", segment_id)
    assert f"Restored segment {segment_id}" in out
    assert segment_id in [s.id for s in service.list_segments(SYSTEM, world.brand_id)]
    assert "not in the trash" in cli.fails("segment", "restore", segment_id)

    history = cli.json("segment", "history", segment_id)
    assert [r["action"] for r in history] == ["restored", "deleted", "updated", "created"]
    assert history[2]["before"]["segment_tone"] != history[2]["after"]["segment_tone"]
    assert "changed" in cli.ok("segment", "history", segment_id)
    reverted = cli.json("segment", "revert", segment_id, history[-1]["revision_id"])
    assert reverted["segment_tone"] == history[-1]["after"]["segment_tone"]
    assert cli.json("segment", "history", segment_id)[0]["action"] == "reverted"
    assert "No such segment" in cli.fails("segment", "history", "seg_nothing")


def test_events_list_follow_prints_new_events_until_interrupted(
    database_url: str, service: Service, world: World
) -> None:
    env = {**os.environ, "ZYNTRO_DATABASE_URL": database_url}
    start = service.list_events(SYSTEM, world.org_id).next_cursor
    args = ["events", "list", "--org", world.org_id, "--follow", "--interval", "0.2", "--json"]
    process = subprocess.Popen(
        [ZYNTRO, *args, "--cursor", start],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        service.delete_segment(SYSTEM, world.segment_ids[2])
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the follower prints it
        assert orjson.loads(line)["type"] == "segment.deleted"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert stderr.strip().startswith("Next cursor: ")
