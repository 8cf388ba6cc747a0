"""Destination ranking: which hospital can treat this patient best right now, and why. Pure: inputs in, ranking out.

1. What the patient needs (``triage.needs``) becomes a requirement on hospitals. Two rules depend on travel times
   and are applied here: the stroke bypass (an LVO patient within the window goes to a thrombectomy-capable centre
   when that adds at most ``stroke_detour`` over the nearest stroke-capable hospital) and the STEMI rule (a PCI
   centre when first-medical-contact-to-device can be within 120 min, the 90-min target stated; otherwise the
   nearest lytic-capable ED).
2. Hard constraints: a hospital without the required capability is excluded; a Closed (diversion) hospital is
   excluded unless the patient is too unstable to divert, who then goes to the nearest appropriate hospital.
   When every appropriate hospital is closed, the nearest appropriate one is named, with that reason.
3. The rest are ranked by cost: ETA plus configurable penalties for ED load, offload delay, Advisory status and a
   stale (or never reported) status. An unstable patient is ranked by ETA alone.
Every choice carries its reasons in words; the top choice's are never empty.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from msgspec import Struct

from dispatch import capacity
from dispatch.capacity import HospitalStatus
from dispatch.region import Hospital
from dispatch.triage import Needs


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    stroke_detour: timedelta = timedelta(minutes=15)
    fmc_to_device_target: timedelta = timedelta(minutes=90)
    fmc_to_device_limit: timedelta = timedelta(minutes=120)
    door_to_device: timedelta = timedelta(minutes=30)  # assumed in-hospital time, door to balloon
    stale_after: timedelta = timedelta(minutes=30)
    stale_penalty: timedelta = timedelta(minutes=5)
    advisory_penalty: timedelta = timedelta(minutes=5)
    full_ed_penalty: timedelta = timedelta(minutes=10)  # at census == capacity; linear from 80 % full
    offload_weight: float = 0.5  # minutes of penalty per minute of average offload delay


class Choice(Struct, frozen=True, kw_only=True):
    hospital: str
    name: str
    eta_s: int
    delta_s: int  # ETA minus the top choice's ETA
    cost_s: int
    traffic: str
    stale: bool
    reasons: tuple[str, ...]


class Excluded(Struct, frozen=True, kw_only=True):
    hospital: str
    name: str
    reasons: tuple[str, ...]


class Recommendation(Struct, frozen=True, kw_only=True):
    computed_at: datetime
    category: str
    needs: tuple[str, ...]
    missing: tuple[str, ...]
    ranked: tuple[Choice, ...]
    excluded: tuple[Excluded, ...]

    @property
    def top(self) -> str | None:
        return self.ranked[0].hospital if self.ranked else None


Phrase = Callable[[Hospital], str | None]


def _fixed(text: str | None) -> Phrase:
    return lambda _hospital: text


@dataclass(frozen=True, slots=True)
class _Requirement:
    accepts: Callable[[Hospital], bool]
    phrase: Phrase  # why this hospital is the kind needed, in its own numbers (for its reasons)
    lacking: str  # why a hospital without it is excluded
    capability: str | None = None  # the region-pack column it rests on (to flag illustrative values)
    too_far: Phrase | None = None  # for a hospital that has the capability but is out of the rule's time


def _minutes(seconds: float) -> int:
    return round(seconds / 60)


def _any_ed(phrase: str | None = None) -> _Requirement:
    return _Requirement(lambda h: True, _fixed(phrase), "")


class Ranker:
    """One ranking: the inputs, and the steps that turn them into a ``Recommendation``."""

    def __init__(
        self,
        needs: Needs,
        hospitals: Sequence[Hospital],
        statuses: Mapping[str, HospitalStatus | None],
        etas: Mapping[str, float],
        *,
        now: datetime,
        fmc_elapsed: timedelta | None,
        config: RoutingConfig,
    ) -> None:
        self.needs = needs
        self.hospitals = [h for h in hospitals if h.id in etas]
        self.unreachable = [h for h in hospitals if h.id not in etas]
        self.statuses = statuses
        self.etas = etas
        self.now = now
        self.fmc_elapsed = fmc_elapsed
        self.config = config

    def closed(self, hospital: Hospital) -> bool:
        status = self.statuses.get(hospital.id)
        return status is not None and status.ems_traffic == "Closed"

    def usable(self, hospital: Hospital) -> bool:
        return self.needs.unstable or not self.closed(hospital)

    def nearest(self, accepts: Callable[[Hospital], bool]) -> Hospital | None:
        fits = [h for h in self.hospitals if accepts(h) and self.usable(h)]
        return min(fits, key=lambda h: self.etas[h.id]) if fits else None

    # What kind of hospital ----------
    def requirement(self) -> _Requirement:
        """By the patient's category (triage decides its precedence), the hospitals that may take them."""
        category = self.needs.category
        if category == "stemi" or (category == "cardiac_arrest" and self.needs.pci):  # a STEMI 12-lead after ROSC
            return self._stemi()
        if category in ("trauma_red", "trauma_yellow") and self.needs.trauma_centre is not None:
            return self._trauma()
        if category in ("stroke_lvo", "stroke"):
            return self._stroke()
        if category == "obstetric":
            return _Requirement(
                lambda h: h.obstetric, _fixed("obstetric unit required"), "no obstetric unit", "obstetric"
            )
        return _any_ed()

    def _fmc_to_device(self, hospital: Hospital) -> timedelta:
        elapsed = self.fmc_elapsed or timedelta(0)
        return elapsed + timedelta(seconds=self.etas[hospital.id]) + self.config.door_to_device

    def _stemi(self) -> _Requirement:
        limit, target = self.config.fmc_to_device_limit, self.config.fmc_to_device_target

        def in_time(h: Hospital) -> bool:
            return h.pci and self._fmc_to_device(h) <= limit

        def phrase(h: Hospital) -> str:
            minutes = _minutes(self._fmc_to_device(h).total_seconds())
            note = "within" if self._fmc_to_device(h) <= target else "over"
            return (
                f"STEMI: PCI centre, FMC-to-device ~{minutes} min ({note} the {_minutes(target.total_seconds())}"
                f"-min target)"
            )

        def too_late(h: Hospital) -> str | None:
            late = self._fmc_to_device(h)
            if h.pci and late > limit:
                minutes, most = _minutes(late.total_seconds()), _minutes(limit.total_seconds())
                return f"PCI, but FMC-to-device ~{minutes} min (> {most})"
            return None

        if self.nearest(in_time) is not None:
            return _Requirement(in_time, phrase, "no PCI (cath lab)", "pci", too_late)
        nearest_pci = self.nearest(lambda h: h.pci)
        why = (
            f"STEMI: PCI not possible within {_minutes(limit.total_seconds())} min of FMC "
            f"(~{_minutes(self._fmc_to_device(nearest_pci).total_seconds())} min): nearest lytic-capable ED"
            if nearest_pci is not None
            else "STEMI: no open PCI centre reachable: nearest lytic-capable ED"
        )
        return _Requirement(lambda h: h.lytic, _fixed(why), "no fibrinolysis", "lytic")

    def _trauma(self) -> _Requirement:
        pediatric = self.needs.pediatric
        population = pediatric and self.nearest(lambda h: h.trauma_centre_for(True)) is not None
        label = "pediatric trauma centre" if population else "trauma centre"
        fallback = " (no open pediatric trauma centre: adult centre)" if pediatric and not population else ""
        why = f"field triage {self.needs.category.removeprefix('trauma_').upper()}"
        centres = [h for h in self.hospitals if h.trauma_centre_for(population) and h.trauma_level is not None]
        if self.needs.trauma_centre != "highest" or not centres:
            return _Requirement(
                lambda h: h.trauma_centre_for(population),
                _fixed(f"{label} required: {why}{fallback}"),
                f"not a {label}",
            )
        # The highest level available: among open centres, or (all closed) among all of them.
        open_levels = [h.trauma_level for h in centres if self.usable(h) and h.trauma_level is not None]
        best = min(open_levels or [h.trauma_level for h in centres if h.trauma_level is not None])
        return _Requirement(
            lambda h: h.trauma_centre_for(population) and h.trauma_level == best,
            _fixed(f"Level {best} {label} required: {why}{fallback}"),
            f"not a Level {best} {label}",
        )

    def _stroke(self) -> _Requirement:
        def any_stroke(h: Hospital) -> bool:
            return h.stroke_level is not None

        nearest = self.nearest(any_stroke)
        limit = self.config.stroke_detour.total_seconds()
        if self.needs.stroke == "thrombectomy" and nearest is not None:
            base = self.etas[nearest.id]

            def bypass(h: Hospital) -> bool:
                return h.thrombectomy and self.etas[h.id] - base <= limit

            def phrase(h: Hospital) -> str:
                return (
                    f"suspected LVO: thrombectomy-capable centre (adds {_minutes(self.etas[h.id] - base)} min, "
                    f"within {_minutes(limit)})"
                )

            def too_far(h: Hospital) -> str | None:
                detour = self.etas[h.id] - base
                if h.thrombectomy and detour > limit:
                    return f"thrombectomy centre, but adds {_minutes(detour)} min (> {_minutes(limit)})"
                return None

            if self.nearest(bypass) is not None:
                return _Requirement(bypass, phrase, "not thrombectomy-capable", "stroke_level", too_far)
            best = self.nearest(lambda h: h.thrombectomy)
            why = (
                f"suspected LVO, but a thrombectomy centre adds {_minutes(self.etas[best.id] - base)} min "
                f"(> {_minutes(limit)}): nearest stroke-capable hospital"
                if best is not None
                else "suspected LVO, no open thrombectomy centre: nearest stroke-capable hospital"
            )
            return _Requirement(any_stroke, _fixed(why), "not stroke-capable", "stroke_level")
        return _Requirement(
            any_stroke, _fixed("suspected stroke: stroke-capable hospital"), "not stroke-capable", "stroke_level"
        )

    # Which hospitals, in which order ----------
    def rank(self) -> Recommendation:
        requirement = self.requirement()
        capable = [h for h in self.hospitals if requirement.accepts(h)]
        excluded = [
            Excluded(hospital=h.id, name=h.name, reasons=self._lacking(h, requirement))
            for h in self.hospitals
            if not requirement.accepts(h)
        ]
        excluded += [Excluded(hospital=h.id, name=h.name, reasons=("not reachable by road",)) for h in self.unreachable]
        extra: list[str] = []
        if not capable:
            capable = list(self.hospitals)
            extra.append(f"no hospital in the region fits ({requirement.lacking}): nearest ED")
            excluded = [e for e in excluded if e.hospital not in {h.id for h in capable}]
        open_ = [h for h in capable if not self.closed(h)]
        if self.needs.unstable:
            chosen = capable
            overridden = len(open_) < len(capable)
            extra.append(
                "too unstable to divert: nearest appropriate hospital, diversion overridden"
                if overridden
                else "unstable: nearest appropriate hospital"
            )
        elif open_:
            chosen = open_
            excluded += [
                Excluded(hospital=h.id, name=h.name, reasons=(self._diversion(h),)) for h in capable if self.closed(h)
            ]
        else:
            chosen = capable
            extra.append("every appropriate hospital is on diversion: nearest appropriate hospital")
        return self._recommendation(chosen, excluded, requirement, extra)

    def _recommendation(
        self, chosen: list[Hospital], excluded: list[Excluded], requirement: _Requirement, extra: list[str]
    ) -> Recommendation:
        costed = sorted(((self._cost(h, requirement), h) for h in chosen), key=lambda pair: (pair[0][0], pair[1].id))
        top_eta = self.etas[costed[0][1].id] if costed else 0.0
        ranked = tuple(
            Choice(
                hospital=h.id,
                name=h.name,
                eta_s=round(self.etas[h.id]),
                delta_s=round(self.etas[h.id] - top_eta),
                cost_s=round(cost),
                traffic=self._traffic(h),
                stale=self._stale(h),
                reasons=tuple(r for r in (requirement.phrase(h), *extra, *penalties) if r),
            )
            for (cost, penalties), h in costed
        )
        return Recommendation(
            computed_at=self.now,
            category=self.needs.category,
            needs=self.needs.reasons,
            missing=self.needs.missing,
            ranked=ranked,
            excluded=tuple(excluded),
        )

    def _lacking(self, hospital: Hospital, requirement: _Requirement) -> tuple[str, ...]:
        """Why a hospital is excluded: its diversion first (the fact a dispatcher most needs), then the capability."""
        why = (requirement.too_far(hospital) if requirement.too_far else None) or requirement.lacking
        return (self._diversion(hospital), why) if self.closed(hospital) else (why,)

    def _traffic(self, hospital: Hospital) -> str:
        status = self.statuses.get(hospital.id)
        return status.ems_traffic if status is not None else "unknown"

    def _stale(self, hospital: Hospital) -> bool:
        return capacity.is_stale(self.statuses.get(hospital.id), self.now, self.config.stale_after)

    def _diversion(self, hospital: Hospital) -> str:
        status = self.statuses.get(hospital.id)
        assert status is not None
        since = status.ems_traffic_since or status.updated_at
        how_long = f" for {_minutes((self.now - since).total_seconds())} min" if since else ""
        why = f": {status.ems_traffic_reason}" if status.ems_traffic_reason else ""
        return f"on diversion{how_long}{why}"

    def _cost(self, hospital: Hospital, requirement: _Requirement) -> tuple[float, list[str]]:
        eta = self.etas[hospital.id]
        reasons = [f"ETA {_minutes(eta)} min"]
        if requirement.capability in hospital.illustrative:
            reasons.append(f"{requirement.capability} capability is illustrative, not from the source data")
        if self.closed(hospital):
            reasons.append(self._diversion(hospital))
        penalty = 0.0
        for seconds, why in self._penalties(hospital):
            penalty += seconds
            reasons.append(why)
        return (eta if self.needs.unstable else eta + penalty), reasons

    def _penalties(self, hospital: Hospital) -> list[tuple[float, str]]:
        status, cfg = self.statuses.get(hospital.id), self.config
        found: list[tuple[float, str]] = []
        current_age = capacity.age(status, self.now)
        if current_age is None:
            found.append((cfg.stale_penalty.total_seconds(), "no ED status reported"))
        elif current_age > cfg.stale_after:
            found.append(
                (cfg.stale_penalty.total_seconds(), f"status {_minutes(current_age.total_seconds())} min old (stale)")
            )
        if status is None:
            return found
        if status.ems_traffic == "Advisory":
            why = f": {status.ems_traffic_reason}" if status.ems_traffic_reason else ""
            found.append((cfg.advisory_penalty.total_seconds(), f"Advisory{why}"))
        load = capacity.load(status)
        if load is not None and load > 0.8:
            share = min(1.5, (load - 0.8) / 0.2)
            found.append((share * cfg.full_ed_penalty.total_seconds(), f"ED {round(load * 100)}% full"))
        if status.offload_minutes > 0 and (status.offload == "Delayed" or status.offload_minutes >= 20):
            found.append(
                (status.offload_minutes * 60 * cfg.offload_weight, f"offload delay {status.offload_minutes} min")
            )
        return found


def rank(
    needs: Needs,
    hospitals: Sequence[Hospital],
    statuses: Mapping[str, HospitalStatus | None],
    etas: Mapping[str, float],
    *,
    now: datetime,
    fmc_elapsed: timedelta | None = None,
    config: RoutingConfig | None = None,
) -> Recommendation:
    """Rank ``hospitals`` for a patient with ``needs``; ``etas`` (seconds) lists the reachable ones."""
    ranker = Ranker(
        needs, hospitals, statuses, etas, now=now, fmc_elapsed=fmc_elapsed, config=config or RoutingConfig()
    )
    return ranker.rank()
