"""The routing benchmark: what one destination recommendation costs, in process and through the HTTP API.

In process: for random patients (STEMI, stroke, red/yellow trauma, general) at random points of the region, time
``triage.needs`` + ``TravelTimes.etas`` + ``routing.rank`` over every hospital, one call at a time. Through the API:
``GET /v1/incidents/{id}/recommendation`` against a real ``prealert serve`` (embedded Redis and PostgreSQL), which
reads the incident and every hospital status from Redis, ranks, and stores the result. Prints p50/p99/max, the
region's load time and memory. Not part of the test suite: ``python -m loadtests.routing``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dispatch import region, roads, routing, triage
from dispatch.capacity import HospitalStatus, TriageCounts
from loadtests.roads import REGIONS, percentiles_us
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, start_service
from tests.conftest import REGION, SECRET, token

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def random_patient(rng: random.Random) -> triage.PatientFacts:
    kind = rng.choice(["stemi", "stroke", "trauma_red", "trauma_yellow", "general"])
    base: dict[str, Any] = {
        "age_years": rng.randint(1, 95),
        "hr": rng.randint(50, 140),
        "sbp": rng.randint(70, 200),
        "rr": rng.randint(8, 32),
        "spo2": rng.randint(85, 100),
        "on_oxygen": rng.random() < 0.3,
    }
    if kind == "stemi":
        return triage.PatientFacts(**base, suspected="stemi", stemi=True)
    if kind == "stroke":
        return triage.PatientFacts(
            **base,
            suspected="stroke",
            lams=rng.randint(0, 5),
            last_known_well=NOW - timedelta(minutes=rng.randint(10, 600)),
        )
    if kind == "trauma_red":
        return triage.PatientFacts(**base, suspected="trauma", triage_red=("penetrating_injury",))
    if kind == "trauma_yellow":
        return triage.PatientFacts(**base, suspected="trauma", triage_yellow=("fall_over_10ft",))
    return triage.PatientFacts(**base)


def random_statuses(rng: random.Random, hospitals: list[str]) -> dict[str, HospitalStatus | None]:
    traffic = ["Normal", "Normal", "Normal", "Advisory", "Closed"]
    return {
        h: HospitalStatus(
            hospital=h,
            ems_traffic=rng.choice(traffic),  # type: ignore[arg-type]
            census=TriageCounts(yellow=rng.randint(0, 40)),
            capacity=TriageCounts(yellow=40),
            offload_minutes=rng.randint(0, 60),
            updated_at=NOW - timedelta(minutes=rng.randint(0, 90)),
        )
        for h in hospitals
    }


def in_process(samples: int) -> None:
    start = time.perf_counter()
    pack = region.load(REGIONS, REGION)
    graph = roads.load(REGIONS / REGION, roads.RoadSettings())
    travel = roads.TravelTimes(graph, {h.id: (h.lat, h.lon) for h in pack.hospitals.values()})
    load_s = time.perf_counter() - start
    rng = random.Random(7)
    lats, lons = (float(graph.lat.min()), float(graph.lat.max())), (float(graph.lon.min()), float(graph.lon.max()))
    hospitals = list(pack.hospitals.values())
    cases = [
        (random_patient(rng), random_statuses(rng, list(pack.hospitals)), rng.uniform(*lats), rng.uniform(*lons))
        for _ in range(samples)
    ]
    rank_ns, total_ns = [], []
    for facts, statuses, lat, lon in cases:
        t0 = time.perf_counter_ns()
        needs = triage.needs(facts, now=NOW)
        etas = travel.etas(lat, lon)
        t1 = time.perf_counter_ns()
        recommendation = routing.rank(needs, hospitals, statuses, etas, now=NOW, fmc_elapsed=timedelta(minutes=10))
        t2 = time.perf_counter_ns()
        assert recommendation.ranked and recommendation.ranked[0].reasons
        rank_ns.append(t2 - t1)
        total_ns.append(t2 - t0)
    print(
        f"region load (hospitals, road graph, {len(hospitals)} reverse searches): {load_s * 1000:.0f} ms; "
        f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    print(f"  rank() over {len(hospitals)} hospitals          {percentiles_us(rank_ns)}")
    print(f"  needs + ETAs + rank (one patient) {percentiles_us(total_ns)}   ({samples} patients)")


async def timed_gets(client: httpx.AsyncClient, path: str, requests: int) -> list[int]:
    for _ in range(50):
        await client.get(path)
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter_ns()
        response = await client.get(path)
        samples.append(time.perf_counter_ns() - t0)
        assert response.status_code == 200, response.text
    return samples


async def through_api(requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="prealert-bench-") as tmp:
        servers = EmbeddedServers(Path(tmp) / "servers")
        servers.start()
        service = start_service(Backends(servers.redis_url, servers.database_url), Path(tmp) / "svc", secret=SECRET)
        try:
            headers = {"authorization": f"Bearer {token('dispatcher', REGION)}"}
            async with httpx.AsyncClient(base_url=service.http, headers=headers, timeout=10) as client:
                created = await client.post(
                    "/v1/incidents",
                    json={"location": {"lat": 40.44, "lon": -79.97}, "complaint": "bench", "priority": 1},
                )
                path = f"/v1/incidents/{created.json()['id']}/recommendation"
                baseline = await timed_gets(client, "/healthz", requests)
                samples = await timed_gets(client, path, requests)
            print(f"  GET /healthz (HTTP baseline)      {percentiles_us(baseline)}   ({requests} sequential requests)")
            print(f"  GET recommendation (HTTP, Redis)  {percentiles_us(samples)}   ({requests} sequential requests)")
        finally:
            service.stop()
            servers.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args()
    in_process(args.patients)
    asyncio.run(through_api(args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
