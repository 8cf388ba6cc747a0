"""Travel times on a region's road graph: the ETA from any GPS fix to any destination is a lookup.

Pure apart from `load`, which reads the region pack's ``nodes.csv`` and ``edges.csv`` (OpenStreetMap through OSMnx,
ODbL: see the pack's PROVENANCE.md). Times are free-flow: no turn restrictions, no traffic.

How the graph is read:
- directed: a row with ``oneway == "True"`` is one arc ``from_ -> to``; every other row is two arcs;
- self-loops are dropped; of parallel arcs the fastest is kept;
- speed: the lowest ``maxspeed`` of the row ("25 mph", or a list such as "['35 mph', '25 mph']"; a bare number is
  km/h, as in OSM), else the default for the row's first ``highway`` class; an emergency vehicle drives at that speed
  × ``emergency_factor``; an arc costs ``length / emergency speed`` seconds.

`TravelTimes` runs the reverse shortest-path search to every destination once, at construction, and keeps the
distance rows (destinations × nodes, float64) and the predecessor rows: a query is a KD-tree snap and an array lookup.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Hops = npt.NDArray[np.int32]

MPH_IN_MPS = 0.44704
KMH_IN_MPS = 1 / 3.6
EARTH_RADIUS_M = 6_371_000.0
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180

DEFAULT_KMH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 90.0,
        "motorway_link": 60.0,
        "trunk": 70.0,
        "trunk_link": 50.0,
        "primary": 50.0,
        "primary_link": 40.0,
        "secondary": 45.0,
        "secondary_link": 35.0,
        "tertiary": 40.0,
        "tertiary_link": 30.0,
        "unclassified": 30.0,
        "residential": 30.0,
        "living_street": 10.0,
        "service": 15.0,
    }
)


def _default_kmh() -> Mapping[str, float]:
    return DEFAULT_KMH


@dataclass(frozen=True)
class RoadSettings:
    emergency_factor: float = 1.15  # emergency driving speed = posted/default speed × this factor
    snap_speed_mps: float = 5.0  # for the straight-line hop from the GPS fix to the snapped node
    default_kmh: Mapping[str, float] = field(default_factory=_default_kmh)  # by OSM highway class
    other_kmh: float = 25.0  # any highway class not in default_kmh


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """Nodes by index (0..node_count-1) and the deduplicated arcs ``tail -> head``; arrays are read-only."""

    settings: RoadSettings
    osmid: Ints
    lat: Floats
    lon: Floats
    tail: Ints
    head: Ints
    seconds: Floats  # emergency driving time of each arc
    main_component: Bools  # node is in the largest strongly connected component

    @property
    def node_count(self) -> int:
        return len(self.osmid)

    @property
    def arc_count(self) -> int:
        return len(self.tail)


def load(region_dir: Path, settings: RoadSettings) -> RoadGraph:
    osmid, lat, lon = _read_nodes(region_dir / "nodes.csv")
    index = {int(node): i for i, node in enumerate(osmid)}
    tail, head, seconds = _fastest(*_read_arcs(region_dir / "edges.csv", index, settings))
    main = _largest_component(len(osmid), tail, head)
    arrays = (osmid, lat, lon, tail, head, seconds, main)
    for array in arrays:
        array.flags.writeable = False
    return RoadGraph(settings, *arrays)


def _read_nodes(path: Path) -> tuple[Ints, Floats, Floats]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return (
        np.array([int(r["osmid"]) for r in rows], dtype=np.int64),
        np.array([float(r["lat"]) for r in rows], dtype=np.float64),
        np.array([float(r["lon"]) for r in rows], dtype=np.float64),
    )


def _read_arcs(path: Path, index: Mapping[int, int], settings: RoadSettings) -> tuple[Ints, Ints, Floats]:
    tail: list[int] = []
    head: list[int] = []
    seconds: list[float] = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            a, b = _node(index, row["from_"]), _node(index, row["to"])
            cost = float(row["length"]) / emergency_speed_mps(row["highway"], row["maxspeed"], settings)
            pairs = [(a, b)] if row["oneway"] == "True" else [(a, b), (b, a)]
            for t, h in pairs:
                tail.append(t)
                head.append(h)
                seconds.append(cost)
    return np.array(tail, dtype=np.int64), np.array(head, dtype=np.int64), np.array(seconds, dtype=np.float64)


def _node(index: Mapping[int, int], osmid: str) -> int:
    try:
        return index[int(osmid)]
    except KeyError:
        raise ValueError(f"edges.csv names node {osmid}, which nodes.csv does not hold") from None


def emergency_speed_mps(highway: str, maxspeed: str, settings: RoadSettings) -> float:
    """Emergency driving speed on a row: lowest posted speed, else the default for the first highway class."""
    posted = [s for s in map(_speed_mps, _items(maxspeed)) if s is not None]
    classes = _items(highway)
    default_kmh = settings.default_kmh.get(classes[0], settings.other_kmh) if classes else settings.other_kmh
    return (min(posted) if posted else default_kmh * KMH_IN_MPS) * settings.emergency_factor


def _items(value: str) -> list[str]:
    """``"x"`` -> ["x"]; ``"['x', 'y']"`` -> ["x", "y"]; ``" "`` -> []."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts = (part.strip().strip("'\"").strip() for part in text.split(","))
    return [part for part in parts if part]


