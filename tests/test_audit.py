"""The audit log: every change is recorded (actor, action, target, time, organization) in the
same transaction as the change; `zyntro audit list`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import SEED_SEGMENT, World
from zyntro.cli import app as cli
from zyntro.domain import Role, utcnow
from zyntro.errors import Conflict
from zyntro.service import SYSTEM, Service


def _entries(service: Service, org_id: str) -> set[tuple[str, str, str, str]]:
    return {
        (row["actor"], row["action"], row["target_type"], row["target_id"])
        for row in service.list_audit(SYSTEM, org_id, limit=1000)
    }


def test_every_change_is_recorded(service: Service, world: World) -> None:
    started = utcnow() - timedelta(seconds=1)
    owner = service.act_as(world.owner_id)
    lead = service.act_as(world.in_charge_id)
    member = service.act_as(world.member_id)

    org = service.create_org(SYSTEM, "Audited")
    brand = service.create_brand(lead, world.org_id, "Audited brand")
    service.rename_brand(lead, brand.id, "Renamed")
    added = service.add_member(owner, world.org_id, "new@example.com", "New", Role.MEMBER)
    service.set_role(owner, added.id, Role.IN_CHARGE)
    key, _ = service.create_key(member, world.member_id, "mine")
    service.revoke_key(member, key.id)
    segment = service.add_segment(lead, brand.id, SEED_SEGMENT)
    service.update_segment(lead, segment.id, {"segment_label": "Changed"})
    service.import_segments(lead, brand.id, [{**SEED_SEGMENT, "segment_label": "Imported"}])
    service.delete_segment(lead, segment.id)
    service.set_password(owner, added.id, "a long enough passphrase")
    service.deactivate_member(owner, added.id)
    service.delete_brand(lead, brand.id)

    expected = {
        (lead.name, "brand.create", "brand", brand.id),
        (lead.name, "brand.rename", "brand", brand.id),
        (owner.name, "member.add", "member", added.id),
        (owner.name, "member.set_role", "member", added.id),
        (member.name, "key.create", "key", key.id),
        (member.name, "key.revoke", "key", key.id),
        (lead.name, "segment.create", "segment", segment.id),
        (lead.name, "segment.update", "segment", segment.id),
        (lead.name, "segment.import", "brand", brand.id),
        (lead.name, "segment.delete", "segment", segment.id),
        (owner.name, "member.set_password", "member", added.id),
        (owner.name, "member.deactivate", "member", added.id),
        (lead.name, "brand.delete", "brand", brand.id),
    }
    recorded = _entries(service, world.org_id)
    assert expected <= recorded, expected - recorded
    assert ("system", "org.create", "org", org.id) in _entries(service, org.id)
    for row in service.list_audit(SYSTEM, world.org_id, limit=1000):
        assert row["org_id"] == world.org_id  # never another organization's
        assert started <= row["at"] <= utcnow()
    # Newest first.
    actions = [row["action"] for row in service.list_audit(SYSTEM, world.org_id, limit=2)]
    assert actions == ["brand.delete", "member.deactivate"]


@pytest.fixture
def refused_audit(service: Service) -> Iterator[None]:
    """A real database trigger that refuses to record some actions (and so fails the write)."""
    refused = "('brand.rename', 'key.revoke', 'segment.update', 'member.deactivate')"
    with service.store.engine.begin() as conn:
        if service.store.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                f"WHEN NEW.action IN {refused} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.action IN {refused} THEN RAISE EXCEPTION 'refused'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )
    try:
        yield
    finally:
        with service.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER refuse_audit" + ("" if service.store.is_sqlite else " ON audit_log")
            )
            if not service.store.is_sqlite:
                conn.exec_driver_sql("DROP FUNCTION refuse_audit()")


def test_a_change_whose_audit_row_fails_is_not_made(
    service: Service, world: World, refused_audit: None
) -> None:
    """The audit row and the change commit together: no change without its record."""
    owner = service.act_as(world.owner_id)
    brand = service.get_brand(SYSTEM, world.brand_id)
    segment = service.get_segment(SYSTEM, world.segment_ids[0])
    key, _ = service.create_key(SYSTEM, world.member_id, "kept")
    before = _entries(service, world.org_id)
    attempts = [
        lambda: service.rename_brand(owner, brand.id, "Never"),
        lambda: service.revoke_key(SYSTEM, key.id),
        lambda: service.update_segment(owner, segment.id, {"segment_label": "Never"}),
        lambda: service.deactivate_member(owner, world.member_id),
    ]
    for attempt in attempts:
        with pytest.raises(sa.exc.DBAPIError):
            attempt()
    assert service.get_brand(SYSTEM, brand.id).name == brand.name
    assert service.list_keys(SYSTEM, world.member_id)[-1].revoked_at is None
    assert service.get_segment(SYSTEM, segment.id).segment_label == segment.segment_label
    assert service.get_member(SYSTEM, world.member_id).active
    assert _entries(service, world.org_id) == before


def test_a_write_that_fails_midway_leaves_no_audit_row(service: Service, world: World) -> None:
    lead = service.act_as(world.in_charge_id)
    other = service.create_brand(lead, world.org_id, "Other")
    theirs = service.add_segment(lead, other.id, SEED_SEGMENT)
    before = _entries(service, world.org_id)
    segments = service.list_segments(SYSTEM, world.brand_id)
    rows = [{**s.to_public(), "segment_label": "Changed"} for s in segments]
    rows.append({**theirs.to_public()})  # belongs to another brand: the import fails here
    with pytest.raises(Conflict):
        service.import_segments(lead, world.brand_id, rows)
    assert service.list_segments(SYSTEM, world.brand_id) == segments
    assert _entries(service, world.org_id) == before


def test_cli_audit_list(database_url: str, service: Service, world: World) -> None:
    runner = CliRunner()
    base = ["--database-url", database_url, "audit", "list", "--org", world.org_id]
    result = runner.invoke(cli, [*base, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows
    assert set(rows[0]) >= {"at", "actor", "action", "target_type", "target_id", "org_id"}
    assert {row["org_id"] for row in rows} == {world.org_id}
    assert {"segment.create", "key.create", "member.add", "brand.create"} <= {
        row["action"] for row in rows
    }
    assert all(len(row["at"]) == 19 for row in rows)  # YYYY-MM-DD HH:MM:SS
    limited = runner.invoke(cli, [*base, "--json", "--limit", "2"])
    assert limited.exit_code == 0, limited.output
    assert json.loads(limited.stdout) == rows[:2]
    text = runner.invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert "segment.create" in text.stdout
    missing = runner.invoke(
        cli, ["--database-url", database_url, "audit", "list", "--org", "org_none"]
    )
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: ") and "Traceback" not in missing.output
