"""A region pack: the hospitals of one region (and, later, its road graph). Loaded once per process."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Hospital:
    id: str
    name: str
    lat: float
    lon: float
    trauma_level: int | None
    pediatric: bool


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    hospitals: dict[str, Hospital]


def load(regions_dir: Path, name: str) -> Region:
    with (regions_dir / name / "hospitals.csv").open(newline="", encoding="utf-8") as f:
        hospitals = [_hospital(row) for row in csv.DictReader(f)]
    return Region(name=name, hospitals={h.id: h for h in hospitals})


def _hospital(row: dict[str, str]) -> Hospital:
    return Hospital(
        id=row["id"],
        name=row["name"],
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        trauma_level=int(row["trauma_level"]) if row["trauma_level"] else None,
        pediatric=row["pediatric"] == "true",
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
