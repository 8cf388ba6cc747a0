"""The foundation benchmark: N tablets at R vitals/s each, D ED dashboards, for S seconds, against a real
``prealert serve`` on real Redis and PostgreSQL (embedded unless PREALERT_TEST_REDIS_URL/DATABASE_URL are set).

Open loop: every tablet sends on a fixed schedule, and latency is measured from the *scheduled* send time to the
moment each subscribed dashboard receives the event (so a stalled sender cannot hide latency). Prints p50/p99/max
tablet-to-dashboard and tablet-to-ack latency, throughput, what was lost or duplicated, and how late the load
generator itself was. Not part of the test suite: ``make bench`` or ``python -m loadtests.foundation --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from prealert.client import DashboardClient, TabletClient
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, Service, start_service
from tests.conftest import SECRET, dispatcher_call, token

HOSPITALS = [
    "allegheny-general",
    "upmc-childrens",
    "upmc-mercy",
    "upmc-presbyterian",
    "upmc-shadyside",
    "upmc-st-margaret",
    "west-penn",
]


@dataclass
class Tally:
    scheduled: dict[tuple[str, int], float] = field(default_factory=dict)
    delivery_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    received: Counter[tuple[int, str, int]] = field(default_factory=Counter)
    send_lag_ms: list[float] = field(default_factory=list)

    def ack_timer(self, unit: str) -> Callable[[int], None]:
        """A tablet's ``on_ack``: the time from each newly acked seq's scheduled send to its ack."""
        acked = [0]

        def on_ack(upto: int) -> None:
            now = time.monotonic()
            for seq in range(acked[0] + 1, upto + 1):
                if (due := self.scheduled.get((unit, seq))) is not None:
                    self.ack_ms.append((now - due) * 1000)
            acked[0] = upto

        return on_ack


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p50, p99, p999 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.50, 0.99, 0.999))
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   p99.9 {p999:7.2f} ms   max {ordered[-1]:7.2f} ms"


async def settle(done: Callable[[], bool], timeout_s: float) -> None:
    """Give stragglers up to ``timeout_s`` to arrive (what has not by then counts as lost)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done():  # noqa: ASYNC110 - the clients' own tasks update the counts
        await asyncio.sleep(0.1)


async def setup_incidents(service: Service, tablets: int, hospitals: list[str]) -> list[tuple[str, int, str]]:
    scenes = []
    stamp = int(time.time())
    for i in range(tablets):
        unit = f"B{stamp % 100000}u{i}"
        created = await dispatcher_call(
            service,
            "POST",
            "/v1/incidents",
            {"location": {"lat": 40.44, "lon": -79.99}, "complaint": "bench", "priority": 2},
        )
        incident = int(created.json()["id"])
        hospital = hospitals[i % len(hospitals)]
        assigned = await dispatcher_call(service, "POST", f"/v1/incidents/{incident}/assign", {"unit": unit})
        # The benchmark spreads patients over every ED: not always the recommendation, so give the reason.
        routed = await dispatcher_call(
            service, "POST", f"/v1/incidents/{incident}/destination", {"hospital": hospital, "reason_code": "4220013"}
        )
        if not (assigned.is_success and routed.is_success):
            raise RuntimeError(f"setup failed: {assigned.text} {routed.text}")
        scenes.append((unit, incident, hospital))
    return scenes


async def run_tablet(
    tablet: TabletClient, incident: int, tally: Tally, start: float, offset: float, rate: float, duration: float
) -> int:
    sent = 0
    interval = 1.0 / rate
    while (due := start + offset + sent * interval) < start + duration:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        tally.send_lag_ms.append((time.monotonic() - due) * 1000)
        tally.scheduled[(tablet.unit, tablet.next_seq)] = due
        await tablet.send(
            {
                "type": "vitals",
                "incident": incident,
                "taken_at": datetime.now(UTC).isoformat(),
                "hr": 60 + sent % 60,
                "spo2": 96,
                "sbp": 120,
                "dbp": 80,
                "rr": 16,
            }
        )
        sent += 1
    return sent


