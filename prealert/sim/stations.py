"""Where the simulated ambulances are based. The region pack has no station data, so the sites are illustrative:
chosen by farthest-point sampling over the road network's main component (spread the way a real system spreads its
stations to cover a city), deterministically from the seed. Not Pittsburgh EMS's real stations."""

from __future__ import annotations

import random

import numpy as np

from dispatch.roads import METRES_PER_DEGREE, RoadGraph


def place(graph: RoadGraph, count: int, rng: random.Random) -> list[tuple[float, float]]:
    """``count`` station sites (lat, lon) on road nodes, each as far as possible from the ones chosen before."""
    nodes = np.flatnonzero(graph.main_component)
    kx = METRES_PER_DEGREE * np.cos(np.radians(float(np.mean(graph.lat[nodes]))))
    xy = np.column_stack((graph.lon[nodes] * kx, graph.lat[nodes] * METRES_PER_DEGREE))
    chosen = [rng.randrange(len(nodes))]
    nearest = np.linalg.norm(xy - xy[chosen[0]], axis=1)
    while len(chosen) < count:
        far = int(np.argmax(nearest))
        chosen.append(far)
        nearest = np.minimum(nearest, np.linalg.norm(xy - xy[far], axis=1))
    return [(float(graph.lat[nodes[i]]), float(graph.lon[nodes[i]])) for i in chosen]
