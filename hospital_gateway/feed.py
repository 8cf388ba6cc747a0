"""The ED dashboard's websocket, ``/v1/hospitals/{hospital}/feed?after=<last id>``: one per dashboard.

Every event of every patient inbound to the hospital, in order, live, resumable with no gap (see
``dispatch.stream_socket`` for the frames and ``dispatch.streams`` for the backpressure policy).
"""

from __future__ import annotations

from starlette.websockets import WebSocket

from dispatch.live import feed_key
from dispatch.services import Services
from dispatch.stream_socket import serve_stream
from dispatch.streams import StreamHub
from dispatch.tablet_socket import accept_authenticated


async def feed_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    hub: StreamHub = ws.app.state.streams
    hospital = ws.path_params["hospital"]
    if await accept_authenticated(ws, services, "ed", hospital) is None:
        return
    await serve_stream(
        ws,
        live=services.live,
        hub=hub,
        key=feed_key(hospital),
        feed=f"hospital:{hospital}",
        kind="dashboard",
        now=services.clock(),
    )
