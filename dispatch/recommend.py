"""Keeping every open incident's destination recommendation current, and telling people when it changes.

An incident is recomputed when its patient's data or its unit's position changes (``schedule``), and every open
incident when a hospital's status changes or once a minute, so that a status going stale shows (``schedule_all``).
Recomputing is coalesced per incident and runs in one background task per process, off the ingest path. A changed
ranking is published to the region's dispatch feed; a changed first choice is also pushed to the crew's tablet.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from dispatch import derive, routing, triage
from dispatch.capacity import HospitalStatus, status_decoder
from dispatch.live import Live
from dispatch.protocol import IncidentState, RecommendationUpdate, encoder, incident_decoder
from dispatch.region import Region
from dispatch.roads import TravelTimes
from dispatch.routing import Recommendation, RoutingConfig

log = logging.getLogger("prealert.recommend")
_CLOSED_STATUSES = ("transfer_of_care", "back_in_service")


def fingerprint(recommendation: Recommendation) -> str:
    """What a dispatcher would see change: order, ETAs to the minute, reasons, exclusions (not the clock)."""
    seen = (
        [(c.hospital, c.eta_s // 60, c.delta_s // 60, c.reasons) for c in recommendation.ranked],
        [(e.hospital, e.reasons) for e in recommendation.excluded],
        recommendation.needs,
        recommendation.missing,
    )
    return hashlib.blake2b(msgspec.json.encode(seen), digest_size=12).hexdigest()


class Recommender:
    def __init__(
        self,
        *,
        live: Live,
        region: Region,
        travel: TravelTimes,
        config: RoutingConfig,
        lvo_window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._live = live
        self._region = region
        self._travel = travel
        self._config = config
        self._lvo_window = lvo_window
        self._clock = clock
        self._pending: set[int] = set()
        self._wake = asyncio.Event()

    def schedule(self, incident: int) -> None:
        self._pending.add(incident)
        self._wake.set()

    async def schedule_all(self) -> None:
        for incident in await self._live.active_incidents(self._region.name):
            self.schedule(incident)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, set()
            for incident in sorted(batch):
                try:
                    await self.update(incident)
                except Exception:  # one incident's failure must not stop the others' updates
                    log.exception("recommendation not updated", extra={"incident": incident})

    async def sweep(self, every_s: float = 60.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.schedule_all()

    async def statuses(self) -> dict[str, HospitalStatus | None]:
        stored = await self._live.statuses(self._region.name)
        return {h: status_decoder.decode(stored[h]) if h in stored else None for h in self._region.hospitals}

    async def compute(self, state: IncidentState, latest: dict[str, Any]) -> Recommendation:
        now = self._clock()
        lat, lon = latest.get("lat", state.location.lat), latest.get("lon", state.location.lon)
        needs = triage.needs(derive.facts(latest), now=now, lvo_window=self._lvo_window)
        fmc = derive.first_medical_contact(latest)
        return routing.rank(
            needs,
            list(self._region.hospitals.values()),
            await self.statuses(),
            self._travel.etas(lat, lon),
            now=now,
            fmc_elapsed=now - fmc if fmc else None,
            config=self._config,
        )

    async def update(self, incident: int) -> Recommendation | None:
        """Recompute, store, and publish if it changed. None for an unknown incident."""
        raw_state, raw_latest = await self._live.incident_inputs(incident)
        if raw_state is None:
            return None
        state = incident_decoder.decode(raw_state)
        latest: dict[str, Any] = msgspec.json.decode(raw_latest) if raw_latest else {}
        recommendation = await self.compute(state, latest)
        previous = await self._publish(state, recommendation)
        if previous != recommendation.top and state.unit is not None:
            await self._live.notify_unit(state.unit, "recommendation", incident)
        if latest.get("status") in _CLOSED_STATUSES:
            await self._live.activate(self._region.name, incident, False)
        return recommendation

    async def current(self, state: IncidentState) -> RecommendationUpdate | None:
        """The stored recommendation of an incident, as the crew is shown it."""
        raw = await self._live.recommendation(state.id)
        if raw is None:
            return None
        recommendation = msgspec.json.decode(raw, type=Recommendation)
        return RecommendationUpdate(
            incident=state.id,
            unit=state.unit,
            destination=state.destination,
            recommendation=recommendation,
            previous_top=None,
            top_changed=False,
        )

    async def _publish(self, state: IncidentState, recommendation: Recommendation) -> str | None:
        top = recommendation.top or ""
        previous_top = await self._live.recommendation_top(state.id)
        update = RecommendationUpdate(
            incident=state.id,
            unit=state.unit,
            destination=state.destination,
            recommendation=recommendation,
            previous_top=previous_top,
            top_changed=previous_top != recommendation.top,
        )
        return await self._live.swap_recommendation(
            self._region.name,
            state.id,
            recommendation=encoder.encode(recommendation),
            top=top,
            fingerprint=fingerprint(recommendation),
            update=encoder.encode(update),
        )
