"""Running `zyntro` commands in-process with Typer's runner, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner, Result

from zyntro.cli import app

runner = CliRunner()
ZYNTRO = str(Path(sys.executable).with_name("zyntro"))  # the installed console script


class Cli:
    """Runs `zyntro --database-url URL …` and checks the outcome."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def run(self, *args: str, stdin: str | None = None) -> Result:
        return runner.invoke(app, ["--database-url", self.database_url, *args], input=stdin)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args, "--json"))

    def fails(self, *args: str) -> str:
        """The one-line error of a failing command."""
        result = self.run(*args)
        assert result.exit_code != 0, (args, result.output)
        assert "Traceback" not in result.output
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return lines[0]


class Script:
    """Runs the installed console script (`.venv/bin/zyntro`) as a person would, in `cwd`,
    with no ZYNTRO_* setting of the test's own environment; `columns` sets the terminal
    width the tables fit."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")},
            **(env or {}),
        }

    def run(
        self, *args: str, stdin: str = "", columns: int = 80, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ZYNTRO, *args],
            cwd=self.cwd,
            env={**self.env, "COLUMNS": str(columns), **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def ok(self, *args: str, columns: int = 80, env: dict[str, str] | None = None) -> str:
        result = self.run(*args, columns=columns, env=env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args, "--json"))

    def fails(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
        """The one-line error of a failing command (nothing on stdout, no traceback)."""
        result = self.run(*args, stdin=stdin, env=env)
        assert result.returncode != 0, (args, result.stdout)
        assert result.stdout == "", result.stdout
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]
