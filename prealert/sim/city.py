"""The city's clockwork: when incidents happen, where, what is wrong, and where an ambulance is along its route.

Pure: a ``random.Random`` and times in seconds are passed in.

Default call rate: London's ambulance service handles about 3,300 incidents a day for about 9 million people
(the rules file), 0.37 per 1,000 people a day. Pittsburgh city has about 300,000 people: about 110 a day, 4.6 an hour.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np

from dispatch.roads import METRES_PER_DEGREE, RoadGraph

Condition = Literal[
    "stemi",
    "stroke_lvo",
    "stroke",
    "trauma_red",
    "trauma_yellow",
    "pediatric",
    "sepsis",
    "cardiac_arrest",
    "general",
]
CONDITIONS: Final[tuple[Condition, ...]] = get_args(Condition)
DEFAULT_RATE_PER_HOUR: Final = 4.6
# Weighted towards the pre-alert conditions this system is for; general medical calls are most calls in reality.
DEFAULT_MIX: Final[Mapping[Condition, float]] = {
    "stemi": 2,
    "stroke_lvo": 1,
    "stroke": 1,
    "trauma_red": 1,
    "trauma_yellow": 1,
    "pediatric": 1,
    "sepsis": 1,
    "cardiac_arrest": 0.5,
    "general": 3,
}


def parse_mix(text: str) -> dict[Condition, float]:
    """``stemi=2,stroke_lvo=1`` -> weights; unknown names and negative weights are refused."""
    mix: dict[Condition, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in CONDITIONS:
            raise ValueError(f"unknown condition {name!r}; known: {', '.join(CONDITIONS)}")
        value = float(weight or "1")
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"weight of {name} must be a non-negative number")
        mix[name] = value
    if not any(mix.values()):
        raise ValueError("the mix needs at least one condition with a positive weight")
    return mix


def arrivals(rng: random.Random, rate_per_hour: float, horizon_s: float) -> list[float]:
    """Incident times (seconds from the start) of a Poisson process until ``horizon_s``."""
    times: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate_per_hour / 3600)
        if t >= horizon_s:
            return times
        times.append(t)


def draw_condition(rng: random.Random, mix: Mapping[Condition, float]) -> Condition:
    names = [name for name, weight in mix.items() if weight > 0]
    return rng.choices(names, weights=[mix[n] for n in names])[0]


def random_location(graph: RoadGraph, rng: random.Random) -> tuple[float, float]:
    """A random point on the road network (a node of its main component)."""
    nodes = np.flatnonzero(graph.main_component)
    node = int(nodes[rng.randrange(len(nodes))])
    return float(graph.lat[node]), float(graph.lon[node])


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    heading_deg: float
    speed_mps: float


@dataclass(frozen=True)
class Route:
    """A drive along (lat, lon, seconds from its start) points, begun at ``start_s`` (simulation seconds)."""

    points: Sequence[tuple[float, float, float]]
    start_s: float

    @property
    def duration_s(self) -> float:
        return self.points[-1][2] if self.points else 0.0

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def at(self, t: float) -> Fix:
        """Where the unit is at simulation time ``t``: interpolated along the leg it is on, with its heading and
        speed on that leg (parked at the ends)."""
        pts = self.points
        if len(pts) == 1:
            return Fix(lat=pts[0][0], lon=pts[0][1], heading_deg=0.0, speed_mps=0.0)
        elapsed = min(max(t - self.start_s, 0.0), self.duration_s)
        i = max(1, min(len(pts) - 1, bisect.bisect_right([p[2] for p in pts], elapsed)))
        (lat1, lon1, t1), (lat2, lon2, t2) = pts[i - 1], pts[i]
        share = 0.0 if t2 <= t1 else (elapsed - t1) / (t2 - t1)
        lat, lon = lat1 + (lat2 - lat1) * share, lon1 + (lon2 - lon1) * share
        dy = (lat2 - lat1) * METRES_PER_DEGREE
        dx = (lon2 - lon1) * METRES_PER_DEGREE * math.cos(math.radians(lat1))
        moving = self.start_s <= t < self.end_s and t2 > t1
        speed = math.hypot(dx, dy) / (t2 - t1) if moving else 0.0
        heading = (math.degrees(math.atan2(dx, dy)) + 360) % 360
        return Fix(lat=lat, lon=lon, heading_deg=round(heading, 1) % 360, speed_mps=round(min(speed, 100.0), 1))