def _speed_mps(text: str) -> float | None:
    number, _, unit = text.partition(" ")
    try:
        value = float(number)
    except ValueError:
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return value * (MPH_IN_MPS if unit.strip() == "mph" else KMH_IN_MPS)


def _fastest(tail: Ints, head: Ints, seconds: Floats) -> tuple[Ints, Ints, Floats]:
    """Drop self-loops; of parallel arcs keep the fastest."""
    keep = tail != head
    tail, head, seconds = tail[keep], head[keep], seconds[keep]
    order = np.lexsort((seconds, head, tail))
    tail, head, seconds = tail[order], head[order], seconds[order]
    first = np.ones(len(tail), dtype=np.bool_)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    return tail[first], head[first], seconds[first]


def _largest_component(n: int, tail: Ints, head: Ints) -> Bools:
    matrix = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n))
    _, labels = connected_components(matrix, directed=True, connection="strong")
    labels = np.asarray(labels, dtype=np.int64)
    main: Bools = labels == np.bincount(labels).argmax()
    return main


def _reverse_dijkstra(graph: RoadGraph, sources: Ints) -> tuple[Floats, Hops]:
    """Times *to* each source from every node, and each node's next hop towards it (-9999 at the source)."""
    n = graph.node_count
    transposed = csr_matrix((graph.seconds, (graph.head, graph.tail)), shape=(n, n))
    dist, pred = dijkstra(transposed, directed=True, indices=sources, return_predecessors=True)
    return np.asarray(dist, dtype=np.float64), np.asarray(pred, dtype=np.int32)


