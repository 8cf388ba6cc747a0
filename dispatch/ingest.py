"""Ingest of one tablet frame: validate, dedupe, fan out through Redis, hand to the durable writer.

The order is the architecture's: the event reaches the dashboards as soon as Redis has it; the tablet's ``ack``
follows only when PostgreSQL has it. A repeat that Redis already fanned out (another process, or a crash between
fan-out and commit), by seq or by ``uid``, is not fanned out again but is still written, with ``ON CONFLICT DO
NOTHING`` on (unit, seq) and (unit, uid), so it is stored exactly once and acked only once it is durable. A new
message under a seq another device of the unit already used is answered ``seq_taken``, so that it is resent under a
fresh seq instead of being taken for a repeat and lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec

from dispatch import derive, frames, pg
from dispatch.errors import ProtocolError
from dispatch.live import Fanout, Live
from dispatch.metrics import DUPLICATES, FRAMES, REFUSED, REPAIRS, RESUMED, SEQ_TAKEN, STRIPS
from dispatch.pg import EventRow, EventWriter
from dispatch.protocol import (
    Ack,
    Assessment,
    Ecg12,
    Error,
    Event,
    Patient,
    Position,
    Status,
    Strip,
    StripChunk,
    TabletFrame,
    TabletMessage,
    UnitUpdate,
    Vitals,
    encoder,
)
from dispatch.region import Hospital, Region
from dispatch.roads import TravelTimes
from dispatch.sequence import UnitSequence, Verdict
from dispatch.settings import Settings
from dispatch.strip_relay import StripRelay
from dispatch.throttle import ByteBudget


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to tell the tablet now (if anything), and the seq whose durability will move the ack."""

    reply: Ack | Error | None = None
    pending: tuple[int, asyncio.Future[None]] | None = None
    written: EventRow | None = None  # the message going to storage (for the audit log)


PATIENT_FRAMES_KEPT: Final = 10_000


