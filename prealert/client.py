"""Python clients of the wire protocol: a tablet with its outbox, and an ED dashboard that resumes from its last id.

Used by the tests, the benchmarks and the simulator. The tablet gives every message a ``uid`` (its idempotency key)
when it is made, keeps it until it is acked and resends the unacked ones after each ``hello`` under their own seq;
a message answered ``seq_taken`` (another device of the unit used that seq) is resent under a fresh seq with the same
uid. The same rules as the tablet page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from dispatch.protocol import BEARER_PREFIX, SUBPROTOCOL

Json = dict[str, Any]


def subprotocols(token: str) -> list[Subprotocol]:
    return [Subprotocol(SUBPROTOCOL), Subprotocol(BEARER_PREFIX + token)]


def new_uid() -> str:
    """A message's idempotency key: 128 random bits, base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


@dataclass
class _Connection:
    """A websocket and the task reading it."""

    ws: ClientConnection | None = field(default=None, kw_only=True)
    _reader: asyncio.Task[None] | None = field(default=None, kw_only=True)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, kw_only=True)

    async def wait(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate`` holds, re-checking each time a frame arrives."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    @property
    def connected(self) -> bool:
        """Whether a socket is open and being read (it may have been cut under us: then not)."""
        return self.ws is not None and self._reader is not None and not self._reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.disconnected()

    async def disconnected(self) -> None:
        """Wait until the connection has ended (either side closed it)."""
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.ws = None


@dataclass
class TabletClient(_Connection):
    ws_base: str
    unit: str
    token: str
    outbox: dict[int, str | bytes] = field(default_factory=dict)  # text frames (JSON) or binary (msgpack)
    next_seq: int = 1
    acked: int = 0
    hello: Json | None = None
    errors: list[Json] = field(default_factory=list)
    assignments: list[Json] = field(default_factory=list)
    recommendations: list[Json] = field(default_factory=list)
    frames: list[Json] = field(default_factory=list)  # every other server frame, in order (not ``patient``)
    patient: Json | None = None  # the server's latest view of the patient (``patient`` frames replace each other)
    renumbered: int = 0  # messages resent under a fresh seq after ``seq_taken``
    strips_sent: int = 0
    strips_dropped: int = 0
    on_ack: Callable[[int], None] | None = None
    close_code: int | None = None  # how the server last closed the socket
    skew: timedelta = timedelta()  # this device's clock minus the true time (a tablet whose clock runs off)

    def now(self) -> datetime:
        """This device's clock."""
        return datetime.now(UTC) + self.skew

    @property
    def url(self) -> str:
        """The socket's address, with this device's clock at the moment of connecting (``clock``)."""
        clock = self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"{self.ws_base}/v1/units/{self.unit}/socket?clock={clock}"

    async def connect(self) -> Json:
        """Connect, read ``hello``, resend the outbox in seq order, and only then let ``send`` use the socket, so
        that a message made meanwhile never overtakes an older unacked one."""
        ws = await connect(self.url, subprotocols=subprotocols(self.token), max_size=None)
        hello: Json = msgspec.json.decode(await ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
        self.hello = hello
        self.next_seq = max(self.next_seq, int(hello["last_seq"]) + 1)
        self._reader = asyncio.create_task(self._read(ws))
        sent_upto = 0
        while waiting := sorted(seq for seq in self.outbox if seq > sent_upto):
            for seq in waiting:  # under their own seq: the server acks what it holds, by uid
                if (data := self.outbox.get(seq)) is not None:
                    await ws.send(data)
                sent_upto = seq
        self.ws = ws  # no await since the last check: nothing can slip in between
        return hello

    async def send(self, message: Json, *, binary: bool = False) -> int:
        """Give ``message`` the next seq and a uid, keep it in the outbox and send it if connected (as a binary
        msgpack frame if ``binary``: what a 12-lead ECG should be)."""
        return await self._enqueue({"uid": new_uid(), **message}, binary=binary)

    async def _enqueue(self, message: Json, *, binary: bool) -> int:
        seq = self.next_seq
        self.next_seq += 1
        framed = {**message, "seq": seq}
        data: str | bytes = msgspec.msgpack.encode(framed) if binary else msgspec.json.encode(framed).decode()
        self.outbox[seq] = data
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(data)
        return seq

    async def _renumber(self, seq: int, last_seq: int) -> None:
        """Another device of the unit used ``seq``: send that message again above ``last_seq``, same uid."""
        data = self.outbox.pop(seq, None)
        if data is None:
            return
        self.next_seq = max(self.next_seq, last_seq + 1)
        self.renumbered += 1
        if isinstance(data, str):
            await self._enqueue(msgspec.json.decode(data), binary=False)
        else:
            await self._enqueue(msgspec.msgpack.decode(data), binary=True)

    async def send_strip(self, chunk: Json, *, max_buffered: int = 0) -> bool:
        """Send a live waveform chunk now, or drop it: it is not kept, and it is not sent while the socket still has
        more than ``max_buffered`` bytes waiting, so it never delays a vitals set. True if sent."""
        if self.ws is None or self.ws.transport.get_write_buffer_size() > max_buffered:
            self.strips_dropped += 1
            return False
        try:
            await self.ws.send(msgspec.msgpack.encode({"type": "strip", **chunk}))
        except ConnectionClosed:
            self.strips_dropped += 1
            return False
        self.strips_sent += 1
        return True

    async def send_raw(self, frame: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(frame)

    def _acked_upto(self, upto: int) -> None:
        for seq in [s for s in self.outbox if s <= upto]:
            del self.outbox[seq]
        if upto > self.acked:
            self.acked = upto
            if self.on_ack is not None:
                self.on_ack(upto)
        self._changed.set()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame: Json = msgspec.json.decode(raw)
                if frame["type"] == "ack":
                    self._acked_upto(int(frame["upto"]))
                elif frame["type"] == "error" and frame["code"] == "seq_taken":
                    await self._renumber(int(frame["seq"]), int(frame["last_seq"]))
                elif frame["type"] == "error":
                    self.errors.append(frame)
                    if frame.get("seq") is not None:
                        self.outbox.pop(int(frame["seq"]), None)
                    self._changed.set()
                elif frame["type"] == "patient":
                    self.patient = frame
                    self._changed.set()
                elif frame["type"] == "assignment":
                    self.assignments.append(frame["incident"])
                    self._changed.set()
                elif frame["type"] == "recommendation":
                    self.recommendations.append(frame)
                    self._changed.set()
                else:
                    self.frames.append(frame)
                    self._changed.set()
        self.close_code = ws.close_code
        self._changed.set()

    async def wait_acked(self, seq: int, timeout: float = 30.0) -> None:
        await self.wait(lambda: self.acked >= seq, timeout)

    def frames_of(self, kind: str) -> list[Json]:
        return [f for f in self.frames if f["type"] == kind]

    async def abort(self) -> None:
        """Cut the connection without a closing handshake, as a lost signal does."""
        if self.ws is not None:
            self.ws.transport.abort()
        await self.disconnected()


@dataclass
class DashboardClient(_Connection):
    ws_base: str
    hospital: str
    token: str
    last_id: str | None = None
    events: list[tuple[str, Json]] = field(default_factory=list)
    resets: int = 0
    on_event: Callable[[str, Json], None] | None = None
    on_reset: Callable[[], None] | None = None  # told ``reset``: what follows is the feed from its start
    close_code: int | None = None
    _reading: asyncio.Event = field(default_factory=asyncio.Event)

    read_delay_s: float = 0.0  # > 0: read one frame per delay, as a slow screen does

    def pause(self) -> None:
        """Stop reading (as a stalled screen would); the server's sends back up."""
        self._reading.clear()

    def unpause(self) -> None:
        self._reading.set()

    @property
    def path(self) -> str:
        return f"/v1/hospitals/{self.hospital}/feed"

    async def connect(self) -> Json:
        query = f"?after={self.last_id}" if self.last_id else ""
        url = f"{self.ws_base}{self.path}{query}"
        self.ws = await connect(url, subprotocols=subprotocols(self.token), max_size=None)
        async with asyncio.timeout(30):  # a server that never says hello is an error, not a hang
            first: Json = msgspec.json.decode(await self.ws.recv())
            if first["type"] == "reset":
                self.resets += 1
                if self.on_reset is not None:
                    self.on_reset()
                first = msgspec.json.decode(await self.ws.recv())
        if first["type"] != "feed_hello":
            raise RuntimeError(f"expected feed_hello, got {first}")
        self._reading.set()
        self._reader = asyncio.create_task(self._read(self.ws))
        return first

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._reading.wait()
                if self.read_delay_s:
                    await asyncio.sleep(self.read_delay_s)
                frame: Json = msgspec.json.decode(await ws.recv())
                if frame["type"] == "event":
                    self.last_id = frame["id"]
                    self.events.append((frame["id"], frame["event"]))
                    if self.on_event is not None:
                        self.on_event(frame["id"], frame["event"])
                    self._changed.set()
        self.close_code = ws.close_code
        self._changed.set()

    def bodies(self, kind: str, unit: str | None = None) -> list[Json]:
        return [e["body"] for _, e in self.events if e["body"]["type"] == kind and (unit is None or e["unit"] == unit)]


@dataclass
class DispatcherClient(DashboardClient):
    """The dispatchers' feed of a region: hospital status changes and recommendation changes (``hospital`` unused)."""

    @property
    def path(self) -> str:
        return "/v1/dispatch/socket"

    def updates(self, incident: int) -> list[Json]:  # the dispatch feed's recommendation changes
        return [e for _, e in self.events if e["type"] == "recommendation" and e["incident"] == incident]


@dataclass
class RegionEventsClient(DashboardClient):
    """The dispatchers' everything-feed: every tablet event of the region (``hospital`` unused)."""

    @property
    def path(self) -> str:
        return "/v1/dispatch/events"