async def bench(service: Service, backends: Backends, args: argparse.Namespace) -> int:
    hospitals = HOSPITALS[: min(args.dashboards, len(HOSPITALS))]
    scenes = await setup_incidents(service, args.tablets, hospitals)
    tally = Tally()
    dashboards: list[DashboardClient] = []
    for d in range(args.dashboards):
        hospital = hospitals[d % len(hospitals)]
        dashboard = DashboardClient(service.ws, hospital, token("ed", hospital))

        def on_event(_id: str, event: dict[str, Any], d: int = d) -> None:
            if event["body"]["type"] == "vitals" and (event["unit"], event["seq"]) in tally.scheduled:
                tally.received[(d, event["unit"], event["seq"])] += 1
                tally.delivery_ms.append((time.monotonic() - tally.scheduled[(event["unit"], event["seq"])]) * 1000)

        dashboard.on_event = on_event
        await dashboard.connect()
        dashboards.append(dashboard)
    await asyncio.sleep(1.0)  # let the replay of setup events pass before measuring

    tablets = []
    for unit, _, _ in scenes:
        tablet = TabletClient(service.ws, unit, token("paramedic", unit))
        tablet.on_ack = tally.ack_timer(tablet.unit)
        await tablet.connect()
        tablets.append(tablet)

    process = psutil.Process(service.process.pid)
    process.cpu_percent()
    start = time.monotonic() + 0.5
    sent_counts = await asyncio.gather(
        *(
            run_tablet(t, incident, tally, start, i / args.tablets / args.rate, args.rate, args.duration)
            for i, (t, (_, incident, _)) in enumerate(zip(tablets, scenes, strict=True))
        )
    )
    cpu = process.cpu_percent()
    sent = sum(sent_counts)
    destination = {unit: hospital for unit, _, hospital in scenes}
    expected = {
        (d, unit, seq)
        for d, dash in enumerate(dashboards)
        for (unit, seq) in tally.scheduled
        if destination[unit] == dash.hospital
    }
    await settle(lambda: len(tally.received) >= len(expected) and not any(t.outbox for t in tablets), 15.0)
    elapsed = time.monotonic() - start

    pool = await asyncpg.create_pool(backends.database_url, min_size=1, max_size=2)
    stored = await pool.fetchval("SELECT count(*) FROM events WHERE unit = ANY($1::text[])", [s[0] for s in scenes])
    await pool.close()
    lost = len(expected - set(tally.received))
    duplicated = sum(n - 1 for n in tally.received.values() if n > 1)
    unacked = sum(len(t.outbox) for t in tablets)
    lagged = sum(1 for lag in tally.send_lag_ms if lag > 50)

    print(
        f"\nprealert foundation benchmark: {args.tablets} tablets x {args.rate}/s, {args.dashboards} dashboards, "
        f"{args.duration:.0f} s, server {service.process.pid} (1 process, {os.cpu_count()} cores)"
    )
    print(
        f"  sent {sent} vitals ({sent / args.duration:.0f} msg/s), stored {stored}, "
        f"deliveries expected {len(expected)}, received {len(tally.received)}"
    )
    print(f"  tablet -> dashboard  {percentiles(tally.delivery_ms)}")
    print(f"  tablet -> ack        {percentiles(tally.ack_ms)}")
    print(f"  generator lag        {percentiles(tally.send_lag_ms)}   ({lagged} sends > 50 ms late)")
    print(f"  server CPU {cpu:.0f}%   RSS {process.memory_info().rss / 2**20:.0f} MiB   run {elapsed:.1f} s")
    print(f"  LOST {lost}   DUPLICATED {duplicated}   UNACKED {unacked}   NOT STORED {sent - stored}")
    if lost:
        closed = Counter(d.close_code for d in dashboards)
        print(f"  dashboards' close codes: {dict(closed)}")
        problems = [
            line
            for line in service.log_path.read_text().splitlines()
            if '"level": "error"' in line or '"level": "warning"' in line
        ]
        print("  service log:", *problems[-5:], sep="\n    ")
    for tablet in tablets:
        await tablet.close()
    for dashboard in dashboards:
        await dashboard.close()
    return 0 if lost == duplicated == unacked == 0 and stored == sent else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tablets", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0, help="vitals per second per tablet")
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    args = parser.parse_args()
    return with_service(lambda service, backends: bench(service, backends, args))


def with_service(run: Callable[[Service, Backends], Coroutine[Any, Any, int]]) -> int:
    """Run a benchmark against a fresh ``prealert serve`` on the embedded servers (or the PREALERT_TEST_* ones)."""
    with tempfile.TemporaryDirectory(prefix="prealert-bench-") as tmp:
        redis_url, database_url = (
            os.environ.get("PREALERT_TEST_REDIS_URL"),
            os.environ.get("PREALERT_TEST_DATABASE_URL"),
        )
        servers = None
        if not (redis_url and database_url):
            servers = EmbeddedServers(Path(tmp) / "servers")
            servers.start()
            redis_url, database_url = servers.redis_url, servers.database_url
        backends = Backends(redis_url, database_url)
        service = start_service(backends, Path(tmp) / "service", secret=SECRET)
        try:
            return asyncio.run(run(service, backends))
        finally:
            service.stop()
            if servers is not None:
                servers.stop()


if __name__ == "__main__":
    sys.exit(main())
