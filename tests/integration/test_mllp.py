"""The MLLP listener over a real socket: framed ADT messages in, ACKs and census publishes out, bad input answered
and survived."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import hl7
import hl7.mllp
import pytest

from dispatch.capacity import TriageCounts
from hospital_gateway.adt import EdCensus
from hospital_gateway.mllp import END_BLOCK, START_BLOCK, serve

TIMEOUT_S = 5.0
HOSPITAL = "upmc-mercy"


def adt(
    trigger: str, control: str, *, location: str = "ED", esi: str = "", to: str = "MERCY", name: str = "DOE"
) -> str:
    pv1 = "PV1|1|E|" + location + "^R1^B1" + "|" * 16 + "V1"
    segments = [
        f"MSH|^~\\&|EPIC|MERCYHOSP|PREALERT|{to}|20240501120000||ADT^{trigger}|{control}|P|2.5.1",
        f"EVN|{trigger}|20240501120000",
        f"PID|1||MRN1^^^MERCY^MR||{name}^JANE",
        pv1,
    ]
    if esi:
        segments.append("PV2" + "|" * 25 + esi)
    return "\r".join(segments)


def framed(message: str | bytes) -> bytes:
    return START_BLOCK + (message.encode() if isinstance(message, str) else message) + END_BLOCK


def counts(red: int = 0, yellow: int = 0, green: int = 0) -> TriageCounts:
    return TriageCounts(red=red, yellow=yellow, green=green)


def msa(reply: hl7.Message) -> tuple[str, str]:
    return str(reply.extract_field("MSA", 1, 1, 1, 1, 1)), str(reply.extract_field("MSA", 1, 2, 1, 1, 1))


def reason(reply: hl7.Message) -> str:
    return str(reply.extract_field("ERR", 1, 8, 1, 1, 1))


@dataclass
class Listener:
    census: EdCensus
    port: int = 0
    published: list[tuple[str, TriageCounts]] = field(default_factory=list)
    failing: bool = False
    slow: bool = False

    async def on_census(self, hospital: str, census: TriageCounts) -> None:
        if self.failing:
            raise RuntimeError("publisher down")
        if self.slow and census.total % 2:  # publishes would finish out of order unless serialised
            await asyncio.sleep(0.005)
        self.published.append((hospital, census))

    def census_for(self, facility: str) -> EdCensus | None:
        return self.census if facility == "MERCY" else None

    async def connect(self) -> tuple[Any, Any]:
        """An ``hl7.mllp.HL7StreamReader`` and ``HL7StreamWriter`` (untyped)."""
        reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", self.port)
        return reader, writer

    async def exchange(self, reader: Any, writer: Any, message: str | bytes) -> hl7.Message:
        writer.writeblock(message.encode() if isinstance(message, str) else message)
        await writer.drain()
        reply: hl7.Message = await asyncio.wait_for(reader.readmessage(), TIMEOUT_S)
        return reply


async def started(listener: Listener, **limits: int) -> asyncio.AbstractServer:
    server = await serve(
        host="127.0.0.1",
        port=0,
        census_for=listener.census_for,
        on_census=listener.on_census,
        now=lambda: datetime.now(UTC),
        **limits,
    )
    assert isinstance(server, asyncio.Server)
    listener.port = server.sockets[0].getsockname()[1]
    return server


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    running = Listener(EdCensus(hospital=HOSPITAL, ed_location="ED", facility="MERCY"))
    server = await started(running, max_message_bytes=4096)
    try:
        yield running
    finally:
        server.close()
        await server.wait_closed()


async def closing(writer: Any) -> None:
    writer.close()
    await writer.wait_closed()


async def test_a_feed_is_acked_and_publishes_the_census(listener: Listener, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="prealert.mllp")
    reader, writer = await listener.connect()
    steps: list[tuple[str | bytes, tuple[str, str], list[TriageCounts]]] = [
        (adt("A04", "M1", esi="3"), ("AA", "M1"), [counts(yellow=1)]),
        (adt("A08", "M2", esi="1"), ("AA", "M2"), [counts(red=1)]),
        (adt("A02", "M3", location="ICU"), ("AA", "M3"), [counts()]),
        (adt("A03", "M4", location="ICU"), ("AA", "M4"), []),  # left the ED already: nothing to publish
        (adt("A03", "M4", location="ICU"), ("AA", "M4"), []),  # a resend: duplicate
        (b"ZZZ|junk\r" + adt("A04", "M5").encode(), ("AR", "M5"), []),  # does not parse, MSH readable
        (b"this is not HL7", ("AR", ""), []),
        (adt("A04", "M6", to="SHADYSIDE"), ("AE", "M6"), []),
        (adt("A05", "M7"), ("AR", "M7"), []),
        (adt("A13", "M8", esi="5"), ("AA", "M8"), [counts(green=1)]),  # the connection still works after all that
    ]
    try:
        for message, expected, published in steps:
            before = len(listener.published)
            reply = await listener.exchange(reader, writer, message)
            assert msa(reply) == expected, message
            assert listener.published[before:] == [(HOSPITAL, c) for c in published], message
    finally:
        await closing(writer)
    refusals = [r for r in caplog.records if r.getMessage() == "refused"]
    assert [(r.__dict__["ack"], r.__dict__["hl7_control_id"]) for r in refusals] == [
        ("AR", "M5"),
        ("AR", ""),
        ("AE", "M6"),
        ("AR", "M7"),
    ]
    assert "SHADYSIDE" in refusals[2].__dict__["reason"]


async def test_acks_carry_the_reason(listener: Listener) -> None:
    reader, writer = await listener.connect()
    try:
        unknown = await listener.exchange(reader, writer, adt("A03", "R1"))
        assert msa(unknown) == ("AE", "R1") and "does not know" in reason(unknown)
        foreign = await listener.exchange(reader, writer, adt("A04", "R2", to="SHADYSIDE"))
        assert "no ED census for facility 'SHADYSIDE'" in reason(foreign)
        garbage = await listener.exchange(reader, writer, b"this is not HL7")
        assert "cannot be parsed" in reason(garbage)
    finally:
        await closing(writer)


async def raw_exchange(port: int, data: bytes, replies: int) -> list[hl7.Message]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        frames = [await asyncio.wait_for(reader.readuntil(END_BLOCK), TIMEOUT_S) for _ in range(replies)]
    finally:
        await closing(writer)
    return [hl7.parse(frame.strip(START_BLOCK).removesuffix(END_BLOCK).decode("latin-1")) for frame in frames]


async def test_framing_adversity_is_answered_and_survived(listener: Listener) -> None:
    oversized = adt("A04", "F4", name="X" * 8000)
    data = b"".join(
        [
            b"\r\n" + framed(adt("A04", "F1")),  # bytes before the start block
            adt("A08", "F2").encode() + END_BLOCK,  # no start block
            framed(adt("A08", "F3").replace("\r", "\n")),  # newlines for segment ends
            framed(oversized),
            framed(adt("A08", "F5", name="MÜLLER").encode("latin-1")),  # not UTF-8
            framed(b""),
        ]
    )
    replies = await raw_exchange(listener.port, data, replies=6)
    assert [msa(r) for r in replies] == [
        ("AA", "F1"),
        ("AR", "F2"),
        ("AA", "F3"),
        ("AR", "F4"),
        ("AA", "F5"),
        ("AR", ""),
    ]
    assert "no MLLP start block" in reason(replies[1])
    assert "longer than 4096 bytes" in reason(replies[3])
    assert listener.census.counts() == counts(yellow=1)


async def test_a_peer_that_leaves_mid_message_does_not_stop_the_server(listener: Listener) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(START_BLOCK + adt("A04", "H1").encode()[:40])
    await writer.drain()
    await closing(writer)
    replies = await raw_exchange(listener.port, framed(adt("A04", "H2")), replies=1)
    assert msa(replies[0]) == ("AA", "H2")


async def test_a_failed_publish_is_retried_with_the_next_message(listener: Listener) -> None:
    reader, writer = await listener.connect()
    try:
        listener.failing = True
        assert msa(await listener.exchange(reader, writer, adt("A04", "P1"))) == ("AA", "P1")
        assert listener.published == []
        listener.failing = False
        assert msa(await listener.exchange(reader, writer, adt("A08", "P2"))) == ("AA", "P2")  # no change in counts
        assert listener.published == [(HOSPITAL, counts(yellow=1))]
    finally:
        await closing(writer)


async def test_concurrent_feeds_publish_the_latest_census_last() -> None:
    listener = Listener(EdCensus(hospital=HOSPITAL, ed_location="ED", facility="MERCY"), slow=True)
    server = await started(listener)

    async def feed(n: int) -> None:
        reader, writer = await listener.connect()
        try:
            for i in range(10):
                reply = await listener.exchange(reader, writer, adt("A04", f"C{n}-{i}").replace("MRN1", f"MRN{n}-{i}"))
                assert msa(reply)[0] == "AA"
        finally:
            await closing(writer)

    try:
        await asyncio.gather(*(feed(n) for n in range(8)))
    finally:
        server.close()
        await server.wait_closed()
    assert listener.census.counts() == counts(yellow=80)
    assert listener.published[-1] == (HOSPITAL, counts(yellow=80))
