"""The foundation's guarantees, end to end over real sockets, Redis and PostgreSQL: every vitals set a tablet sends
is stored once, acked, and delivered once and in order to the destination's dashboard, through cuts and resumes and
across processes."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import httpx
import msgspec

from dispatch.protocol import CloseCode
from prealert.client import DashboardClient
from prealert.harness import Backends, Service
from tests.conftest import iso, make_scene, start_service, token

N = 1000


async def stored_seqs(db: asyncpg.Pool, unit: str) -> list[int]:
    rows = await db.fetch("SELECT seq FROM events WHERE unit = $1 ORDER BY seq", unit)
    return [r["seq"] for r in rows]


def delivered_seqs(dashboard: DashboardClient, unit: str) -> list[int]:
    return [e["seq"] for _, e in dashboard.events if e["unit"] == unit and e["body"]["type"] == "vitals"]


async def test_thousand_vitals_stored_acked_and_delivered_in_order(service: Service, db: asyncpg.Pool) -> None:
    scene = await make_scene(service)
    dashboard = scene.dashboard()
    await dashboard.connect()
    tablet = scene.tablet()
    hello = await tablet.connect()
    assert hello["last_seq"] == 0 and hello["incident"]["id"] == scene.incident
    for i in range(N):
        await tablet.send(scene.vitals(hr=60 + i % 100, spo2=95))
    await tablet.wait_acked(N)
    await dashboard.wait(lambda: len(delivered_seqs(dashboard, scene.unit)) >= N)

    assert delivered_seqs(dashboard, scene.unit) == list(range(1, N + 1))
    assert await stored_seqs(db, scene.unit) == list(range(1, N + 1))
    assert tablet.acked == N and not tablet.outbox and not tablet.errors
    last = dashboard.bodies("vitals", scene.unit)[-1]
    assert last["hr"] == 60 + (N - 1) % 100
    await tablet.close()
    await dashboard.close()


async def test_cut_mid_stream_then_resend_from_outbox_stores_and_delivers_once(
    service: Service, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    dashboard = scene.dashboard()
    await dashboard.connect()
    tablet = scene.tablet()
    await tablet.connect()
    for i in range(N):
        await tablet.send(scene.vitals(hr=70, rr=10 + i % 20))
        if i in (250, 600):
            await tablet.abort()  # lost signal: unacked messages stay in the outbox
        if i in (400, 800):
            hello = await tablet.connect()  # resends everything after hello's last_seq
            assert hello["last_seq"] <= i + 1
    await tablet.wait_acked(N)
    await dashboard.wait(lambda: len(delivered_seqs(dashboard, scene.unit)) >= N)

    assert await stored_seqs(db, scene.unit) == list(range(1, N + 1))
    got = delivered_seqs(dashboard, scene.unit)
    assert got == list(range(1, N + 1)), [(i, s) for i, s in enumerate(got) if s != i + 1][:20]
    await tablet.close()
    await dashboard.close()


async def test_repeated_seq_is_acked_not_stored_again(service: Service, db: asyncpg.Pool) -> None:
    scene = await make_scene(service)
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send(scene.vitals(hr=80))
    await tablet.wait_acked(1)
    repeat = tablet.outbox.get(1)
    assert repeat is None  # acked, so gone from the outbox: resend it by hand, as a confused tablet would
    await tablet.send_raw(
        msgspec.json.encode({"type": "vitals", "seq": 1, "incident": scene.incident, "taken_at": iso(), "hr": 99})
    )
    await tablet.send(scene.vitals(hr=81))
    await tablet.wait_acked(2)
    rows = await db.fetch("SELECT seq, body->>'hr' AS hr FROM events WHERE unit = $1 ORDER BY seq", scene.unit)
    assert [(r["seq"], r["hr"]) for r in rows] == [(1, "80"), (2, "81")]
    assert tablet.errors == []
    await tablet.close()


async def test_dashboard_resumes_from_last_id_with_no_gap_or_duplicate(service: Service) -> None:
    scene = await make_scene(service)
    tablet = scene.tablet()
    await tablet.connect()
    dashboard = scene.dashboard()
    await dashboard.connect()
    for _ in range(300):
        await tablet.send(scene.vitals(hr=90))
    await dashboard.wait(lambda: len(delivered_seqs(dashboard, scene.unit)) >= 300)
    await dashboard.close()  # away while the patient keeps streaming
    for _ in range(400):
        await tablet.send(scene.vitals(hr=91))
    await tablet.wait_acked(700)
    resumed = scene.dashboard(last_id=dashboard.last_id)
    await resumed.connect()
    await resumed.wait(lambda: len(delivered_seqs(resumed, scene.unit)) >= 400)
    for _ in range(100):
        await tablet.send(scene.vitals(hr=92))
    await resumed.wait(lambda: len(delivered_seqs(resumed, scene.unit)) >= 500)

    assert delivered_seqs(dashboard, scene.unit) == list(range(1, 301))
    assert delivered_seqs(resumed, scene.unit) == list(range(301, 801))
    ids = [i for i, _ in dashboard.events + resumed.events]
    assert len(ids) == len(set(ids))
    await tablet.close()
    await resumed.close()


async def test_two_processes_tablet_on_one_dashboard_on_the_other(
    service: Service, backends: Backends, db: asyncpg.Pool, tmp_path: Path
) -> None:
    other = start_service(backends, tmp_path / "second")
    try:
        scene = await make_scene(service)
        dashboard = scene.dashboard(other)
        await dashboard.connect()
        tablet = scene.tablet(service)
        await tablet.connect()
        for _ in range(N):
            await tablet.send(scene.vitals(sbp=120, dbp=80))
        await tablet.wait_acked(N)
        await dashboard.wait(lambda: len(delivered_seqs(dashboard, scene.unit)) >= N)
        # The tablet moves to the other process mid-incident: its hello knows where it stopped.
        await tablet.close()
        moved = scene.tablet(other)
        assert (await moved.connect())["last_seq"] == N
        await moved.send(scene.vitals(sbp=118, dbp=79))
        await moved.wait_acked(N + 1)
        await dashboard.wait(lambda: len(delivered_seqs(dashboard, scene.unit)) >= N + 1)

        assert delivered_seqs(dashboard, scene.unit) == list(range(1, N + 2))
        assert await stored_seqs(db, scene.unit) == list(range(1, N + 2))
        await moved.close()
        await dashboard.close()
    finally:
        other.stop()


async def test_derived_state_comes_with_each_event(service: Service) -> None:
    scene = await make_scene(service)
    dashboard = scene.dashboard()
    await dashboard.connect()
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send(scene.vitals(hr=120, sbp=100, dbp=60, rr=24, spo2=93, on_oxygen=False, avpu="A", temp_c=38.5))
    await tablet.send(
        {
            "type": "position",
            "incident": scene.incident,
            "taken_at": scene.vitals()["taken_at"],
            "lat": 40.4450,
            "lon": -79.9850,
        }
    )
    await dashboard.wait(lambda: len(dashboard.bodies("position", scene.unit)) == 1)
    events = [e for _, e in dashboard.events if e["unit"] == scene.unit and e["body"]["type"] != "incident"]
    vitals, position = events
    # NEWS2: rr 24 -> 2, spo2 93 -> 2, air 0, sbp 100 -> 2, hr 120 -> 2, alert 0, temp 38.5 -> 1
    assert vitals["derived"]["news2"] == {"score": 9, "band": "high", "partial": False, "missing": []}
    assert vitals["derived"]["shock_index"] == {"value": 1.2, "klass": "1.0-<1.4"}
    # UPMC Mercy is at 40.436099, -79.985114: about 990 m south of the position.
    assert 950 <= position["derived"]["distance_m"] <= 1030
    assert position["derived"]["eta_s"] > 0
    assert position["derived"]["news2"]["score"] == 9  # the latest vitals carry on
    await tablet.close()
    await dashboard.close()


async def test_a_flooding_tablet_is_slowed_down_and_loses_nothing(
    backends: Backends, db: asyncpg.Pool, tmp_path: Path
) -> None:
    # 100/s: well below what one socket's frames are processed at, so the bucket, not the server's own pace, is
    # what slows the flood (at 200/s a slow machine's CI barely throttled: 0.13 s)
    strict = start_service(backends, tmp_path / "strict", PREALERT_TABLET_RATE_PER_S="100", PREALERT_TABLET_BURST="20")
    try:
        scene = await make_scene(strict)
        tablet = scene.tablet()
        await tablet.connect()
        for _ in range(300):  # as fast as the socket takes them: fifteen times the burst
            await tablet.send(scene.vitals(hr=100))
        await tablet.wait_acked(300)
        assert await stored_seqs(db, scene.unit) == list(range(1, 301))
        assert tablet.errors == []
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{strict.http}/metrics")).text
        throttled = next(line for line in metrics.splitlines() if line.startswith("prealert_tablet_throttled_seconds"))
        assert float(throttled.split()[-1]) > 1.0  # 280 frames over the burst at 100/s: about 2.8 s of not reading
        await tablet.close()
    finally:
        strict.stop()


async def test_a_slow_dashboard_does_not_hold_back_the_others_and_loses_nothing(
    backends: Backends, tmp_path: Path
) -> None:
    small = start_service(backends, tmp_path / "small-queue", PREALERT_DASHBOARD_QUEUE="5")
    try:
        scene = await make_scene(small)
        tablet = scene.tablet()
        await tablet.connect()
        now_id = f"{int(time.time() * 1000)}-0"  # from now on: not the feed's history of earlier tests
        fast = DashboardClient(small.ws, scene.hospital, token("ed", scene.hospital), last_id=now_id)
        slow = DashboardClient(small.ws, scene.hospital, token("ed", scene.hospital), last_id=now_id)
        await fast.connect()
        await slow.connect()
        slow.read_delay_s = 0.05  # a screen that reads 20 events a second while hundreds arrive
        total = 2000
        for _ in range(total):
            await tablet.send(scene.vitals(hr=61))
        await fast.wait(lambda: len(delivered_seqs(fast, scene.unit)) >= total)
        assert delivered_seqs(fast, scene.unit) == list(range(1, total + 1))
        assert len(delivered_seqs(slow, scene.unit)) < total  # it is still far behind when the fast one is done
        # It catches up: directly, or (if the server gave up on it: 4408) by resuming from its last id.
        slow.read_delay_s = 0.0
        await slow.wait(lambda: len(delivered_seqs(slow, scene.unit)) >= total or slow.close_code is not None)
        seqs = delivered_seqs(slow, scene.unit)
        if slow.close_code is not None:
            assert slow.close_code == CloseCode.TOO_SLOW
            resumed = DashboardClient(small.ws, scene.hospital, token("ed", scene.hospital), last_id=slow.last_id)
            await resumed.connect()
            await resumed.wait(lambda: len(seqs) + len(delivered_seqs(resumed, scene.unit)) >= total)
            seqs += delivered_seqs(resumed, scene.unit)
            await resumed.close()
        assert seqs == list(range(1, total + 1))
        for client in (fast, slow):
            await client.close()
        await tablet.close()
    finally:
        small.stop()
