"""The live state rebuilt from the record, when Redis comes back empty (restarted without its append-only file,
replaced, flushed).

Every process looks for the marker key once a second; when it is gone, one process (under a lock) rebuilds from
PostgreSQL what the live service needs, while the others wait for the marker:
- each hospital's ED status (the latest of its history);
- every open incident of the region (not handed over, created within the feed retention): its state, destination,
  unit, merged latest vitals and its events stream; the destination's feed with the incident's whole history (the
  state, every stored tablet event with its derived view made again in order, the ED's acknowledgements); the
  active set;
- each unit's highest stored seq, its last position and status (the dispatchers' map);
- the feeds' ``trimmed`` marks at the moment of the rebuild, so that a dashboard resuming from an id of the lost Redis
  is told ``reset`` and loads the rebuilt feed, instead of resuming into a gap.

Between Redis coming back and the rebuild, a tablet message for an incident Redis does not know would be refused
``not_assigned`` (and dropped by the tablet): the ingest asks PostgreSQL first and, if the unit is assigned there,
``repair`` restores that incident at once and the message goes through (``Ingest``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
from redis.exceptions import RedisError

from dispatch import derive, live
from dispatch.incidents import COLUMNS, state_of
from dispatch.live import Live, dispatch_key, feed_key, region_events_key, units_feed_key
from dispatch.metrics import REBUILDS
from dispatch.pg import Connection, Pool
from dispatch.protocol import EdAck, Event, IncidentState, Position, Status, Strip, encoder, tablet_decoder
from dispatch.region import Region

log = logging.getLogger("prealert.rebuild")
MARKER: Final = live.MARKER
LOCK: Final = live.REBUILD_LOCK
LOCK_S: Final = 120
# A rebuild found by the periodic check first lets what was fanned out before it (its PostgreSQL commit still on the
# way) reach the record: the snapshot then holds it, and it is not lost from a feed made again.
SETTLE_S: Final = 1.0

_OPEN: Final = f"""
SELECT {COLUMNS} FROM incidents i
WHERE region = $1 AND created_at > $2 AND NOT EXISTS (SELECT 1 FROM handovers h WHERE h.incident_id = i.id)
ORDER BY id
"""
_ONE: Final = f"SELECT {COLUMNS} FROM incidents WHERE id = $1 AND region = $2"
_EVENTS: Final = """
SELECT unit, seq, received_at, body::text AS body FROM events WHERE incident_id = $1 ORDER BY received_at, id
"""
_ACKS: Final = (
    "SELECT hospital, at, actor, note FROM acknowledgements WHERE incident_id = $1 AND hospital = $2 ORDER BY id"
)
_STATUSES: Final = """
SELECT DISTINCT ON (hospital) hospital, status::text AS status FROM hospital_status_history
ORDER BY hospital, at DESC, id DESC
"""
_UNITS: Final = """
SELECT k.unit, max(k.seq) AS seq,
       (SELECT body::text FROM events e WHERE e.unit = k.unit AND e.type = 'position' AND e.received_at > $2
        ORDER BY e.received_at DESC LIMIT 1) AS position,
       (SELECT body::text FROM events e WHERE e.unit = k.unit AND e.type = 'status' AND e.received_at > $2
        ORDER BY e.received_at DESC LIMIT 1) AS status
