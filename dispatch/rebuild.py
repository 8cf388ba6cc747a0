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

from dispatch import derive
from dispatch.incidents import COLUMNS, state_of
from dispatch.live import Live, dispatch_key, feed_key, region_events_key, units_feed_key
from dispatch.metrics import REBUILDS
from dispatch.pg import Pool
from dispatch.protocol import EdAck, Event, IncidentState, Position, Status, Strip, encoder, tablet_decoder
from dispatch.region import Region

log = logging.getLogger("prealert.rebuild")
MARKER: Final = "pa:{live}:built"
LOCK: Final = "pa:{live}:rebuilding"
LOCK_S: Final = 120

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
        """Once a second: is the live state there? If not, rebuild it (or wait for the process that does)."""
        while True:
            try:
                await self.ensure()
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live state check failed, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(1)

    async def ensure(self) -> bool:
        """Rebuild if the marker is gone and no other process is at it; True if this process rebuilt."""
        redis = self._live.redis
        if await redis.exists(MARKER):
            return False
        if not await redis.set(LOCK, f"{os.getpid()}", nx=True, ex=LOCK_S):
            return False  # another process is rebuilding; the marker appears when it is done
        try:
            started = time.monotonic()
            counts = await self.rebuild()
            await redis.set(MARKER, self._clock().isoformat())
            REBUILDS.inc()
            log.warning(
                "live state rebuilt from PostgreSQL",
                extra={**counts, "seconds": round(time.monotonic() - started, 3)},
            )
        finally:
            await redis.delete(LOCK)
        return True

    async def rebuild(self) -> dict[str, int]:
        region = self._region.name
        now = self._clock()
        mark = f"{int(now.timestamp() * 1000)}-0"
        for key in [feed_key(h) for h in self._region.hospitals] + [
            dispatch_key(region),
            region_events_key(region),
            units_feed_key(region),
        ]:
            await self._live.mark_trimmed(key, mark)
        statuses = await self._pool.fetch(_STATUSES)
        known = [r for r in statuses if r["hospital"] in self._region.hospitals]
        await self._live.restore_statuses(region, {r["hospital"]: r["status"].encode() for r in known})
        open_rows = await self._pool.fetch(_OPEN, region, now - self._retention)
        # The units' seqs before the incidents' histories: a resend the history holds is then a repeat, not fanned
        # out again (the other order would let a message stored between the two reads be taken for a repeat and
        # never reach the feed)
        units = sorted({r["unit"] for r in open_rows if r["unit"]})
        unit_rows = await self._pool.fetch(_UNITS, units, now - self._units_retention)
        for unit in unit_rows:
            await self._live.restore_unit(
                region,
                unit["unit"],
                seq=int(unit["seq"]),
                position=_unit_value(unit["position"], Position),
                status=_unit_value(unit["status"], Status),
            )
        for row in open_rows:
            await self._restore(state_of(row))
        return {"hospital_statuses": len(known), "incidents": len(open_rows), "units": len(unit_rows)}

    async def repair(self, incident: int, unit: str) -> bool:
        """Restore one incident Redis does not know, if PostgreSQL says ``unit`` is assigned to it (a message of the
        unit arrived before the rebuild reached it). True if the unit may write to it now."""
        async with self._repair_lock:
            row = await self._pool.fetchrow(_ONE, incident, self._region.name)
            if row is None or row["unit"] != unit:
                return False
            top = await self._pool.fetchval("SELECT max(seq) FROM event_keys WHERE unit = $1", unit)
            if top is not None:  # first, as in ``rebuild``
                await self._live.restore_unit(self._region.name, unit, seq=int(top), position=None, status=None)
            await self._restore(state_of(row))
            return True

    async def _restore(self, state: IncidentState) -> None:
        destination = self._region.hospitals.get(state.destination) if state.destination else None
        entries = [encoder.encode(Event(incident=state.id, unit=state.unit, seq=None, received_at=self._clock(),
                                        body=state))]  # fmt: skip
        latest: dict[str, Any] = {}
        timed: list[tuple[datetime, bytes]] = []
        for row in await self._pool.fetch(_EVENTS, state.id):
            message = tablet_decoder.decode(row["body"])
            if isinstance(message, Strip):  # never stored; a stored row is a message
                continue
            event, _, latest = derive.fanned_out(
                row["unit"], message, latest, destination, self._eta, row["received_at"]
            )
            timed.append((row["received_at"], encoder.encode(event)))
        if state.destination:
            for ack in await self._pool.fetch(_ACKS, state.id, state.destination):
                body = EdAck(incident=state.id, hospital=ack["hospital"], note=ack["note"], at=ack["at"],
                             by=ack["actor"])  # fmt: skip
                event = Event(incident=state.id, unit=None, seq=None, received_at=ack["at"], body=body)
                timed.append((ack["at"], encoder.encode(event)))
        timed.sort(key=lambda pair: pair[0])
        entries += [raw for _, raw in timed]
        await self._live.restore_incident(
            self._region.name,
            incident=state.id,
            state=encoder.encode(state),
            destination=state.destination,
            unit=state.unit,
            latest=encoder.encode(latest) if latest else None,
            entries=entries,
            mark=f"{int(self._clock().timestamp() * 1000)}-0",
        )


def _unit_value(raw: str | None, kind: type[Position] | type[Status]) -> bytes | None:
    """The unit hash's ``position``/``status`` value: the message as the ingest keeps it."""
    if raw is None:
        return None
    message = tablet_decoder.decode(raw)
    return encoder.encode(message) if isinstance(message, kind) else None
