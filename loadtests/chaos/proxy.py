"""A TCP proxy that misbehaves on purpose, between tablets and the service: it cuts connections at random moments,
delays bytes and splits them into small pieces (a websocket frame then arrives in several reads), like a mobile link in
a moving ambulance. ``cut_all`` drops every connection at once (a network blip: the reconnect storm)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field


@dataclass
class Faults:
    cut_after_s: tuple[float, float] | None = (1.0, 5.0)  # each connection lives this long (uniform), then is cut
    delay_s: tuple[float, float] = (0.0, 0.03)  # before each read's bytes are forwarded
    split: int | None = 7  # forwarded in pieces of at most this many bytes (None: as read)


@dataclass
class ChaosProxy:
    target_port: int
    faults: Faults = field(default_factory=Faults)
    seed: int = 1
    port: int = 0
    cuts: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _open: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._random = random.Random(self.seed)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut_all()
        await asyncio.gather(*self._open, return_exceptions=True)

    def cut_all(self) -> None:
        for task in list(self._open):
            task.cancel()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            self._open.discard(task)
            return
        pumps = [
            asyncio.create_task(self._pump(client_reader, server_writer)),
            asyncio.create_task(self._pump(server_reader, client_writer)),
        ]
        try:
            life = self.faults.cut_after_s
            timeout = self._random.uniform(*life) if life else None
            _, pending = await asyncio.wait(pumps, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if pending and timeout is not None and all(not p.done() for p in pumps):
                self.cuts += 1
        except asyncio.CancelledError:
            self.cuts += 1
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_writer, server_writer):
                with contextlib.suppress(OSError, RuntimeError):
                    writer.transport.abort()  # no FIN, no close frame: the signal is simply gone
            await asyncio.gather(*pumps, return_exceptions=True)
            self._open.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        low, high = self.faults.delay_s
        while data := await reader.read(65536):
            if high > 0:
                await asyncio.sleep(self._random.uniform(low, high))
            size = self.faults.split or len(data)
            for start in range(0, len(data), size):
                writer.write(data[start : start + size])
                await writer.drain()  # each piece on its own: the far end reads a frame in several parts