FROM event_keys k WHERE k.unit = ANY($1::text[]) OR k.received_at > $2
GROUP BY k.unit
"""


class Rebuilder:
    def __init__(
        self,
        *,
        pool: Pool,
        live: Live,
        region: Region,
        eta: derive.EtaLookup,
        clock: Callable[[], datetime],
        retention: timedelta,
        units_retention: timedelta,
    ) -> None:
        self._pool = pool
        self._live = live
        self._region = region
        self._eta = eta
        self._clock = clock
        self._retention = retention
        self._units_retention = units_retention
        self._repair_lock = asyncio.Lock()

    async def run(self) -> None:
        """Once a second: is the live state there, and is it from the Redis run the last rebuild knew? Rebuild what
        is missing."""
        while True:
            try:
                if not await self.ensure(settle_s=SETTLE_S):
                    servers = ",".join(sorted(await self._live.server_ids()))
                    if await self._live.runs() != servers:  # restarted on its append-only file: see ``rebuild``
                        await self.ensure(streams_only=True, settle_s=SETTLE_S)
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live state check failed, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(1)

    async def ensure(self, *, streams_only: bool = False, settle_s: float = 0.0) -> bool:
        """Rebuild if the marker is gone (or, ``streams_only``, because Redis restarted) and no other process is at
        it; True if this process rebuilt. While the lock is held, tablet messages wait (``Live.ingest``); the
        snapshot is read ``settle_s`` after taking it, so that a message fanned out just before has reached the
        record. The Redis run ids it was made for are kept beside the marker, so that one restart is rebuilt once,
        by one process."""
        redis = self._live.redis
        if not streams_only and await redis.exists(MARKER):
            return False
        if not await redis.set(LOCK, f"{os.getpid()}", nx=True, ex=LOCK_S):
            return False  # another process is rebuilding; the marker appears when it is done
        try:
            servers = ",".join(sorted(await self._live.server_ids()))
            if streams_only and await self._live.runs() == servers:
                return False  # another process did it already
            started = time.monotonic()
            await asyncio.sleep(settle_s)
            counts = await self.rebuild(streams_only=streams_only)
            await redis.set(MARKER, self._clock().isoformat())
            await self._live.set_runs(servers)
            REBUILDS.inc()
            log.warning(
                "live streams rebuilt from PostgreSQL (Redis restarted)"
                if streams_only
                else "live state rebuilt from PostgreSQL (Redis came back empty)",
                extra={**counts, "seconds": round(time.monotonic() - started, 3)},
            )
        finally:
            await redis.delete(LOCK)
        return True

    async def rebuild(self, *, streams_only: bool = False) -> dict[str, int]:
        """Everything read in one snapshot of the record, then written. ``streams_only``: Redis restarted on its
        append-only file, which may miss its last second (``appendfsync everysec``): an event acked meanwhile may be
        missing from its feed. The feeds are then made again from the record (their screens start over), and the
        units' seqs raised to the record's; the rest of the state is kept."""
        region = self._region.name
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            statuses = await conn.fetch(_STATUSES)
            open_rows = await conn.fetch(_OPEN, region, now - self._retention)
            units = sorted({r["unit"] for r in open_rows if r["unit"]})
            unit_rows = await conn.fetch(_UNITS, units, now - self._units_retention)
            histories = [await self._history(conn, state_of(row)) for row in open_rows]
        mark = f"{int(now.timestamp() * 1000)}-0"
        feeds = [feed_key(h) for h in self._region.hospitals]
        for key in feeds if streams_only else [*feeds, dispatch_key(region), region_events_key(region),
                                               units_feed_key(region)]:  # fmt: skip
            await self._live.mark_trimmed(key, mark, drop=streams_only)
        known = [r for r in statuses if r["hospital"] in self._region.hospitals]
        if not streams_only:
            await self._live.restore_statuses(region, {r["hospital"]: r["status"].encode() for r in known})
        # The units' seqs first: a resend of a message the histories hold is then a repeat, never fanned out again;
        # one read after the snapshot is in neither, and is fanned out when it comes
        for unit in unit_rows:
            await self._live.restore_unit(
                region,
                unit["unit"],
                seq=int(unit["seq"]),
                position=None if streams_only else _unit_value(unit["position"], Position),
                status=None if streams_only else _unit_value(unit["status"], Status),
            )
        for history in histories:
            await self._live.restore_incident(region, **history, mark=mark, force=streams_only)
        return {"hospital_statuses": len(known), "incidents": len(open_rows), "units": len(unit_rows)}

    async def repair(self, incident: int, unit: str) -> bool:
        """Restore one incident Redis does not know, if PostgreSQL says ``unit`` is assigned to it (a message of the
        unit arrived before the rebuild reached it). True if the unit may write to it now."""
        async with self._repair_lock:
            async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(_ONE, incident, self._region.name)
                if row is None or row["unit"] != unit:
                    return False
                top = await conn.fetchval("SELECT max(seq) FROM event_keys WHERE unit = $1", unit)
                history = await self._history(conn, state_of(row))
            if top is not None:  # first, as in ``rebuild``
                await self._live.restore_unit(self._region.name, unit, seq=int(top), position=None, status=None)
            mark = f"{int(self._clock().timestamp() * 1000)}-0"
            await self._live.restore_incident(self._region.name, **history, mark=mark, force=False)
            return True

    async def _history(self, conn: Connection, state: IncidentState) -> dict[str, Any]:
        """What ``Live.restore_incident`` needs: the state, and the feed's entries as the service made them."""
        destination = self._region.hospitals.get(state.destination) if state.destination else None
        entries = [encoder.encode(Event(incident=state.id, unit=state.unit, seq=None, received_at=self._clock(),
                                        body=state))]  # fmt: skip
        latest: dict[str, Any] = {}
        timed: list[tuple[datetime, bytes]] = []
        for row in await conn.fetch(_EVENTS, state.id):
            message = tablet_decoder.decode(row["body"])
            if isinstance(message, Strip):  # never stored; a stored row is a message
                continue
            event, _, latest = derive.fanned_out(
                row["unit"], message, latest, destination, self._eta, row["received_at"]
            )
            timed.append((row["received_at"], encoder.encode(event)))
        if state.destination:
            for ack in await conn.fetch(_ACKS, state.id, state.destination):
                body = EdAck(incident=state.id, hospital=ack["hospital"], note=ack["note"], at=ack["at"],
                             by=ack["actor"])  # fmt: skip
                event = Event(incident=state.id, unit=None, seq=None, received_at=ack["at"], body=body)
                timed.append((ack["at"], encoder.encode(event)))
        timed.sort(key=lambda pair: pair[0])
        return {
            "incident": state.id,
            "state": encoder.encode(state),
            "destination": state.destination,
            "unit": state.unit,
            "latest": encoder.encode(latest) if latest else None,
            "entries": entries + [raw for _, raw in timed],
        }


def _unit_value(raw: str | None, kind: type[Position] | type[Status]) -> bytes | None:
    """The unit hash's ``position``/``status`` value: the message as the ingest keeps it."""
    if raw is None:
        return None
    message = tablet_decoder.decode(raw)
    return encoder.encode(message) if isinstance(message, kind) else None
