"""The receiving ED's actions on an inbound patient: acknowledge the pre-alert, take over care, see today's list.

- Acknowledge (optionally with a bay or team): recorded in PostgreSQL, appended to the patient's feed (so every screen
  of the ED shows it) and pushed to the crew's tablet.
- Transfer of care: offload time is measured from the crew's arrival (their ``at_destination`` status, on the server's
  clock) to this moment, recorded per patient, and the hospital's average over the last hour becomes the offload
  minutes of its live status, which dispatch ranks on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from dispatch.capacity import OffloadStatus, StatusUpdate
from dispatch.errors import ConflictError, ForbiddenError, NotFoundError
from dispatch.hospital_status import HospitalStatuses
from dispatch.live import Live
from dispatch.pg import Pool
from dispatch.protocol import EdAck, Event, Handover, encoder, incident_decoder
from dispatch.region import Region

OFFLOAD_WINDOW: Final = timedelta(hours=1)
OFFLOAD_DELAYED_MINUTES: Final = 20  # an hour's average above this shows the ED's offload as Delayed


ECG_WAIT_S: Final = 2.0
_ECGS: Final = """
SELECT coalesce(json_agg(json_build_object('unit', unit, 'seq', seq, 'received_at', received_at, 'body', body)
                         ORDER BY id), '[]')
FROM events
WHERE incident_id = $1 AND type = 'ecg12' AND ($2::text IS NULL OR (unit = $2 AND seq = $3))
"""


@dataclass(frozen=True)
class Desk:
    pool: Pool
    live: Live
    region: Region
    statuses: HospitalStatuses
    clock: Callable[[], datetime]

    async def acknowledge(self, hospital: str, incident: int, note: str | None, *, actor: str) -> EdAck:
        ack = EdAck(incident=incident, hospital=hospital, note=note, at=self.clock(), by=actor)
        body = encoder.encode(ack)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO acknowledgements (incident_id, hospital, at, actor, note) VALUES ($1, $2, $3, $4, $5)",
                incident,
                hospital,
                ack.at,
                actor,
                note,
            )
            await self._append(hospital, incident, ack, body, "ack")
        state, _ = await self.live.incident_inputs(incident)
        unit = incident_decoder.decode(state).unit if state else None
        if unit is not None:
            await self.live.notify_unit(unit, "ack", incident)
        return ack

    async def transfer(self, hospital: str, incident: int, *, actor: str) -> Handover:
        arrived = await self._arrival(incident)
        now = self.clock()
        handover = Handover(
            incident=incident,
            hospital=hospital,
            arrived_at=arrived,
            transferred_at=now,
            offload_minutes=round((now - arrived).total_seconds() / 60, 1),
            by=actor,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO handovers (incident_id, hospital, arrived_at, transferred_at, offload_seconds, actor) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                incident,
                hospital,
                arrived,
                now,
                round((now - arrived).total_seconds()),
                actor,
            )
            await self._append(hospital, incident, handover, encoder.encode(handover), "handover")
            average = await conn.fetchval(
                "SELECT avg(offload_seconds) / 60.0 FROM handovers WHERE hospital = $1 AND transferred_at > $2",
                hospital,
                now - OFFLOAD_WINDOW,
            )
        await self.live.activate(self.region.name, incident, False)
        minutes = round(float(average or 0))
        offload: OffloadStatus = "Delayed" if minutes > OFFLOAD_DELAYED_MINUTES else "Normal"
        await self.statuses.update(
            hospital, StatusUpdate(offload_minutes=minutes, offload=offload), actor="offload-measurement"
        )
        return handover

    async def today(self, hospital: str, *, recent: timedelta) -> list[dict[str, Any]]:
        """The patients sent to this ED in the last 24 h that it may still see (inbound, or handed over within
        ``recent``), with their acknowledgement and handover if any."""
        rows = await self.pool.fetch(
            """
            SELECT i.id, i.created_at, i.complaint, i.priority, i.unit,
                   (SELECT max(a.at) FROM acknowledgements a
                    WHERE a.incident_id = i.id AND a.hospital = $1) AS acked_at,
                   h.transferred_at, h.offload_seconds
            FROM incidents i
            LEFT JOIN handovers h ON h.incident_id = i.id AND h.hospital = $1
            WHERE i.destination = $1 AND i.created_at > now() - interval '24 hours'
              AND (h.transferred_at IS NULL OR h.transferred_at > $2)
            ORDER BY i.id DESC
            """,
            hospital,
            self.clock() - recent,
        )
        return [msgspec.to_builtins(dict(r)) for r in rows]

    async def ecgs(self, hospital: str, incident: int, *, unit: str | None = None, seq: int | None = None) -> bytes:
        """The 12-lead ECGs of a patient inbound to this ED, oldest first, as stored: a JSON array of ``{unit, seq,
        received_at, body: ecg12}`` (samples in base64). With ``unit`` and ``seq``, just that one; the feed may tell
        of it a few milliseconds before PostgreSQL has committed it, so it is waited for (up to two seconds)."""
        _, destination = await self.live.incident_context(incident)
        if destination != hospital:
            raise ForbiddenError(f"incident {incident} is not inbound to {hospital}")
        one = unit is not None and seq is not None
        deadline = time.monotonic() + ECG_WAIT_S
        while True:
            found = await self.pool.fetchval(_ECGS, incident, unit, seq)
            if found != "[]" or not one or time.monotonic() > deadline:
                return str(found).encode()
            await asyncio.sleep(0.005)

    async def _append(self, hospital: str, incident: int, body: EdAck | Handover, raw: bytes, field: str) -> None:
        event = encoder.encode(Event(incident=incident, unit=None, seq=None, received_at=self.clock(), body=body))
        if not await self.live.put_ed_event(incident=incident, hospital=hospital, event=event, field=field, value=raw):
            raise ForbiddenError(f"incident {incident} is not inbound to {hospital}")

    async def _arrival(self, incident: int) -> datetime:
        state, raw_latest = await self.live.incident_inputs(incident)
        if state is None:
            raise NotFoundError("incident", str(incident))
        arrived = msgspec.json.decode(raw_latest).get("arrived_at") if raw_latest else None
        if arrived is None:
            raise ConflictError("the crew has not marked arrival (at_destination) yet")
        return msgspec.convert(arrived, datetime)
