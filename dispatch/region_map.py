"""The region's streets as SVG paths, drawn from the region pack itself (no map tiles, nothing fetched from outside).

Pure apart from `load`, which reads the pack's ``nodes.csv`` and ``edges.csv`` (OpenStreetMap, ODbL: see the pack's
PROVENANCE.md; the console shows the attribution). Coordinates are metres east and south of the region's north-west
corner, rounded to the metre, so the console places a GPS fix with ``x = (lon - west) * kx``,
``y = (north - lat) * ky``. Streets are grouped by class so the page can draw arterials bold and side streets faint;
service roads (car parks, alleys) are left out.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from dispatch.region import Region
from dispatch.roads import METRES_PER_DEGREE

CLASSES: Final = {
    "motorway": "major",
    "motorway_link": "major",
    "trunk": "major",
    "trunk_link": "major",
    "primary": "major",
    "primary_link": "major",
    "secondary": "minor",
    "secondary_link": "minor",
    "tertiary": "minor",
    "tertiary_link": "minor",
    "residential": "local",
    "unclassified": "local",
    "living_street": "local",
}


class MapHospital(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    x: int
    y: int


class RegionMap(msgspec.Struct, frozen=True, kw_only=True):
    region: str
    west: float
    north: float
    kx: float  # metres per degree of longitude here
    ky: float  # metres per degree of latitude
    width: int  # metres
    height: int
    roads: dict[str, str]  # class -> SVG path data
    hospitals: list[MapHospital]
    attribution: str = "© OpenStreetMap contributors (ODbL)"


@dataclass(frozen=True, slots=True)
class Segment:
    road_class: str
    a: tuple[float, float]  # (lat, lon)
    b: tuple[float, float]


def road_class(highway: str) -> str | None:
    """The drawing class of an OSM ``highway`` value (a list such as "['residential', 'service']" takes its first)."""
    first = highway.strip().strip("[]").split(",")[0].strip().strip("'\"")
    return CLASSES.get(first)


def build(region: Region, segments: list[Segment]) -> RegionMap:
    lats = [p[0] for s in segments for p in (s.a, s.b)]
    lons = [p[1] for s in segments for p in (s.a, s.b)]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    ky = METRES_PER_DEGREE
    kx = METRES_PER_DEGREE * math.cos(math.radians((north + south) / 2))

    def xy(lat: float, lon: float) -> tuple[int, int]:
        return round((lon - west) * kx), round((north - lat) * ky)

    paths: dict[str, list[str]] = {"major": [], "minor": [], "local": []}
    for s in segments:
        (x1, y1), (x2, y2) = xy(*s.a), xy(*s.b)
        paths[s.road_class].append(f"M{x1} {y1}L{x2} {y2}")
    hospitals = [
        MapHospital(id=h.id, name=h.name, x=xy(h.lat, h.lon)[0], y=xy(h.lat, h.lon)[1])
        for h in region.hospitals.values()
    ]
    return RegionMap(
        region=region.name,
        west=west,
        north=north,
        kx=kx,
        ky=ky,
        width=round((east - west) * kx),
        height=round((north - south) * ky),
        roads={name: "".join(parts) for name, parts in paths.items()},
        hospitals=hospitals,
    )


def load(region_dir: Path, region: Region) -> RegionMap:
    with (region_dir / "nodes.csv").open(newline="", encoding="utf-8") as f:
        nodes = {row["osmid"]: (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(f)}
    segments: list[Segment] = []
    seen: set[tuple[str, str]] = set()
    with (region_dir / "edges.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            klass = road_class(row["highway"])
            pair = (min(row["from_"], row["to"]), max(row["from_"], row["to"]))
            if klass is None or pair in seen or row["from_"] not in nodes or row["to"] not in nodes:
                continue
            seen.add(pair)
            segments.append(Segment(klass, nodes[row["from_"]], nodes[row["to"]]))
    return build(region, segments)
