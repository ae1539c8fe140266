"""Fixtures: every storage and HTTP test runs on SQLite and on PostgreSQL.

PostgreSQL: a throwaway database per test session on 127.0.0.1:5432, dropped afterwards.
When it is unreachable the PostgreSQL variants skip with the reason, or fail when CI=true.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from starlette.testclient import TestClient

from tests.dashboard import ClientFactory, dashboard_app, with_passwords
from tests.helpers import truncate
from zyntro.api.app import create_app
from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

# The SDK's fixtures (`kind`, `clock`, `connect`, ...), for every module that tests the SDK.
pytest_plugins = ["tests.sdk"]

PG_HOST = os.environ.get("ZYNTRO_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ZYNTRO_TEST_PG_PORT", "5432"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def _admin_url() -> str | None:
    """A URL to the server's maintenance database, trying the users this machine kind has."""
    for user in ("postgres", "root"):
        url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/postgres"
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect():
                return url
        except sa.exc.OperationalError:
            continue
        finally:
            engine.dispose()
    return None


def service_missing(what: str) -> None:
    """Skip with a visible reason; under CI a missing service is a failure, loudly."""
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true but is not reachable", pytrace=False)
    pytest.skip(f"{what} not reachable")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = _admin_url()
    if admin is None:
        service_missing(f"PostgreSQL on {PG_HOST}:{PG_PORT}")
    assert admin is not None
    name = f"zyntro_test_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        store = Store(url)
        migrate.upgrade(store.engine)
        store.dispose()
        yield url
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}")
    migrate.upgrade(store.engine)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "zyntro.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_url")
    truncate(url)
    yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.dispose()


@pytest.fixture
def service(store: Store) -> Iterator[Service]:
    service = Service(store)
    yield service
    service.reader.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="WARNING")


@pytest.fixture
def client(service: Service, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service)) as test_client:
        yield test_client


@dataclass
class World:
    """One organization with a brand, three members of each role, and a key each."""

    org_id: str
    brand_id: str
    empty_brand_id: str
    owner_id: str
    in_charge_id: str
    member_id: str
    owner_key: str
    member_key: str
    segment_ids: list[str]

    def body(self, **overrides: object) -> dict[str, object]:
        return {
            "api_key": self.owner_key,
            "org_id": self.org_id,
            "brand_id": self.brand_id,
            **overrides,
        }


SEED_SEGMENT = {
    "segment_label": "Primary Target Audience",
    "segment_tag": "high_value_prospects",
    "segment_type": "demographic",
    "segment_decision_drivers": "Quality, Price, Customer Service",
    "segment_pain_points": ["time_constraints", "budget_limitations", "complex_solutions"],
    "segment_use_cases": ["lead_generation", "customer_retention", "upselling"],
    "segment_tone": "professional_friendly",
    "reasoning": "This segment represents our ideal customers.",
}


def make_world(service: Service, segments: int = 3) -> World:
    tag = secrets.token_hex(3)
    org = service.create_org(SYSTEM, f"Org {tag}")
    brand = service.create_brand(SYSTEM, org.id, "Brand")
    empty = service.create_brand(SYSTEM, org.id, "Empty brand")
    owner = service.add_member(SYSTEM, org.id, f"owner-{tag}@example.com", "Owner", Role.OWNER)
    in_charge = service.add_member(SYSTEM, org.id, f"ic-{tag}@example.com", "Lead", Role.IN_CHARGE)
    member = service.add_member(SYSTEM, org.id, f"m-{tag}@example.com", "Member", Role.MEMBER)
    _, owner_key = service.create_key(SYSTEM, owner.id, "owner key")
    _, member_key = service.create_key(SYSTEM, member.id, "member key")
    actor = service.act_as(in_charge.id)
    ids = [
        service.add_segment(actor, brand.id, {**SEED_SEGMENT, "segment_label": f"Segment {n}"}).id
        for n in range(segments)
    ]
    return World(
        org_id=org.id,
        brand_id=brand.id,
        empty_brand_id=empty.id,
        owner_id=owner.id,
        in_charge_id=in_charge.id,
        member_id=member.id,
        owner_key=owner_key,
        member_key=member_key,
        segment_ids=ids,
    )


@pytest.fixture
def world(service: Service) -> World:
    return make_world(service)


@pytest.fixture
def people(service: Service, world: World) -> World:
    """The world, its three members signing in with `tests.dashboard.PASSWORD`."""
    return with_passwords(service, world)


@pytest.fixture
def clients(service: Service, database_url: str) -> Iterator[ClientFactory]:
    """New browsers (each its own cookie jar) on one dashboard app."""
    app = dashboard_app(service, database_url)
    with ExitStack() as stack:
        yield lambda: stack.enter_context(TestClient(app))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend with no tables at all: for migrations from empty."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server = request.getfixturevalue("postgres_url").rsplit("/", 1)[0]
    name = f"zyntro_empty_{secrets.token_hex(4)}"
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def unreachable_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that cannot be reached: a SQLite file in a missing directory, a closed port."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'missing' / 'zyntro.db'}"
    return f"postgresql://postgres@{PG_HOST}:1/zyntro"


@pytest.fixture
def down_client(unreachable_database_url: str) -> Iterator[TestClient]:
    """The app over a database that does not answer."""
    store = Store(unreachable_database_url)
    settings = Settings(database_url=unreachable_database_url, log_level="CRITICAL")
    with TestClient(create_app(settings, Service(store))) as test_client:
        yield test_client
    store.dispose()


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of its own for this test; its keys are deleted afterwards."""
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError:
        connection.close()
        service_missing("Redis on 127.0.0.1:6379")
    prefix = f"zyntro_test_{secrets.token_hex(4)}"
    try:
        yield prefix
    finally:
        for key in connection.scan_iter(f"{prefix}*"):
            connection.delete(key)
        connection.close()
