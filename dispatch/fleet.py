"""The region's ambulances as the dispatchers see them: where each is, what it is doing, and which could answer an
incident soonest.

``rank`` is pure. ``Fleet`` reads the units' last position and status from Redis (what their tablets last sent) and
the driving times from the road graph.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Final

import msgspec

from dispatch.live import Live
from dispatch.protocol import Candidate, IncidentState, Position, Status, UnitView
from dispatch.roads import PointTimes, TravelTimes

AVAILABLE: Final = frozenset({"back_in_service"})  # or no status yet: a unit that has only reported its position
_position = msgspec.json.Decoder(Position)
_status = msgspec.json.Decoder(Status)

EtaOf = Callable[[float, float], float | None]  # (lat, lon) of a unit -> seconds to the incident, None if no road


def available(unit: UnitView) -> bool:
    return unit.status is None or unit.status.status in AVAILABLE


def _why(unit: UnitView, eta_s: int) -> str:
    minutes = f"{round(eta_s / 60)} min by road"
    if available(unit):
        return f"available, {minutes}"
    assert unit.status is not None
    busy = unit.status.status.replace("_", " ")
    return f"busy ({busy}{f', incident #{unit.incident}' if unit.incident else ''}), {minutes}"


def rank(units: Sequence[UnitView], eta_of: EtaOf, *, limit: int = 5) -> list[Candidate]:
    """Units with a known position that can reach the incident by road: available ones first, each group by ETA,
    then by call sign so that ties are stable."""
    found: list[Candidate] = []
    for unit in units:
        if unit.position is None:
            continue
        seconds = eta_of(unit.position.lat, unit.position.lon)
        if seconds is None:
            continue
        eta_s = round(seconds)
        found.append(
            Candidate(
                unit=unit.unit,
                eta_s=eta_s,
                status=unit.status.status if unit.status else None,
                available=available(unit),
                reason=_why(unit, eta_s),
            )
        )
    found.sort(key=lambda c: (not c.available, c.eta_s, c.unit))
    return found[:limit]


class Fleet:
    def __init__(self, *, live: Live, travel: TravelTimes, region: str) -> None:
        self._live = live
        self._travel = travel
        self._region = region

    async def units(self) -> list[UnitView]:
        return [
            UnitView(
                unit=unit,
                incident=int(incident) if incident else None,
                position=_position.decode(position) if position else None,
                status=_status.decode(status) if status else None,
            )
            for unit, incident, position, status in await self._live.units(self._region)
        ]

    async def candidates(self, incident: IncidentState, *, limit: int = 5) -> list[Candidate]:
        """The units that could answer ``incident`` soonest (one reverse road search, off the event loop)."""
        times: PointTimes = await asyncio.to_thread(self._travel.times_to, incident.location.lat, incident.location.lon)
        return rank(await self.units(), times.eta_s, limit=limit)
