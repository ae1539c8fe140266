"""The `zyntro` command's entry point.

The command line comes with the server (`pip install 'zyntro[server]'`); an install without
the extra is the SDK alone, and there the command says what to install instead of failing
with a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the CLI, or explain in one line that the server extra is missing."""
    try:
        from zyntro.cli import main as cli
    except ModuleNotFoundError as error:
        if not error.name or error.name.split(".")[0] == "zyntro":
            raise
        sys.exit(
            "zyntro: the command line comes with the server: pip install 'zyntro[server]' "
            f"({error.name} is not installed)"
        )
    cli()
