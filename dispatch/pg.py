"""PostgreSQL adapter: migrations, readiness, and the group-commit writer that makes tablet events durable.

Thin: SQL in, rows out. The event table is append-only (triggers refuse UPDATE, DELETE and TRUNCATE) and partitioned
by month of receipt (migration 0007); its keys ``(unit, seq)`` and ``(unit, uid)`` are unique in ``event_keys``, which
the writer claims in the same statement, so a repeated message is stored once whatever process receives it and
whatever seq it is resent under.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Final

import asyncpg
import msgspec

from dispatch.metrics import COMMIT_SECONDS

log = logging.getLogger("prealert.pg")
_MIGRATION_LOCK: Final = 0x70726561  # "prea"
_INSERT_EVENTS: Final = """
WITH batch AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                         $7::jsonb[])
        WITH ORDINALITY AS b (unit, seq, incident_id, type, taken_at, received_at, body, n)
), claimed AS (
    INSERT INTO event_keys (unit, seq, uid, received_at)
    SELECT unit, seq, body ->> 'uid', received_at FROM batch ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING unit, seq
), firsts AS (
    SELECT DISTINCT ON (b.unit, b.seq) b.* FROM batch b JOIN claimed USING (unit, seq) ORDER BY b.unit, b.seq, b.n
)
INSERT INTO events (unit, seq, incident_id, type, taken_at, received_at, body)
SELECT unit, seq, incident_id, type, taken_at, received_at, body FROM firsts ORDER BY n
RETURNING unit, seq
"""
# For the rows a batch did not insert: is the same message (uid) stored, or did another message take the seq?
_HELD: Final = """
SELECT unit, seq, uid FROM event_keys
WHERE (unit, seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))
   OR (unit, uid) IN (SELECT * FROM unnest($1::text[], $3::text[]))
"""
PARTITIONS_AHEAD: Final = 2  # months of event partitions made ahead of the current one


class SeqTaken(Exception):
    """The row was not stored: its seq holds another message of the unit (two devices, Redis restarted empty)."""

    def __init__(self, last_seq: int) -> None:
        super().__init__(f"seq taken; the unit's highest seq is {last_seq}")
        self.last_seq = last_seq


Pool = asyncpg.Pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in the package, in order."""
    folder = resources.files("dispatch") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def connect(dsn: str, *, max_size: int = 10) -> Pool:
    return await asyncpg.create_pool(dsn, min_size=1, max_size=max_size)


async def migrate(pool: Pool) -> int:
    """Apply the migrations not yet applied, under an advisory lock so that processes starting together agree."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version not in applied:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
                log.info("migration applied", extra={"version": version, "migration": name})
    return migrations()[-1][0]


async def schema_version(pool: Pool) -> int | None:
    value = await pool.fetchval("SELECT max(version) FROM schema_migrations")
    return int(value) if value is not None else None


async def last_seq(pool: Pool, unit: str) -> int:
    value = await pool.fetchval("SELECT max(seq) FROM event_keys WHERE unit = $1", unit)
    return int(value) if value is not None else 0


async def holds_uid(pool: Pool, unit: str, uid: str) -> bool:
    """Whether the unit's message with this idempotency key is stored (whatever seq it came under)."""
    query = "SELECT EXISTS (SELECT 1 FROM event_keys WHERE unit = $1 AND uid = $2)"
    return bool(await pool.fetchval(query, unit, uid))


async def ensure_partitions(pool: Pool, now: datetime, ahead: int = PARTITIONS_AHEAD) -> list[str]:
    """Make the event partitions of ``now``'s month and the ``ahead`` months after it (idempotent; any process)."""
    return [r[0] for r in await pool.fetch("SELECT ensure_event_partitions($1, $2)", now, ahead)]


async def detach_partitions(pool: Pool, before: datetime) -> list[str]:
    """Detach the monthly event partitions that end at or before ``before``: their tables stay, to be archived and
    dropped by the operator; their keys stay, so a resend of one of their messages is still stored once."""
    return [r[0] for r in await pool.fetch("SELECT detach_event_partitions($1)", before)]


def _uid(row: EventRow) -> str | None:
    return msgspec.json.decode(row.body, type=_UidOnly).uid


