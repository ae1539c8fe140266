"""How long `zyntro` commands take to start and answer: min and median of N runs each.

    python scripts/bench_cli.py [--runs 15] [--database-url URL]

Each command runs as a fresh process of the installed console script (what a user's shell
does). Wall time is what the user waits; CPU time (user + system of the child) is less moved
by other load on the machine. The read commands run on a SQLite file made for the run (or
on `--database-url`), with one organization and brand in it, migrated before timing.
For where the time goes: `python -X importtime -c "import zyntro.cli"`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ZYNTRO = str(Path(sys.executable).with_name("zyntro"))
TARGETS = {"--help": 0.25, "org list": 0.4}  # seconds, issue 10 item 8 (wall, min)


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run; raises if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _prepare(database_url: str, env: dict[str, str]) -> str:
    """The id of a brand in the database (made there if it has no organization yet)."""
    base = [ZYNTRO, "--database-url", database_url]
    subprocess.run([*base, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(
        [*base, "org", "create", "Bench", "--json"], env=env, check=True, capture_output=True
    ).stdout
    org_id = out.decode().split('"org_id":"')[1].split('"')[0]
    out = subprocess.run(
        [*base, "brand", "create", "--org", org_id, "Bench", "--json"],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    return out.decode().split('"brand_id":"')[1].split('"')[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    with tempfile.TemporaryDirectory() as folder:
        database_url = options.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        brand_id = _prepare(database_url, env)
        db = ["--database-url", database_url]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--help": [ZYNTRO, "--help"],
            "org --help": [ZYNTRO, "org", "--help"],
            "org list": [ZYNTRO, *db, "org", "list"],
            "org list --json": [ZYNTRO, *db, "org", "list", "--json"],
            "segment list": [ZYNTRO, *db, "segment", "list", "--brand", brand_id],
        }
        print(f"{options.runs} runs each; seconds        wall min  median    cpu min  median")
        for name, args in commands.items():
            _run(args, env)  # warm the page cache and the bytecode
            runs = [_run(args, env) for _ in range(options.runs)]
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            target = TARGETS.get(name)
            note = f"  (target <= {target})" if target else ""
            print(
                f"  {name:<28} {min(walls):8.3f} {statistics.median(walls):7.3f}"
                f"   {min(cpus):8.3f} {statistics.median(cpus):7.3f}{note}"
            )


if __name__ == "__main__":
    main()
