"""Hospital ED status: the live value in Redis (what routing reads), every change in PostgreSQL (the history).

Updates to one hospital are serialised across processes by a PostgreSQL advisory lock held for the read-modify-write,
so two partial updates arriving together both land. Every change is pushed to the dispatchers' feed and makes every
open incident's recommendation be recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from dispatch import capacity
from dispatch.capacity import HospitalStatus, StatusUpdate, status_decoder
from dispatch.errors import ConflictError, NotFoundError
from dispatch.live import Live
from dispatch.pg import Pool
from dispatch.protocol import HospitalStatusChanged, encoder
from dispatch.region import Region


class HospitalStatuses:
    def __init__(
        self,
        *,
        pool: Pool,
        live: Live,
        region: Region,
        clock: Callable[[], datetime],
        on_change: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._pool = pool
        self._live = live
        self._region = region
        self._clock = clock
        self._on_change = on_change

    def _known(self, hospital: str) -> None:
        if hospital not in self._region.hospitals:
            raise NotFoundError("hospital", hospital)

    async def get(self, hospital: str) -> HospitalStatus:
        """The hospital's status; one that never reported is Normal with no ``updated_at`` (so: stale)."""
        self._known(hospital)
        stored = (await self._live.statuses(self._region.name)).get(hospital)
        return status_decoder.decode(stored) if stored else HospitalStatus(hospital=hospital)

    async def all(self) -> list[HospitalStatus]:
        stored = await self._live.statuses(self._region.name)
        return [
            status_decoder.decode(stored[h]) if h in stored else HospitalStatus(hospital=h)
            for h in self._region.hospitals
        ]

    async def update(
        self, hospital: str, update: StatusUpdate, *, actor: str, if_match: int | None = None, full: bool = False
    ) -> HospitalStatus:
        """Apply a partial (or, with ``full``, a complete) update. With ``if_match``, refuse it (ConflictError,
        carrying the current status) unless the status is still at that version."""
        self._known(hospital)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"hospital-status:{hospital}")
            current = await self.get(hospital)
            if if_match is not None and if_match != current.version:
                raise ConflictError(f"status of {hospital} is at version {current.version}, not {if_match}", current)
            change = capacity.replace if full else capacity.apply
            status = change(current, update, at=self._clock(), by=actor)
            body = encoder.encode(status)
            await conn.execute(
                "INSERT INTO hospital_status_history (hospital, at, actor, ems_traffic, status) "
                "VALUES ($1, $2, $3, $4, $5::jsonb)",
                hospital,
                status.updated_at,
                actor,
                status.ems_traffic,
                body.decode(),
            )
            await self._live.put_status(
                self._region.name, hospital, body, encoder.encode(HospitalStatusChanged(status=status))
            )
        await self._on_change()
        return status
