"""Graceful drain on SIGTERM: not ready at once, open sockets still served for the grace, then closed with 1001;
the tablet reconnects to another process and nothing is lost or stored twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prealert.client import TabletClient
from prealert.harness import Backends, Service
from tests.conftest import make_scene, start_service, token


@pytest.fixture
def draining(backends: Backends, tmp_path: Path) -> Iterator[Service]:
    service = start_service(backends, tmp_path / "draining", PREALERT_DRAIN_GRACE_S="1.5")
    yield service
    service.stop()


async def test_sigterm_drains_then_closes_with_1001_and_nothing_is_lost(
    service: Service, draining: Service, db: object
) -> None:
    scene = await make_scene(draining)
    tablet = TabletClient(draining.ws, scene.unit, token("paramedic", scene.unit))
    await tablet.connect()
    first = await tablet.send(scene.vitals(hr=101))
    await tablet.wait_acked(first)

    draining.process.send_signal(signal.SIGTERM)
    async with httpx.AsyncClient(base_url=draining.http, timeout=5) as client:
        deadline = time.monotonic() + 5
        while (ready := await client.get("/readyz")).status_code == 200 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert ready.status_code == 503 and ready.json()["draining"] is True
        assert (await client.get("/healthz")).status_code == 200  # alive, only not taking new clients
    during = await tablet.send(scene.vitals(hr=102))  # still served during the grace
    await tablet.wait_acked(during)
    await tablet.wait(lambda: tablet.close_code is not None, timeout=10)
    assert tablet.close_code == 1001  # going away: reconnect
    await tablet.disconnected()
    offline = await tablet.send(scene.vitals(hr=103))  # entered while the tablet had no connection

    tablet.ws_base = service.ws  # the load balancer sends it to a process that is not stopping
    await tablet.connect()
    await tablet.wait_acked(offline)
    try:
        code = draining.process.wait(15)
    except subprocess.TimeoutExpired:
        draining.process.send_signal(signal.SIGUSR1)  # it prints what each of its tasks is waiting on
        await asyncio.sleep(1)
        pytest.fail(f"the draining process did not exit within 15 s:\n{draining.log_path.read_text()[-8000:]}")
    assert code == 0

    rows = await db.fetch(  # type: ignore[attr-defined]
        "SELECT (body->>'hr')::int AS hr FROM events WHERE unit = $1 AND type = 'vitals' ORDER BY seq", scene.unit
    )
    assert [r["hr"] for r in rows] == [101, 102, 103]
    await tablet.close()
