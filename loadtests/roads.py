"""The road-graph benchmark: how long a region takes to load, what it holds in memory, and what one ETA costs.

Loads the region pack's road graph, runs the reverse searches to its hospitals, then times ``eta_s`` (one hospital),
``etas`` (every hospital) and ``route`` at random points of the graph's bounding box, one call at a time with
``time.perf_counter_ns``. Prints p50/p99/max per call. Not part of the test suite: ``python -m loadtests.roads``.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dispatch import region, roads

REGIONS = Path(region.__file__).parent / "regions"


def percentiles_us(nanoseconds: list[int]) -> str:
    ordered = sorted(nanoseconds)
    p50, p99 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000 for q in (0.50, 0.99))
    return f"p50 {p50:8.1f} µs   p99 {p99:8.1f} µs   max {ordered[-1] / 1000:8.1f} µs"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def timed(call: Callable[[float, float], object], points: list[tuple[float, float]]) -> list[int]:
    samples = []
    for lat, lon in points:
        start = time.perf_counter_ns()
        call(lat, lon)
        samples.append(time.perf_counter_ns() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", default="pittsburgh")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rss_before = max_rss_mib()
    the_region = region.load(REGIONS, args.region)
    destinations = {h.id: (h.lat, h.lon) for h in the_region.hospitals.values()}
    start = time.perf_counter()
    graph = roads.load(REGIONS / args.region, roads.RoadSettings())
    loaded = time.perf_counter()
    times = roads.TravelTimes(graph, destinations)
    searched = time.perf_counter()

    print(f"region {args.region}: {graph.node_count:,} nodes, {graph.arc_count:,} arcs, {len(destinations)} hospitals")
    print(f"load: graph {1000 * (loaded - start):.0f} ms + reverse searches {1000 * (searched - loaded):.0f} ms")
    print(
        f"memory: distance matrix {times.matrix_nbytes / 1024:.0f} KiB, predecessors "
        f"{times.predecessor_nbytes / 1024:.0f} KiB; max RSS {max_rss_mib():.0f} MiB "
        f"({rss_before:.0f} MiB before loading the region)"
    )

    rng = random.Random(args.seed)
    south, north = float(graph.lat.min()), float(graph.lat.max())
    west, east = float(graph.lon.min()), float(graph.lon.max())
    points = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(args.queries)]
    hospital_ids = list(destinations)
    one = hospital_ids[0]
    print(f"{args.queries:,} random points in the bounding box, one call each:")
    calls: dict[str, Callable[[float, float], object]] = {
        "eta_s (one hospital)": lambda lat, lon: times.eta_s(lat, lon, one),
        f"etas (all {len(hospital_ids)})": times.etas,
        "route (one hospital)": lambda lat, lon: times.route(lat, lon, one),
    }
    for label, call in calls.items():
        print(f"  {label:<22} {percentiles_us(timed(call, points))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
