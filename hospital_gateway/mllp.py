"""The MLLP listener for hospitals' ADT feeds: a thin asyncio adapter around ``hospital_gateway.adt``.

Per frame: decode (UTF-8, else Latin-1), parse (``hl7.parse``), find the census by the facility the message names,
apply, publish the census if its counts changed, and answer with an original-mode ACK. Whatever arrives, the
connection gets an answer and the server stays up: a frame that does not parse is answered AR (with MSA-2 when an MSH
can be read); an unexpected failure is logged and answered AR 207 ("resend later").

Framing is lenient where senders commonly are: bytes before the start block (0x0B) are skipped, ``\\n`` and
``\\r\\n`` segment ends are read as ``\\r``, blank segments and a byte-order mark are dropped. A frame longer than
``max_message_bytes`` is discarded and answered AR.

Backpressure: one message at a time per connection (an original-mode sender waits for each ACK), so a slow
``on_census`` slows that feed only, for at most ``publish_timeout_s``. Publishes for one hospital are serialised and
always carry the census's counts at the time of sending, so the last one published is the latest. A failed or
timed-out publish does not refuse the message (the census has applied it): the next message for that hospital
publishes again even if nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

import hl7
import hl7.mllp

from dispatch.capacity import TriageCounts
from hospital_gateway import adt
from hospital_gateway.adt import AckCode, AdtError, EdCensus

log = logging.getLogger("prealert.mllp")

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\r"


async def serve(
    *,
    host: str,
    port: int,
    census_for: Callable[[str], EdCensus | None],
    on_census: Callable[[str, TriageCounts], Awaitable[None]],
    now: Callable[[], datetime],
    # Timeouts
    publish_timeout_s: float = 5.0,
    # Limits
    max_message_bytes: int = 1 << 20,
) -> asyncio.AbstractServer:
    """Listen for MLLP connections; ``server.close()`` stops accepting (open connections end when their peer does)."""
    gateway = _Gateway(census_for, on_census, now, publish_timeout_s, max_message_bytes)
    server: asyncio.AbstractServer = await hl7.mllp.start_hl7_server(
        gateway.connection, host=host, port=port, limit=max_message_bytes
    )
    log.info("listening", extra={"host": host, "port": port})
    return server


@dataclass
class _Frame:
    payload: bytes
    problem: str | None = None


@dataclass
class _Gateway:
    census_for: Callable[[str], EdCensus | None]
    on_census: Callable[[str, TriageCounts], Awaitable[None]]
    now: Callable[[], datetime]
    publish_timeout_s: float
    max_message_bytes: int
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    unpublished: set[str] = field(default_factory=set)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername"))
        log.info("connected", extra={"peer": peer})
        try:
            while (frame := await self._read_frame(reader, peer)) is not None:
                writer.write(START_BLOCK + await self._answer(frame, peer) + END_BLOCK)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("connection lost", extra={"peer": peer, "error": repr(exc)})
        except Exception:
            log.exception("connection failed", extra={"peer": peer})
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()
        log.info("disconnected", extra={"peer": peer})

    async def _read_frame(self, reader: asyncio.StreamReader, peer: str) -> _Frame | None:
        """The next frame's content (after its last start block); None once the peer has closed."""
        try:
            data = await reader.readuntil(END_BLOCK)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                log.warning("closed mid-message", extra={"peer": peer, "bytes": len(exc.partial)})
            return None
        except asyncio.LimitOverrunError as exc:
            head = await reader.readexactly(exc.consumed)
            await _skip_frame(reader)
            problem = f"message longer than {self.max_message_bytes} bytes"
            return _Frame(head[head.rfind(START_BLOCK) + 1 :], problem)
        start = data.rfind(START_BLOCK)
        if start < 0:
            return _Frame(data[: -len(END_BLOCK)], "no MLLP start block (0x0B) before the message")
        if data[:start].strip():
            log.warning("bytes before start block skipped", extra={"peer": peer, "bytes": start})
        return _Frame(data[start + 1 : -len(END_BLOCK)])

    async def _answer(self, frame: _Frame, peer: str) -> bytes:
        text, encoding = _decode(frame.payload)
        text = _normalise(text)
        code, reason, condition = await self._apply(text, frame.problem, peer)
        reply = adt.ack(text, code=code, reason=reason, now=self.now(), condition=condition)
        return reply.encode(encoding, errors="replace")

    async def _apply(self, text: str, problem: str | None, peer: str) -> tuple[AckCode, str | None, str]:
        extra = {"peer": peer, "hl7_control_id": adt.control_id(text)}
        if problem is not None:
            log.warning("refused", extra={**extra, "ack": "AR", "reason": problem})
            return "AR", problem, "100"
        try:
            message = hl7.parse(text)
        except Exception as exc:
            reason = f"message cannot be parsed: {exc}"
            log.warning("refused", extra={**extra, "ack": "AR", "reason": reason})
            return "AR", reason, "100"
        try:
            census, change, owed = self._census_apply(message)
        except AdtError as error:
            log.warning("refused", extra={**extra, "ack": error.code, "reason": error.reason})
            return error.code, error.reason, error.condition
        except Exception:
            log.exception("failed", extra={**extra, "ack": "AR"})
            return "AR", "internal error while applying the message; resend later", "207"
        log.info("applied", extra={**extra, "hospital": census.hospital, "change": change, "ack": "AA"})
        if owed:
            await self._publish(census)
        return "AA", None, "0"

    def _census_apply(self, message: hl7.Message) -> tuple[EdCensus, str, bool]:
        """The census, what changed, and whether a publish is owed (the counts changed, or the last one failed)."""
        adt.header(message)
        named = adt.facility(message)
        census = self.census_for(named)
        if census is None:
            raise AdtError(f"no ED census for facility {named or '(empty)'!r}", code="AE", condition="103")
        before = census.counts()
        change = census.apply(message, now=self.now())
        owed = census.counts() != before or census.hospital in self.unpublished
        return census, change, owed

    async def _publish(self, census: EdCensus) -> None:
        """Send the census's current counts; serialised per hospital, so the last one sent is the latest."""
        hospital = census.hospital
        async with self.locks.setdefault(hospital, asyncio.Lock()):
            counts = census.counts()
            try:
                await asyncio.wait_for(self.on_census(hospital, counts), self.publish_timeout_s)
            except Exception:
                self.unpublished.add(hospital)
                log.exception("census not published", extra={"hospital": hospital})
            else:
                self.unpublished.discard(hospital)
                log.info("census published", extra={"hospital": hospital, "census": counts.total})


async def _skip_frame(reader: asyncio.StreamReader) -> None:
    """Discard up to and including the next end block."""
    while True:
        try:
            await reader.readuntil(END_BLOCK)
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)


def _decode(payload: bytes) -> tuple[str, str]:
    try:
        return payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return payload.decode("latin-1"), "latin-1"


def _normalise(text: str) -> str:
    segments = text.lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r").split("\r")
    return "\r".join(s for s in segments if s.strip())
