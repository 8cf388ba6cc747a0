from __future__ import annotations

import math
from pathlib import Path

import pytest

from dispatch import region, roads
from dispatch.roads import RoadGraph, RoadSettings, TravelTimes

MPH = 0.44704
FACTOR = RoadSettings().emergency_factor
DOWNTOWN = (40.4406, -79.9959)
REGIONS = Path(region.__file__).parent / "regions"

# A tiny region: osmid -> (lat, lon). Node 5 is a one-way dead end (reachable, reaches nothing); node 6 has no road.
NODES = {
    1: (40.00, -80.00),
    2: (40.00, -79.99),
    3: (40.00, -79.98),
    4: (40.01, -80.00),
    5: (40.01, -79.99),
    6: (40.02, -79.98),
}
EDGES = [
    "1,2,1000,residential, ,False",  # 30 km/h default: 120 s; slower of two parallel roads
    "1,2,1000,residential,30 mph,False",  # the faster parallel road: 1000 / (30 mph)
    "2,3,1000,primary,\"['35 mph', '25 mph']\",True",  # one-way 2 -> 3 at the lowest listed speed
    "3,1,2000,\"['secondary', 'residential']\", ,True",  # one-way 3 -> 1 at the first class's 45 km/h
    "2,2,10,residential, ,False",  # self-loop
    "1,4,500,track, ,False",  # unknown class: 25 km/h
    "4,5,100,living_street, ,True",  # one-way into the dead end at 10 km/h
]
S_12 = 1000 / (30 * MPH) / FACTOR
S_23 = 1000 / (25 * MPH) / FACTOR
S_31 = 2000 / (45 / 3.6) / FACTOR
S_14 = 500 / (25 / 3.6) / FACTOR


@pytest.fixture
def tiny(tmp_path: Path) -> RoadGraph:
    nodes = ["osmid,lat,lon", *(f"{osmid},{lat},{lon}" for osmid, (lat, lon) in NODES.items())]
    (tmp_path / "nodes.csv").write_text("\n".join(nodes) + "\n", encoding="utf-8")
    edges = ["from_,to,length,highway,maxspeed,oneway", *EDGES]
    (tmp_path / "edges.csv").write_text("\n".join(edges) + "\n", encoding="utf-8")
    return roads.load(tmp_path, RoadSettings())


@pytest.fixture
def tiny_times(tiny: RoadGraph) -> TravelTimes:
    return TravelTimes(tiny, {"a": NODES[2], "c": NODES[3]})


def index(graph: RoadGraph, osmid: int) -> int:
    return int(list(graph.osmid).index(osmid))


def test_self_loop_dropped_parallel_arcs_merged_oneway_kept_directed(tiny: RoadGraph) -> None:
    assert tiny.node_count == 6
    assert tiny.arc_count == 7  # 1<->2, 2->3, 3->1, 1<->4, 4->5
    assert [bool(m) for m in tiny.main_component] == [True, True, True, True, False, False]


def test_graph_arrays_are_read_only(tiny: RoadGraph) -> None:
    with pytest.raises(ValueError, match="read-only"):
        tiny.seconds[0] = 0.0


@pytest.mark.parametrize(
    ("highway", "maxspeed", "kmh"),
    [
        ("residential", " ", 30.0),
        ("['residential', 'service']", " ", 30.0),
        ("['service', 'residential']", " ", 15.0),
        ("motorway", "55 mph", 55 * MPH * 3.6),
        ("residential", "['35 mph', '25 mph']", 25 * MPH * 3.6),
        ("bus_stop", " ", 25.0),
        ("primary", "40", 40.0),
    ],
)
def test_emergency_speed(highway: str, maxspeed: str, kmh: float) -> None:
    speed = roads.emergency_speed_mps(highway, maxspeed, RoadSettings())
    assert speed == pytest.approx(kmh / 3.6 * FACTOR)


def test_settings_scale_speed() -> None:
    settings = RoadSettings(emergency_factor=1.0, default_kmh={"residential": 20.0}, other_kmh=5.0)
    assert roads.emergency_speed_mps("residential", " ", settings) == pytest.approx(20 / 3.6)
    assert roads.emergency_speed_mps("primary", " ", settings) == pytest.approx(5 / 3.6)


