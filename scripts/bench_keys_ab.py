"""What the key checks (scopes, brand limits, allowlists, usage counts) cost fetchAudiences:
the warm and cold rows of `make bench`'s harness, before and after, in one run.

    python scripts/bench_keys_ab.py [--orgs 100] [--duration 8] [--rounds 2] [--baseline main]

`before` is the source of `--baseline` (by default `main`) unpacked with `git archive` and
put first on PYTHONPATH; `after` is this tree. Both serve the same SQLite copy of bench's
dataset (made by this tree's generator): `before` sees it stamped at its own schema revision,
and reads none of the columns the keys added. `ZYNTRO_CACHE_MB=1`, so a small dataset still
misses the caches on the cold row (each request a random key and brand). Rounds alternate
the order (before, after; after, before) so drift on a shared machine falls on both.
Figures go to docs/performance.md, "Key checks"; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import Scale  # noqa: E402
from bench.run import (  # noqa: E402
    DATA,
    SERVER_CPU,
    SERVER_PORT,
    check_answers,
    ensure_wrk,
    measure,
    postgres_admin_url,
    render_bodies,
    run_generator,
    serve,
    server_env,
    sqlite_dataset,
    zyntro_serve,
)


def _unpack(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _head(src: Path) -> str:
    """The newest migration revision of a source tree (the one it expects to find)."""
    versions = sorted((src / "zyntro/store/migrations/versions").glob("[0-9]*.py"))
    return versions[-1].name.split("_", 1)[0]


def _postgres(scale: Scale, folder: Path, head: str) -> tuple[str, str, Path]:
    """Two databases of the same rows (names of their own: `make bench` may run meanwhile);
    the `before` one stamped at the baseline's schema revision."""
    import psycopg

    admin = postgres_admin_url(None)
    names = ("zyntro_keys_ab_after", "zyntro_keys_ab_before")
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {names[0]}")
    after, before = (admin.rsplit("/", 1)[0] + f"/{name}" for name in names)
    sidecar = folder / "dataset.json"
    run_generator(after, sidecar, scale)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {names[1]} TEMPLATE {names[0]}")
    with psycopg.connect(before, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    return after, before, sidecar


def _show_plan(database: Path) -> None:
    """SQLite's plans of the key lookups: index searches, never a scan of the keys."""
    import sqlalchemy as sa

    from zyntro.store.hot import _PREVIOUS, _PRINCIPALS, _ManyStatement

    dialect = sa.create_engine("sqlite://").dialect
    for statement in (_PRINCIPALS, _PREVIOUS):
        sql, params = _ManyStatement(statement, dialect).render(["x"])
        with sqlite3.connect(database) as conn:
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        print("key lookup plan:", "; ".join(plan))
        if any(step.startswith("SCAN api_keys") for step in plan):
            raise SystemExit("the key lookup scans api_keys")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the SQLite dataset")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    ensure_wrk()
    folder = DATA / "keys-ab"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base_src = _unpack(args.baseline, folder / "baseline")
    scale = Scale(orgs=args.orgs)
    if args.database == "sqlite":
        url, sidecar, generation = sqlite_dataset(scale, args.regenerate)
        after_db = Path(url.removeprefix("sqlite:///"))
        before_db = folder / "before.db"
        shutil.copyfile(after_db, before_db)
        with sqlite3.connect(before_db) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (_head(base_src),))
        _show_plan(after_db)
        before_url = f"sqlite:///{before_db}"
    else:
        url, before_url, sidecar = _postgres(scale, folder, _head(base_src))
        generation = "generated"
    print(f"dataset: {generation}")
    bodies = render_bodies(sidecar, folder / "bodies")
    envs = {
        "before": {**server_env(before_url), "PYTHONPATH": str(base_src)},
        "after": server_env(url),
    }
    for env in envs.values():
        env["ZYNTRO_CACHE_MB"] = "1"
    rps: dict[tuple[str, str], list[float]] = {}
    per_cpu: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for build in order:
            logs = folder / "logs" / f"{build}-{round_}"
            logs.mkdir(parents=True)
            with serve(
                zyntro_serve(1), envs[build], logs / "server.log", SERVER_PORT, SERVER_CPU
            ) as server:
                check_answers(server, bodies)
                for scenario, script, path in (
                    ("warm", "warm.lua", bodies.warm),
                    ("cold", "cold.lua", bodies.cold),
                ):
                    outcome = measure(
                        build, scenario, "1", server, script, path, args.duration, logs
                    )
                    if outcome.non_2xx or outcome.socket_errors:
                        raise SystemExit(f"{build} {scenario}: errors in the row")
                    rps.setdefault((build, scenario), []).append(outcome.rps)
                    # Requests per second of the server's CPU: less swayed than rps by other
                    # work on a shared machine (the server then gets less of its core).
                    busy = max(outcome.cpu_percent, 1.0) / 100
                    per_cpu.setdefault((build, scenario), []).append(outcome.rps / busy)
    print("\n| row | measure | before | after | after / before | rounds (before · after) |")
    print("|---|---|---:|---:|---:|---|")
    for scenario in ("warm", "cold"):
        for name, figures in (("rps", rps), ("requests per CPU-second", per_cpu)):
            before = statistics.mean(figures[("before", scenario)])
            after = statistics.mean(figures[("after", scenario)])
            rounds = " / ".join(
                f"{b:,.0f} · {a:,.0f}"
                for b, a in zip(
                    figures[("before", scenario)], figures[("after", scenario)], strict=True
                )
            )
            print(
                f"| {scenario} | {name} | {before:,.0f} | {after:,.0f} | {after / before:.3f} "
                f"| {rounds} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