class Ingest:
    def __init__(
        self,
        *,
        live: Live,
        strips: StripRelay,
        pool: pg.Pool,
        writer: EventWriter,
        region: Region,
        settings: Settings,
        clock: Callable[[], datetime],
        travel: TravelTimes,
        on_patient_change: Callable[[int], None],
        repair: Callable[[int, str], Awaitable[bool]],
    ) -> None:
        self._repair = repair
        self._travel = travel
        self._on_patient_change = on_patient_change
        self._live = live
        self._strips = strips
        self._pool = pool
        self._writer = writer
        self._region = region
        self._settings = settings
        self._clock = clock
        # The patient frame made with the last event of each incident, keyed by the merged state it was made from:
        # the unit's tablet is told of every vitals set, and its socket is nearly always in this process.
        self.patient_frames: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()

    def patient_frame(self, incident: int, latest: bytes) -> bytes | None:
        """The encoded ``patient`` frame for this incident's merged state ``latest``, if this process made it."""
        cached = self.patient_frames.get(incident)
        return cached[1] if cached is not None and cached[0] == latest else None

    async def accept(
        self,
        unit: str,
        sequence: UnitSequence,
        raw: str | bytes,
        *,
        strips: ByteBudget | None = None,
        clock_offset: timedelta = timedelta(),
    ) -> Outcome:
        """``clock_offset`` is the tablet's clock minus the server's, as the tablet said when it connected: its times
        are judged plausible against its own clock (and kept as it sent them); order is the server's."""
        now = self._clock()
        try:
            message = frames.decode(raw, now=now + clock_offset, limits=self._settings.frame_limits)
        except ProtocolError as exc:
            REFUSED.labels(code=exc.code).inc()
            return Outcome(reply=Error(code=exc.code, field=exc.field, reason=exc.reason, seq=exc.seq))
        FRAMES.labels(type=_type_of(message)).inc()
        if isinstance(message, Strip):
            return await self._strip(unit, message, len(raw), now, clock_offset, strips)
        verdict = sequence.receive(message.seq)
        if verdict is Verdict.REPEAT_DURABLE:
            if message.uid is not None and not await pg.holds_uid(self._pool, unit, message.uid):
                return Outcome(reply=seq_taken(unit, message.seq, sequence.accepted_upto))
            return Outcome(reply=Ack(upto=sequence.durable_upto))
        if verdict is Verdict.REPEAT_PENDING:
            return Outcome()
        return await self._accept_new(unit, sequence, message, now)

    async def _accept_new(self, unit: str, sequence: UnitSequence, message: TabletMessage, now: datetime) -> Outcome:
        fanout = await self._fan_out(unit, message, now)
        # Redis may have come back empty and not be rebuilt yet: the record decides, never a forgetful cache
        if (
            fanout.verdict == "not_assigned"
            and message.incident is not None
            and await self._repair(message.incident, unit)
        ):
            REPAIRS.inc()
            fanout = await self._fan_out(unit, message, now)
        if fanout.verdict == "seq_taken":
            sequence.durable(message.seq)
            return Outcome(reply=seq_taken(unit, message.seq, max(fanout.last_seq or 0, sequence.accepted_upto)))
        if fanout.verdict == "duplicate":
            DUPLICATES.inc()
        if fanout.resumed:
            RESUMED.inc()
        if fanout.verdict == "not_assigned":
            sequence.durable(message.seq)
            REFUSED.labels(code="not_assigned").inc()
            return Outcome(
                reply=Error(
                    code="not_assigned",
                    field="incident",
                    seq=message.seq,
                    reason=f"incident {message.incident} is not assigned to unit {unit}",
                )
            )
        if fanout.verdict == "ok" and message.incident is not None:
            self._on_patient_change(message.incident)
        row = EventRow(
            unit=unit,
            seq=message.seq,
            incident=message.incident,
            type=_type_of(message),
            taken_at=message.taken_at,
            received_at=now,
            body=encoder.encode(message).decode(),
        )
        return Outcome(pending=(message.seq, await self._writer.write(row)), written=row)

    async def _fan_out(self, unit: str, message: TabletMessage, now: datetime) -> Fanout:
        event, latest = await self._event(unit, message, now)
        field, value = _unit_state(message)
        return await self._live.ingest(
            unit=unit,
            seq=message.seq,
            incident=message.incident,
            event=event,
            latest=latest,
            unit_field=field,
            unit_value=value,
            region=self._region.name,
            unit_update=_unit_update(unit, message, now),
            uid=message.uid,
            notify="patient" if isinstance(message, Vitals | Assessment | Ecg12) else "",
        )

    async def _strip(
        self, unit: str, strip: Strip, size: int, now: datetime, clock_offset: timedelta, budget: ByteBudget | None
    ) -> Outcome:
        """A live waveform chunk: handed to the relay for whoever watches the patient now, or dropped (late, over the
        unit's budget). Nothing is stored or acked, so a dropped chunk costs nothing and never delays a vitals set; a
        chunk for an incident that is not the unit's is dropped by the relay (counted, not answered)."""
        if (now + clock_offset - strip.start_at).total_seconds() > self._settings.strip_max_age_s:
            STRIPS.labels(outcome="late").inc()
            return Outcome()
        if budget is not None and not budget.spend(size, time.monotonic()):
            STRIPS.labels(outcome="over_budget").inc()
            return Outcome()
        chunk = StripChunk(
            unit=unit,
            incident=strip.incident,
            lead=strip.lead,
            start_at=strip.start_at,
            received_at=now,
            sample_rate_hz=strip.sample_rate_hz,
            gain_per_mv=strip.gain_per_mv,
            samples=strip.samples,
            hr=strip.hr,
        )
        self._strips.offer(unit, strip.incident, encoder.encode(chunk))
        return Outcome()

    def _eta(self, lat: float, lon: float, hospital: Hospital) -> float | None:
        return self._travel.eta_s(lat, lon, hospital.id)

    async def _event(self, unit: str, message: TabletMessage, now: datetime) -> tuple[bytes, bytes | None]:
        if message.incident is None:
            event = Event(incident=None, unit=unit, seq=message.seq, received_at=now, body=message)
            return encoder.encode(event), None
        raw_latest, destination = await self._live.incident_context(message.incident)
        latest: dict[str, Any] = msgspec.json.decode(raw_latest) if raw_latest else {}
        hospital = self._region.hospitals.get(destination) if destination else None
        event, derived, merged = derive.fanned_out(unit, message, latest, hospital, self._eta, now)
        encoded_merged = encoder.encode(merged)
        if isinstance(message, Vitals | Assessment | Ecg12):
            frame = encoder.encode(Patient(incident=message.incident, derived=derived))
            self.patient_frames[message.incident] = (encoded_merged, frame)
            self.patient_frames.move_to_end(message.incident)
            if len(self.patient_frames) > PATIENT_FRAMES_KEPT:
                self.patient_frames.popitem(last=False)
        return encoder.encode(event), encoded_merged


def seq_taken(unit: str, seq: int, last_seq: int) -> Error:
    SEQ_TAKEN.inc()
    return Error(
        code="seq_taken",
        field="seq",
        seq=seq,
        last_seq=last_seq,
        reason=f"seq {seq} is another message of unit {unit}; send this one again under a seq above {last_seq}",
    )


def _type_of(message: TabletFrame) -> str:
    return str(type(message).__struct_config__.tag)


def _unit_update(unit: str, message: TabletMessage, now: datetime) -> bytes:
    """What the dispatchers' map is told of a position or status (empty for other messages)."""
    if isinstance(message, Position):
        return encoder.encode(UnitUpdate(unit=unit, incident=message.incident, received_at=now, position=message))
    if isinstance(message, Status):
        return encoder.encode(UnitUpdate(unit=unit, incident=message.incident, received_at=now, status=message))
    return b""


def _unit_state(message: TabletMessage) -> tuple[str, bytes]:
    if isinstance(message, Position | Status):
        return _type_of(message), encoder.encode(message)
    return "", b""
