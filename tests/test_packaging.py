"""The distribution: every third-party import is declared, and `pip install zyntro` (no extra)
is the SDK alone, without the server's packages."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN = {"zyntro", "tests", "bench", "scripts", "__future__"}
SDK = [ROOT / "src" / "zyntro" / "__init__.py", *sorted((ROOT / "src/zyntro/client").glob("*.py"))]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """Distribution names by extra, from pyproject.toml ("" is the install without extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {
        extra: {_normal(re.match(r"[A-Za-z0-9._-]+", line)[0]) for line in lines}  # type: ignore[index]
        for extra, lines in groups.items()
    }


def _imports(files: list[Path]) -> dict[str, list[str]]:
    """Top-level third-party modules imported anywhere in `files` (lazy imports too)."""
    found: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def _distributions(module: str) -> set[str]:
    return {_normal(name) for name in importlib.metadata.packages_distributions().get(module, [])}


def _undeclared(files: list[Path], allowed: set[str]) -> dict[str, list[str]]:
    return {
        module: where
        for module, where in _imports(files).items()
        if not _distributions(module) & allowed
    }


def _python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_every_import_of_the_package_is_declared() -> None:
    declared = _declared()
    assert _undeclared(_python_files("src"), declared[""] | declared["server"]) == {}


def test_every_import_of_the_tests_and_tools_is_declared() -> None:
    allowed = set().union(*_declared().values())
    assert _undeclared(_python_files("tests", "bench", "scripts"), allowed) == {}


def test_the_install_without_extras_is_exactly_what_the_sdk_imports() -> None:
    needed = set().union(*(_distributions(module) for module in _imports(SDK)))
    assert needed == _declared()[""]


def test_the_dev_extra_installs_the_server() -> None:
    assert (
        "zyntro[server]"
        in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
            "dev"
        ]
    )


def test_every_declared_distribution_is_in_the_lock() -> None:
    locked = {
        _normal(package["name"])
        for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    declared = set().union(*_declared().values()) - {"zyntro"}
    assert declared - locked == set()


def test_the_command_without_the_server_extra_says_what_to_install() -> None:
    # The CLI's first third-party import made unimportable, as in an install without the extra.
    code = "import sys; sys.modules['typer'] = None; from zyntro.command import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "zyntro: the command line comes with the server: pip install 'zyntro[server]' "
        "(typer is not installed)"
    ]


def test_the_installed_command_runs_the_cli() -> None:
    command = str(Path(sys.executable).with_name("zyntro"))
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
