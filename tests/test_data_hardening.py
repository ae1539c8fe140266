"""Issue 11 hardening of what users type and import: timestamps and expiry days (finding 13),
CSV formula injection (14), `initiated_by` on import (15), and the cap on keys per member (20).
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.cli import Cli
from tests.conftest import SEED_SEGMENT, World, make_world
from tests.dashboard import ClientFactory, dashboard_app, email_of, sign_in, with_passwords
from zyntro.cli import app as cli_app
from zyntro.domain import utcnow
from zyntro.errors import Conflict
from zyntro.service import SYSTEM, Service
from zyntro.store.tables import api_keys
from zyntro.transfer import read_segment_file, segments_csv

# The first characters a spreadsheet reads as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _public(service: Service, brand_id: str) -> list[dict[str, Any]]:
    return [s.to_public() for s in service.list_segments(SYSTEM, brand_id)]


@pytest.fixture
def clients(service: Service, database_url: str) -> Iterator[ClientFactory]:
    app = dashboard_app(service, database_url)
    with ExitStack() as stack:
        yield lambda: stack.enter_context(TestClient(app))


# --- finding 13: bad days and timestamps are 4xx naming the field -----------------------------


@pytest.mark.parametrize("expiry", ["²", "٣٠", "３０", "9" * 5000])
def test_finding_13_dashboard_key_expiry_must_be_ascii_days(
    clients: ClientFactory, service: Service, world: World, expiry: str
) -> None:
    people = with_passwords(service, world)
    client = clients()
    token = sign_in(client, email_of(service, people.member_id))
    before = len(service.list_keys(SYSTEM, people.member_id))
    response = client.post(
        "/app/me/keys", data={"label": "odd days", "expires_in": expiry, "csrf_token": token}
    )
    assert response.status_code == 422, response.text
    assert 'id="expires_in-error"' in response.text
    assert len(service.list_keys(SYSTEM, people.member_id)) == before


def test_finding_13_cli_import_names_the_row_of_an_out_of_range_time(
    database_url: str, service: Service, world: World, tmp_path: Path
) -> None:
    path = tmp_path / "old.json"
    rows = [
        {**SEED_SEGMENT, "segment_label": "Fine"},
        {**SEED_SEGMENT, "created_at": "0001-01-01T00:00:00+01:00"},
    ]
    path.write_bytes(orjson.dumps(rows))
    line = Cli(database_url).fails(
        "segment", "import", str(path), "--brand", world.empty_brand_id,
        "--member", world.in_charge_id,
    )  # fmt: skip
    assert line.startswith("error: Row 2: the field created_at "), line
    assert "Overflow" not in line
    assert _public(service, world.empty_brand_id) == []


# --- finding 14: CSV formula injection ---------------------------------------------------------

TRICKY = {
    "segment_label": '=HYPERLINK("https://evil.example","Click")',
    "segment_type": "behavioral",
    "segment_tag": "+tag",
    "segment_decision_drivers": "-Price, Speed",
    "segment_pain_points": ["@SUM(A1)", "plain", "=not_at_cell_start"],
    "segment_use_cases": ["\tindented", "ok"],
    "segment_tone": "\rreturn",
    "reasoning": "'already quoted",
}
QUOTED = {
    "segment_label": "''two quotes",
    "segment_type": "geographic",
    "segment_tag": "'",
    "segment_decision_drivers": "'=both",
    "segment_pain_points": ["'-x"],
    "segment_use_cases": ["-1"],
    "segment_tone": "=",
    "reasoning": "a lone\rcarriage return",
}


def test_finding_14_csv_export_neutralises_formulas_and_round_trips(
    service: Service, world: World, tmp_path: Path
) -> None:
    actor = service.act_as(world.in_charge_id)
    for values in (TRICKY, QUOTED):
        service.add_segment(actor, world.brand_id, values)
    before = _public(service, world.brand_id)
    text = segments_csv(service.list_segments(SYSTEM, world.brand_id))
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    dangerous = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert dangerous == []
    assert f"'{TRICKY['segment_label']}" in cells
    assert "'@SUM(A1)|plain|=not_at_cell_start" in cells
    assert "''''two quotes" not in cells and "'''two quotes" in cells  # one quote added
    # Back in: the same segments, byte for byte (another brand, once the first is gone).
    path = tmp_path / "segments.csv"
    path.write_text(text, encoding="utf-8", newline="")
    service.delete_brand(SYSTEM, world.brand_id)
    result = service.import_segments(actor, world.empty_brand_id, read_segment_file(path))
    assert result.created == len(before)
    assert _public(service, world.empty_brand_id) == before
    again = segments_csv(service.list_segments(SYSTEM, world.empty_brand_id))
    assert again == text


# --- finding 15: initiated_by on import --------------------------------------------------------


def test_finding_15_import_keeps_initiated_by_only_for_members_of_the_brands_org(
    service: Service, world: World
) -> None:
    other = make_world(service, segments=0)
    leaver = service.add_member(SYSTEM, world.org_id, "gone@example.com", "Gone", "member")
    service.deactivate_member(SYSTEM, leaver.id)
    rows = [
        {**SEED_SEGMENT, "segment_id": "own", "initiated_by": world.owner_id},
        {**SEED_SEGMENT, "segment_id": "leaver", "initiated_by": leaver.id},
        {**SEED_SEGMENT, "segment_id": "foreign", "initiated_by": other.owner_id},
        {**SEED_SEGMENT, "segment_id": "ghost", "initiated_by": "mem_does_not_exist"},
        {**SEED_SEGMENT, "segment_id": "unsaid"},
    ]
    importer = service.act_as(world.in_charge_id)
    result = service.import_segments(importer, world.empty_brand_id, rows)
    assert (result.created, result.reattributed) == (5, 2)
    stored = {s.id: s.initiated_by for s in service.list_segments(SYSTEM, world.empty_brand_id)}
    assert stored == {
        "own": world.owner_id,
        "leaver": leaver.id,
        "foreign": world.in_charge_id,
        "ghost": world.in_charge_id,
        "unsaid": world.in_charge_id,
    }
    # An update naming someone outside the organization does not plant the id either.
    update = [{**SEED_SEGMENT, "segment_id": "own", "initiated_by": other.member_id}]
    again = service.import_segments(importer, world.empty_brand_id, update)
    assert (again.updated, again.reattributed) == (1, 1)
    assert service.get_segment(SYSTEM, "own").initiated_by == world.in_charge_id


def test_finding_15_cli_import_says_how_many_rows_were_reattributed(
    database_url: str, service: Service, world: World, tmp_path: Path
) -> None:
    other = make_world(service, segments=0)
    path = tmp_path / "foreign.json"
    rows = [
        {**SEED_SEGMENT, "segment_id": "a", "initiated_by": other.owner_id},
        {**SEED_SEGMENT, "segment_id": "b", "initiated_by": world.owner_id},
    ]
    path.write_bytes(orjson.dumps(rows))
    cli = Cli(database_url)
    args = ("segment", "import", str(path), "--brand", world.empty_brand_id)
    line = cli.ok(*args, "--member", world.in_charge_id)
    assert "1 re-attributed to the importing member" in line, line
    path.write_bytes(orjson.dumps([{**row, "segment_id": f"{row['segment_id']}2"} for row in rows]))
    report = cli.json(*args, "--member", world.in_charge_id)
    assert report["created"] == 2 and report["reattributed"] == 1


# --- finding 20: a cap on active keys per member ------------------------------------------------


def test_finding_20_active_keys_per_member_are_capped(service: Service, world: World) -> None:
    member = service.act_as(world.member_id)
    mine = len(service.list_keys(SYSTEM, world.member_id))  # make_world gave one
    for n in range(20 - mine):
        service.create_key(member, world.member_id, f"key {n}")
    with pytest.raises(Conflict) as refused:
        service.create_key(member, world.member_id, "one too many")
    assert refused.value.status == 409
    assert "20 active API keys" in refused.value.message
    with pytest.raises(Conflict):  # the administrator too: every surface goes through here
        service.create_key(SYSTEM, world.member_id, "from the CLI")
    # A revoked or expired key frees its place.
    listed = service.list_keys(SYSTEM, world.member_id)
    service.revoke_key(member, listed[0].id)
    service.create_key(member, world.member_id, "after a revocation")
    with service.store.write() as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == listed[1].id)
            .values(expires_at=utcnow() - timedelta(days=1))
        )
    service.create_key(member, world.member_id, "after an expiry")
    with pytest.raises(Conflict):
        service.create_key(member, world.member_id, "full again")
    # The cap is per member: another member of the organization is not affected.
    service.create_key(SYSTEM, world.owner_id, "owner's second key")


def test_finding_20_the_cap_is_a_setting_on_every_surface(
    database_url: str, service: Service, world: World
) -> None:
    capped = Service(service.store, max_keys_per_member=2)
    people = with_passwords(capped, world)
    with TestClient(dashboard_app(capped, database_url, max_keys_per_member=2)) as client:
        token = sign_in(client, email_of(capped, people.member_id))
        form = {"label": "laptop", "expires_in": "", "csrf_token": token}
        assert client.post("/app/me/keys", data=form).status_code == 201
        refused = client.post("/app/me/keys", data=form)
        assert refused.status_code == 409
        assert "2 active API keys" in refused.text
    capped.reader.close()
    assert len(service.list_keys(SYSTEM, world.member_id)) == 2
    result = CliRunner().invoke(
        cli_app,
        ["--database-url", database_url, "key", "create", "--member", world.owner_id],
        env={"ZYNTRO_MAX_KEYS_PER_MEMBER": "1"},
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and "1 active API key" in result.stderr


def test_finding_20_parallel_creations_cannot_pass_the_cap(service: Service, world: World) -> None:
    capped = Service(service.store, max_keys_per_member=3)  # the member holds one already
    barrier = threading.Barrier(8)

    def create(n: int) -> bool:
        barrier.wait()
        try:
            capped.create_key(SYSTEM, world.member_id, f"parallel {n}")
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(8)))
    capped.reader.close()
    assert created.count(True) == 2
    assert len(service.list_keys(SYSTEM, world.member_id)) == 3
