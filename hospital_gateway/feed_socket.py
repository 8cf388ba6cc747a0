"""The ED dashboard's websocket, ``/v1/hospitals/{hospital}/feed?after=<last id>``: one per dashboard.

Sends ``feed_hello``, then (``reset`` first if the resume point was trimmed away) every retained event after
``after``, then live events, each as ``{"type": "event", "id": ..., "event": {...}}``. The client sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch.live import FeedEntry
from dispatch.metrics import FEED_EVENTS, SLOW_DASHBOARDS, SOCKETS
from dispatch.protocol import CloseCode, Error, FeedHello, Reset, encoder
from dispatch.services import Services
from dispatch.tablet_socket import accept_authenticated, receive_frame
from hospital_gateway.feed import STREAM_ID, FeedHub, Subscriber, id_key


def _event_frame(entry: FeedEntry) -> bytes:
    # The stored event is JSON already: wrap it rather than decode and encode it again.
    stream_id, event = entry
    return b'{"type":"event","id":"' + stream_id.encode() + b'","event":' + event + b"}"


class FeedSession:
    def __init__(self, ws: WebSocket, services: Services, hospital: str, subscriber: Subscriber) -> None:
        self.ws = ws
        self.services = services
        self.hospital = hospital
        self.subscriber = subscriber

    async def _send(self, entry: FeedEntry) -> str:
        await self.ws.send_text(_event_frame(entry).decode())
        FEED_EVENTS.inc()
        return entry[0]

    async def start(self, after: str) -> str:
        live = self.services.live
        if after != "0-0" and id_key(after) < id_key(await live.feed_trimmed(self.hospital)):
            await self.ws.send_text(encoder.encode(Reset(reason=f"events after {after} are no longer kept")).decode())
            after = "0-0"
        hello = FeedHello(hospital=self.hospital, after=after, server_time=self.services.clock())
        await self.ws.send_text(encoder.encode(hello).decode())
        last = after
        while entries := await live.feed_after(self.hospital, last):
            for entry in entries:
                last = await self._send(entry)
        return last

    async def follow(self, last: str) -> None:
        overflow = asyncio.create_task(self.subscriber.overflowed.wait())
        try:
            while True:
                entry_task = asyncio.create_task(self.subscriber.queue.get())
                await asyncio.wait({entry_task, overflow}, return_when=asyncio.FIRST_COMPLETED)
                if overflow.done():
                    entry_task.cancel()
                    SLOW_DASHBOARDS.inc()
                    await self.ws.close(CloseCode.TOO_SLOW, reason="dashboard fell behind; resume with last id")
                    return
                entry = entry_task.result()
                if id_key(entry[0]) > id_key(last):
                    last = await self._send(entry)
        finally:
            overflow.cancel()


async def _drain_client(ws: WebSocket) -> None:
    """The client sends nothing; reading is how we notice it has gone."""
    while True:
        await receive_frame(ws)


async def feed_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    hub: FeedHub = ws.app.state.feeds
    hospital = ws.path_params["hospital"]
    if await accept_authenticated(ws, services, "ed", hospital) is None:
        return
    after = ws.query_params.get("after") or "0-0"
    if not STREAM_ID.match(after):
        await ws.send_text(
            encoder.encode(
                Error(code="invalid_field", field="after", reason="expected a feed id like 1732450000000-0")
            ).decode()
        )
        await ws.close(CloseCode.BAD_REQUEST, reason="bad resume id")
        return
    subscriber = await hub.subscribe(hospital)
    session = FeedSession(ws, services, hospital, subscriber)
    SOCKETS.labels(kind="dashboard").inc()
    watcher = asyncio.create_task(_drain_client(ws))
    try:
        follower = asyncio.create_task(session.follow(await session.start(after)))
        await asyncio.wait({watcher, follower}, return_when=asyncio.FIRST_COMPLETED)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await follower
    except WebSocketDisconnect:
        pass
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await watcher
        SOCKETS.labels(kind="dashboard").dec()
        await hub.unsubscribe(hospital, subscriber)
