"""Incidents: created, assigned and routed by dispatchers. PostgreSQL holds the record (with every change, who made
it and why); Redis holds the live state and pushes each change to the unit's tablet and the destination's feed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from dispatch.errors import NotFoundError, ProtocolError
from dispatch.live import Live
from dispatch.pg import Connection, Pool
from dispatch.protocol import (
    DESTINATION_REASONS,
    DecisionSummary,
    Event,
    IncidentState,
    Location,
    NewIncident,
    SetDestination,
    encoder,
)
from dispatch.recommend import Recommender
from dispatch.region import Region

_FOLLOWED: Final = "4220019"  # eDisposition.20 "Protocol": the destination the protocol's ranking recommended
COLUMNS = "id, region, created_at, lat, lon, complaint, priority, unit, destination, decision"


def state_of(row: asyncpg.Record) -> IncidentState:
    return IncidentState(
        id=row["id"],
        region=row["region"],
        created_at=row["created_at"],
        location=Location(lat=row["lat"], lon=row["lon"]),
        complaint=row["complaint"],
        priority=row["priority"],
        unit=row["unit"],
        destination=row["destination"],
        decision=msgspec.json.decode(row["decision"], type=DecisionSummary) if row["decision"] else None,
    )


class Incidents:
    def __init__(
        self, *, pool: Pool, live: Live, region: Region, clock: Callable[[], datetime], recommender: Recommender
    ) -> None:
        self._recommender = recommender
        self._pool = pool
        self._live = live
        self._region = region
        self._clock = clock

    async def create(self, body: NewIncident, *, actor: str) -> IncidentState:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"INSERT INTO incidents (region, lat, lon, complaint, priority) VALUES ($1, $2, $3, $4, $5) "
                f"RETURNING {COLUMNS}",
                self._region.name,
                body.location.lat,
                body.location.lon,
                body.complaint,
                body.priority,
            )
            assert row is not None
            await self._log(conn, row["id"], actor, "created", {"priority": body.priority})
            state = await self._publish(state_of(row))
        await self._live.activate(self._region.name, state.id, True)
        self._recommender.schedule(state.id)
        return state

    async def assign(self, incident: int, unit: str, *, actor: str) -> IncidentState:
        return await self._change(incident, "unit", unit, actor, {"unit": unit})

    async def decide_destination(self, incident: int, body: SetDestination, *, actor: str) -> IncidentState:
        """Set the destination: the recommendation, or an override with its eDisposition.20 reason. The decision is
        stored with the recommendation it followed or overrode (its inputs, ranking and reasons)."""
        if body.hospital not in self._region.hospitals:
            raise NotFoundError("hospital", body.hospital)
        recommendation = await self._recommender.update(incident)
        if recommendation is None:
            raise NotFoundError("incident", str(incident))
        top = recommendation.top
        override = body.hospital != top
        if override and body.reason_code is None:
            raise ProtocolError(
                "invalid_field",
                f"{body.hospital} is not the recommended {top}: an override needs "
                "a reason (NEMSIS eDisposition.20 code)",
                field="reason_code",
            )
        code = body.reason_code or _FOLLOWED
        decision = (body.hospital, top, override, code, body.note, encoder.encode(recommendation).decode())
        chosen = next((c for c in recommendation.ranked if c.hospital == body.hospital), None)
        summary = DecisionSummary(
            hospital=body.hospital,
            recommended=top,
            override=override,
            reason_code=code,
            reason=DESTINATION_REASONS[code],
            note=body.note,
            reasons=chosen.reasons if chosen else (),
        )

        async def record(conn: Connection) -> None:
            await conn.execute(
                "INSERT INTO destination_decisions (incident_id, actor, hospital, recommended, is_override, "
                "reason_code, reason_text, recommendation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                incident,
                actor,
                *decision,
            )
            await conn.execute(
                "UPDATE incidents SET decision = $2::jsonb WHERE id = $1", incident, encoder.encode(summary).decode()
            )

        detail = {
            "hospital": body.hospital,
            "recommended": top,
            "override": override,
            "reason_code": code,
            "reason": DESTINATION_REASONS[code],
            "note": body.note,
        }
        return await self._change(incident, "destination", body.hospital, actor, detail, record)

    async def get(self, incident: int) -> IncidentState:
        row = await self._pool.fetchrow(f"SELECT {COLUMNS} FROM incidents WHERE id = $1", incident)
        if row is None:
            raise NotFoundError("incident", str(incident))
        return state_of(row)

    async def list(self) -> list[IncidentState]:
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM incidents WHERE region = $1 ORDER BY id DESC LIMIT 500",
            self._region.name,
        )
        return [state_of(r) for r in rows]

    async def _change(
        self,
        incident: int,
        column: str,
        value: str,
        actor: str,
        detail: dict[str, Any],
        also: Callable[[Connection], Awaitable[None]] | None = None,
    ) -> IncidentState:
        assert column in ("unit", "destination")
        async with self._pool.acquire() as conn, conn.transaction():
            if also is not None:
                await also(conn)
            row = await conn.fetchrow(
                f"UPDATE incidents SET {column} = $2 WHERE id = $1 AND region = $3 RETURNING {COLUMNS}",
                incident,
                value,
                self._region.name,
            )
            if row is None:
                raise NotFoundError("incident", str(incident))
            await self._log(conn, incident, actor, f"{column}_set", detail)
            # Published while the row is locked: two changes reach Redis in the order PostgreSQL made them,
            # and a Redis failure rolls the change back.
            state = await self._publish(state_of(row))
        self._recommender.schedule(incident)
        return state

    @staticmethod
    async def _log(conn: Connection, incident: int, actor: str, change: str, detail: dict[str, Any]) -> None:
        await conn.execute(
            "INSERT INTO incident_changes (incident_id, actor, change, detail) VALUES ($1, $2, $3, $4::jsonb)",
            incident,
            actor,
            change,
            json.dumps(detail),
        )

    async def _publish(self, state: IncidentState) -> IncidentState:
        event = Event(incident=state.id, unit=state.unit, seq=None, received_at=self._clock(), body=state)
        await self._live.put_incident(
            incident=state.id,
            state=encoder.encode(state),
            event=encoder.encode(event),
            unit=state.unit,
            destination=state.destination,
        )
        return state
