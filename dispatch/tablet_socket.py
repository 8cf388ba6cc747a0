"""The tablet's websocket, ``/v1/units/{unit}/socket``: one per unit, authenticated from the first byte.

Thin: authenticate, say hello, then hand each frame to ``Ingest`` and send back what it says. Acks are sent by their
own task as the durable writer confirms seqs (coalesced: one ack covers every seq up to it). A flooding tablet is
slowed down (the socket is not read until its bucket refills), never answered by dropping frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import timedelta

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch import derive, frames, pg, tokens
from dispatch.errors import AuthError, ProtocolError
from dispatch.ingest import seq_taken
from dispatch.metrics import ACKS, SOCKETS, THROTTLED_SECONDS
from dispatch.outcome import frame as outcome_frame
from dispatch.protocol import (
    Ack,
    Assignment,
    CloseCode,
    Hello,
    IncidentState,
    Patient,
    ServerToTablet,
    encoder,
    incident_decoder,
)
from dispatch.sequence import UnitSequence
from dispatch.services import Services
from dispatch.socket_guard import accept_authenticated, guarded, refuse, socket_entry, still_valid
from dispatch.tasks import cancel_and_wait
from dispatch.throttle import ByteBudget, TokenBucket
from dispatch.unit_notify import Notice

log = logging.getLogger("prealert.tablet")


async def receive_frame(ws: WebSocket) -> str | bytes:
    """The next text or binary frame; ``WebSocketDisconnect`` when the client has gone."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text: str | None = message.get("text")
    return text if text is not None else bytes(message.get("bytes") or b"")


