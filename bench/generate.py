"""The benchmark dataset: 100,000 brands x 10 segments and 100,000 API keys, plus a warm brand.

    python -m bench.generate --database-url URL --sidecar FILE

The database must be new or empty (the runner hands it a fresh SQLite file or a freshly created
PostgreSQL database). Migrations run first; then the rows go in through the fastest path each
database has: SQLite `executemany` in one transaction with the journal and fsyncs off,
PostgreSQL `COPY ... FROM STDIN` through psycopg. Only SHA-256 digests of the keys are stored, so
the plain keys the load generator needs go to the JSON sidecar (written last, atomically: a
sidecar exists only for a complete dataset).

Shape (defaults): 1,000 organizations, each with 100 brands of 10 seed-shaped segments, one empty
brand (for `no_segments`), and 100 members with one API key each; member *i* of an organization
is paired with brand *i* in the sidecar. The warm organization is `zyntro.demo`'s: one brand, one
owner, one key and the seed's three segments (a ~2 KB response). When the schema keeps each
brand's pre-encoded response (`brands.public_body`), it is written too, byte for byte what the
service would write (checked against `zyntro.responses.success_body` as it goes).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import orjson
import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.engine import make_url

from zyntro import keys
from zyntro.demo import DEMO_SEGMENTS, create_demo_data
from zyntro.domain import SEGMENT_FIELDS, format_timestamp
from zyntro.responses import success_body, success_message
from zyntro.service import Service
from zyntro.store import Store, migrate, queries, tables
from zyntro.store.engine import is_sqlite, normalise_url

# Bump when the data this script writes changes: the runner regenerates a cached SQLite file
# whose sidecar names another version (or another schema head).
GENERATOR_VERSION = 2

console = Console(stderr=True)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A random byte -> a uniform Crockford character (256 is a multiple of 32).
_BYTE_TO_CROCKFORD = bytes(_CROCKFORD.encode()[b & 31] for b in range(256))
# The low 10 bits of an id's millisecond part as 2 Crockford characters, precomputed.
_LOW_TIME = [_CROCKFORD[i >> 5] + _CROCKFORD[i & 31] for i in range(1024)]
# Rejection sampling for uniform base62: keep bytes < 248 (= 4 x 62), map b -> BASE62[b % 62].
_BASE62_TABLE = bytes(keys.BASE62.encode()[b % 62] for b in range(256))
_BASE62_DROP = bytes(range(248, 256))

ORG_COLUMNS = ("id", "name", "created_at")
BRAND_COLUMNS = ("id", "org_id", "name", "created_at")
MEMBER_COLUMNS = ("id", "org_id", "email", "name", "role", "active", "created_at")
KEY_COLUMNS = ("id", "member_id", "org_id", "digest", "prefix", "label", "created_at")
SEGMENT_COLUMNS = ("id", "brand_id", *SEGMENT_FIELDS[1:])

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Scale:
    orgs: int = 1_000
    brands_per_org: int = 100  # also members (and keys) per organization
    segments_per_brand: int = 10

    @property
    def brands(self) -> int:
        return self.orgs * self.brands_per_org

    @property
    def segments(self) -> int:
        return self.brands * self.segments_per_brand


@dataclass(frozen=True)
class Triple:
    api_key: str
    org_id: str
    brand_id: str


def _time_chars(ms: int) -> str:
    """The 10-character millisecond part of an id (48 bits, as `zyntro.ids.new_id` writes it)."""
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return "".join(reversed(chars))


class IdMaker:
    """Ids shaped like `zyntro.ids.new_id` (prefix, 10 time chars, 16 random chars).

    Each id takes the next millisecond, so a table's ids are strictly increasing and its primary
    key index is filled in order (one million ids span about 17 minutes of "creation time").
    """

    def __init__(self, start: datetime) -> None:
        self._ms = int(start.timestamp() * 1000)

    def make(self, prefix: str, count: int) -> list[str]:
        randoms = os.urandom(16 * count).translate(_BYTE_TO_CROCKFORD).decode()
        ids = []
        ms = self._ms
        high_of = -1
        high = ""
        for index in range(count):
            if ms >> 10 != high_of:
                high_of = ms >> 10
                high = f"{prefix}_{_time_chars(ms)[:8]}"
            ids.append(f"{high}{_LOW_TIME[ms & 1023]}{randoms[16 * index : 16 * index + 16]}")
            ms += 1
        self._ms = ms
        return ids


def make_keys(count: int) -> list[str]:
    """`count` API keys in the real format: uniform base62 body and its CRC32 checksum."""
    needed = keys.BODY_LENGTH * count
    chars = b""
    while len(chars) < needed:
        chars += os.urandom(needed + needed // 16 + 64).translate(_BASE62_TABLE, _BASE62_DROP)
    text = chars.decode()
    made = []
    for index in range(count):
        body = text[keys.BODY_LENGTH * index : keys.BODY_LENGTH * (index + 1)]
        made.append(keys.PREFIX + body + keys.checksum(body))
    return made


class Formats:
    """How one database wants its literal values (timestamps, booleans)."""

    def __init__(self, sqlite: bool) -> None:
        # SQLAlchemy's SQLite DateTime storage format; PostgreSQL takes a plain timestamp.
        self.stamp_suffix = ".000000" if sqlite else ""
        self.true: Any = 1 if sqlite else "t"

    def stamp(self, moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S") + self.stamp_suffix


@dataclass
class Plan:
    """Everything but the brands and segments, generated up front (about 200k small rows)."""

    orgs: list[Row]
    members: list[Row]
    keys: list[Row]
    triples: list[Triple]
    brand_ids: list[list[str]]  # per organization: its brands with segments, then the empty one
    creators: list[str]  # the member in-charge of each organization (segments' initiated_by)

    @property
    def empty(self) -> list[tuple[str, str]]:
        """(org_id, brand_id) of each organization's brand without segments."""
        return [(org[0], ids[-1]) for org, ids in zip(self.orgs, self.brand_ids, strict=True)]


