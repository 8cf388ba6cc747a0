"""prealert's own scenarios beyond steady load: a reconnect storm, ten thousand idle sockets, a slow dashboard."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import asyncpg
import psutil
from websockets.exceptions import InvalidHandshake

from loadtests.sidebyside.systems import Prealert, hospital_ids, vitals_fields
from loadtests.sidebyside.workloads import quantile, run_load
from prealert.client import DashboardClient, TabletClient
from prealert.harness import Backends
from tests.conftest import token


def say(text: str) -> None:
    print(f"  {text}", flush=True)


async def run_all(
    system: Prealert, chosen: list[str], pids: dict[str, list[int]], backends: Backends
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "storm" in chosen:
        out["reconnect storm (2,000 tablets)"] = await storm(system, backends)
        print(f"  storm: {out['reconnect storm (2,000 tablets)']}", flush=True)
    if "idle" in chosen:
        out["idle sockets (10,000)"] = await idle(system)
        print(f"  idle: {out['idle sockets (10,000)']}", flush=True)
    if "slow" in chosen:
        out["slow consumer"] = await slow(system, pids)
        print(f"  slow: {out['slow consumer']}", flush=True)
    return out


async def storm(system: Prealert, backends: Backends, tablets: int = 2000, prefix: str = "S") -> dict[str, Any]:
    """Every tablet connected and acked; all drop at once; each enters two more sets while offline; all reconnect
    within one second and resend their outbox. Counted: time until every outbox is acked, and PostgreSQL's rows per
    unit (each message exactly once) and the dashboards' deliveries (each exactly once). ``prefix`` names the units,
    so that two storms in one run (one Redis, then a Cluster) share no unit in PostgreSQL."""
    eds = hospital_ids(50)
    units = [f"{prefix}{i:04d}" for i in range(tablets)]
    destination = {u: eds[i % len(eds)] for i, u in enumerate(units)}
    await system.prepare(units, destination)
    say(f"storm: {tablets} incidents ready")
    received: Counter[str] = Counter()
    dashboards = []
    for i, ed in enumerate(eds):
        client = DashboardClient(system.services[i % len(system.services)].ws, ed, token("ed", ed), last_id="now")

        def on_event(_id: str, event: dict[str, Any]) -> None:
            if event["body"]["type"] == "vitals":
                received[event["body"]["uid"]] += 1

        client.on_event = on_event
        await asyncio.wait_for(client.connect(), 30)
        dashboards.append(client)
    clients = [TabletClient(system.services[i % len(system.services)].ws, u, token("paramedic", u)) for i, u in
               enumerate(units)]  # fmt: skip
    for start in range(0, tablets, 100):
        await asyncio.wait_for(asyncio.gather(*(c.connect() for c in clients[start : start + 100])), 60)
    say(f"storm: {tablets} tablets connected")
    uids: list[str] = []

    async def one(client: TabletClient, n: int) -> None:
        uid = f"storm{client.unit}n{n}"
        uids.append(uid)
        message = {"type": "vitals", "incident": system.incidents[client.unit], "uid": uid, **vitals_fields(n)}
        await client._enqueue(message, binary=False)

    await asyncio.gather(*(one(c, 0) for c in clients))
    deadline = time.monotonic() + 60
    while any(c.outbox for c in clients) and time.monotonic() < deadline:  # noqa: ASYNC110 - the clients' tasks ack
        await asyncio.sleep(0.1)
    say(f"storm: first sets acked ({sum(1 for c in clients if not c.outbox)} of {tablets}); dropping every link")
    await asyncio.wait_for(asyncio.gather(*(c.abort() for c in clients)), 30)  # no close handshake
    for c in clients:
        await one(c, 1)
        await one(c, 2)
    started = time.monotonic()

    retries = 0

    async def back(c: TabletClient, delay: float) -> None:
        """Reconnect as the tablet page does: a handshake refused or timed out is tried again, a little later."""
        nonlocal retries
        await asyncio.sleep(delay)
        for attempt in range(1, 10):
            try:
                await c.connect()
                return
            except (TimeoutError, OSError, InvalidHandshake):
                retries += 1
                await asyncio.sleep(0.5 * attempt)
        await c.connect()

    await asyncio.wait_for(asyncio.gather(*(back(c, i / tablets) for i, c in enumerate(clients))), 120)  # within 1 s
    say(f"storm: reconnected in {time.monotonic() - started:.1f} s")
    deadline = time.monotonic() + 60
    while any(c.outbox for c in clients) and time.monotonic() < deadline:  # noqa: ASYNC110 - the clients' tasks ack
        await asyncio.sleep(0.05)
    absorbed = time.monotonic() - started
    await asyncio.sleep(1.0)  # the last fan-outs reach the dashboards
    pool = await asyncpg.create_pool(backends.database_url, min_size=1, max_size=2)
    rows = await pool.fetch(
        "SELECT unit, count(*) AS n, count(DISTINCT body->>'uid') AS u FROM events "
        "WHERE unit = ANY($1::text[]) AND body->>'uid' LIKE 'storm%' GROUP BY unit",
        units,
    )
    await pool.close()
    stored = sum(r["n"] for r in rows)
    distinct = sum(r["u"] for r in rows)
    for c in clients:
        await c.close()
    for d in dashboards:
        await d.close()
    return {
        "messages": len(uids),
        "absorbed_s": round(absorbed, 2),
        "unacked": sum(len(c.outbox) for c in clients),
        "reconnects_tried_again": retries,
        "stored": stored,
        "stored_twice": stored - distinct,
        "lost_in_storage": len(uids) - distinct,
        "dashboard_deliveries": sum(received.values()),
        "dashboard_duplicates": sum(n - 1 for n in received.values() if n > 1),
        "dashboard_missing": len(set(uids) - set(received)),
    }


async def idle(system: Prealert, sockets: int = 10_000) -> dict[str, Any]:
    """``sockets`` tablet sockets open and idle (each its own unit and token); the server's memory per socket."""
    server = psutil.Process(system.services[0].process.pid)
    before = server.memory_info().rss
    clients = [TabletClient(system.services[0].ws, f"I{i:05d}", token("paramedic", f"I{i:05d}")) for i in
               range(sockets)]  # fmt: skip
    started = time.monotonic()
    failed = 0
    for start in range(0, sockets, 200):
        batch = (asyncio.wait_for(c.connect(), 30) for c in clients[start : start + 200])
        results = await asyncio.gather(*batch, return_exceptions=True)
        failed += sum(1 for r in results if isinstance(r, BaseException))
        if start % 2000 == 0:
            say(f"idle: {start + 200 - failed} open")
    opened = time.monotonic() - started
    await asyncio.sleep(5)
    after = server.memory_info().rss
    for start in range(0, sockets, 500):
        await asyncio.gather(*(c.close() for c in clients[start : start + 500]), return_exceptions=True)
    return {
        "open": sockets - failed,
        "failed": failed,
        "opened_in_s": round(opened, 1),
        "server_rss_mib_before": round(before / 2**20),
        "server_rss_mib_after": round(after / 2**20),
        "kib_per_socket": round((after - before) / max(1, sockets - failed) / 1024, 1),
        "generator_rss_mib": round(psutil.Process(os.getpid()).memory_info().rss / 2**20),
    }