@pytest.mark.parametrize(
    ("osmid", "to_a", "to_c"),
    [
        (1, S_12, S_12 + S_23),
        (2, 0.0, S_23),
        (3, S_31 + S_12, 0.0),  # 3 -> 2 only round through 1: 2 -> 3 is one-way
        (4, S_14 + S_12, S_14 + S_12 + S_23),
    ],
)
def test_exact_etas_from_nodes(tiny_times: TravelTimes, osmid: int, to_a: float, to_c: float) -> None:
    lat, lon = NODES[osmid]
    assert tiny_times.eta_s(lat, lon, "a") == pytest.approx(to_a)
    assert tiny_times.eta_s(lat, lon, "c") == pytest.approx(to_c)
    assert tiny_times.etas(lat, lon) == pytest.approx({"a": to_a, "c": to_c})


def test_fix_near_a_dead_end_snaps_to_a_node_that_reaches_the_destinations(
    tiny: RoadGraph, tiny_times: TravelTimes
) -> None:
    lat, lon = NODES[5]
    node, metres = tiny_times.snap(lat, lon)
    assert node == index(tiny, 4)
    assert metres == pytest.approx(region.distance_m(lat, lon, *NODES[4]), abs=0.5)
    assert tiny_times.eta_s(lat, lon, "c") == pytest.approx(metres / 5.0 + S_14 + S_12 + S_23)


def test_destination_snaps_into_the_largest_strongly_connected_component(tiny: RoadGraph) -> None:
    times = TravelTimes(tiny, {"x": (40.0101, -79.99)})  # nearest node is 5, outside the component
    assert times.destination_nodes["x"] == index(tiny, 4)


def test_route_follows_the_one_way_streets(tiny_times: TravelTimes) -> None:
    assert tiny_times.route(*NODES[4], "c") == [NODES[4], NODES[1], NODES[2], NODES[3]]
    assert tiny_times.route(*NODES[3], "a") == [NODES[3], NODES[1], NODES[2]]
    assert tiny_times.route(*NODES[3], "c") == [NODES[3]]


def test_unknown_destination_is_a_key_error(tiny_times: TravelTimes) -> None:
    with pytest.raises(KeyError):
        tiny_times.eta_s(*NODES[1], "nowhere")
    with pytest.raises(KeyError):
        tiny_times.route(*NODES[1], "nowhere")


def test_no_destinations_is_refused(tiny: RoadGraph) -> None:
    with pytest.raises(ValueError, match="at least one destination"):
        TravelTimes(tiny, {})


# The real Pittsburgh pack.


@pytest.fixture(scope="module")
def pittsburgh() -> region.Region:
    return region.load(REGIONS, "pittsburgh")


@pytest.fixture(scope="module")
def pittsburgh_times(pittsburgh: region.Region) -> TravelTimes:
    graph = roads.load(REGIONS / "pittsburgh", RoadSettings())
    assert (graph.node_count, graph.arc_count) == (20_930, 55_672)
    return TravelTimes(graph, {h.id: (h.lat, h.lon) for h in pittsburgh.hospitals.values()})


def north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + math.degrees(metres / 6_371_000.0), lon


def test_every_hospital_reachable_from_downtown(pittsburgh: region.Region, pittsburgh_times: TravelTimes) -> None:
    etas = pittsburgh_times.etas(*DOWNTOWN)
    assert set(etas) == set(pittsburgh.hospitals)
    for hospital_id, seconds in etas.items():
        assert 60 < seconds < 30 * 60, hospital_id
        assert pittsburgh_times.eta_s(*DOWNTOWN, hospital_id) == seconds


def test_eta_from_20_m_away_is_under_two_minutes(pittsburgh: region.Region, pittsburgh_times: TravelTimes) -> None:
    for hospital in pittsburgh.hospitals.values():
        seconds = pittsburgh_times.eta_s(*north(hospital.lat, hospital.lon, 20), hospital.id)
        assert seconds is not None, hospital.id
        assert seconds < 120, hospital.id


def test_farther_away_takes_longer(pittsburgh: region.Region, pittsburgh_times: TravelTimes) -> None:
    mercy, st_margaret = pittsburgh.hospitals["upmc-mercy"], pittsburgh.hospitals["upmc-st-margaret"]
    near = pittsburgh_times.eta_s(*DOWNTOWN, mercy.id)  # about 1 km
    far = pittsburgh_times.eta_s(st_margaret.lat, st_margaret.lon, mercy.id)  # about 12 km
    assert near is not None
    assert far is not None
    assert near < far


def test_route_runs_from_the_fix_to_the_hospital(pittsburgh: region.Region, pittsburgh_times: TravelTimes) -> None:
    for hospital in pittsburgh.hospitals.values():
        path = pittsburgh_times.route(*DOWNTOWN, hospital.id)
        assert len(path) > 2, hospital.id
        assert region.distance_m(*DOWNTOWN, *path[0]) < 100, hospital.id
        assert region.distance_m(hospital.lat, hospital.lon, *path[-1]) < 150, hospital.id