def plan(scale: Scale, formats: Formats, base: datetime) -> Plan:
    per_org = scale.brands_per_org
    created = formats.stamp(base)
    org_ids = IdMaker(base).make("org", scale.orgs)
    all_brand_ids = IdMaker(base).make("brand", scale.orgs * (per_org + 1))
    member_ids = IdMaker(base).make("mem", scale.brands)
    key_ids = IdMaker(base).make("key", scale.brands)
    plain_keys = make_keys(scale.brands)

    orgs: list[Row] = []
    members: list[Row] = []
    key_rows: list[Row] = []
    triples: list[Triple] = []
    brand_ids: list[list[str]] = []
    creators: list[str] = []
    for o, org_id in enumerate(org_ids):
        orgs.append((org_id, f"Bench Organization {o + 1}", created))
        org_brands = all_brand_ids[o * (per_org + 1) : (o + 1) * (per_org + 1)]
        brand_ids.append(org_brands)
        for m in range(per_org):
            index = o * per_org + m
            role = "owner" if m == 0 else "in_charge" if m < 10 else "member"
            email = f"member{m + 1}@org{o + 1}.bench.example"
            member_id = member_ids[index]
            members.append(
                (member_id, org_id, email, f"Member {o + 1}.{m + 1}", role, formats.true, created)
            )
            plain = plain_keys[index]
            key_rows.append(
                (
                    key_ids[index],
                    member_id,
                    org_id,
                    keys.digest(plain),
                    keys.display_prefix(plain),
                    "bench",
                    created,
                )
            )
            triples.append(Triple(plain, org_id, org_brands[m]))
        creators.append(member_ids[o * per_org + min(1, per_org - 1)])
    return Plan(orgs, members, key_rows, triples, brand_ids, creators)


class _Template(NamedTuple):
    label: str
    tag: str
    type: str
    drivers: str
    pain_points: list[str]
    use_cases: list[str]
    pains_json: str
    uses_json: str
    tone: str
    reasoning: str


class _SegmentRow(NamedTuple):
    """A segments row as the store reads it back (for `queries.segment_from_row`)."""

    id: str
    brand_id: str
    created_at: datetime
    updated_at: datetime
    initiated_by: str
    segment_label: str
    segment_tag: str
    segment_type: str
    segment_decision_drivers: str
    segment_pain_points: list[str]
    segment_use_cases: list[str]
    segment_tone: str
    reasoning: str