async def slow(system: Prealert, pids: dict[str, list[int]], seconds: float = 30.0) -> dict[str, Any]:
    """100 units at 1/s over 10 EDs with 2 dashboards each; run once with every dashboard reading fast, once with one
    of them reading one frame per 100 ms (a tenth of what reaches it): the others' p99, and the server's memory."""
    eds = hospital_ids(10)
    units = [f"L{i:04d}" for i in range(100)]
    destination = {u: eds[i % len(eds)] for i, u in enumerate(units)}
    await system.prepare(units, destination)
    procs = {**pids, "server-0": system.pids()[:1], "generator": [os.getpid()]}
    fast = await run_load(system, "slow:none", units=units, destination=destination, dashboards=eds * 2,
                          dispatchers=0, rate_per_unit=1.0, seconds=seconds, processes=procs)  # fmt: skip
    laggard = DashboardClient(system.services[0].ws, eds[0], token("ed", eds[0]), last_id="now", read_delay_s=1.0)
    await asyncio.wait_for(laggard.connect(), 30)
    server = psutil.Process(system.services[0].process.pid)
    rss: list[float] = []

    async def watch() -> None:
        while True:
            rss.append(server.memory_info().rss / 2**20)
            await asyncio.sleep(1)

    watcher = asyncio.create_task(watch())
    with_slow = await run_load(system, "slow:one", units=units, destination=destination, dashboards=eds * 2,
                               dispatchers=0, rate_per_unit=1.0, seconds=seconds, processes=procs)  # fmt: skip
    watcher.cancel()
    await laggard.close()
    return {
        "p99_others_all_fast_ms": round(fast.p99 or 0, 1),
        "p99_others_with_one_slow_ms": round(with_slow.p99 or 0, 1),
        "lost": with_slow.lost,
        "server_rss_mib_start_end": (round(rss[0]), round(rss[-1])) if rss else None,
        "server_rss_mib_p50": round(quantile(rss, 0.5) or 0),
        "slow_dashboard_received": len(laggard.events),
        "slow_dashboard_close_code": laggard.close_code,
    }
