"""PostgreSQL adapter for care records: an incident's record assembled from what is stored, ED outcomes, records
imported from NEMSIS documents, and a unit's recent history for the crew's tablet. Thin: SQL in, rows out; the
record itself is built by ``dispatch.care_record``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from dispatch.care_record import CareRecord, StoredEvent, build
from dispatch.errors import ConflictError, NotFoundError
from dispatch.incidents import COLUMNS, state_of
from dispatch.outcome import Outcome
from dispatch.pg import Pool
from dispatch.region import Region

# ECGs without their samples (about 120 KB each that no record needs); positions are not part of the record
_EVENTS: Final = """
SELECT type, taken_at, received_at,
       (CASE WHEN type = 'ecg12' THEN body - 'leads' ELSE body END)::text AS body
FROM events WHERE incident_id = $1 AND type IN ('vitals', 'assessment', 'status', 'ecg12')
ORDER BY id
"""
_CONTEXT: Final = """
SELECT (SELECT min(at) FROM incident_changes WHERE incident_id = $1 AND change = 'unit_set') AS assigned_at,
       (SELECT max(at) FROM incident_changes WHERE incident_id = $1 AND change = 'destination_set') AS destined_at,
       (SELECT min(a.at) FROM acknowledgements a JOIN incidents i ON i.id = a.incident_id
        WHERE a.incident_id = $1 AND a.hospital = i.destination) AS acknowledged_at,
       (SELECT row(h.arrived_at, h.transferred_at) FROM handovers h WHERE h.incident_id = $1
        ORDER BY h.id DESC LIMIT 1) AS handed_over,
       (SELECT o.body::text FROM ed_outcomes o WHERE o.incident_id = $1 ORDER BY o.id DESC LIMIT 1) AS outcome
