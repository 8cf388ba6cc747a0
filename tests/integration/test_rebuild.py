"""Redis restarted empty: the live state comes back from PostgreSQL (real servers; the suite's Redis is flushed, which
is what a Redis restarted without its data holds). A tablet message that arrives before the rebuild is taken, never
refused as ``not_assigned``; a dashboard that resumes from an id of the lost Redis is told ``reset`` and gets the
patient's whole history again; the hospital statuses, the unit's seq and its incident come back."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from dispatch.live import incident_key, unit_key
from dispatch.rebuild import MARKER
from prealert.harness import Backends, Service
from tests.conftest import REGION, make_scene, redis_of, token


async def flush_redis(backends: Backends) -> None:
    redis = redis_of(backends)
    try:
        await redis.flushall()  # every master of a Cluster
    finally:
        await redis.aclose()


async def wait_rebuilt(backends: Backends) -> None:
    redis = redis_of(backends)
    try:
        async with asyncio.timeout(30):
            while not await redis.exists(MARKER):  # noqa: ASYNC110 - another process's key: polled
                await asyncio.sleep(0.05)
    finally:
        await redis.aclose()


async def statuses(service: Service) -> dict[str, object]:
    headers = {"authorization": f"Bearer {token('dispatcher', REGION)}"}
    async with httpx.AsyncClient(base_url=service.http, headers=headers, timeout=10) as client:
        reply = await client.get("/v1/hospitals/status")
    assert reply.status_code == 200, reply.text
    return {h["hospital"]: h for h in reply.json()}


async def test_redis_restarted_empty_is_rebuilt_from_postgresql(
    service: Service, backends: Backends, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    before = await statuses(service)
    tablet = scene.tablet()
    await tablet.connect()
    first = await tablet.send(scene.vitals(hr=101, sbp=95))
    await tablet.wait_acked(first)
    ed = {"authorization": f"Bearer {token('ed', scene.hospital)}"}
    async with httpx.AsyncClient(base_url=service.http, headers=ed, timeout=10) as client:
        acked = await client.post(
            f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/ack", json={"note": "bay 3"}
        )
    assert acked.status_code == 200, acked.text
    dashboard = scene.dashboard()
    await dashboard.connect()
    await dashboard.wait(lambda: bool(dashboard.bodies("ed_ack")))
    resume_from = dashboard.last_id
    await dashboard.close()

    await flush_redis(backends)
    # The crew goes on at once: before the rebuild (or while it runs) the message must be taken, not refused
    second = await tablet.send(scene.vitals(hr=118, sbp=88))
    await tablet.wait_acked(second)
    assert not tablet.errors
    await wait_rebuilt(backends)

    again = scene.dashboard(last_id=resume_from)
    await again.connect()
    await again.wait(lambda: {b.get("hr") for b in again.bodies("vitals", scene.unit)} >= {101, 118})
    assert again.resets == 1  # its id belonged to the lost Redis: told to start over, not resumed into a gap
    assert [b["note"] for b in again.bodies("ed_ack")] == ["bay 3"]
    assert any(b["id"] == scene.incident and b["destination"] == scene.hospital for b in again.bodies("incident"))
    latest = [e for _, e in again.events if e["unit"] == scene.unit and e["body"]["type"] == "vitals"][-1]
    assert latest["derived"]["latest"]["hr"] == 118  # the merged latest state came back with the history

    assert await statuses(service) == before
    fresh = scene.tablet()
    hello = await fresh.connect()
    assert hello["last_seq"] == second
    assert hello["incident"]["id"] == scene.incident
    stored = await db.fetch("SELECT seq, body->>'hr' AS hr FROM events WHERE unit = $1 ORDER BY seq", scene.unit)
    assert [(r["seq"], r["hr"]) for r in stored] == [(first, "101"), (second, "118")]
    await fresh.close()
    await tablet.close()
    await again.close()


async def test_a_message_for_an_incident_redis_forgot_is_taken_and_the_incident_restored(
    service: Service, backends: Backends, db: asyncpg.Pool
) -> None:
    """Only this incident and its unit forgotten (no rebuild runs: the marker stays): the record says the unit is
    assigned, so the message is taken and the incident restored for its ED."""
    scene = await make_scene(service)
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.wait_acked(await tablet.send(scene.vitals(hr=90)))
    redis = redis_of(backends)
    try:
        forgotten = [unit_key(scene.unit), unit_key(scene.unit, "incidents"), incident_key(scene.incident),
                     incident_key(scene.incident, "events")]  # fmt: skip
        for key in forgotten:
            assert await redis.delete(key) == 1
    finally:
        await redis.aclose()

    seq = await tablet.send(scene.vitals(hr=97))
    await tablet.wait_acked(seq)
    assert not tablet.errors
    dashboard = scene.dashboard()
    await dashboard.connect()
    await dashboard.wait(lambda: 97 in {b.get("hr") for b in dashboard.bodies("vitals", scene.unit)})
    stored = await db.fetch("SELECT body->>'hr' AS hr FROM events WHERE unit = $1 ORDER BY seq", scene.unit)
    assert [r["hr"] for r in stored] == ["90", "97"]
    await tablet.close()
    await dashboard.close()


async def test_a_unit_not_assigned_in_the_record_is_still_refused(service: Service, db: asyncpg.Pool) -> None:
    scene = await make_scene(service)
    other = await make_scene(service)
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send({**scene.vitals(hr=90), "incident": other.incident})
    await tablet.wait(lambda: bool(tablet.errors))
    assert tablet.errors[0]["code"] == "not_assigned"
    assert await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", scene.unit) == 0
    await tablet.close()
