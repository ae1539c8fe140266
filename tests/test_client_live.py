"""Both clients and `zyntro audiences fetch` over a real socket to a live `zyntro serve`.

The data is made with the service in a SQLite file; then `zyntro serve` runs as a subprocess
(granian, one worker) on a free port, and is stopped when the module's tests are done.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

import zyntro.client as sdk
from tests.clock import FakeClock
from tests.conftest import World, make_world
from tests.live import free_port, live_server
from tests.sdk import Connect
from zyntro.cli import app as cli
from zyntro.service import Service
from zyntro.store import Store, migrate

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_client_env")]


@dataclass
class Live:
    url: str
    world: World

    def keys(self) -> dict[str, str]:
        return {"base_url": self.url, "api_key": self.world.owner_key, "org_id": self.world.org_id}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    database_url = f"sqlite:///{folder / 'zyntro.db'}"
    store = Store(database_url)
    migrate.upgrade(store.engine)
    world = make_world(Service(store))
    store.dispose()
    with live_server(database_url) as url:
        yield Live(url, world)


# --- both clients ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_live_fetch(connect: Connect, live: Live) -> None:
    async with connect(**live.keys()) as client:
        segments = await client.fetch(live.world.brand_id)
        again = await client.fetch_response(live.world.brand_id)  # the same pooled client
    assert [s.segment_id for s in segments] == live.world.segment_ids
    assert all(s.created_at.tzinfo is not None for s in segments)
    assert again.request_id and again.message.startswith("3 audience segments")


@pytest.mark.anyio
async def test_live_brand_without_segments(connect: Connect, live: Live) -> None:
    async with connect(**live.keys()) as client:
        assert await client.fetch(live.world.empty_brand_id) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"api_key": "zk_" + "A" * 42}, sdk.InvalidApiKey),
        ({"org_id": "org_elsewhere"}, sdk.OrgMismatch),
        ({"brand": "brand_missing"}, sdk.BrandNotFound),
    ],
)
async def test_live_errors(
    connect: Connect, clock: FakeClock, live: Live, change: dict[str, str], error: type[Exception]
) -> None:
    options = {**live.keys(), **change}
    brand = options.pop("brand", live.world.brand_id)
    async with connect(**options) as client:
        with pytest.raises(error) as raised:
            await client.fetch(brand)
    assert isinstance(raised.value, sdk.APIError) and raised.value.request_id
    assert clock.sleeps == []  # never retried


@pytest.mark.anyio
async def test_refused_connection_is_retried_then_raised(
    connect: Connect, clock: FakeClock
) -> None:
    async with connect(base_url=f"http://127.0.0.1:{free_port()}", max_retries=2) as client:
        with pytest.raises(sdk.TransportError) as raised:
            await client.fetch("brand_1")
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    assert len(clock.sleeps) == 2


# --- the CLI --------------------------------------------------------------------------------


def _fetch(live: Live, *extra: str, **env: str) -> tuple[int, str, str]:
    args = ["audiences", "fetch", "--brand", live.world.brand_id, "--url", live.url, *extra]
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_prints_a_table(live: Live) -> None:
    keys = ["--api-key", live.world.owner_key, "--org", live.world.org_id]
    code, out, err = _fetch(live, *keys, COLUMNS="200")  # wide enough for one line a row
    assert code == 0, err
    rows = [line for line in out.splitlines() if "seg_" in line]
    assert len(rows) == 3
    for n, (row, segment_id) in enumerate(zip(rows, live.world.segment_ids, strict=True)):
        assert segment_id in row and f"Segment {n}" in row
    assert "3 audience segments have been defined for your brand." in out


def test_cli_json_is_the_raw_response_and_reads_the_environment(live: Live) -> None:
    code, out, err = _fetch(
        live, "--json", ZYNTRO_API_KEY=live.world.owner_key, ZYNTRO_ORG_ID=live.world.org_id
    )
    assert code == 0, err
    body = json.loads(out)
    assert body["status"] == "success"
    assert [s["segment_id"] for s in body["data"]] == live.world.segment_ids


def test_cli_brand_without_segments(live: Live) -> None:
    args = ["audiences", "fetch", "--brand", live.world.empty_brand_id, "--url", live.url]
    keys = ["--api-key", live.world.owner_key, "--org", live.world.org_id]
    result = CliRunner().invoke(cli, [*args, *keys])
    assert result.exit_code == 0, result.stderr
    assert "No audience segments have been defined" in result.stdout
    result = CliRunner().invoke(cli, [*args, *keys, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["code"] == "no_segments"


def test_cli_error_is_the_api_message_on_stderr(live: Live) -> None:
    code, out, err = _fetch(live, "--api-key", "zk_" + "A" * 42, "--org", live.world.org_id)
    assert code == 1
    assert out == ""
    assert err == "error: The API key is invalid, revoked or expired.\n"


def test_cli_without_a_key(live: Live) -> None:
    code, out, err = _fetch(live, "--org", live.world.org_id)
    assert code == 1
    assert "ZYNTRO_API_KEY" in err and out == ""
