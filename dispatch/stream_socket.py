"""Serving a resumable feed over a websocket (the ED feed, the dispatchers' feeds): ``?after=<last id>`` (or
``?after=now`` to skip the history, for a client that has just read a snapshot).

Sends ``feed_hello``, then (``reset`` first if the resume point was trimmed away) every retained entry after
``after``, then live entries, each as ``{"type": "event", "id": ..., "event": {...}}``. The client sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch.live import FeedEntry, Live
from dispatch.metrics import FEED_EVENTS, SLOW_DASHBOARDS, SOCKETS
from dispatch.protocol import CloseCode, Error, FeedHello, Reset, encoder
from dispatch.streams import STREAM_ID, StreamHub, Subscriber, id_key
from dispatch.tablet_socket import receive_frame

log = logging.getLogger("prealert.stream")
RECHECK_S: Final = 2.0  # how long a subscriber's answer to "may it see this patient?" is trusted
# May the subscriber see events of this incident? Asked again every RECHECK_S; events it may not see are skipped.
Visibility = Callable[[int], Awaitable[bool]]


class _Incident(msgspec.Struct):
    incident: int | None = None


_incident_of = msgspec.json.Decoder(_Incident)


def _event_frame(entry: FeedEntry) -> str:
    # The stored event is JSON already: wrap it rather than decode and encode it again.
    stream_id, event = entry
    return '{"type":"event","id":"' + stream_id + '","event":' + event.decode() + "}"


class StreamSession:
    def __init__(
        self,
        ws: WebSocket,
        live: Live,
        key: str,
        subscriber: Subscriber,
        visible: Visibility | None = None,
        on_first: Callable[[int], None] | None = None,
    ) -> None:
        self.ws = ws
        self.live = live
        self.key = key
        self.subscriber = subscriber
        self._visible = visible
        self._on_first = on_first
        self._answers: dict[int, tuple[bool, float]] = {}
        self._reported: set[int] = set()

    async def _may_see(self, entry: FeedEntry) -> bool:
        if self._visible is None:
            return True
        incident = _incident_of.decode(entry[1]).incident
        if incident is None:
            return True
        now = time.monotonic()
        answer = self._answers.get(incident)
        if answer is None or now - answer[1] > RECHECK_S:
            answer = self._answers[incident] = (await self._visible(incident), now)
            if answer[0] and incident not in self._reported:
                self._reported.add(incident)
                if self._on_first is not None:
                    self._on_first(incident)
        return answer[0]

    async def _send(self, entry: FeedEntry) -> str:
        if await self._may_see(entry):
            await self.ws.send_text(_event_frame(entry))
            FEED_EVENTS.inc()
        return entry[0]

    async def start(self, after: str, feed: str, now: datetime) -> str:
        if after != "0-0" and id_key(after) < id_key(await self.live.stream_trimmed(self.key)):
            await self.ws.send_text(encoder.encode(Reset(reason=f"events after {after} are no longer kept")).decode())
            after = "0-0"
        await self.ws.send_text(encoder.encode(FeedHello(feed=feed, after=after, server_time=now)).decode())
        last = after
        while entries := await self.live.stream_after(self.key, last):
            for entry in entries:
                last = await self._send(entry)
        return last

    async def follow(self, last: str) -> None:
        while True:
            entry = await self.subscriber.queue.get()
            if self.subscriber.restarted.is_set():  # what is queued belongs to the history that was replaced
                return
            if id_key(entry[0]) > id_key(last):
                last = await self._send(entry)


async def _drain_client(ws: WebSocket) -> None:
    """The client sends nothing; reading is how we notice it has gone."""
    while True:
        await receive_frame(ws)


async def serve_stream(
    ws: WebSocket,
    *,
    live: Live,
    hub: StreamHub,
    key: str,
    feed: str,
    kind: str,
    now: datetime,
    visible: Visibility | None = None,
    on_first: Callable[[int], None] | None = None,
) -> None:
    """Run an accepted, authorised socket as a subscriber of stream ``key`` until either side leaves. With
    ``visible``, each incident's events are sent only while it answers yes; ``on_first`` hears of each incident the
    first time one of its events is sent to this socket (the audit of who looked at which patient)."""
    after = ws.query_params.get("after") or "0-0"
    if after == "now":  # no history: the client has just read a snapshot
        after = await live.stream_tail(key)
    if not STREAM_ID.match(after):
        error = Error(code="invalid_field", field="after", reason="expected a feed id like 1732450000000-0")
        await ws.send_text(encoder.encode(error).decode())
        await ws.close(CloseCode.BAD_REQUEST, reason="bad resume id")
        return
    subscriber = await hub.subscribe(key)
    session = StreamSession(ws, live, key, subscriber, visible, on_first)
    SOCKETS.labels(kind=kind).inc()
    watcher = asyncio.create_task(_drain_client(ws))
    overflow = asyncio.create_task(subscriber.overflowed.wait())
    restarted = asyncio.create_task(subscriber.restarted.wait())
    try:
        follower = asyncio.create_task(session.follow(await session.start(after, feed, now)))
        await asyncio.wait({watcher, follower, overflow, restarted}, return_when=asyncio.FIRST_COMPLETED)
        follower.cancel()
        if restarted.done():
            log.warning("feed rebuilt, subscriber told to resume", extra={"stream": key})
            with contextlib.suppress(TimeoutError, RuntimeError):
                await asyncio.wait_for(ws.close(CloseCode.RESTARTED, reason="the feed was rebuilt; resume"), 5)
        if overflow.done():
            # A whole queue behind (its sends are stuck behind what it has not read): stop feeding it now, and tell
            # it to come back with its last id. Memory stays bounded; it loses nothing.
            SLOW_DASHBOARDS.inc()
            log.info("slow subscriber closed", extra={"stream": key})
            with contextlib.suppress(TimeoutError, RuntimeError):
                await asyncio.wait_for(ws.close(CloseCode.TOO_SLOW, reason="fell behind; resume with the last id"), 5)
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, TimeoutError):
            await asyncio.wait_for(follower, 5)
    except WebSocketDisconnect:
        pass
    finally:
        overflow.cancel()
        restarted.cancel()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await watcher
        SOCKETS.labels(kind=kind).dec()
        await hub.unsubscribe(key, subscriber)
