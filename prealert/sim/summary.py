"""What a simulated run comes to: per patient, and the figures printed at the end. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dispatch import triage
from dispatch.region import Hospital, Region
from prealert.client import TabletClient
from prealert.sim.city import Condition
from prealert.sim.patients import Patient


@dataclass
class PatientRecord:
    """One simulated patient; times are simulation seconds."""

    incident: int
    condition: Condition
    patient: Patient
    created_s: float
    unit: str | None = None
    location: tuple[float, float] | None = None
    assigned_s: float | None = None
    contact_s: float | None = None
    hospital: str | None = None
    transport_etas: dict[str, float] | None = None  # driving seconds to each hospital from where transport began
    prealert_s: float | None = None  # the destination was set: the ED's feed has the patient from here
    ack_s: float | None = None
    arrived_s: float | None = None
    handed_s: float | None = None
    cleared_s: float | None = None


def needed(record: PatientRecord) -> triage.Needs:
    """What the patient needs, by the clinical rules (``dispatch.triage``) applied to what the crew recorded: an
    independent check of where the router sent them."""
    p = record.patient
    known = triage.PatientFacts.__dataclass_fields__
    recorded: dict[str, Any] = {"age_years": p.age_years, **p.manual_set(0, on_oxygen=False)}
    for _, fields in p.assessments(datetime.now(UTC)):
        recorded.update(fields)
    facts = {k: v for k, v in recorded.items() if k in known}
    for name in ("triage_red", "triage_yellow"):
        facts[name] = tuple(facts.get(name, ()))
    if isinstance(facts.get("last_known_well"), str):
        facts["last_known_well"] = datetime.fromisoformat(facts["last_known_well"])
    return triage.needs(triage.PatientFacts(**facts), now=datetime.now(UTC))


def capable(
    hospital: Hospital, needs: triage.Needs, region: Region, etas: Mapping[str, float], detour_s: float = 900.0
) -> bool:
    """Whether the hospital has what the patient needed, by the rules file: PCI for a STEMI; for a stroke with LVO a
    thrombectomy-capable centre, unless the nearest one adds more than the detour limit (15 min) over the nearest
    stroke-capable hospital (``etas``: driving seconds from where the transport began); a stroke-capable hospital
    for any stroke; a trauma centre for the patient's age group, the highest level for RED."""
    if needs.pci and not hospital.pci:
        return False
    if needs.stroke == "thrombectomy" and not hospital.thrombectomy:
        reachable = {h: etas[h] for h in etas if region.hospitals[h].stroke_level is not None}
        thrombectomy = [t for h, t in reachable.items() if region.hospitals[h].thrombectomy]
        too_far = not thrombectomy or min(thrombectomy) - min(reachable.values(), default=0.0) > detour_s
        if not (too_far and hospital.stroke_level is not None):
            return False
    if needs.stroke == "any" and hospital.stroke_level is None:
        return False
    if needs.trauma_centre is not None and not hospital.trauma_centre_for(needs.pediatric):
        return False
    return not (needs.trauma_centre == "highest" and hospital.trauma_level != 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Summary:
    patients: int
    delivered: int
    capable: int
    lead_min: list[float]  # per delivered patient: minutes the ED had the pre-alert before the patient arrived
    ack_min: list[float]  # minutes from the pre-alert to the ED's acknowledgement
    by_hospital: dict[str, int]
    by_condition: dict[str, dict[str, int]]
    misrouted: list[str]
    sent: int
    acked: int
    lost: int
    renumbered: int

    def table(self) -> str:
        def stats(values: list[float]) -> str:
            p10, p50, p90 = (percentile(values, q) for q in (0.1, 0.5, 0.9))
            if p10 is None or p50 is None or p90 is None:
                return "n/a"
            return f"p10 {p10:.1f} · median {p50:.1f} · p90 {p90:.1f} min"

        lines = [
            f"patients {self.patients}, delivered {self.delivered}, to a capable hospital {self.capable}",
            f"pre-alert lead time (ED had it before arrival): {stats(self.lead_min)}",
            f"ED acknowledgement after the pre-alert: {stats(self.ack_min)}",
            "destinations: " + ", ".join(f"{h} {n}" for h, n in sorted(self.by_hospital.items())),
        ]
        for condition, hospitals in sorted(self.by_condition.items()):
            lines.append(f"  {condition}: " + ", ".join(f"{h} {n}" for h, n in sorted(hospitals.items())))
        lines.append(
            f"messages sent {self.sent}, acked {self.acked}, lost {self.lost}, resent under a new seq {self.renumbered}"
        )
        lines += [f"MISROUTED {line}" for line in self.misrouted]
        return "\n".join(lines)


def summarise(records: list[PatientRecord], clients: list[TabletClient], region: Region) -> Summary:
    delivered = [r for r in records if r.arrived_s is not None and r.hospital is not None]
    misrouted = []
    by_condition: dict[str, Counter[str]] = {}
    for r in delivered:
        assert r.hospital is not None
        by_condition.setdefault(r.condition, Counter())[r.hospital] += 1
        needs = needed(r)
        if not capable(region.hospitals[r.hospital], needs, region, r.transport_etas or {}):
            misrouted.append(f"#{r.incident} {r.condition} ({needs.category}) -> {r.hospital}")
    sent = sum(c.next_seq - 1 for c in clients)
    lost = sum(len(c.outbox) for c in clients)
    return Summary(
        patients=len(records),
        delivered=len(delivered),
        capable=len(delivered) - len(misrouted),
        lead_min=[(r.arrived_s - r.prealert_s) / 60 for r in delivered if r.arrived_s and r.prealert_s],
        ack_min=[(r.ack_s - r.prealert_s) / 60 for r in delivered if r.ack_s and r.prealert_s],
        by_hospital=dict(Counter(r.hospital for r in delivered if r.hospital)),
        by_condition={c: dict(h) for c, h in by_condition.items()},
        misrouted=misrouted,
        sent=sent,
        acked=sent - lost,
        lost=lost,
        renumbered=sum(c.renumbered for c in clients),
    )
