"""Issue 15: what `make run` prints and the docs' shell examples run as written, in a shell
that has not activated .venv (a fresh clone's terminal), against a real server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli import Script
from tests.live import live_server

DOCS = Path(__file__).resolve().parent.parent / "docs"
BARE_PATH = "/usr/local/bin:/usr/bin:/bin"  # no .venv/bin: `zyntro` is not found by name


@pytest.fixture
def zyntro(tmp_path: Path) -> Script:
    return Script(tmp_path, env={"PATH": BARE_PATH})


def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"set -e\n{script}"],
        cwd=cwd,
        env={"PATH": BARE_PATH, "HOME": str(cwd), "COLUMNS": "100"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _after(text: str, heading: str) -> list[str]:
    """The lines the demo printed under `heading`, up to the next blank line."""
    lines = text.split(heading, 1)[1].splitlines()[1:]
    return [line.strip() for line in lines[: lines.index("")]]


def test_the_demo_prints_commands_that_run_as_printed(zyntro: Script) -> None:
    text = zyntro.ok("demo", "--no-serve", columns=200)
    commands = _after(text, "To use the CLI on this data")
    assert commands[0].startswith("export ZYNTRO_DATABASE_URL=")
    # `make run` runs .venv/bin/zyntro: a new terminal does not find `zyntro` by name.
    # docs/webhooks.md's receiver listens on this machine: the demo's CLI may register it.
    org_id = re.search(r"org_id +(org_\w+)", text)
    assert org_id is not None
    hook = f"{commands[1].split()[0]} webhook create --org {org_id.group(1)} --url http://127.0.0.1:8080/"
    ran = _shell("\n".join([*commands, hook]), zyntro.cwd)
    assert ran.returncode == 0, ran.stderr
    assert "Primary Target Audience" in ran.stdout and "whsec_" in ran.stdout
    client = _after(text, "For the Python SDK")
    api_key = re.search(r"api_key +(zk_\w+)", text)
    assert api_key is not None, text
    assert client == [
        "export ZYNTRO_BASE_URL=http://127.0.0.1:8000 "
        f"ZYNTRO_ORG_ID={org_id.group(1)} ZYNTRO_API_KEY={api_key.group(1)}"
    ]


def _console_commands(doc: str) -> list[str]:
    """Each `$ …` command of the doc's console blocks, its continuation lines (after a `\\`
    or inside a quoted argument) joined."""
    commands: list[str] = []
    for block in re.findall(r"```console\n(.*?)```", doc, re.S):
        command: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ ") or command:
                command.append(line.removeprefix("$ "))
                text = "\n".join(command)
                if not line.endswith("\\") and text.count("'") % 2 == 0:
                    commands.append(text)
                    command = []
    return commands


def test_the_api_v1_examples_run_as_written(zyntro: Script) -> None:
    info: dict[str, Any] = zyntro.json("demo", "--no-serve")
    doc = (DOCS / "api-v1.md").read_text(encoding="utf-8")
    setup = doc.split("set these first", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = _console_commands(doc)
    assert len(commands) == 5, commands
    with live_server(info["database_url"]) as base_url:
        setup = (
            setup.replace("http://127.0.0.1:8000", base_url)  # the one change: a free port
            .replace("zk_…", info["api_key"])
            .replace("brand_…", info["brand_id"])
        )
        listed = _shell(setup + commands[0], zyntro.cwd)
        assert listed.returncode == 0 and listed.stdout.startswith("HTTP/1.1 200 OK"), listed
        etag = re.search(r'^etag: ("[0-9a-f]+")', listed.stdout, re.M)
        assert etag is not None, listed.stdout
        quoted = re.search(r'"[0-9a-f]{32}"', commands[1])
        assert quoted is not None
        again = _shell(setup + commands[1].replace(quoted.group(), etag.group(1)), zyntro.cwd)
        assert again.stdout == "304\n", again

        created = _shell(setup + commands[2], zyntro.cwd)
        segment = orjson.loads(created.stdout)["data"]
        assert segment["segment_label"] == "Loyal Customers", created
        changed = _shell(setup + commands[3].replace("seg_…", segment["segment_id"]), zyntro.cwd)
        assert orjson.loads(changed.stdout)["data"]["segment_tone"] == "warm_direct", changed
        deleted = _shell(setup + commands[4].replace("seg_…", segment["segment_id"]), zyntro.cwd)
        assert deleted.returncode == 0 and "error" not in deleted.stdout, deleted


README = DOCS.parent / "README.md"


def _readme_list_commands() -> list[str]:
    cli = README.read_text(encoding="utf-8").split("## CLI", 1)[1]
    sentence = " ".join(cli.split("The list commands are ", 1)[1].split(".", 1)[0].split())
    return re.findall(r"`([a-z ]+)`", sentence)


def test_the_readme_names_the_output_mode_of_each_listing(zyntro: Script) -> None:
    """Issue 15 item 4: the README's list commands print a table, and a JSON array with
    --json; `events list` prints lines, and JSON Lines with --json; every `… list` command is
    one of them, each run through the installed console script."""
    from tests.test_docs import COMMANDS

    listed = _readme_list_commands()
    lists = {" ".join(path) for path, _ in COMMANDS if path[-1] == "list"}
    assert lists - {"events list"} <= set(listed), lists - set(listed)
    demo: dict[str, Any] = zyntro.json("demo", "--no-serve")
    zyntro.env["ZYNTRO_DATABASE_URL"] = demo["database_url"]
    zyntro.env["ZYNTRO_WEBHOOK_ALLOW_PRIVATE"] = "true"  # no DNS in a test
    hook = zyntro.json("webhook", "create", "--org", demo["org_id"], "--url", "http://127.0.0.1:9/")
    keys = zyntro.json("key", "list", "--member", demo["member_id"])
    segment = zyntro.json("segment", "list", "--brand", demo["brand_id"])[0]["segment_id"]
    arguments = {
        "org list": (),
        "brand list": ("--org", demo["org_id"]),
        "member list": ("--org", demo["org_id"]),
        "key list": ("--member", demo["member_id"]),
        "key usage": (keys[0]["key_id"],),
        "segment list": ("--brand", demo["brand_id"]),
        "segment trash": ("--brand", demo["brand_id"]),
        "segment history": (segment,),
        "audit list": ("--org", demo["org_id"]),
        "webhook list": ("--org", demo["org_id"]),
        "webhook deliveries": (hook["webhook_id"],),
    }
    assert sorted(listed) == sorted(arguments)
    for command, args in arguments.items():
        text = zyntro.ok(*command.split(), *args, columns=250)
        assert text.startswith("┏") or text == "Nothing to list.\n", (command, text)
        assert isinstance(orjson.loads(zyntro.ok(*command.split(), *args, "--json")), list)
    events = ("events", "list", "--org", demo["org_id"])
    assert not zyntro.ok(*events).startswith(("┏", "[", "{"))
    lines = zyntro.ok(*events, "--json").splitlines()
    assert len(lines) > 1 and all(isinstance(orjson.loads(line), dict) for line in lines)
