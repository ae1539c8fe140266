"""The CLI against hostile input (issue 11): busy ports, tenant text, API keys on display.

Tenant text (names, labels) is whatever a tenant typed in the dashboard or the API; the
operator's terminal must show it as text, never run it as Rich markup or escape sequences.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from tests.conftest import SEED_SEGMENT
from tests.live import ZYNTRO, live_server
from zyntro.cli import app
from zyntro.client import AsyncZyntroClient, ZyntroClient
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

# What a tenant may type, and how the operator's terminal must show it: as written, with
# control characters spelled out.
HOSTILE = {
    "[/]x": "[/]x",  # a stray Rich closing tag: MarkupError
    "[link=https://evil.example/]Support[/link]": "[link=https://evil.example/]Support[/link]",
    ":thumbs_up: [bold red]urgent[/]": ":thumbs_up: [bold red]urgent[/]",
    "\x1b[2J\x1b]8;;https://evil.example/\x07Safe\x1b]8;;\x07": (
        "\\x1b[2J\\x1b]8;;https://evil.example/\\x07Safe\\x1b]8;;\\x07"
    ),
    "Bell\x07 and\rreturn\u202eevil": "Bell\\x07 and\\rreturn\\u202eevil",
}
ORG_NAME = "Org \x1b[31m[/]red"
BRAND_NAME = "Brand [link=https://evil.example/]x[/link] \x9b31m"
MEMBER_NAME = "Mallory \x1b]0;pwned\x07[/]"
WIDE = {"COLUMNS": "400"}  # one line a table row, whatever the label's length


def shown(text: str) -> str:
    """What the terminal must show for `text` (the expectations above, for the others)."""
    return HOSTILE.get(text) or text.replace("\x1b", "\\x1b").replace("\x07", "\\x07").replace(
        "\x9b", "\\x9b"
    )


def assert_literal(output: str, *texts: str) -> None:
    for text in texts:
        assert shown(text) in output, (text, output)
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in output), output
    assert "\u202e" not in output and "\N{THUMBS UP SIGN}" not in output


@dataclass
class Hostile:
    database_url: str
    org_id: str
    brand_id: str
    scratch_brand_id: str  # for the tests that add segments
    member_id: str
    api_key: str

    def cli(self, *args: str, stdin: str | None = None, **env: str) -> Result:
        result = CliRunner().invoke(
            app, ["--database-url", self.database_url, *args], input=stdin, env={**WIDE, **env}
        )
        assert "Traceback" not in result.output
        return result


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """A tenant whose organization, brand, member and segments carry hostile text."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'zyntro.db'}"
    store = Store(database_url)
    migrate.upgrade(store.engine)
    service = Service(store)
    try:
        org = service.create_org(SYSTEM, ORG_NAME)
        brand = service.create_brand(SYSTEM, org.id, BRAND_NAME)
        scratch = service.create_brand(SYSTEM, org.id, "Scratch")
        owner = service.add_member(SYSTEM, org.id, "mallory@example.com", MEMBER_NAME, Role.OWNER)
        _, api_key = service.create_key(SYSTEM, owner.id, "cli")
        actor = service.act_as(owner.id)
        for label in HOSTILE:
            service.add_segment(actor, brand.id, {**SEED_SEGMENT, "segment_label": label})
    finally:
        service.close()
    yield Hostile(database_url, org.id, brand.id, scratch.id, owner.id, api_key)


@pytest.fixture(scope="module")
def served(hostile: Hostile) -> Iterator[str]:
    with live_server(hostile.database_url) as url:
        yield url


# --- finding 08: tenant text is shown, never interpreted -----------------------------------------


