"""Docs that cannot drift: every setting, CLI command and option is in README.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from zyntro.cli import app
from zyntro.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) of every runnable command under the `zyntro` group."""
    children = getattr(command, "commands", None)
    if children is None:
        yield path, command
        return
    for name, child in sorted(children.items()):
        yield from _commands(child, (*path, name))


COMMANDS = list(_commands(get_command(app)))


def test_the_cli_has_the_commands_of_the_spec() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    spec = {
        "demo",
        "serve",
        "db upgrade",
        "org create",
        "brand create",
        "member add",
        "member deactivate",
        "key create",
        "key list",
        "key revoke",
        "segment add",
        "segment list",
        "segment update",
        "segment delete",
        "segment import",
        "segment export",
        "audiences fetch",
    }
    assert spec <= paths, spec - paths


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(readme: str, name: str) -> None:
    assert f"`ZYNTRO_{name.upper()}`" in readme


@pytest.mark.parametrize("path", [" ".join(path) for path, _ in COMMANDS])
def test_every_cli_command_is_in_the_readme(readme: str, path: str) -> None:
    assert f"zyntro {path}" in readme


@pytest.mark.parametrize(
    ("path", "option"),
    [
        (" ".join(path), option)
        for path, command in COMMANDS
        for param in command.params
        for option in param.opts
        if option.startswith("--") and option != "--help"
    ],
)
def test_every_cli_option_is_in_the_readme(readme: str, path: str, option: str) -> None:
    assert option in readme, f"zyntro {path} {option}"


def test_the_readme_opens_with_the_two_commands(readme: str) -> None:
    head = readme[: readme.index("## ")]
    assert "make run" in head and "make test" in head


SECURITY = README.parent / "docs" / "security.md"
TESTS = Path(__file__).resolve().parent


def test_every_hardening_finding_names_tests_that_exist() -> None:
    """docs/security.md's findings table: each of issue 11's 22 findings, each test it names
    defined under that name in the module it names."""
    rows: dict[int, str] = {}
    for line in SECURITY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            rows[int(cells[0])] = cells[2]
    assert sorted(rows) == list(range(1, 23))
    for number, cell in rows.items():
        module = ""
        for name in (part.strip(" `") for part in cell.split(",")):
            if "::" in name:
                module, name = name.split("::")
            assert f"finding_{number:02d}" in name, (number, name)
            source = (TESTS / module).read_text(encoding="utf-8")
            assert f"def {name}(" in source, (number, module, name)


def _readme_command_lines(readme: str) -> dict[str, str]:
    """The README's CLI block: each `zyntro …` line, by the command it names."""
    block = readme.split("## CLI", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    paths = sorted((" ".join(path) for path, _ in COMMANDS), key=len, reverse=True)
    lines: dict[str, str] = {}
    for line in block.strip().splitlines():
        assert line.startswith("zyntro "), line
        usage = line.split("#", 1)[0]
        path = next(
            (
                p
                for p in paths
                if usage.startswith(f"zyntro {p} ") or usage.strip() == f"zyntro {p}"
            ),
            None,
        )
        assert path is not None, f"the README lists a command the CLI does not have: {line}"
        lines[path] = usage
    return lines


def test_the_readme_command_list_is_the_cli(readme: str) -> None:
    """Issue 15 item 4: each command listed once, with exactly its real options, and
    `[--json]` exactly where the command has a JSON output mode."""
    lines = _readme_command_lines(readme)
    assert sorted(lines) == sorted(" ".join(path) for path, _ in COMMANDS)
    for path, command in COMMANDS:
        usage = lines[" ".join(path)]
        options = {o for p in command.params for o in p.opts if o.startswith("--")} - {"--help"}
        listed = set(re.findall(r"--[a-z][a-z-]*", usage))
        assert listed == options, (path, listed ^ options)
        assert ("[--json]" in usage) == ("--json" in options), path


def test_the_readme_says_what_lists_print(readme: str) -> None:
    cli = readme.split("## CLI", 1)[1]
    assert "list commands a JSON array" in cli and "list commands a table" in cli
    assert "Every command accepts" not in cli  # serve and db upgrade take no --json


def test_every_dashboard_screenshot_is_shown_at_both_widths() -> None:
    """Issue 15: docs/img holds each page at 1280 px and at 390 px (`-phone`), and the docs
    show every one of them (scripts/dashboard_screenshots.py writes them)."""
    images = README.parent / "docs" / "img"
    docs = README.read_text(encoding="utf-8") + "".join(
        page.read_text(encoding="utf-8") for page in (README.parent / "docs").glob("*.md")
    )
    names = sorted(path.name for path in images.glob("*.png"))
    assert names
    for name in names:
        assert f"img/{name}" in docs, name
        twin = name.replace("-phone.png", ".png") if "-phone" in name else name[:-4] + "-phone.png"
        assert twin in names, name