class TravelTimes:
    """Reverse shortest paths to each destination, computed once: ETA queries are lookups."""

    def __init__(self, graph: RoadGraph, destinations: Mapping[str, tuple[float, float]]) -> None:
        if not destinations:
            raise ValueError("TravelTimes needs at least one destination")
        self._graph = graph
        self._row = {name: i for i, name in enumerate(destinations)}
        self._kx = METRES_PER_DEGREE * math.cos(math.radians(float(np.mean(graph.lat))))
        xy = np.column_stack((graph.lon * self._kx, graph.lat * METRES_PER_DEGREE))
        main = np.flatnonzero(graph.main_component)
        targets = [self._xy(lat, lon) for lat, lon in destinations.values()]
        _, nearest = cKDTree(xy[main]).query(targets)
        nodes = main[np.asarray(nearest, dtype=np.int64)]
        self.destination_nodes: Mapping[str, int] = MappingProxyType(
            {name: int(nodes[i]) for name, i in self._row.items()}
        )
        self._seconds, self._next = _reverse_dijkstra(graph, nodes)
        self._snappable = np.flatnonzero(np.isfinite(self._seconds).all(axis=0))
        self._tree = cKDTree(xy[self._snappable])

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(self._row)

    @property
    def matrix_nbytes(self) -> int:
        """Bytes of the cached distance rows (destinations × nodes, float64)."""
        return int(self._seconds.nbytes)

    @property
    def predecessor_nbytes(self) -> int:
        return int(self._next.nbytes)

    def _xy(self, lat: float, lon: float) -> tuple[float, float]:
        return lon * self._kx, lat * METRES_PER_DEGREE

    @property
    def graph(self) -> RoadGraph:
        return self._graph

    @property
    def snap_speed_mps(self) -> float:
        return self._graph.settings.snap_speed_mps

    def snap(self, lat: float, lon: float) -> tuple[int, float]:
        """Nearest node that can reach every destination: (node index, distance in metres)."""
        metres, i = self._tree.query(self._xy(lat, lon))
        return int(self._snappable[int(i)]), float(metres)

    def eta_s(self, lat: float, lon: float, destination: str) -> float | None:
        row = self._row[destination]
        node, metres = self.snap(lat, lon)
        seconds = float(self._seconds[row, node])
        return metres / self._graph.settings.snap_speed_mps + seconds if math.isfinite(seconds) else None

    def etas(self, lat: float, lon: float) -> dict[str, float]:
        node, metres = self.snap(lat, lon)
        hop = metres / self._graph.settings.snap_speed_mps
        column = self._seconds[:, node]
        return {name: hop + float(column[row]) for name, row in self._row.items() if math.isfinite(column[row])}

    def timed_route(self, lat: float, lon: float, destination: str) -> list[tuple[float, float, float]]:
        """The fastest path to the destination as (lat, lon, seconds from the start) per node, from the GPS fix (the
        straight hop to the snapped node first), for driving a simulated unit along it."""
        row = self._row[destination]
        return _timed(self._graph, self, lat, lon, self._seconds[row], self._next[row], 0.0)

    def route(self, lat: float, lon: float, destination: str) -> list[tuple[float, float]]:
        """Node coordinates (lat, lon) of the fastest path from the snapped node to the destination's node."""
        row = self._row[destination]
        node, _ = self.snap(lat, lon)
        if not math.isfinite(self._seconds[row, node]):
            return []
        hops, path = self._next[row], [node]
        while hops[node] >= 0:
            node = int(hops[node])
            path.append(node)
        return [(float(self._graph.lat[i]), float(self._graph.lon[i])) for i in path]

    def times_to(self, lat: float, lon: float) -> PointTimes:
        """Driving times from every node to the node nearest (lat, lon): one reverse search (tens of ms), for the
        units that could answer an incident there."""
        node, metres = self.snap(lat, lon)
        seconds, hops = _reverse_dijkstra(self._graph, np.array([node], dtype=np.int64))
        return PointTimes(self, seconds[0], metres / self._graph.settings.snap_speed_mps, hops[0], (lat, lon))


@dataclass(frozen=True, eq=False)
class PointTimes:
    """Times to one point from anywhere: ``eta_s`` of a GPS fix is a snap and a lookup."""

    travel: TravelTimes
    seconds: Floats  # by node
    last_hop_s: float  # from the point's snapped node to the point itself
    hops: Hops  # each node's next hop towards the point
    point: tuple[float, float]

    def timed_route(self, lat: float, lon: float) -> list[tuple[float, float, float]]:
        """The fastest path from a GPS fix to the point: (lat, lon, seconds from the start) per node, ending at the
        point itself."""
        path = _timed(self.travel.graph, self.travel, lat, lon, self.seconds, self.hops, self.last_hop_s)
        if path:
            path.append((*self.point, path[-1][2] + self.last_hop_s))
        return path

    def eta_s(self, lat: float, lon: float) -> float | None:
        node, metres = self.travel.snap(lat, lon)
        seconds = float(self.seconds[node])
        if not math.isfinite(seconds):
            return None
        return metres / self.travel.snap_speed_mps + seconds + self.last_hop_s


def _timed(
    graph: RoadGraph, travel: TravelTimes, lat: float, lon: float, to_go: Floats, hops: Hops, tail_s: float
) -> list[tuple[float, float, float]]:
    """Walk the next hops from the fix's snapped node; each node's time from the start is the whole trip's time less
    what remains from it (``to_go``), so the times are those the router uses."""
    node, metres = travel.snap(lat, lon)
    if not math.isfinite(to_go[node]):
        return []
    hop_s = metres / graph.settings.snap_speed_mps
    total = hop_s + float(to_go[node])
    path = [(lat, lon, 0.0)]
    while True:
        path.append((float(graph.lat[node]), float(graph.lon[node]), total - float(to_go[node])))
        if hops[node] < 0:
            return path
        node = int(hops[node])
