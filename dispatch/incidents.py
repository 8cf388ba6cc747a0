"""Incidents: created, assigned and routed by dispatchers. PostgreSQL holds the record (with every change, who made
it and why); Redis holds the live state and pushes each change to the unit's tablet and the destination's feed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.errors import NotFoundError
from dispatch.live import Live
from dispatch.pg import Connection, Pool
from dispatch.protocol import Event, IncidentState, Location, NewIncident, encoder
from dispatch.region import Region

_COLUMNS = "id, region, created_at, lat, lon, complaint, priority, unit, destination"


def _state(row: asyncpg.Record) -> IncidentState:
    return IncidentState(
        id=row["id"],
        region=row["region"],
        created_at=row["created_at"],
        location=Location(lat=row["lat"], lon=row["lon"]),
        complaint=row["complaint"],
        priority=row["priority"],
        unit=row["unit"],
        destination=row["destination"],
    )


class Incidents:
    def __init__(self, *, pool: Pool, live: Live, region: Region, clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._live = live
        self._region = region
        self._clock = clock

    async def create(self, body: NewIncident, *, actor: str) -> IncidentState:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"INSERT INTO incidents (region, lat, lon, complaint, priority) VALUES ($1, $2, $3, $4, $5) "
                f"RETURNING {_COLUMNS}",
                self._region.name,
                body.location.lat,
                body.location.lon,
                body.complaint,
                body.priority,
            )
            assert row is not None
            await self._log(conn, row["id"], actor, "created", {"priority": body.priority})
            return await self._publish(_state(row))

    async def assign(self, incident: int, unit: str, *, actor: str) -> IncidentState:
        return await self._change(incident, "unit", unit, actor, {"unit": unit})

    async def set_destination(self, incident: int, hospital: str, reason: str | None, *, actor: str) -> IncidentState:
        if hospital not in self._region.hospitals:
            raise NotFoundError("hospital", hospital)
        return await self._change(incident, "destination", hospital, actor, {"hospital": hospital, "reason": reason})

    async def get(self, incident: int) -> IncidentState:
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1", incident)
        if row is None:
            raise NotFoundError("incident", str(incident))
        return _state(row)

    async def list(self) -> list[IncidentState]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM incidents WHERE region = $1 ORDER BY id DESC LIMIT 500",
            self._region.name,
        )
        return [_state(r) for r in rows]

    async def _change(
        self, incident: int, column: str, value: str, actor: str, detail: dict[str, Any]
    ) -> IncidentState:
        assert column in ("unit", "destination")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE incidents SET {column} = $2 WHERE id = $1 AND region = $3 RETURNING {_COLUMNS}",
                incident,
                value,
                self._region.name,
            )
            if row is None:
                raise NotFoundError("incident", str(incident))
            await self._log(conn, incident, actor, f"{column}_set", detail)
            # Published while the row is locked: two changes reach Redis in the order PostgreSQL made them,
            # and a Redis failure rolls the change back.
            return await self._publish(_state(row))

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