@pytest.mark.parametrize(
    ("command", "texts"),
    [
        (("segment", "list", "--brand", "{brand}"), tuple(HOSTILE)),
        (("brand", "list", "--org", "{org}"), (BRAND_NAME, "Scratch")),
        (("org", "list"), (ORG_NAME,)),
        (("member", "list", "--org", "{org}"), (MEMBER_NAME,)),
    ],
)
def test_finding_08_tables_show_tenant_text_literally(
    hostile: Hostile, command: tuple[str, ...], texts: tuple[str, ...]
) -> None:
    args = [arg.format(brand=hostile.brand_id, org=hostile.org_id) for arg in command]
    result = hostile.cli(*args)
    assert result.exit_code == 0, result.output
    assert_literal(result.stdout, *texts)


def test_finding_08_lines_and_errors_show_tenant_text_literally(
    hostile: Hostile, tmp_path: Path
) -> None:
    label = "\x1b[2J\x1b]8;;https://evil.example/\x07Safe\x1b]8;;\x07"
    added = hostile.cli(
        "segment", "add", "--brand", hostile.scratch_brand_id, "--member", hostile.member_id,
        "--label", label, "--type", "demographic",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("Added segment seg_") and added.stdout.count("\n") == 1
    assert_literal(added.stdout, label)
    where = tmp_path / "missing \x1b[31m[/]" / "out.json"
    failed = hostile.cli("segment", "export", "--brand", hostile.brand_id, "--output", str(where))
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1
    assert "missing \\x1b[31m[/]" in failed.stderr and "\x1b" not in failed.stderr


def test_finding_08_json_keeps_the_text_and_escapes_controls(hostile: Hostile) -> None:
    result = hostile.cli("segment", "list", "--brand", hostile.brand_id, "--json")
    assert result.exit_code == 0, result.output
    assert [row["segment_label"] for row in orjson.loads(result.stdout)] == list(HOSTILE)
    assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in result.stdout)
    assert "\u202e" not in result.stdout  # written as its JSON escape
    brands = hostile.cli("brand", "list", "--org", hostile.org_id, "--json")
    assert [row["name"] for row in orjson.loads(brands.stdout)] == [BRAND_NAME, "Scratch"]
    assert "\x9b" not in brands.stdout


@pytest.mark.slow
def test_finding_08_audiences_fetch_shows_tenant_text_literally(
    hostile: Hostile, served: str
) -> None:
    args = ["audiences", "fetch", "--brand", hostile.brand_id, "--org", hostile.org_id]
    result = hostile.cli(*args, "--url", served, ZYNTRO_API_KEY=hostile.api_key)
    assert result.exit_code == 0, result.output
    assert_literal(result.stdout, *HOSTILE)
    assert f"{len(HOSTILE)} audience segments" in result.stdout
    raw = hostile.cli(*args, "--url", served, "--json", ZYNTRO_API_KEY=hostile.api_key)
    assert raw.exit_code == 0, raw.output
    labels = [s["segment_label"] for s in orjson.loads(raw.stdout)["data"]]
    assert labels == list(HOSTILE) and "\u202e" not in raw.stdout


# --- finding 22: the API key stays off command lines and out of reprs --------------------------

KEY = "zk_" + "S3cret" * 7


def test_finding_22_no_repr_of_the_sdk_shows_the_key() -> None:
    sync = ZyntroClient(api_key=KEY, org_id="org_1", base_url="http://127.0.0.1:9")
    asynchronous = AsyncZyntroClient(api_key=KEY, org_id="org_1", base_url="http://127.0.0.1:9")
    try:
        for client in (sync, asynchronous):
            shown = [repr(client), str(client)]
            for value in vars(client).values():
                shown += [repr(value), str(value)]
            assert not [text for text in shown if KEY in text or "S3cret" in text], shown
            assert "api_key=<redacted>" in repr(client._config)
    finally:
        sync.close()
        asyncio.run(asynchronous.aclose())


def test_finding_22_the_key_option_is_marked_discouraged() -> None:
    result = CliRunner().invoke(app, ["audiences", "fetch", "--help"], env=WIDE)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "ZYNTRO_API_KEY" in text and "discouraged" in text
    assert "--api-key -" in text  # standard input is offered


