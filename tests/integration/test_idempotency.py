"""Nothing entered twice, nothing lost, across devices: every tablet message carries a ``uid`` made when it was
entered, and the server stores each uid once per unit whatever seq it arrives under. A message sent under a seq that
another device of the unit already used is answered ``seq_taken`` and resent under a fresh seq, never taken for a
repeat. Real sockets, real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
import pytest
from redis.exceptions import ResponseError

from dispatch.live import Live, incident_key, unit_key
from prealert.client import TabletClient, new_uid
from prealert.harness import Backends, Service
from tests.conftest import Scene, iso, make_scene, redis_of


@pytest.fixture
async def scene(service: Service) -> Scene:
    return await make_scene(service)


async def stored(db: asyncpg.Pool, unit: str) -> list[tuple[int, str | None, str | None]]:
    rows = await db.fetch("SELECT seq, uid, body->>'hr' AS hr FROM events WHERE unit = $1 ORDER BY seq", unit)
    return [(r["seq"], r["uid"], r["hr"]) for r in rows]


async def test_a_message_resent_under_a_new_seq_is_stored_once(scene: Scene, db: asyncpg.Pool) -> None:
    tablet = scene.tablet()
    await tablet.connect()
    uid = new_uid()
    first = await tablet.send({**scene.vitals(hr=81), "uid": uid})
    again = await tablet.send({**scene.vitals(hr=81), "uid": uid})  # the same entry, renumbered by a tablet
    await tablet.wait_acked(again)

    assert await stored(db, scene.unit) == [(first, uid, "81")]
    assert not tablet.outbox and not tablet.errors
    await tablet.close()


async def stored_bodies(db: asyncpg.Pool, unit: str) -> dict[int, bytes]:
    rows = await db.fetch("SELECT seq, body::text AS body FROM events WHERE unit = $1", unit)
    return {r["seq"]: r["body"].encode() for r in rows}


async def test_resent_outbox_after_reconnect_is_acked_from_what_postgres_holds(scene: Scene, db: asyncpg.Pool) -> None:
    tablet = scene.tablet()
    await tablet.connect()
    seqs = [await tablet.send(scene.vitals(hr=70 + i)) for i in range(5)]
    await tablet.wait_acked(seqs[-1])
    await tablet.abort()
    # A tablet that never saw the acks resends all five under their own seq and uid: acked, not stored again.
    resend = scene.tablet()
    resend.outbox.update(await stored_bodies(db, scene.unit))
    resend.next_seq = seqs[-1] + 1
    await resend.connect()
    await resend.wait(lambda: not resend.outbox)

    assert [hr for _, _, hr in await stored(db, scene.unit)] == ["70", "71", "72", "73", "74"]
    assert resend.renumbered == 0 and not resend.errors
    await resend.close()


async def test_switching_tablets_loses_nothing_and_stores_nothing_twice(scene: Scene, db: asyncpg.Pool) -> None:
    # Tablet A sends two sets, then loses signal with a third still unsent.
    a = scene.tablet()
    await a.connect()
    await a.send(scene.vitals(hr=100))
    await a.wait_acked(await a.send(scene.vitals(hr=101)))
    await a.abort()
    await a.send(scene.vitals(hr=102))  # seq 3, in A's outbox only
    # The crew picks up tablet B (empty storage): it learns seq 2 from hello and uses seq 3 for its own entry.
    b = scene.tablet()
    hello = await b.connect()
    assert hello["last_seq"] == 2
    assert await b.send(scene.vitals(hr=200)) == 3
    await b.wait_acked(3)
    # A comes back: its seq 3 is B's already; it is told so, and resends its set under a fresh seq.
    await a.connect()
    await a.wait(lambda: not a.outbox)

    assert a.renumbered == 1 and not a.errors
    rows = [(seq, hr) for seq, _, hr in await stored(db, scene.unit)]
    assert rows == [(1, "100"), (2, "101"), (3, "200"), (4, "102")]
    await a.close()
    await b.close()


async def test_cleared_storage_offline_entries_are_renumbered_not_swallowed(scene: Scene, db: asyncpg.Pool) -> None:
    before = scene.tablet()
    await before.connect()
    for hr in (60, 61, 62):
        await before.send(scene.vitals(hr=hr))
    await before.wait_acked(3)
    await before.close()
    # Storage cleared while offline: the page starts counting from 1 again before it has heard the server.
    fresh = scene.tablet()
    for hr in (90, 91):
        await fresh.send(scene.vitals(hr=hr))
    assert sorted(fresh.outbox) == [1, 2]
    await fresh.connect()
    await fresh.wait(lambda: not fresh.outbox)

    assert fresh.renumbered == 2 and not fresh.errors
    assert [hr for _, _, hr in await stored(db, scene.unit)] == ["60", "61", "62", "90", "91"]
    await fresh.close()


async def test_a_uid_is_stored_once_when_redis_forgot_it(scene: Scene, db: asyncpg.Pool, backends: Backends) -> None:
    tablet = scene.tablet()
    await tablet.connect()
    uid = new_uid()
    first = await tablet.send({**scene.vitals(hr=77), "uid": uid})
    await tablet.wait_acked(first)
    redis = redis_of(backends)
    try:
        assert await redis.delete(unit_key(scene.unit, "uid", uid)) == 1
    finally:
        await redis.aclose()
    again = await tablet.send({**scene.vitals(hr=77), "uid": uid})
    await tablet.wait_acked(again)

    assert await stored(db, scene.unit) == [(first, uid, "77")]
    await tablet.close()


async def test_the_units_other_tablets_see_the_monitor_numerics_with_the_servers_scores(service: Service) -> None:
    scene = await make_scene(service)
    crew = scene.tablet()
    await crew.connect()
    monitor = TabletClient(scene.tablet().ws_base, scene.unit, scene.tablet().token)
    await monitor.connect()
    await monitor.send({**scene.vitals(hr=131, sbp=86, rr=26, spo2=90), "source": "monitor"})
    await crew.wait(lambda: crew.patient is not None and crew.patient["derived"]["latest"].get("hr") == 131)

    assert crew.patient is not None
    derived = crew.patient["derived"]
    assert crew.patient["incident"] == scene.incident
    assert derived["latest"]["source"] == "monitor"
    assert derived["shock_index"]["value"] == 1.52  # 131 / 86 = 1.523
    assert derived["news2"]["partial"] is True  # no ACVPU, temperature or oxygen flag yet
    await crew.send({**scene.vitals(avpu="A", temp_c=37.0, on_oxygen=False, taken_at=iso())})
    await crew.wait(lambda: crew.patient is not None and crew.patient["derived"]["latest"].get("source") == "manual")
    assert crew.patient["derived"]["news2"]["partial"] is False
    await crew.close()
    await monitor.close()


async def test_two_devices_on_one_seq_after_redis_forgot_both_are_kept(
    scene: Scene, db: asyncpg.Pool, backends: Backends
) -> None:
    a, b = scene.tablet(), scene.tablet()
    await a.connect()
    await b.connect()  # both start from the same last_seq
    await a.wait_acked(await a.send(scene.vitals(hr=61)))
    redis = redis_of(backends)
    try:  # Redis restarted empty, as far as this unit goes: only PostgreSQL knows seq 1 is taken
        assert await redis.hdel(unit_key(scene.unit), "seq") == 1
    finally:
        await redis.aclose()
    assert await b.send(scene.vitals(hr=62)) == 1  # the same seq, another message
    await b.wait(lambda: not b.outbox)

    assert b.renumbered == 1 and not b.errors  # told seq_taken by the writer, resent under seq 2
    assert [(seq, hr) for seq, _, hr in await stored(db, scene.unit)] == [(1, "61"), (2, "62")]
    await a.close()
    await b.close()


async def claim_as_a_process_that_died(backends: Backends, unit: str, seq: int, uid: str, *, ago_ms: int) -> None:
    """What a process leaves when it is killed between its claim of the seq and the feeds (``Live.ingest``)."""
    redis = redis_of(backends)
    try:
        now_ms = int(time.time() * 1000)
        await redis.hset(unit_key(unit), "seq", seq)
        await redis.set(unit_key(unit, "uid", uid), seq)
        await redis.hset(unit_key(unit, "pending"), str(seq), now_ms - ago_ms)
    finally:
        await redis.aclose()


ONE_SCRIPT = "on one Redis the fan-out is one atomic script: no process can die midway through it"


@pytest.mark.skipif(os.environ.get("PREALERT_TEST_REDIS_CLUSTER") != "1", reason=ONE_SCRIPT)
async def test_a_fan_out_cut_short_by_a_dead_process_is_finished_by_the_resend(
    scene: Scene, db: asyncpg.Pool, backends: Backends
) -> None:
    ed = scene.dashboard()
    await ed.connect()
    tablet = scene.tablet()
    await tablet.connect()
    uid = new_uid()
    await claim_as_a_process_that_died(backends, scene.unit, tablet.next_seq, uid, ago_ms=5_000)

    seq = await tablet.send({**scene.vitals(hr=143), "uid": uid})
    await tablet.wait_acked(seq)
    await ed.wait(lambda: any(b.get("hr") == 143 for b in ed.bodies("vitals", scene.unit)))

    assert await stored(db, scene.unit) == [(seq, uid, "143")]
    redis = redis_of(backends)
    try:
        assert await redis.hlen(unit_key(scene.unit, "pending")) == 0  # the fan-out ended
    finally:
        await redis.aclose()
    await tablet.close()
    await ed.close()


@pytest.mark.skipif(os.environ.get("PREALERT_TEST_REDIS_CLUSTER") != "1", reason=ONE_SCRIPT)
async def test_a_resend_of_a_fan_out_just_begun_waits_out_its_lease_then_finishes_it(
    scene: Scene, db: asyncpg.Pool, backends: Backends
) -> None:
    """A mark that is young may be a fan-out still running: the resend waits, and when the mark outlives its lease
    (its process died just after the claim) the resend takes the fan-out over. Nothing claimed is left out."""
    ed = scene.dashboard()
    await ed.connect()
    tablet = scene.tablet()
    await tablet.connect()
    uid = new_uid()
    await claim_as_a_process_that_died(backends, scene.unit, tablet.next_seq, uid, ago_ms=0)  # just now
    seq = await tablet.send({**scene.vitals(hr=144), "uid": uid})
    await tablet.wait_acked(seq)
    await ed.wait(lambda: any(b.get("hr") == 144 for b in ed.bodies("vitals", scene.unit)))

    assert await stored(db, scene.unit) == [(seq, uid, "144")]
    assert [e["seq"] for _, e in ed.events if e["unit"] == scene.unit and e["body"]["type"] == "vitals"] == [seq]
    await tablet.close()
    await ed.close()


async def test_one_message_sent_on_two_sockets_at_once_reaches_the_feed_once(scene: Scene, db: asyncpg.Pool) -> None:
    """A link cut mid-message: the tablet's new socket resends while the old socket's fan-out still runs. The
    resend must wait for that fan-out, not run a second one (on a Cluster the fan-out is three steps, not one
    script). Twenty messages, each sent on both sockets together."""
    ed = scene.dashboard()
    await ed.connect()
    a, b = scene.tablet(), scene.tablet()
    await a.connect()
    await b.connect()
    for i in range(20):
        uid = new_uid()
        message = {**scene.vitals(hr=100 + i), "uid": uid}
        sent = await asyncio.gather(a.send(message), b.send(message))
        assert sent[0] == sent[1]  # one entry: the same seq and uid on both sockets
        await asyncio.gather(a.wait_acked(sent[0]), b.wait_acked(sent[1]))
    # Both sockets were acked for each message, so both fan-outs had ended: a second copy would be in the feed
    # before this last message, which goes on one socket only.
    await a.wait_acked(await a.send(scene.vitals(hr=99)))
    await ed.wait(lambda: any(body["hr"] == 99 for body in ed.bodies("vitals", scene.unit)))

    assert [int(body["hr"]) for body in ed.bodies("vitals", scene.unit)] == [100 + i for i in range(20)] + [99]
    assert [hr for _, _, hr in await stored(db, scene.unit)] == [str(100 + i) for i in range(20)] + ["99"]
    assert not a.errors and not b.errors
    await a.close()
    await b.close()
    await ed.close()


@pytest.mark.skipif(os.environ.get("PREALERT_TEST_REDIS_CLUSTER") != "1", reason=ONE_SCRIPT)
async def test_a_fan_out_whose_redis_call_failed_gives_its_lease_up_so_the_resend_takes_over_at_once(
    backends: Backends,
) -> None:
    """The incident's stream is made unwritable (a key of the wrong type: Redis refuses the step, nothing faked):
    the fan-out fails after its claim and sets its mark to 0, so the tablet's resend finds it given up, not in
    flight, and finishes it."""
    redis = redis_of(backends)
    live = Live(redis)
    unit, incident, uid = f"LEASE{new_uid()[:8]}", 970_000 + int(time.time()) % 10_000, new_uid()
    message = {"unit": unit, "seq": 1, "incident": incident, "event": b'{"type":"vitals"}', "latest": None,
               "unit_field": "", "unit_value": b"", "region": "lease-test", "uid": uid}  # fmt: skip
    try:
        await redis.sadd(unit_key(unit, "incidents"), str(incident))
        await redis.set(incident_key(incident, "events"), "not a stream")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await live.ingest(**message)  # type: ignore[arg-type]
        assert await redis.hget(unit_key(unit, "pending"), "1") == b"0"  # given up, not left to its lease

        await redis.delete(incident_key(incident, "events"))
        resent = await live.ingest(**message)  # type: ignore[arg-type]
        assert resent.verdict == "ok" and resent.resumed
        assert await redis.hlen(unit_key(unit, "pending")) == 0
        assert await redis.xlen(incident_key(incident, "events")) == 1
    finally:
        await redis.aclose()