def _templates() -> list[_Template]:
    """The seed's three segments (as `zyntro demo` has them)."""
    made = []
    for segment in DEMO_SEGMENTS:
        pains = [str(item) for item in segment["segment_pain_points"]]
        uses = [str(item) for item in segment["segment_use_cases"]]
        template = _Template(
            str(segment["segment_label"]),
            str(segment["segment_tag"]),
            str(segment["segment_type"]),
            str(segment["segment_decision_drivers"]),
            pains,
            uses,
            json.dumps(pains),
            json.dumps(uses),
            str(segment["segment_tone"]),
            str(segment["reasoning"]),
        )
        # COPY's text format needs these escaped; the templates have none, so none are written.
        texts = [text for text in template if isinstance(text, str)]
        assert not any(c in text for text in texts for c in "\t\n\r\\"), template
        made.append(template)
    return made


def has_public_body() -> bool:
    """Whether the schema keeps each brand's pre-encoded response (`brands.public_body`)."""
    return "public_body" in tables.brands.c


def batches(
    scale: Scale, formats: Formats, base: datetime, work: Plan, orgs_per_batch: int
) -> Iterator[tuple[list[Row], list[Row]]]:
    """(brand rows, segment rows) for `orgs_per_batch` organizations at a time, in id order.

    Segment *j* of a brand is created *j* seconds after the brand's first one (so the order by
    `created_at` is the order written) and edited an hour later. When the schema keeps each
    brand's response body, it is encoded here with orjson in the public shape, and the first
    brand of every batch is checked against the project's own encoding (`segment_from_row`,
    `success_body`) -- the same bytes the service writes, at a fraction of the cost.
    """
    templates = _templates()
    per_brand = scale.segments_per_brand
    with_body = has_public_body()
    message = success_message(per_brand)
    # An hour of second-resolution timestamps, cut to a multiple of per_brand and indexed by the
    # segment number, so one brand's run never wraps back to the start of the hour.
    span = 3_600 - 3_600 % per_brand
    created_at = [base + timedelta(seconds=s) for s in range(span)]
    updated_at = [moment + timedelta(hours=1) for moment in created_at]
    created = [formats.stamp(moment) for moment in created_at]
    updated = [formats.stamp(moment) for moment in updated_at]
    shown_created = [format_timestamp(moment) for moment in created_at]
    shown_updated = [format_timestamp(moment) for moment in updated_at]
    brand_created = formats.stamp(base)
    ids = IdMaker(base)
    number = 0
    brand_rows: list[Row] = []
    rows: list[Row] = []
    check = True
    for o, (org, org_brands) in enumerate(zip(work.orgs, work.brand_ids, strict=True)):
        org_id = org[0]
        creator = work.creators[o]
        for b, brand_id in enumerate(org_brands[:-1]):
            segment_ids = ids.make("seg", per_brand)
            public: list[dict[str, Any]] = []
            readback: list[_SegmentRow] = []
            for j in range(per_brand):
                t = templates[j % len(templates)]
                slot = number % span
                label = f"{t.label} {j + 1}"
                rows.append(
                    (
                        segment_ids[j],
                        brand_id,
                        created[slot],
                        updated[slot],
                        creator,
                        label,
                        t.tag,
                        t.type,
                        t.drivers,
                        t.pains_json,
                        t.uses_json,
                        t.tone,
                        t.reasoning,
                    )
                )
                if with_body:
                    values = (
                        segment_ids[j],
                        shown_created[slot],
                        shown_updated[slot],
                        creator,
                        label,
                        t.tag,
                        t.type,
                        t.drivers,
                        t.pain_points,
                        t.use_cases,
                        t.tone,
                        t.reasoning,
                    )
                    public.append(dict(zip(SEGMENT_FIELDS, values, strict=True)))
                if check:
                    readback.append(
                        _SegmentRow(
                            segment_ids[j],
                            brand_id,
                            created_at[slot],
                            updated_at[slot],
                            creator,
                            label,
                            t.tag,
                            t.type,
                            t.drivers,
                            t.pain_points,
                            t.use_cases,
                            t.tone,
                            t.reasoning,
                        )
                    )
                number += 1
            name = f"Brand {o + 1}.{b + 1}"
            if with_body:
                body = orjson.dumps({"status": "success", "message": message, "data": public})
                if check:
                    segments = [queries.segment_from_row(cast(Any, row)) for row in readback]
                    if body != success_body(segments):
                        raise SystemExit(
                            "the generator's response encoding no longer matches the service's "
                            "(zyntro.responses.success_body): update bench/generate.py"
                        )
                    check = False
                brand_rows.append((brand_id, org_id, name, brand_created, body))
            else:
                brand_rows.append((brand_id, org_id, name, brand_created))
        empty = (org_brands[-1], org_id, f"Brand {o + 1} (no segments yet)", brand_created)
        brand_rows.append((*empty, None) if with_body else empty)
        if (o + 1) % orgs_per_batch == 0 or o + 1 == len(work.orgs):
            yield brand_rows, rows
            brand_rows, rows = [], []
            check = True