class _UidOnly(msgspec.Struct):
    uid: str | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    unit: str
    seq: int
    incident: int | None
    type: str
    taken_at: datetime
    received_at: datetime
    body: str  # the message as JSON


_Item = tuple[EventRow, asyncio.Future[None], float]  # the row, resolved once durable, when it was queued


class EventWriter:
    """Group commit: rows queue up, one task writes them in batches, each row's future resolves once durable.

    If PostgreSQL is unreachable the batch is retried with backoff; the futures (and so the acks) wait, nothing is
    dropped. The queue is bounded, so a stalled database slows the sockets down instead of growing memory. Large rows
    (a 12-lead ECG is about 160 KB of JSON) have a queue and a task of their own, so that the vitals of other units
    are never committed behind one.
    """

    def __init__(self, pool: Pool, *, batch: int, large_bytes: int = 16 * 1024) -> None:
        self._pool = pool
        self._batch = batch
        self._large_bytes = large_bytes
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=batch * 20)
        self._large: asyncio.Queue[_Item] = asyncio.Queue(maxsize=64)
        self.batches = 0
        self.retries = 0

    async def write(self, row: EventRow) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._large if len(row.body) > self._large_bytes else self._queue
        await queue.put((row, done, time.monotonic()))
        return done

    async def run(self) -> None:
        await asyncio.gather(self._run(self._queue, self._batch), self._run(self._large, 4))

    async def _run(self, queue: asyncio.Queue[_Item], batch: int) -> None:
        while True:
            items = [await queue.get()]
            while len(items) < batch and not queue.empty():
                items.append(queue.get_nowait())
            await self._commit(items)
            for _ in items:
                queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued row is written (used at shutdown, before the task is cancelled)."""
        await self._queue.join()
        await self._large.join()

    async def _commit(self, items: list[_Item]) -> None:
        rows = [row for row, _, _ in items]
        columns = (
            [r.unit for r in rows],
            [r.seq for r in rows],
            [r.incident for r in rows],
            [r.type for r in rows],
            [r.taken_at for r in rows],
            [r.received_at for r in rows],
            [r.body for r in rows],
        )
        delay = 0.05
        while True:
            try:
                inserted = {(r["unit"], r["seq"]) for r in await self._pool.fetch(_INSERT_EVENTS, *columns)}
                taken = await self._taken([row for row in rows if (row.unit, row.seq) not in inserted])
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # Nothing is acked until this succeeds: a database that is away stalls the acks and loses nothing.
                self.retries += 1
                log.warning("event batch not written, retrying", extra={"rows": len(rows), "error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.batches += 1
        now = time.monotonic()
        for row, done, queued_at in items:
            COMMIT_SECONDS.observe(now - queued_at)
            if done.done():
                continue
            if (row.unit, row.seq) in taken:
                done.set_exception(SeqTaken(taken[(row.unit, row.seq)]))
            else:
                done.set_result(None)

    async def _taken(self, skipped: list[EventRow]) -> dict[tuple[str, int], int]:
        """Of the rows not inserted (a conflict), those whose message is not stored at all: their seq belongs to
        another message. Maps (unit, seq) to the unit's highest stored seq. A row without a uid cannot be told from
        a repeat and counts as stored, as before."""
        with_uid = [(row, _uid(row)) for row in skipped]
        with_uid = [(row, uid) for row, uid in with_uid if uid is not None]
        if not with_uid:
            return {}
        held = await self._pool.fetch(
            _HELD, [r.unit for r, _ in with_uid], [r.seq for r, _ in with_uid], [u for _, u in with_uid]
        )
        stored_uids = {(r["unit"], r["uid"]) for r in held}
        taken = [row for row, uid in with_uid if (row.unit, uid) not in stored_uids]
        if not taken:
            return {}
        tops = await self._pool.fetch(
            "SELECT unit, max(seq) AS top FROM event_keys WHERE unit = ANY($1::text[]) GROUP BY unit",
            list({row.unit for row in taken}),
        )
        top = {r["unit"]: int(r["top"]) for r in tops}
        return {(row.unit, row.seq): top.get(row.unit, row.seq) for row in taken}
