"""The audit log in PostgreSQL: entries are queued, sealed onto the chain in batches and inserted under an advisory
lock (so that several processes extend one chain), and read back for the administrators' query and for
``prealert audit verify``.

``record`` queues an entry and returns a future that completes when it is committed: the HTTP edge waits for it
before it answers (a read that cannot be audited is not served); sockets do not wait (their messages are in
``events`` already, and the audit entry follows within a batch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from dispatch.audit import GENESIS, Entry, Sealed, Verdict, seal, verify_chain
from dispatch.pg import Pool

log = logging.getLogger("prealert.audit")
_LOCK: Final = 0x0A0D17  # pg_advisory_xact_lock key of the chain's tail
_COLUMNS: Final = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "resource",
    "incident",
    "unit",
    "hospital",
    "purpose",
    "source",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
)


def _row(sealed: Sealed) -> tuple[Any, ...]:
    e = sealed.entry
    return (
        sealed.seq,
        e.at,
        e.actor,
        e.role,
        e.action,
        e.resource,
        e.incident,
        e.unit,
        e.hospital,
        e.purpose,
        e.source,
        e.outcome,
        sealed.detail,
        sealed.prev_hash,
        sealed.hash,
    )


def _sealed(row: asyncpg.Record) -> Sealed:
    entry = Entry(
        at=row["at"],
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        resource=row["resource"],
        purpose=row["purpose"],
        source=row["source"],
        outcome=row["outcome"],
        incident=row["incident"],
        unit=row["unit"],
        hospital=row["hospital"],
        detail=msgspec.json.decode(row["detail"]),
    )
    return Sealed(seq=row["seq"], entry=entry, detail=row["detail"], prev_hash=row["prev_hash"], hash=row["hash"])


class AuditLog:
    def __init__(self, pool: Pool, *, batch: int = 500) -> None:
        self._pool = pool
        self._batch = batch
        self._queue: asyncio.Queue[tuple[Entry, asyncio.Future[None]]] = asyncio.Queue()
        self._retry: list[tuple[Entry, asyncio.Future[None]]] = []  # a batch that failed, first in line

    def record(self, entry: Entry) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((entry, done))
        return done

    async def run(self) -> None:
        while True:
            pending, self._retry = self._retry or [await self._queue.get()], []
            while len(pending) < self._batch and not self._queue.empty():
                pending.append(self._queue.get_nowait())
            try:
                await self._append([entry for entry, _ in pending])
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("audit write failed, retrying", extra={"error": str(exc), "entries": len(pending)})
                self._retry = pending
                await asyncio.sleep(0.5)
                continue
            for _, done in pending:
                self._queue.task_done()
                if not done.done():
                    done.set_result(None)

    async def drain(self) -> None:
        await self._queue.join()  # every entry taken is marked done only once it is committed

    async def _append(self, entries: list[Entry]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            tail = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            after_seq, after_hash = (tail["seq"], tail["hash"]) if tail else (0, GENESIS)
            sealed = seal(entries, after_seq=after_seq, after_hash=after_hash)
            await conn.copy_records_to_table("audit_log", records=[_row(s) for s in sealed], columns=_COLUMNS)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str | None = None
    incident: int | None = None
    unit: str | None = None
    hospital: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


async def query(pool: Pool, q: AuditQuery) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """
        SELECT * FROM audit_log
        WHERE seq > $1
          AND ($2::text IS NULL OR actor = $2) AND ($3::bigint IS NULL OR incident = $3)
          AND ($4::text IS NULL OR unit = $4) AND ($5::text IS NULL OR hospital = $5)
          AND ($6::text IS NULL OR action = $6)
          AND ($7::timestamptz IS NULL OR at >= $7) AND ($8::timestamptz IS NULL OR at < $8)
        ORDER BY seq LIMIT $9
        """,
        q.after_seq,
        q.actor,
        q.incident,
        q.unit,
        q.hospital,
        q.action,
        q.since,
        q.until,
        q.limit,
    )
    return [{**dict(r), "detail": msgspec.json.decode(r["detail"])} for r in rows]


async def _rows(pool: Pool, page: int = 5000) -> AsyncIterator[Sealed]:
    after = 0
    while True:
        rows = await pool.fetch("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, page)
        for row in rows:
            yield _sealed(row)
        if len(rows) < page:
            return
        after = rows[-1]["seq"]


async def verify(pool: Pool) -> Verdict:
    """Walk the whole chain from its first entry."""
    rows = [row async for row in _rows(pool)]
    return verify_chain(rows)