# --- writers -----------------------------------------------------------------------------


class Writer:
    """Bulk inserts into one database; `load()` takes (table, columns, chunks of rows)."""

    def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError


class SqliteWriter(Writer):
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        # One writer and nothing to recover: no journal, no fsync, a big page cache.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("BEGIN")

    def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        marks = ", ".join("?" for _ in columns)
        self.conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            rows,
        )

    def finish(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA locking_mode=NORMAL")
        self.conn.execute("PRAGMA journal_mode=WAL")  # what the server's engine expects
        self.conn.close()


class PostgresWriter(Writer):
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn = psycopg.connect(conninfo)
        self.conn.execute("SET synchronous_commit = off")
        try:
            # Superusers may skip the per-row foreign key triggers; the data is consistent by
            # construction (and a non-superuser just keeps the checks).
            with self.conn.transaction():
                self.conn.execute("SET session_replication_role = replica")
        except psycopg.errors.InsufficientPrivilege:
            pass

    def insert(self, table: str, columns: Sequence[str], rows: list[Row]) -> None:
        # COPY's text format, built here in one string: nothing in the rows needs escaping
        # (the templates are checked), NULL is \N and bytea goes in hex (\x..., its backslash
        # doubled for COPY).
        text = "".join(
            "\t".join(
                "\\N"
                if value is None
                else "\\\\x" + value.hex()
                if isinstance(value, bytes)
                else str(value)
                for value in row
            )
            + "\n"
            for row in rows
        )
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(text.encode())

    def finish(self) -> None:
        self.conn.execute("SET session_replication_role = DEFAULT")
        self.conn.commit()
        self.conn.close()
        # VACUUM sets the hint bits and visibility map now, so the benchmark's first reads do
        # not write; ANALYZE gives the planner the real row counts.
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("VACUUM (FREEZE, ANALYZE)")


def libpq_conninfo(database_url: str) -> str:
    return (
        make_url(normalise_url(database_url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def sqlite_path(database_url: str) -> str:
    database = make_url(normalise_url(database_url)).database
    if not database or database == ":memory:":
        raise SystemExit("the benchmark dataset needs a SQLite file, not an in-memory database")
    return database


def _require_empty(store: Store) -> None:
    with store.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM organizations").scalar_one()
    if count:
        raise SystemExit(
            f"the database already holds {count} organizations: give the generator a new one"
        )


# --- the whole job -----------------------------------------------------------------------


@dataclass
class Result:
    seconds: float
    sidecar: Path
    phases: dict[str, float]


def generate(
    database_url: str, sidecar: Path, scale: Scale, chunk: int = 50_000, orgs_per_batch: int = 50
) -> Result:
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = round(now - since, 1)
        return now

    sqlite = is_sqlite(database_url)
    store = Store(database_url)
    try:
        migrate.upgrade(store.engine)
        _require_empty(store)
        head = migrate.head_revision(store.engine)
    finally:
        store.dispose()
    # The warm brand first, through the service layer (exactly what `zyntro demo` creates).
    warm = create_demo_data(database_url)
    mark = phase("schema and warm brand", started)

    formats = Formats(sqlite)
    base = (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
    work = plan(scale, formats, base)
    mark = phase("organizations, members, keys planned", mark)
    writer: Writer = (
        SqliteWriter(sqlite_path(database_url))
        if sqlite
        else PostgresWriter(libpq_conninfo(database_url))
    )
    small: list[tuple[str, Sequence[str], list[Row]]] = [
        ("organizations", ORG_COLUMNS, work.orgs),
        ("members", MEMBER_COLUMNS, work.members),
        ("api_keys", KEY_COLUMNS, work.keys),
    ]
    brand_columns = (*BRAND_COLUMNS, "public_body") if has_public_body() else BRAND_COLUMNS
    columns = [
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console) as progress:
        tasks = {name: progress.add_task(name, total=len(rows)) for name, _c, rows in small}
        brands_task = progress.add_task("brands", total=scale.orgs * (scale.brands_per_org + 1))
        segments_task = progress.add_task("segments", total=scale.segments)
        finish_task = progress.add_task("analyze", total=1)
        for name, cols, rows in small:
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                writer.insert(name, cols, part)
                progress.advance(tasks[name], len(part))
        # The next batch is made in a thread while this one is written: both database drivers
        # let go of the GIL while the database works.
        for brand_rows, segment_rows in _ahead(batches(scale, formats, base, work, orgs_per_batch)):
            writer.insert("brands", brand_columns, brand_rows)
            progress.advance(brands_task, len(brand_rows))
            writer.insert("segments", SEGMENT_COLUMNS, segment_rows)
            progress.advance(segments_task, len(segment_rows))
        mark = phase("brands and segments loaded", mark)
        writer.finish()
        progress.advance(finish_task)
        mark = phase("analyze" if sqlite else "vacuum (freeze, analyze)", mark)

    _check(database_url, work.triples[len(work.triples) // 2], scale.segments_per_brand)
    phase("read back", mark)
    seconds = time.perf_counter() - started
    _write_sidecar(
        sidecar,
        {
            "generator_version": GENERATOR_VERSION,
            "schema_head": head,
            "scale": asdict(scale),
            "database": make_url(normalise_url(database_url)).render_as_string(),
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "seconds": round(seconds, 1),
            "phases": phases,
            "warm": [warm.api_key, warm.org_id, warm.brand_id],
            "cold": [[t.api_key, t.org_id, t.brand_id] for t in work.triples],
            "empty_brands": [list(pair) for pair in work.empty],
        },
    )
    return Result(seconds, sidecar, phases)


_T = TypeVar("_T")


def _ahead(items: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    """Iterate `items` in a thread, up to `depth` items ahead of the consumer."""
    handoff: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                handoff.put((True, item))
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put((False, exc))
            return
        handoff.put((False, None))

    threading.Thread(target=produce, daemon=True).start()
    while True:
        ok, value = handoff.get()
        if not ok:
            if value is not None:
                raise value
            return
        yield value


def _check(database_url: str, triple: Triple, per_brand: int) -> None:
    """Read one generated brand back through the real service: the rows are what it expects."""
    service = Service(Store(database_url))
    try:
        body = json.loads(service.fetch_audiences(triple.api_key, triple.org_id, triple.brand_id))
    finally:
        service.close()
    if body.get("status") != "success" or len(body.get("data", [])) != per_brand:
        raise SystemExit(f"generated data does not read back as expected: {body!r:.300}")
    if has_public_body():
        # The stored body is what the service would encode from the stored segments.
        store = Store(database_url)
        try:
            with store.read() as conn:
                stored = conn.execute(
                    sa.select(tables.brands.c.public_body).where(
                        tables.brands.c.id == triple.brand_id
                    )
                ).scalar_one()
                encoded = success_body(queries.brand_segments(conn, triple.brand_id))
        finally:
            store.dispose()
        if bytes(stored) != encoded:
            raise SystemExit("brands.public_body differs from what the service would encode")


def _write_sidecar(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, separators=(",", ":")))
    partial.replace(path)


def main(argv: Sequence[str] | None = None, report: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="sqlite:///FILE or postgresql://")
    parser.add_argument("--sidecar", required=True, type=Path, help="JSON file for the keys")
    parser.add_argument("--orgs", type=int, default=Scale.orgs)
    parser.add_argument("--brands-per-org", type=int, default=Scale.brands_per_org)
    parser.add_argument("--segments-per-brand", type=int, default=Scale.segments_per_brand)
    args = parser.parse_args(argv)
    scale = Scale(args.orgs, args.brands_per_org, args.segments_per_brand)
    if min(scale.orgs, scale.brands_per_org, scale.segments_per_brand) < 1:
        parser.error("every count must be at least 1")
    result = generate(args.database_url, args.sidecar, scale)
    report(
        f"generated {scale.brands:,} brands, {scale.segments:,} segments and {scale.brands:,} keys "
        f"in {result.seconds:.1f} s; keys in {result.sidecar}"
    )
    report("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phases.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