@pytest.mark.slow
def test_finding_22_the_key_can_come_from_stdin(hostile: Hostile, served: str) -> None:
    args = ["audiences", "fetch", "--brand", hostile.brand_id, "--org", hostile.org_id]
    result = hostile.cli(*args, "--url", served, "--json", "--api-key", "-", stdin=KEY + "x\n")
    assert result.exit_code == 1  # that key, read from stdin, was sent (and refused)
    assert result.stderr == "error: The API key is invalid, revoked or expired.\n"
    result = hostile.cli(
        *args, "--url", served, "--json", "--api-key", "-", stdin=hostile.api_key + "\n"
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["status"] == "success"
    empty = hostile.cli(*args, "--url", served, "--api-key", "-", stdin="")
    assert empty.exit_code == 1 and empty.stderr.startswith("error: ")
    assert "standard input" in empty.stderr


@pytest.mark.slow
def test_finding_22_a_terminal_is_asked_for_the_key_without_echo(
    hostile: Hostile, served: str
) -> None:
    """No key given, stdin a terminal: a hidden prompt, as for passwords (the console script)."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    process = subprocess.Popen(
        [ZYNTRO, "audiences", "fetch", "--brand", hostile.brand_id, "--org", hostile.org_id,
         "--url", served, "--json"],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        start_new_session=True,  # no controlling terminal but this one
    )  # fmt: skip
    os.close(terminal)
    try:
        assert process.stderr is not None
        prompt = b""
        deadline = time.monotonic() + 20
        while not prompt.endswith(b": ") and time.monotonic() < deadline:  # a bounded wait
            if select.select([process.stderr], [], [], 0.5)[0]:
                prompt += os.read(process.stderr.fileno(), 100)
        assert b"API key" in prompt, prompt  # its last space comes once echo is off
        os.write(controller, hostile.api_key.encode() + b"\n")
        out, err = process.communicate(timeout=30)
        echoed = b""
        while select.select([controller], [], [], 0.2)[0]:
            try:
                chunk = os.read(controller, 1000)
            except OSError:  # the terminal's other end is gone
                break
            if not chunk:
                break
            echoed += chunk
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert orjson.loads(out)["status"] == "success"
    assert hostile.api_key.encode() not in echoed + err + out


# --- finding 03: a busy port is refused at once ------------------------------------------------


def _refused(args: list[str]) -> str:
    """The one-line error of a `zyntro` process that must give up at once; its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [ZYNTRO, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: a server it started goes down with it
    )
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:  # it is serving: the port was shared
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    took = time.monotonic() - started
    assert process.returncode == 1, (process.returncode, err[-2000:])
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err[-2000:]
    assert lines[0].startswith("error: ") and "already in use" in lines[0]
    assert took < 15, took  # it gave up at once: it neither served nor waited for the port
    return err


def _busy_port_args(port: int, tmp_path: Path) -> list[list[str]]:
    database = tmp_path / "demo.db"
    return [
        ["--database-url", f"sqlite:///{tmp_path / 'serve.db'}", "serve", "--port", str(port)],
        ["demo", "--port", str(port), "--database", str(database)],
    ]


def test_finding_03_a_port_taken_by_another_program_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        for args in _busy_port_args(port, tmp_path):
            line = _refused(args)
            assert f"127.0.0.1:{port}" in line


@pytest.mark.slow
def test_finding_03_a_second_server_on_the_same_port_is_refused(tmp_path: Path) -> None:
    """granian's listeners share a port (SO_REUSEPORT): a second one must not join in."""
    demo_database = tmp_path / "demo.db"
    demo_database.write_bytes(b"the running demo's data")
    with live_server(f"sqlite:///{tmp_path / 'first.db'}") as url:
        port = int(url.rsplit(":", 1)[1])
        for args in _busy_port_args(port, tmp_path):
            _refused(args)
    assert demo_database.read_bytes() == b"the running demo's data"  # not wiped first
