"""Three `zyntro serve` nodes on one PostgreSQL and one Redis: the change feed is woken by
LISTEN/NOTIFY (docs/scaling.md), so a change reaches every node at once, and idle nodes no
longer ask the database four times a second per worker whether anything changed."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REDIS_URL, make_world
from tests.helpers import PATH, truncate
from tests.live import live_server, run_cli, wait_for
from zyntro.service import Service
from zyntro.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
NODES = 3
IDLE_SECONDS = 4.0


def _transactions(conninfo: str, database: str) -> int:
    """Transactions the database has ended so far (PostgreSQL's statistics)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_three_nodes_see_a_change_at_once_and_leave_the_database_alone_when_idle(
    postgres_url: str, redis_prefix: str
) -> None:
    truncate(postgres_url)
    store = Store(postgres_url)
    service = Service(store)
    world = make_world(service)
    service.reader.close()
    store.dispose()
    url = make_url(postgres_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    env = {"ZYNTRO_REDIS_URL": REDIS_URL, "ZYNTRO_REDIS_PREFIX": redis_prefix}
    with ExitStack() as stack:
        nodes = [stack.enter_context(live_server(postgres_url, env=env)) for _ in range(NODES)]
        for node in nodes:
            assert httpx.post(node + PATH, json=world.body(), timeout=5).status_code == 200

        # Every node holds one LISTEN connection on the change channel.
        with psycopg.connect(conninfo, autocommit=True) as conn:
            listening = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query = %s",
                (url.database, "LISTEN zyntro_changes"),
            ).fetchone()
        assert listening is not None and listening[0] == NODES

        # Idle: what the nodes ask of the database over a few seconds. Polling, each worker
        # ended 4 transactions a second; woken by notifications, a fallback every 5 s.
        time.sleep(1.5)  # the statistics of the start-up settle
        before = _transactions(conninfo, str(url.database))
        time.sleep(IDLE_SECONDS)
        idle = _transactions(conninfo, str(url.database)) - before - 1  # less our own
        polling = int(NODES * IDLE_SECONDS * 4)
        print(f"{NODES} idle nodes, {IDLE_SECONDS} s: {idle} transactions (polling: {polling})")
        assert idle < polling / 2

        # A segment edited through the CLI is served by every node within a second.
        run_cli(postgres_url, "segment", "update", world.segment_ids[0], "--label", "Edited")

        def edited(node: str) -> bool:
            body = httpx.post(node + PATH, json=world.body(), timeout=5).json()
            return bool(body["data"][0]["segment_label"] == "Edited")

        seconds = wait_for(lambda: all(edited(node) for node in nodes), timeout=1.0)
        print(f"the edit was served by all {NODES} nodes after {seconds:.3f} s")
