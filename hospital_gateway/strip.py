"""The live monitor strip of one inbound patient, ``/v1/hospitals/{hospital}/incidents/{incident}/strip``.

An ED viewer opens it when it opens the patient; it receives ``strip_chunk`` frames (JSON, samples base64) as the
unit's monitor streams them. Nothing is kept or replayed: a chunk that finds the viewer behind is dropped (the queue
holds a second of signal), so a slow screen sees a gap in the trace rather than a trace that lags ever further. The
patient must be inbound to the hospital: checked at the start and every few seconds, so a re-routed patient's strip
stops within that time at the hospital that no longer receives them (closed with 4403).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch.live import strip_channel
from dispatch.metrics import SOCKETS
from dispatch.protocol import CloseCode
from dispatch.services import Services
from dispatch.socket_guard import accept_authenticated, guarded, refuse
from dispatch.tablet_socket import receive_frame
from dispatch.tasks import cancel_and_wait
from dispatch.tokens import ED_STAFF

log = logging.getLogger("prealert.strip")
QUEUE_CHUNKS: Final = 4  # about a second of signal at the usual 0.25-0.5 s per chunk
RECHECK_S: Final = 2.0


async def _inbound(services: Services, incident: int, hospital: str) -> bool:
    _, destination = await services.live.incident_context(incident)
    return destination == hospital


async def _listen(services: Services, incident: int, queue: asyncio.Queue[str]) -> None:
    async with services.redis.pubsub() as pubsub:
        await pubsub.subscribe(strip_channel(incident))
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            if queue.full():  # the viewer is behind: the oldest chunk goes, never the newest
                queue.get_nowait()
            queue.put_nowait(message["data"].decode())


async def _send(ws: WebSocket, queue: asyncio.Queue[str]) -> None:
    while True:
        await ws.send_text(await queue.get())


async def _watch(services: Services, incident: int, hospital: str) -> None:
    """Returns once the patient is no longer inbound to the hospital (polled: a re-route is rare, a poll cheap)."""
    while True:
        await asyncio.sleep(RECHECK_S)
        if not await _inbound(services, incident, hospital):
            return


async def _drain(ws: WebSocket) -> None:
    while True:
        await receive_frame(ws)


async def strip_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    hospital = ws.path_params["hospital"]
    raw = ws.path_params["incident"]
    incident = int(raw) if raw.isdigit() and len(raw) < 16 else None
    who = await accept_authenticated(ws, services, ED_STAFF, hospital, hospital=hospital, incident=incident)
    if who is None:
        return
    if incident is None or not await _inbound(services, incident, hospital):
        await refuse(ws, services, who, CloseCode.FORBIDDEN, f"incident {raw} is not inbound to {hospital}")
        return
    await guarded(ws, services, who, _serve(ws, services, hospital, incident))


async def _serve(ws: WebSocket, services: Services, hospital: str, incident: int) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    tasks = [
        asyncio.create_task(_listen(services, incident, queue)),
        asyncio.create_task(_send(ws, queue)),
        asyncio.create_task(_watch(services, incident, hospital)),
        asyncio.create_task(_drain(ws)),
    ]
    SOCKETS.labels(kind="strip").inc()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[2] in done and tasks[2].exception() is None:
            await ws.close(CloseCode.FORBIDDEN, reason=f"incident {incident} is no longer inbound to {hospital}")
        elif tasks[0] in done and isinstance(tasks[0].exception(), RedisError | OSError):
            log.warning("strip subscription lost", extra={"incident": incident, "error": repr(tasks[0].exception())})
            await ws.close(CloseCode.SERVER_ERROR, reason="live strip interrupted; reconnect")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        SOCKETS.labels(kind="strip").dec()
        await cancel_and_wait(tasks, ignore=(WebSocketDisconnect, RuntimeError, RedisError, OSError))
