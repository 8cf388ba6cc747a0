"""A minimal Socket.IO v5 client (Engine.IO v4, websocket transport only) on the same ``websockets`` library our own
clients use, so that the load generator costs the same per message whichever server it drives.

Frames: ``0{...}`` open; ``40`` connect to ``/``; ``42["event",data]`` an event; ``42<id>[...]`` an event wanting an
ack, answered ``43<id>[...]``; ``2``/``3`` ping/pong (the server pings, the client answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Json = dict[str, Any]


class SocketIoClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.ws: ClientConnection | None = None
        self.on_event: Callable[[str, Any], None] | None = None
        self.on_ack: Callable[[int], None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        ws = await connect(self.url, max_size=None, ping_interval=None)
        opened = await ws.recv()
        if not str(opened).startswith("0"):
            raise RuntimeError(f"expected an Engine.IO open packet, got {opened!r}")
        await ws.send("40")
        connected = await ws.recv()
        if not str(connected).startswith("40"):
            raise RuntimeError(f"expected a Socket.IO connect, got {connected!r}")
        self.ws = ws
        self._reader = asyncio.create_task(self._read(ws))

    async def emit(self, event: str, data: Any, *, ack: bool = False) -> int | None:
        """Send an event; with ``ack``, its ack id (``on_ack`` is called with it when the server acks)."""
        assert self.ws is not None
        payload = msgspec.json.encode([event, data]).decode()
        if not ack:
            await self.ws.send("42" + payload)
            return None
        ident = next(self._ids)
        await self.ws.send(f"42{ident}{payload}")
        return ident

    async def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        """Emit and wait for the server's ack (for set-up steps such as joining a room)."""
        ident = await self.emit(event, data, ack=True)
        assert ident is not None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        return await asyncio.wait_for(future, timeout)

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                text = str(raw)
                if text == "2":
                    await ws.send("3")
                elif text.startswith("42"):
                    event, data = msgspec.json.decode(text[2:])[:2]
                    if self.on_event is not None:
                        self.on_event(event, data)
                elif text.startswith("43"):
                    digits = len(text) - len(text[2:].lstrip("0123456789"))
                    ident = int(text[2:digits])
                    if (future := self._pending.pop(ident, None)) is not None and not future.done():
                        future.set_result(msgspec.json.decode(text[digits:]))
                    elif self.on_ack is not None:
                        self.on_ack(ident)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
