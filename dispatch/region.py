"""A region pack: the hospitals of one region with their capabilities (and, in ``roads``, its road graph).

A region is a folder under ``dispatch/regions/`` holding ``hospitals.csv``, ``nodes.csv``, ``edges.csv`` and a
``PROVENANCE.md``; another region is another folder in the same format. Loaded once per process.
Capabilities that the source data does not give are listed per hospital in the ``illustrative`` column: screens
and reasons must not present them as facts about a real hospital.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

StrokeLevel = Literal["ready", "primary", "thrombectomy", "comprehensive"]
TraumaPopulation = Literal["adult", "pediatric"]
_STROKE_LEVELS: tuple[StrokeLevel, ...] = ("ready", "primary", "thrombectomy", "comprehensive")


@dataclass(frozen=True, slots=True)
class Hospital:
    id: str
    name: str
    lat: float
    lon: float
    trauma_level: int | None
    trauma_population: TraumaPopulation | None
    pediatric: bool
    pci: bool = False
    stroke_level: StrokeLevel | None = None
    burn: bool = False
    obstetric: bool = False
    lytic: bool = True
    illustrative: frozenset[str] = frozenset()

    @property
    def thrombectomy(self) -> bool:
        return self.stroke_level in ("thrombectomy", "comprehensive")

    def trauma_centre_for(self, pediatric_patient: bool) -> bool:
        """A trauma centre that takes this patient's age group."""
        if self.trauma_level is None:
            return False
        return self.trauma_population == ("pediatric" if pediatric_patient else "adult")


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    hospitals: dict[str, Hospital]


def load(regions_dir: Path, name: str) -> Region:
    with (regions_dir / name / "hospitals.csv").open(newline="", encoding="utf-8") as f:
        hospitals = [_hospital(row) for row in csv.DictReader(f)]
    return Region(name=name, hospitals={h.id: h for h in hospitals})


def _flag(row: dict[str, str], name: str) -> bool:
    value = row.get(name, "false")
    if value not in ("true", "false"):
        raise ValueError(f"hospital {row['id']}: {name} must be true or false, not {value!r}")
    return value == "true"


def _stroke_level(value: str) -> StrokeLevel | None:
    for level in _STROKE_LEVELS:
        if value == level:
            return level
    if value:
        raise ValueError(f"unknown stroke level {value!r}")
    return None


def _population(value: str) -> TraumaPopulation | None:
    if value == "adult":
        return "adult"
    if value == "pediatric":
        return "pediatric"
    if value:
        raise ValueError(f"unknown trauma population {value!r}")
    return None


def _hospital(row: dict[str, str]) -> Hospital:
    return Hospital(
        id=row["id"],
        name=row["name"],
        lat=float(row["lat"]),
        lon=float(row["lon"]),
        trauma_level=int(row["trauma_level"]) if row["trauma_level"] else None,
        trauma_population=_population(row.get("trauma_population", "")),
        pediatric=_flag(row, "pediatric"),
        pci=_flag(row, "pci"),
        stroke_level=_stroke_level(row.get("stroke_level", "")),
        burn=_flag(row, "burn"),
        obstetric=_flag(row, "obstetric"),
        lytic=_flag(row, "lytic"),
        illustrative=frozenset(row.get("illustrative", "").split()),
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
