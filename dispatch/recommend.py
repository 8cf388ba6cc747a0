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
import time
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
UNCHANGED_WITHIN_S = 10.0  # a ranking whose inputs did not change is not computed again within this


def _fingerprint(value: object) -> str:
    return hashlib.blake2b(msgspec.json.encode(value), digest_size=12).hexdigest()


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
        # incident -> (what its last ranking was computed from, when): a vitals set that changes none of the
        # ranking's inputs does not rank the region's hospitals again (the sweep still does, every minute)
        self._inputs: dict[int, tuple[str, float]] = {}

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
            statuses = await self.statuses()  # once per batch, not once per incident
            statuses_key = _fingerprint(statuses)
            for incident in sorted(batch):
                try:
                    await self.update(
                        incident, statuses=(statuses, statuses_key), unchanged_within_s=UNCHANGED_WITHIN_S
                    )
                except Exception:  # one incident's failure must not stop the others' updates
                    log.exception("recommendation not updated", extra={"incident": incident})

    async def sweep(self, every_s: float = 60.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            await self.schedule_all()

    async def statuses(self) -> dict[str, HospitalStatus | None]:
        stored = await self._live.statuses(self._region.name)
        return {h: status_decoder.decode(stored[h]) if h in stored else None for h in self._region.hospitals}

    async def compute(
        self,
        state: IncidentState,
        latest: dict[str, Any],
        *,
        statuses: dict[str, HospitalStatus | None] | None = None,
        needs: triage.Needs | None = None,
    ) -> Recommendation:
        now = self._clock()
        lat, lon = latest.get("lat", state.location.lat), latest.get("lon", state.location.lon)
        needs = needs or triage.needs(derive.facts(latest), now=now, lvo_window=self._lvo_window)
        fmc = derive.first_medical_contact(latest)
        return routing.rank(
            needs,
            list(self._region.hospitals.values()),
            statuses if statuses is not None else await self.statuses(),
            self._travel.etas(lat, lon),
            now=now,
            fmc_elapsed=now - fmc if fmc else None,
            config=self._config,
        )

    async def update(
        self,
        incident: int,
        *,
        statuses: tuple[dict[str, HospitalStatus | None], str] | None = None,
        unchanged_within_s: float = 0.0,
    ) -> Recommendation | None:
        """Recompute, store, and publish if it changed. None for an unknown incident, or (with
        ``unchanged_within_s``) when nothing the ranking reads has changed since it was computed that recently."""
        raw_state, raw_latest = await self._live.incident_inputs(incident)
        if raw_state is None:
            return None
        state = incident_decoder.decode(raw_state)
        latest: dict[str, Any] = msgspec.json.decode(raw_latest) if raw_latest else {}
        now = self._clock()
        needs = triage.needs(derive.facts(latest), now=now, lvo_window=self._lvo_window)
        if statuses is None:
            current = await self.statuses()
            statuses = (current, _fingerprint(current))
        inputs = (
            _fingerprint(
                (raw_state, needs, latest.get("lat"), latest.get("lon"), latest.get("fmc_at"), latest.get("status"))
            )
            + statuses[1]
        )
        seen = self._inputs.get(incident)
        if seen is not None and seen[0] == inputs and time.monotonic() - seen[1] < unchanged_within_s:
            return None
        self._inputs[incident] = (inputs, time.monotonic())
        recommendation = await self.compute(state, latest, statuses=statuses[0], needs=needs)
        previous = await self._publish(state, recommendation)
        if previous != recommendation.top and state.unit is not None:
            await self._live.notify_unit(state.unit, "recommendation", incident)
        if latest.get("status") in _CLOSED_STATUSES:
            await self._live.activate(self._region.name, incident, False)
            self._inputs.pop(incident, None)
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
