"""A tablet whose clock runs minutes off: it says its clock when it connects (``?clock=``), its times are judged
against that clock and kept as it stamped them, and the record's order is the server's (``received_at``, stream
ids). Without ``clock`` the server's own clock judges, and a reading stamped 10 minutes ahead is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.protocol import CloseCode
from prealert.client import subprotocols
from prealert.harness import Service
from tests.conftest import Scene, iso, make_scene, token


@pytest.fixture
async def scene(service: Service) -> Scene:
    return await make_scene(service)


async def test_a_tablet_ten_minutes_ahead_has_its_readings_kept_as_stamped(scene: Scene, db: asyncpg.Pool) -> None:
    ahead = scene.tablet()
    ahead.skew = timedelta(minutes=10)
    behind = scene.tablet()  # the unit's second device (a monitor), as far behind
    behind.skew = timedelta(minutes=-10)
    await ahead.connect()
    await behind.connect()
    first = await ahead.send(scene.vitals(hr=91, taken_at=iso(ahead.now())))
    await ahead.wait(lambda: ahead.acked >= first)
    second = await behind.send(scene.vitals(hr=92, taken_at=iso(behind.now())))
    await behind.wait(lambda: behind.acked >= second)
    assert ahead.errors == [] and behind.errors == []
    rows = await db.fetch(
        "SELECT (body->>'hr')::int AS hr, (body->>'taken_at')::timestamptz AS taken_at, received_at FROM events "
        "WHERE unit = $1 ORDER BY received_at",
        scene.unit,
    )
    assert [r["hr"] for r in rows] == [91, 92]  # the server's order, though the second was stamped 20 min earlier
    assert rows[0]["taken_at"] - rows[0]["received_at"] > timedelta(minutes=9)
    assert rows[1]["received_at"] - rows[1]["taken_at"] > timedelta(minutes=9)
    await ahead.close()
    await behind.close()


async def test_a_time_ahead_of_the_tablets_own_clock_is_still_refused(scene: Scene) -> None:
    tablet = scene.tablet()
    tablet.skew = timedelta(minutes=10)
    await tablet.connect()
    seq = await tablet.send(scene.vitals(hr=93, taken_at=iso(tablet.now() + timedelta(minutes=6))))
    await tablet.wait(lambda: any(e.get("seq") == seq for e in tablet.errors))
    assert (tablet.errors[0]["code"], tablet.errors[0]["field"]) == ("implausible", "taken_at")
    await tablet.close()


async def test_without_its_clock_a_reading_ten_minutes_ahead_is_refused(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/units/{scene.unit}/socket"
    async with connect(url, subprotocols=subprotocols(token("paramedic", scene.unit))) as ws:
        hello = msgspec.json.decode(await ws.recv())
        later = iso(datetime.now(UTC) + timedelta(minutes=10))
        seq = hello["last_seq"] + 1
        await ws.send(f'{{"type":"vitals","seq":{seq},"incident":{scene.incident},"taken_at":"{later}","hr":90}}')
        async with asyncio.timeout(10):
            while (reply := msgspec.json.decode(await ws.recv()))["type"] != "error":
                pass  # the incident's recommendation, sent after hello
    assert (reply["code"], reply["field"], reply["seq"]) == ("implausible", "taken_at", seq)


async def test_a_malformed_clock_closes_the_socket_with_4400(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/units/{scene.unit}/socket?clock=half-past-nine"
    async with connect(url, subprotocols=subprotocols(token("paramedic", scene.unit))) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.BAD_REQUEST
    assert "clock" in closed.value.rcvd.reason
