"""The gateway's routes: the ED feed socket and the ED dashboard page."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from hospital_gateway.feed import feed_endpoint

STATIC = Path(__file__).parent / "static"


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC / "dashboard.html", headers={"cache-control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/v1/hospitals/{hospital}/feed", feed_endpoint),
        Route("/dashboard", dashboard),
    ]
