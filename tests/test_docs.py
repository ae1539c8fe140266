"""Docs that cannot drift: every setting and every CLI command is in the README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from zyntro.cli import app
from zyntro.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(prefix)
        return
    for name, sub in subcommands.items():
        yield from _command_paths(sub, (*prefix, name))


COMMANDS = sorted(_command_paths(get_command(app)))


def test_the_cli_has_the_commands_of_the_spec() -> None:
    for path in ("demo", "serve", "db upgrade", "org create", "segment import", "key revoke"):
        assert path in COMMANDS


@pytest.mark.parametrize("path", COMMANDS)
def test_every_cli_command_is_in_the_readme(path: str) -> None:
    assert f"zyntro {path}" in README


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(name: str) -> None:
    assert f"`ZYNTRO_{name.upper()}`" in README


def test_the_readme_opens_with_the_two_commands() -> None:
    head = README[: README.index("## ")]
    assert "make run" in head and "make test" in head