class TabletSession:
    def __init__(
        self,
        ws: WebSocket,
        services: Services,
        unit: str,
        sequence: UnitSequence,
        who: tokens.Principal,
        clock_offset: timedelta = timedelta(),
    ) -> None:
        self.ws = ws
        self.clock_offset = clock_offset
        self.services = services
        self.unit = unit
        self.who = who
        self.sequence = sequence
        self._send_lock = asyncio.Lock()
        self._ack_wanted = asyncio.Event()
        self._acked = sequence.durable_upto
        self._tasks: set[asyncio.Task[None]] = set()

    async def send_raw(self, frame: bytes) -> None:
        """A frame stored already encoded (the ED's acknowledgement)."""
        async with self._send_lock:
            await self.ws.send_text(frame.decode())

    async def send(self, frame: ServerToTablet) -> None:
        async with self._send_lock:
            await self.ws.send_text(encoder.encode(frame).decode())

    async def hello(self) -> None:
        incident = await self._current_incident()
        await self.send(
            Hello(
                unit=self.unit,
                last_seq=self.sequence.durable_upto,
                server_time=self.services.clock(),
                incident=incident,
            )
        )
        if incident is not None:
            await self.send_recommendation(incident)
            await self.send_patient(incident.id)

    async def send_recommendation(self, incident: IncidentState) -> None:
        """The incident's current destination recommendation, if one was computed."""
        if (update := await self.services.recommender.current(incident)) is not None:
            await self.send(update)

    async def send_patient(self, number: int, *, pending: asyncio.Queue[Notice] | None = None) -> None:
        """The server's view of the patient (what the ED sees), after a vitals set or assessment, and with every
        ``hello`` (a tablet that reloaded or reconnected may hold an older view, or none). A monitor streams every
        second or so: when more news of the same patient is already queued, only the last is sent."""
        if pending is not None and any(notice == ("patient", number) for notice in _queued(pending)):
            return
        latest, _ = await self.services.live.incident_context(number)
        if latest is None:
            return
        if (made := self.services.ingest.patient_frame(number, latest)) is not None:
            await self.send_raw(made)  # made with the event from this very state: no need to compute it again
            return
        derived = derive.derived(msgspec.json.decode(latest), self.services.clock())
        await self.send(Patient(incident=number, derived=derived))

    async def _current_incident(self) -> IncidentState | None:
        number = await self.services.live.unit_incident(self.unit)
        return await self._incident(number) if number else None

    async def _incident(self, number: int) -> IncidentState | None:
        raw = await self.services.live.incident_state(number)
        return incident_decoder.decode(raw) if raw else None

    async def receive_loop(self) -> None:
        settings = self.services.settings
        bucket = TokenBucket(settings.tablet_rate_per_s, settings.tablet_burst)
        strips = ByteBudget(settings.strip_bytes_per_s, settings.strip_burst_bytes)
        while True:
            raw = await receive_frame(self.ws)
            if isinstance(raw, str) and len(raw) > settings.max_frame_bytes:  # binary frames may be larger (ECGs)
                await self.ws.close(CloseCode.TOO_BIG, reason=f"text frames are limited to {settings.max_frame_bytes}")
                return
            try:
                still_valid(self.services, self.who)  # every message, not just the opening, is checked
            except AuthError as exc:
                await refuse(self.ws, self.services, self.who, CloseCode.UNAUTHENTICATED, str(exc))
                return
            outcome = await self.services.ingest.accept(
                self.unit, self.sequence, raw, strips=strips, clock_offset=self.clock_offset
            )
            if (row := outcome.written) is not None:
                self.services.audit.record(
                    socket_entry(
                        self.ws,
                        self.services,
                        self.who,
                        action="write",
                        outcome=0,
                        incident=row.incident,
                        unit=self.unit,
                        detail={"type": row.type, "seq": row.seq},
                    )
                )
            if outcome.reply is not None:
                await self.send(outcome.reply)
            if outcome.pending is not None:
                seq, done = outcome.pending
                done.add_done_callback(functools.partial(self._durable, seq))
            if wait := bucket.take(time.monotonic()):
                THROTTLED_SECONDS.inc(wait)
                await asyncio.sleep(wait)

    def _durable(self, seq: int, done: asyncio.Future[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if isinstance(error, pg.SeqTaken):
            # Not stored: its seq holds another message. Tell the tablet before any ack covers that seq, so it sends
            # the message again under a fresh one instead of dropping it.
            task = asyncio.create_task(self._seq_taken(seq, error.last_seq))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._settle(seq)

    def _settle(self, seq: int) -> None:
        if self.sequence.durable(seq) is not None:
            self._ack_wanted.set()

    async def _seq_taken(self, seq: int, last_seq: int) -> None:
        try:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # gone: it resends on reconnect
                await self.send(seq_taken(self.unit, seq, max(last_seq, self.sequence.accepted_upto)))
        finally:
            self._settle(seq)

    async def ack_loop(self) -> None:
        while True:
            await self._ack_wanted.wait()
            self._ack_wanted.clear()
            upto = self.sequence.durable_upto
            if upto > self._acked:
                self._acked = upto
                ACKS.inc()
                await self.send(Ack(upto=upto))

    async def notice_loop(self) -> None:
        """Push the unit's incident changes and its destination recommendation's changes to the tablet."""
        queue = self.services.notifier.listen(self.unit)
        try:
            while True:
                kind, number = await queue.get()
                if kind == "ack":
                    if (ack := await self.services.live.incident_field(number, "ack")) is not None:
                        await self.send_raw(ack)
                    continue
                if kind == "patient":
                    await self.send_patient(number, pending=queue)
                    continue
                if kind == "outcome":
                    if (outcome := await self.services.records.latest_outcome(number)) is not None:
                        await self.send(outcome_frame(outcome))
                    continue
                incident = await self._incident(number)
                if incident is None:
                    continue
                if kind == "assignment":
                    await self.send(Assignment(incident=incident))
                await self.send_recommendation(incident)
        finally:
            self.services.notifier.forget(self.unit, queue)


def _queued(queue: asyncio.Queue[Notice]) -> tuple[Notice, ...]:
    """What is waiting in ``queue``, without taking it (asyncio.Queue keeps its items in a deque)."""
    return tuple(getattr(queue, "_queue", ()))


async def tablet_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    unit = ws.path_params["unit"]
    who = await accept_authenticated(ws, services, "paramedic", unit, unit=unit)
    if who is None:
        return
    await guarded(ws, services, who, _serve_tablet(ws, services, unit, who))


async def _serve_tablet(ws: WebSocket, services: Services, unit: str, who: tokens.Principal) -> None:
    try:
        offset = frames.device_offset(ws.query_params.get("clock"), services.clock())
    except ProtocolError as exc:
        await ws.close(CloseCode.BAD_REQUEST, reason=str(exc))
        return
    if abs(offset) > services.settings.frame_limits.max_future:
        log.info("tablet clock off", extra={"unit": unit, "offset_s": round(offset.total_seconds())})
    sequence = UnitSequence(await pg.last_seq(services.pool, unit))
    session = TabletSession(ws, services, unit, sequence, who, offset)
    SOCKETS.labels(kind="tablet").inc()
    tasks: list[asyncio.Task[None]] = []
    try:
        await session.hello()
        tasks = [asyncio.create_task(session.ack_loop()), asyncio.create_task(session.notice_loop())]
        await session.receive_loop()
    except WebSocketDisconnect:
        pass
    finally:
        SOCKETS.labels(kind="tablet").dec()
        await cancel_and_wait(tasks, ignore=(WebSocketDisconnect, RuntimeError))
