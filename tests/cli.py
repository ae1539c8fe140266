"""Running `zyntro` commands in-process with Typer's runner, for the CLI tests."""

from __future__ import annotations

from typing import Any

import orjson
from typer.testing import CliRunner, Result

from zyntro.cli import app

runner = CliRunner()


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
