"""The simulator's pure parts: Poisson arrivals, the condition mix, driving along real routes, station sites,
condition-shaped replays of the real vitals, and the capability check of the summary."""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatch import region, roads, triage
from dispatch.region import distance_m
from prealert.sim import city, patients, stations
from prealert.sim.city import CONDITIONS, Route
from prealert.sim.summary import PatientRecord, capable, needed, percentile

REGIONS = Path(__file__).resolve().parents[2] / "dispatch" / "regions"


@pytest.fixture(scope="module")
def travel() -> roads.TravelTimes:
    pack = region.load(REGIONS, "pittsburgh")
    graph = roads.load(REGIONS / "pittsburgh", roads.RoadSettings())
    return roads.TravelTimes(graph, {h.id: (h.lat, h.lon) for h in pack.hospitals.values()})


def test_poisson_arrivals_have_the_configured_rate_and_exponential_gaps() -> None:
    times = city.arrivals(random.Random(1), rate_per_hour=60, horizon_s=200 * 3600)
    assert 11_400 <= len(times) <= 12_600  # 12,000 expected; within 5 %
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(60, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(60, rel=0.08)  # exponential: sd = mean
    assert times == city.arrivals(random.Random(1), rate_per_hour=60, horizon_s=200 * 3600)  # seeded: the same


def test_the_mix_is_drawn_in_proportion_and_parsed_strictly() -> None:
    mix = city.parse_mix("stemi=3,general=1")
    rng = random.Random(2)
    drawn = Counter(city.draw_condition(rng, mix) for _ in range(8000))
    assert set(drawn) == {"stemi", "general"}
    assert drawn["stemi"] / 8000 == pytest.approx(0.75, abs=0.02)
    for bad, why in (("flu=1", "unknown condition"), ("stemi=-1", "non-negative"), ("stemi=0", "at least one")):
        with pytest.raises(ValueError, match=why):
            city.parse_mix(bad)
    assert set(city.DEFAULT_MIX) == set(CONDITIONS)


def test_a_route_follows_the_road_graph_and_takes_the_routers_time(travel: roads.TravelTimes) -> None:
    points = travel.timed_route(40.4400, -79.9900, "allegheny-general")
    eta = travel.eta_s(40.4400, -79.9900, "allegheny-general")
    assert eta is not None and points[-1][2] == pytest.approx(eta)
    assert all(b[2] >= a[2] for a, b in itertools.pairwise(points))
    graph = travel.graph
    nodes = {(float(lat), float(lon)) for lat, lon in zip(graph.lat, graph.lon, strict=True)}
    assert all((lat, lon) in nodes for lat, lon, _ in points[1:])  # every point after the GPS fix is a road node
    route = Route(points=points, start_s=100.0)
    assert route.at(0.0).lat == 40.44 and route.at(0.0).speed_mps == 0.0  # waiting to leave
    midway = route.at(100.0 + route.duration_s / 2)
    assert 0 < midway.speed_mps < 40  # moving, at a road speed
    end = route.at(1e9)
    assert (end.lat, end.lon) == points[-1][:2] and end.speed_mps == 0.0


def test_times_to_a_point_give_a_route_ending_there(travel: roads.TravelTimes) -> None:
    to_scene = travel.times_to(40.4590, -80.0120)
    points = to_scene.timed_route(40.4300, -79.9600)
    eta = to_scene.eta_s(40.4300, -79.9600)
    assert points[-1][:2] == (40.4590, -80.0120) and eta is not None and points[-1][2] == pytest.approx(eta)


def test_stations_are_spread_out_and_repeatable(travel: roads.TravelTimes) -> None:
    sites = stations.place(travel.graph, 6, random.Random(5))
    assert sites == stations.place(travel.graph, 6, random.Random(5))
    closest = min(distance_m(*a, *b) for i, a in enumerate(sites) for b in sites[i + 1 :])
    assert closest > 2000  # six stations over the city are kilometres apart


def test_replays_are_shaped_by_the_condition_and_stay_in_range() -> None:
    series = patients.load_series()
    rng = random.Random(3)
    for condition in CONDITIONS:
        for _ in range(10):
            patient = patients.make(condition, rng, series)
            for minute in range(0, 40, 3):
                v = patient.vitals(minute)
                for name, (low, high) in patients.RANGES.items():
                    assert low <= v[name] <= high
                assert v["dbp"] < v["sbp"] and 25 <= v["temp_c"] <= 45
    sepsis = [patients.make("sepsis", rng, series) for _ in range(20)]
    stemi = [patients.make("stemi", rng, series) for _ in range(20)]
    assert all(p.vitals(0)["temp_c"] >= 38.9 for p in sepsis)  # febrile
    assert all(p.vitals(0)["temp_c"] < 37.5 for p in stemi)  # not febrile
    assert statistics.mean(p.vitals(5)["hr"] for p in sepsis) > statistics.mean(p.vitals(5)["hr"] for p in stemi)
    assert all(patients.make("pediatric", rng, series).age_years < 15 for _ in range(20))


def test_the_real_series_vary_the_replay() -> None:
    patient = patients.make("general", random.Random(4), patients.load_series())
    assert len({patient.vitals(m)["hr"] for m in range(40)}) > 3  # not a flat line


def record(condition: city.Condition) -> PatientRecord:
    patient = patients.make(condition, random.Random(9), patients.load_series())
    return PatientRecord(incident=1, condition=condition, patient=patient, created_s=0.0)


def test_needs_follow_the_clinical_rules() -> None:
    assert needed(record("stemi")).pci
    assert needed(record("stroke_lvo")).stroke == "thrombectomy"
    assert needed(record("stroke")).stroke == "any"
    assert needed(record("trauma_red")).trauma_centre == "highest"
    assert needed(record("trauma_yellow")).trauma_centre == "any"
    assert needed(record("general")).category == "general"


def test_capability_with_the_stroke_detour_rule() -> None:
    pack = region.load(REGIONS, "pittsburgh")
    lvo = needed(record("stroke_lvo"))
    near = {"upmc-st-margaret": 300.0, "allegheny-general": 2000.0, "upmc-mercy": 2100.0}
    far = {"upmc-st-margaret": 300.0, "allegheny-general": 900.0}
    assert capable(pack.hospitals["allegheny-general"], lvo, pack, near)
    assert capable(pack.hospitals["upmc-st-margaret"], lvo, pack, near)  # thrombectomy 28 min further: too far
    assert not capable(pack.hospitals["upmc-st-margaret"], lvo, pack, far)  # 10 min further: go there
    assert not capable(pack.hospitals["upmc-childrens"], lvo, pack, near)
    assert not capable(pack.hospitals["upmc-st-margaret"], needed(record("stemi")), pack, {})
    red = needed(record("trauma_red"))
    assert capable(pack.hospitals["upmc-mercy"], red, pack, {})
    assert not capable(pack.hospitals["west-penn"], red, pack, {})
    child = triage.needs(triage.PatientFacts(age_years=6, triage_red=("pelvic_fracture",)), now=datetime.now(UTC))
    assert capable(pack.hospitals["upmc-childrens"], child, pack, {})
    assert not capable(pack.hospitals["upmc-mercy"], child, pack, {})


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0 and percentile([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0
