"""Property tests for dispatch.routing: random regions, hospital states, ETAs and patients (through the real
``triage.needs``), checked against the rules in clinical-rules.md and the routing module docstring.

The oracle below (``appropriate``) is written from the rules, independently of ``routing.Ranker``:

- STEMI: a PCI centre when one that is usable (reachable, and open or the patient unstable) gives FMC-to-device
  (elapsed + ETA + 30 min door-to-device) within 120 min; otherwise any lytic-capable ED.
- Trauma RED / YELLOW: a trauma centre for the patient's age group (a child: pediatric when one is usable, else
  adult); RED: of the highest (numerically lowest) level among the usable ones.
- Stroke: LVO within the window: thrombectomy-capable when the nearest usable one adds <= 15 min over the nearest
  usable stroke-capable hospital; otherwise (and for any other stroke) any stroke-capable hospital.
- Obstetric: an obstetric unit. Anything else: any ED. No reachable hospital fits: any reachable ED.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar, get_args

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import routing, triage
from dispatch.capacity import HospitalStatus, OffloadStatus, TrafficStatus, TriageCounts
from dispatch.clinical import Acvpu
from dispatch.region import Hospital, StrokeLevel, TraumaPopulation
from dispatch.routing import Recommendation
from dispatch.triage import RED_INJURY_CODES, RED_PHYSIOLOGY_CODES, YELLOW_CODES, Needs, PatientFacts, Suspected

NOW: Final = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONFIG: Final = routing.RoutingConfig()
FEW: Final = settings(max_examples=200, deadline=None)
T = TypeVar("T")

TRAFFIC: Final[tuple[TrafficStatus, ...]] = ("Normal", "Advisory", "Closed", "NotApplicable")
OFFLOAD: Final[tuple[OffloadStatus, ...]] = ("Normal", "Delayed")
STROKE_LEVELS: Final[tuple[StrokeLevel, ...]] = get_args(StrokeLevel)
POPULATIONS: Final[tuple[TraumaPopulation, ...]] = get_args(TraumaPopulation)
SUSPECTED: Final[tuple[Suspected, ...]] = get_args(Suspected)
ACVPU: Final[tuple[Acvpu, ...]] = get_args(Acvpu)
RED_CODES: Final[tuple[str, ...]] = tuple(sorted(RED_INJURY_CODES | RED_PHYSIOLOGY_CODES))
YELLOW: Final[tuple[str, ...]] = tuple(sorted(YELLOW_CODES))


@dataclass(frozen=True)
class Case:
    facts: PatientFacts
    hospitals: tuple[Hospital, ...]
    statuses: Mapping[str, HospitalStatus | None]
    etas: Mapping[str, float]  # seconds; absent = unreachable
    fmc_elapsed: timedelta | None

    @property
    def needs(self) -> Needs:
        return triage.needs(self.facts, now=NOW)

    def rank(self, hospitals: tuple[Hospital, ...] | None = None) -> Recommendation:
        return routing.rank(
            self.needs,
            self.hospitals if hospitals is None else hospitals,
            self.statuses,
            self.etas,
            now=NOW,
            fmc_elapsed=self.fmc_elapsed,
        )

    def hospital(self, hospital_id: str) -> Hospital:
        return next(h for h in self.hospitals if h.id == hospital_id)

    def closed(self, h: Hospital) -> bool:
        status = self.statuses.get(h.id)
        return status is not None and status.ems_traffic == "Closed"

    def reachable(self) -> list[Hospital]:
        return [h for h in self.hospitals if h.id in self.etas]

    def usable(self, needs: Needs) -> list[Hospital]:
        return [h for h in self.reachable() if needs.unstable or not self.closed(h)]


# Strategies (built once: a strategy built inside a draw is validated again at every example) -----------------------
def maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), strategy)


def _hospital(
    level: int | None,
    population: TraumaPopulation,
    stroke: StrokeLevel | None,
    lytic: int,
    pediatric: bool,
    pci: bool,
    burn: bool,
    obstetric: bool,
) -> Hospital:
    return Hospital(
        id="",
        name="",
        lat=40.0,
        lon=-80.0,
        trauma_level=level,
        trauma_population=None if level is None else population,
        pediatric=pediatric,
        pci=pci,
        stroke_level=stroke,
        burn=burn,
        obstetric=obstetric,
        lytic=lytic > 0,  # four in five
    )


HOSPITALS: Final[st.SearchStrategy[Hospital]] = st.builds(
    _hospital,
    level=maybe(st.integers(1, 5)),
    population=st.sampled_from(POPULATIONS),
    stroke=maybe(st.sampled_from(STROKE_LEVELS)),
    lytic=st.integers(0, 4),
    pediatric=st.booleans(),
    pci=st.booleans(),
    burn=st.booleans(),
    obstetric=st.booleans(),
)
ILLUSTRATIVE: Final = st.frozensets(st.sampled_from(("pci", "stroke_level", "obstetric", "lytic")))


def _status(
    age: int | None, seconds: int, since: bool, census: TriageCounts, capacity: TriageCounts, **fields: object
) -> HospitalStatus:
    updated = None if age is None else NOW - timedelta(minutes=age, seconds=seconds)
    return msgspec.structs.replace(
        HospitalStatus(hospital="", census=census, capacity=capacity, updated_at=updated),
        ems_traffic_since=updated if since else None,
        **fields,
    )


COUNTS: Final = st.builds(
    TriageCounts, red=st.integers(0, 15), yellow=st.integers(0, 15), green=st.integers(0, 15), black=st.integers(0, 2)
)
STATUSES: Final[st.SearchStrategy[HospitalStatus]] = st.builds(
    _status,
    age=maybe(st.one_of(st.sampled_from([0, 29, 30, 31]), st.integers(0, 240))),  # minutes; None: never updated
    seconds=st.one_of(st.just(0), st.integers(0, 59)),
    since=st.booleans(),
    census=COUNTS,
    capacity=st.one_of(st.just(TriageCounts()), COUNTS),
    ems_traffic=st.sampled_from(TRAFFIC),
    ems_traffic_reason=maybe(st.sampled_from(("CT down", "no beds", ""))),
    offload=st.sampled_from(OFFLOAD),
    offload_minutes=st.integers(0, 120),
)
STATUS_KIND: Final = st.integers(0, 5)  # 0: no entry at all, 1: None (never reported), else a status
REACHABLE: Final = st.integers(0, 4)  # 0: unreachable (one in five)
ETA_S: Final = st.one_of(st.sampled_from([600, 900, 1200]), st.integers(60, 3 * 3600))  # ties, and anything


def codes(pool: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.one_of(st.just(()), st.lists(st.sampled_from(pool), max_size=2).map(tuple))


def _lkw(minutes_ago: int | None) -> datetime | None:
    return None if minutes_ago is None else NOW - timedelta(minutes=minutes_ago)


def rarely(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """None about three times in four."""
    return st.one_of(st.none(), st.none(), st.none(), strategy)


def vital(normal: tuple[int, int], plausible: tuple[int, int]) -> st.SearchStrategy[int | None]:
    """Not recorded, normal (so that stable patients are common), or anywhere plausible."""
    return st.one_of(st.none(), st.integers(*normal), st.integers(*normal), st.integers(*plausible))


PATIENTS: Final[st.SearchStrategy[PatientFacts]] = st.builds(
    PatientFacts,
    age_years=st.one_of(st.none(), st.integers(0, 14), st.integers(15, 100)),  # children are a third
    hr=vital((55, 100), (20, 200)),
    sbp=vital((110, 160), (50, 220)),
    rr=vital((12, 20), (4, 45)),
    spo2=vital((94, 100), (70, 100)),
    on_oxygen=maybe(st.booleans()),
    temp_c=maybe(st.floats(34.0, 41.0)),
    avpu=maybe(st.sampled_from(ACVPU)),
    gcs_eye=vital((4, 4), (1, 4)),
    gcs_verbal=vital((5, 5), (1, 5)),
    gcs_motor=vital((6, 6), (1, 6)),
    suspected=maybe(st.sampled_from(SUSPECTED)),
    race=rarely(st.integers(0, 9)),
    lams=rarely(st.integers(0, 5)),
    # minutes ago: the 6-h window's edges, and a LKW after now (clock skew)
    last_known_well=maybe(st.one_of(st.sampled_from([360, 361]), st.integers(-10, 900))).map(_lkw),
    stemi=rarely(st.booleans()),
    triage_red=codes(RED_CODES),
    triage_yellow=codes(YELLOW),
    respiratory_support=st.integers(0, 9).map(lambda n: n == 0),
    lactate_mmol_l=rarely(st.floats(0.5, 10.0)),
)
FMC_ELAPSED: Final = maybe(st.integers(0, 150).map(lambda m: timedelta(minutes=m)))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    ids = [f"h{i}" for i in range(draw(st.integers(2, 8)))]
    region = tuple(
        replace(draw(HOSPITALS), id=hospital_id, name=f"Hospital {hospital_id}", illustrative=draw(ILLUSTRATIVE))
        for hospital_id in ids
    )
    current: dict[str, HospitalStatus | None] = {}
    etas: dict[str, float] = {}
    for hospital_id in ids:
        kind = draw(STATUS_KIND)
        if kind == 1:
            current[hospital_id] = None
        elif kind > 1:
            current[hospital_id] = msgspec.structs.replace(draw(STATUSES), hospital=hospital_id)
        if draw(REACHABLE) > 0:
            etas[hospital_id] = draw(ETA_S)
    return Case(facts=draw(PATIENTS), hospitals=region, statuses=current, etas=etas, fmc_elapsed=draw(FMC_ELAPSED))


# Oracle --------------------------------------------------------------------------------------------------------------
Accepts = Callable[[Hospital], bool]


def _stroke_capable(h: Hospital) -> bool:
    return h.stroke_level is not None


def _nearest(case: Case, fits: list[Hospital]) -> float | None:
    return min((case.etas[h.id] for h in fits), default=None)


def _pci_in_time(case: Case, needs: Needs) -> bool:
    elapsed = case.fmc_elapsed or timedelta(0)
    return any(
        h.pci and elapsed + timedelta(seconds=case.etas[h.id]) + CONFIG.door_to_device <= CONFIG.fmc_to_device_limit
        for h in case.usable(needs)
    )


def _trauma_pool(case: Case, needs: Needs) -> tuple[bool, list[Hospital]]:
    """(for a pediatric centre?, the usable trauma centres for this patient)."""
    usable = case.usable(needs)
    pediatric = [h for h in usable if h.trauma_centre_for(True)] if needs.pediatric else []
    return bool(pediatric), pediatric or [h for h in usable if h.trauma_centre_for(False)]


def _thrombectomy_in_detour(case: Case, needs: Needs) -> bool:
    usable = case.usable(needs)
    best = _nearest(case, [h for h in usable if h.thrombectomy])
    nearest = _nearest(case, [h for h in usable if _stroke_capable(h)])
    return best is not None and nearest is not None and best - nearest <= CONFIG.stroke_detour.total_seconds()


def kind(needs: Needs) -> str:
    """What the destination is chosen for: the patient's category decides (triage orders the categories), so a
    cardiac arrest goes to the nearest ED (a PCI centre only with a STEMI 12-lead), sepsis to any ED."""
    if needs.category == "stemi" or (needs.category == "cardiac_arrest" and needs.pci):
        return "pci"
    if needs.category in ("trauma_red", "trauma_yellow") and needs.trauma_centre is not None:
        return "trauma"
    if needs.category in ("stroke_lvo", "stroke"):
        return "stroke"
    return "obstetric" if needs.category == "obstetric" else "any"


def accepts(case: Case, needs: Needs) -> Accepts:
    """What kind of hospital this patient should go to, from the rules."""
    what = kind(needs)
    if what == "pci":
        return (lambda h: h.pci) if _pci_in_time(case, needs) else (lambda h: h.lytic)
    if what == "trauma":
        pediatric, pool = _trauma_pool(case, needs)
        level = min((h.trauma_level for h in pool if h.trauma_level is not None), default=None)
        if needs.trauma_centre == "any" or level is None:
            return lambda h: h.trauma_centre_for(pediatric)
        return lambda h: h.trauma_centre_for(pediatric) and h.trauma_level == level
    if what == "stroke":
        if needs.stroke == "thrombectomy" and _thrombectomy_in_detour(case, needs):
            return lambda h: h.thrombectomy
        return _stroke_capable
    if what == "obstetric":
        return lambda h: h.obstetric
    return lambda h: True


def appropriate(case: Case, needs: Needs) -> list[Hospital]:
    """The reachable hospitals of the right kind; every reachable one when none is."""
    fits = accepts(case, needs)
    return [h for h in case.reachable() if fits(h)] or case.reachable()


# Properties ----------------------------------------------------------------------------------------------------------
@FEW
@given(cases())
def test_top_choice_has_the_required_capability(case: Case) -> None:
    needs, rec = case.needs, case.rank()
    if rec.top is None:
        return
    top = case.hospital(rec.top)
    usable = case.usable(needs)
    what = kind(needs)
    if what == "pci":
        if _pci_in_time(case, needs):
            assert top.pci, rec
        elif any(h.lytic for h in usable):
            assert top.lytic, rec
    elif what == "trauma":
        pediatric, pool = _trauma_pool(case, needs)
        if pool:
            assert top.trauma_centre_for(pediatric), rec
            if needs.trauma_centre == "highest":
                assert top.trauma_level == min(h.trauma_level for h in pool if h.trauma_level is not None), rec
    elif what == "stroke":
        if any(_stroke_capable(h) for h in usable):
            assert top.stroke_level is not None, rec
        if needs.stroke == "thrombectomy" and _thrombectomy_in_detour(case, needs):
            assert top.thrombectomy, rec
    elif what == "obstetric" and any(h.obstetric for h in usable):
        assert top.obstetric, rec


@FEW
@given(cases())
def test_closed_top_only_when_unstable_or_every_appropriate_hospital_closed(case: Case) -> None:
    needs, rec = case.needs, case.rank()
    if rec.top is None or not case.closed(case.hospital(rec.top)):
        return
    assert needs.unstable or all(case.closed(h) for h in appropriate(case, needs)), rec
    reasons = rec.ranked[0].reasons
    assert any("too unstable to divert" in r or "every appropriate hospital is on diversion" in r for r in reasons)


@FEW
@given(cases())
def test_top_is_an_appropriate_hospital(case: Case) -> None:
    needs, rec = case.needs, case.rank()
    if rec.top is not None:
        assert case.hospital(rec.top) in appropriate(case, needs), rec


@FEW
@given(cases())
def test_reachable_means_a_ranking_with_reasons(case: Case) -> None:
    rec = case.rank()
    if case.reachable():
        assert rec.ranked
        assert rec.ranked[0].reasons
        assert all(reason for reason in rec.ranked[0].reasons)
    else:
        assert rec.ranked == ()
        assert rec.top is None
    assert all(e.reasons and all(e.reasons) for e in rec.excluded), rec.excluded


@FEW
@given(cases())
def test_ranked_and_excluded_partition_the_region(case: Case) -> None:
    rec = case.rank()
    ranked = [c.hospital for c in rec.ranked]
    left_out = [e.hospital for e in rec.excluded]
    assert len(set(ranked)) == len(ranked)
    assert len(set(left_out)) == len(left_out)
    assert set(ranked).isdisjoint(left_out)
    assert set(ranked) | set(left_out) == {h.id for h in case.hospitals}
    assert set(ranked) <= set(case.etas)
    for e in rec.excluded:
        if e.hospital not in case.etas:
            assert e.reasons == ("not reachable by road",)


@FEW
@given(cases())
def test_ranked_sorted_by_cost_with_delta_from_top(case: Case) -> None:
    needs, rec = case.needs, case.rank()
    costs = [c.cost_s for c in rec.ranked]
    assert costs == sorted(costs)
    if not rec.ranked:
        return
    top = rec.ranked[0]
    assert top.delta_s == 0
    for c in rec.ranked:
        assert c.eta_s == case.etas[c.hospital]
        assert c.delta_s == c.eta_s - top.eta_s  # may be < 0: a nearer hospital ranked lower on penalties
        assert c.cost_s >= c.eta_s  # penalties never reduce the cost
        if needs.unstable:
            assert c.cost_s == c.eta_s  # ranked by ETA alone
            assert c.delta_s >= 0


@FEW
@given(cases())
def test_stale_flag_matches_status_age(case: Case) -> None:
    for c in case.rank().ranked:
        status = case.statuses.get(c.hospital)
        expected = status is None or status.updated_at is None or NOW - status.updated_at > CONFIG.stale_after
        assert c.stale == expected
        assert c.traffic == ("unknown" if status is None else status.ems_traffic)


@FEW
@given(cases())
def test_rank_is_deterministic(case: Case) -> None:
    assert case.rank() == case.rank()


@FEW
@given(cases(), st.randoms(use_true_random=False))
def test_rank_does_not_depend_on_hospital_order(case: Case, rnd: random.Random) -> None:
    shuffled = list(case.hospitals)
    rnd.shuffle(shuffled)
    first, second = case.rank(), case.rank(tuple(shuffled))
    assert first.ranked == second.ranked
    assert sorted(first.excluded, key=lambda e: e.hospital) == sorted(second.excluded, key=lambda e: e.hospital)
