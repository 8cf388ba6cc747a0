"""The ED dashboard's websocket, ``/v1/hospitals/{hospital}/feed?after=<last id>``: one per dashboard.

Every event of every patient inbound to the hospital, in order, live, resumable with no gap (see
``dispatch.stream_socket`` for the frames and ``dispatch.streams`` for the backpressure policy). Only patients the
ED may see now are sent: inbound to it, or handed over to it recently (``ed_recent_handover``); a replay from an old
id skips the events of patients re-routed elsewhere or long handed over. The first event of each patient sent to a
dashboard is audited as a read of that patient.
"""

from __future__ import annotations

from functools import partial

from starlette.websockets import WebSocket

from dispatch.live import feed_key
from dispatch.services import Services
from dispatch.socket_guard import accept_authenticated, guarded, socket_entry
from dispatch.stream_socket import serve_stream
from dispatch.streams import StreamHub
from dispatch.tokens import ED_STAFF


async def feed_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    hub: StreamHub = ws.app.state.streams
    hospital = ws.path_params["hospital"]
    who = await accept_authenticated(ws, services, ED_STAFF, hospital, hospital=hospital)
    if who is None:
        return

    def audit_read(incident: int) -> None:
        services.audit.record(
            socket_entry(ws, services, who, action="read", outcome=0, incident=incident, hospital=hospital)
        )

    await guarded(
        ws,
        services,
        who,
        serve_stream(
            ws,
            live=services.live,
            hub=hub,
            key=feed_key(hospital),
            feed=f"hospital:{hospital}",
            kind="dashboard",
            now=services.clock(),
            visible=partial(services.ed_may_see, hospital=hospital),
            on_first=audit_read,
        ),
    )