"""
outcome_decoder: Final = msgspec.json.Decoder(Outcome)
record_decoder: Final = msgspec.json.Decoder(CareRecord)


@dataclass(frozen=True)
class Records:
    pool: Pool
    region: Region

    async def of_incident(self, incident: int, *, now: datetime, closed: bool = False) -> CareRecord:
        """The incident's record as it stands; with ``closed``, ConflictError until care has been transferred."""
        row = await self.pool.fetchrow(
            f"SELECT {COLUMNS} FROM incidents WHERE id = $1 AND region = $2", incident, self.region.name
        )
        if row is None:
            raise NotFoundError("incident", str(incident))
        state = state_of(row)
        context = await self.pool.fetchrow(_CONTEXT, incident)
        assert context is not None
        if closed and context["handed_over"] is None:
            raise ConflictError("the incident is not closed: its record is exported once care has been transferred")
        events = [
            StoredEvent(type=e["type"], taken_at=e["taken_at"], received_at=e["received_at"], body=e["body"].encode())
            for e in await self.pool.fetch(_EVENTS, incident)
        ]
        handed = context["handed_over"]
        return build(
            state,
            events,
            assigned_at=context["assigned_at"],
            destined_at=context["destined_at"],
            acknowledged_at=context["acknowledged_at"],
            handed_over=(handed[0], handed[1]) if handed is not None else None,
            outcome=outcome_decoder.decode(context["outcome"]) if context["outcome"] else None,
            hospital=self.region.hospitals.get(state.destination) if state.destination else None,
            now=now,
        )

    async def closed_between(self, start: datetime, end: datetime) -> list[int]:
        """The region's incidents handed over in [start, end), oldest first."""
        rows = await self.pool.fetch(
            "SELECT DISTINCT i.id FROM incidents i JOIN handovers h ON h.incident_id = i.id "
            "WHERE i.region = $1 AND h.transferred_at >= $2 AND h.transferred_at < $3 ORDER BY i.id LIMIT 1000",
            self.region.name,
            start,
            end,
        )
        return [r["id"] for r in rows]

    # ED outcomes ----------
    async def handed_over_to(self, incident: int, hospital: str) -> datetime:
        """When the patient arrived at this ED (the door), or ConflictError if it never took the patient over."""
        arrived = await self.pool.fetchval(
            "SELECT arrived_at FROM handovers WHERE incident_id = $1 AND hospital = $2 ORDER BY id DESC LIMIT 1",
            incident,
            hospital,
        )
        if arrived is None:
            raise ConflictError(f"incident {incident} has not been handed over to {hospital}: no outcome yet")
        arrived_at: datetime = arrived
        return arrived_at

    async def save_outcome(self, outcome: Outcome) -> None:
        await self.pool.execute(
            "INSERT INTO ed_outcomes (incident_id, hospital, at, actor, body) VALUES ($1, $2, $3, $4, $5::jsonb)",
            outcome.incident,
            outcome.hospital,
            outcome.at,
            outcome.by,
            msgspec.json.encode(outcome).decode(),
        )

    async def latest_outcome(self, incident: int) -> Outcome | None:
        raw = await self.pool.fetchval(
            "SELECT body::text FROM ed_outcomes WHERE incident_id = $1 ORDER BY id DESC LIMIT 1", incident
        )
        return outcome_decoder.decode(raw) if raw else None

    # The crew's history ----------
    async def unit_history(self, unit: str, *, now: datetime, within: timedelta) -> list[dict[str, Any]]:
        """The unit's incidents of the last ``within`` with where the patient went, the ED's acknowledgement, the
        handover and the ED's outcome (newest first): what the crew's tablet shows as its history."""
        rows = await self.pool.fetch(
            """
            SELECT i.id AS incident, i.created_at, i.complaint, i.destination,
                   (SELECT min(a.at) FROM acknowledgements a WHERE a.incident_id = i.id) AS acknowledged_at,
                   (SELECT h.transferred_at FROM handovers h WHERE h.incident_id = i.id
                    ORDER BY h.id DESC LIMIT 1) AS transferred_at,
                   (SELECT o.body::text FROM ed_outcomes o WHERE o.incident_id = i.id
                    ORDER BY o.id DESC LIMIT 1) AS outcome
            FROM incidents i
            WHERE i.region = $1 AND i.unit = $2 AND i.created_at > $3
            ORDER BY i.id DESC LIMIT 50
            """,
            self.region.name,
            unit,
            now - within,
        )
        history = []
        for r in rows:
            hospital = self.region.hospitals.get(r["destination"]) if r["destination"] else None
            history.append(
                {
                    "incident": r["incident"],
                    "created_at": r["created_at"],
                    "complaint": r["complaint"],
                    "destination": r["destination"],
                    "destination_name": hospital.name if hospital else None,
                    "acknowledged_at": r["acknowledged_at"],
                    "transferred_at": r["transferred_at"],
                    "outcome": msgspec.json.decode(r["outcome"]) if r["outcome"] else None,
                }
            )
        return history

    # Imported records ----------
    async def keep_imported(self, records: list[CareRecord], document: bytes, *, by: str) -> list[dict[str, Any]]:
        """Store each record once (by its report's UUID): a document read twice is not kept twice."""
        kept = []
        async with self.pool.acquire() as conn, conn.transaction():
            for record in records:
                row = await conn.fetchrow(
                    "INSERT INTO imported_records (uuid, record_id, imported_by, record, document) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (uuid) DO NOTHING RETURNING id",
                    record.uuid,
                    record.record_id,
                    by,
                    msgspec.json.encode(record).decode(),
                    document.decode("utf-8", errors="replace"),
                )
                created = row is not None
                if row is None:
                    row = await conn.fetchrow("SELECT id FROM imported_records WHERE uuid = $1", record.uuid)
                assert row is not None
                kept.append({"id": row["id"], "uuid": record.uuid, "record_id": record.record_id, "created": created})
        return kept

    async def imported(self, number: int) -> CareRecord:
        raw = await self.pool.fetchval("SELECT record::text FROM imported_records WHERE id = $1", number)
        if raw is None:
            raise NotFoundError("record", str(number))
        return record_decoder.decode(raw)
