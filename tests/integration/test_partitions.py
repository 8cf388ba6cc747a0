"""The event table is partitioned by month of receipt (declarative partitioning, real PostgreSQL): months are made
ahead, a row with no month lands in the default partition and moves to its month when that month is made, old months
detach with their rows kept, every partition is append-only, and a message stays stored once across partitions and
after its month is detached (its key outlives it)."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest

from dispatch import pg
from prealert.harness import Backends, Service
from tests.conftest import Scene, make_scene, unique_unit


@pytest.fixture
async def writer(db: asyncpg.Pool) -> AsyncIterator[pg.EventWriter]:
    the_writer = pg.EventWriter(db, batch=50)
    task = asyncio.create_task(the_writer.run())
    try:
        yield the_writer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def row(unit: str, seq: int, received_at: datetime, *, uid: str | None = None, hr: int = 80) -> pg.EventRow:
    body = {"type": "vitals", "seq": seq, "hr": hr, **({"uid": uid} if uid else {})}
    return pg.EventRow(
        unit=unit,
        seq=seq,
        incident=None,
        type="vitals",
        taken_at=received_at,
        received_at=received_at,
        body=msgspec.json.encode(body).decode(),
    )


async def partition_of(db: asyncpg.Pool, unit: str, seq: int) -> str | None:
    query = "SELECT tableoid::regclass::text FROM events WHERE unit = $1 AND seq = $2"
    value = await db.fetchval(query, unit, seq)
    return None if value is None else str(value)


async def test_live_events_land_in_this_months_partition_and_months_ahead_exist(
    service: Service, db: asyncpg.Pool
) -> None:
    scene: Scene = await make_scene(service)
    tablet = scene.tablet()
    await tablet.connect()
    seq = await tablet.send(scene.vitals(hr=77))
    await tablet.wait_acked(seq)
    await tablet.close()

    now = datetime.now(UTC)
    assert await partition_of(db, scene.unit, seq) == f"events_{now:%Y_%m}"
    months = {
        str(r[0])
        for r in await db.fetch("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")
    }
    ahead = [f"events_{(now.year * 12 + now.month - 1 + m) // 12}_{(now.month - 1 + m) % 12 + 1:02d}" for m in range(3)]
    assert set(ahead) <= months and "events_default" in months


async def test_a_row_without_its_month_is_kept_then_moved_and_its_month_detaches(
    db: asyncpg.Pool, writer: pg.EventWriter
) -> None:
    # A month of the past no run of the suite has used (a detached month's table keeps its name)
    year, month = random.randint(1200, 1999), random.randint(1, 12)
    at = datetime(year, month, 15, 12, 0, tzinfo=UTC)
    unit = unique_unit("P")

    await (await writer.write(row(unit, 1, at, uid=f"{unit}-1")))  # no partition for that month: the default keeps it
    assert await partition_of(db, unit, 1) == "events_default"

    name = await db.fetchval("SELECT ensure_event_partition($1)", at)
    assert name == f"events_{year}_{month:02d}"
    assert await partition_of(db, unit, 1) == name  # moved out of the default, still once
    assert await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", unit) == 1

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(f"TRUNCATE {name}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute(f"DELETE FROM {name} WHERE unit = $1", unit)

    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    detached = await pg.detach_partitions(db, end)
    assert name in detached
    assert not any(d.startswith(f"events_{datetime.now(UTC):%Y}") for d in detached)  # this year's months stay
    assert await partition_of(db, unit, 1) is None  # no longer in the table...
    assert await db.fetchval(f"SELECT body->>'hr' FROM {name} WHERE unit = $1", unit) == "80"  # ...kept in its own

    # The month's keys stay: its message resent (same seq, or a fresh seq with the same uid) is not stored again
    now = datetime.now(UTC)
    await (await writer.write(row(unit, 1, now, uid=f"{unit}-1")))
    await (await writer.write(row(unit, 2, now, uid=f"{unit}-1")))
    assert await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", unit) == 0
    assert await pg.last_seq(db, unit) == 1


async def test_a_batch_with_a_message_twice_stores_it_once(db: asyncpg.Pool, writer: pg.EventWriter) -> None:
    unit, now = unique_unit("P"), datetime.now(UTC)
    futures = [
        await writer.write(row(unit, 1, now, uid=f"{unit}-a", hr=61)),
        await writer.write(row(unit, 1, now, uid=f"{unit}-a", hr=61)),  # the same frame twice
        await writer.write(row(unit, 2, now, uid=f"{unit}-a", hr=61)),  # renumbered by a second device
        await writer.write(row(unit, 3, now, uid=f"{unit}-b", hr=62)),
    ]
    await asyncio.gather(*futures)
    rows = await db.fetch("SELECT seq, body->>'hr' AS hr FROM events WHERE unit = $1 ORDER BY seq", unit)
    assert [(r["seq"], r["hr"]) for r in rows] == [(1, "61"), (3, "62")]
    keys = await db.fetch("SELECT seq, uid FROM event_keys WHERE unit = $1 ORDER BY seq", unit)
    assert [(k["seq"], k["uid"]) for k in keys] == [(1, f"{unit}-a"), (3, f"{unit}-b")]


async def test_a_seq_taken_by_another_message_is_refused_across_partitions(
    db: asyncpg.Pool, writer: pg.EventWriter
) -> None:
    unit, now = unique_unit("P"), datetime.now(UTC)
    await (await writer.write(row(unit, 5, now, uid=f"{unit}-first")))
    next_month = now + timedelta(days=32)  # made ahead: another partition than this month's
    later = await writer.write(row(unit, 5, next_month, uid=f"{unit}-other"))
    with pytest.raises(pg.SeqTaken) as taken:
        await later
    assert taken.value.last_seq == 5
    assert await partition_of(db, unit, 5) == f"events_{now:%Y_%m}"
    assert await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", unit) == 1


async def test_an_existing_event_table_is_moved_into_partitions_by_the_migration(
    backends: Backends, db: asyncpg.Pool
) -> None:
    """A deployment made before 0007 keeps every stored event, with its id and its key, in its month."""
    name = f"upgrade_{secrets.token_hex(4)}"
    await db.execute(f"CREATE DATABASE {name}")
    try:
        conn = await asyncpg.connect(backends.database_url, database=name)
        try:
            for _, _, sql in [m for m in pg.migrations() if m[0] < 7]:
                await conn.execute(sql)
            insert = (
                "INSERT INTO events (unit, seq, type, taken_at, received_at, body) "
                "VALUES ($1, $2, 'vitals', $3, $3, $4)"
            )
            moments = [datetime(2025, 11, 30, 23, 59, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)]
            for seq, at in enumerate(moments, start=1):
                await conn.execute(insert, "M9", seq, at, f'{{"uid": "u{seq}", "hr": {70 + seq}}}')
            before = await conn.fetch("SELECT id, seq FROM events ORDER BY id")

            await conn.execute(next(sql for version, _, sql in pg.migrations() if version == 7))

            after = await conn.fetch("SELECT id, seq, tableoid::regclass::text AS part FROM events ORDER BY id")
            assert [(r["id"], r["seq"]) for r in after] == [(r["id"], r["seq"]) for r in before]
            assert [r["part"] for r in after] == ["events_2025_11", "events_2025_12"]
            keys = await conn.fetch("SELECT seq, uid FROM event_keys WHERE unit = 'M9' ORDER BY seq")
            assert [(k["seq"], k["uid"]) for k in keys] == [(1, "u1"), (2, "u2")]
            next_id = await conn.fetchval(
                "INSERT INTO events (unit, seq, type, taken_at, received_at, body) "
                "VALUES ('M9', 3, 'vitals', now(), now(), '{}') RETURNING id"
            )
            assert next_id > before[-1]["id"]  # the ids go on from the old table's
        finally:
            await conn.close()
    finally:
        await db.execute(f"DROP DATABASE {name}")
