"""The patient care record of one incident: everything the service knows of it, in one place, for the standards'
exports (NEMSIS, FHIR) and what is read back from them.

Pure. ``build`` assembles it from what PostgreSQL holds (the incident, its tablet events, its changes, the ED's
acknowledgement, handover and outcome); ``dispatch.nemsis_import`` makes one from a NEMSIS document. A record is a
msgspec Struct, so an imported one is stored as it was read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from dispatch import clinical, codes, derive, triage
from dispatch.outcome import Outcome
from dispatch.protocol import Assessment, IncidentState, Status, Vitals
from dispatch.region import Hospital

Source = Literal["prealert", "nemsis"]
_VITALS_FIELDS: Final = (
    "hr",
    "sbp",
    "dbp",
    "spo2",
    "rr",
    "temp_c",
    "gcs_eye",
    "gcs_verbal",
    "gcs_motor",
    "glucose_mg_dl",
    "etco2_mmhg",
    "avpu",
    "on_oxygen",
)


class RecordVitals(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One vitals set. ``gcs_total`` and ``rts`` are computed from the parts when they are all there (an imported set
    may carry only the total); ``stroke_scale`` is the scale in use with its score, when one was taken with it."""

    taken_at: datetime | None
    source: str = "manual"
    hr: int | None = None
    sbp: int | None = None
    dbp: int | None = None
    spo2: int | None = None
    rr: int | None = None
    temp_c: float | None = None
    gcs_eye: int | None = None
    gcs_verbal: int | None = None
    gcs_motor: int | None = None
    gcs_total: int | None = None
    glucose_mg_dl: int | None = None
    etco2_mmhg: float | None = None
    avpu: str | None = None
    on_oxygen: bool | None = None
    rts: float | None = None  # weighted (0-7.8408)
    rts_coded: int | None = None  # unweighted: the sum of the three codes (0-12), what NEMSIS eVitals.33 holds
    stroke_scale: str | None = None  # "race" | "lams" | a NEMSIS eVitals.30 code when imported
    stroke_score: int | None = None
    stroke_positive: bool | None = None


class RecordTreatment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: str  # drug | airway | iv | tourniquet | oxygen | other
    name: str
    dose: str | None = None
    given_at: datetime | None = None
    code: str | None = None  # RxNorm for a drug, SNOMED CT for a procedure
    code_type: str | None = None  # a drug's NEMSIS CodeType when it is not RxNorm (9924005: SNOMED CT)


class RecordEcg(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    taken_at: datetime
    interpretation: str | None = None
    stemi: bool | None = None


class RecordDestination(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where the patient went and why (eDisposition.20), with the hospital's capabilities (eDisposition.23 codes)."""

    name: str  # "" when a document did not name it (the national data set leaves names out)
    hospital: str | None = None  # the region pack's id; None for an imported record's hospital
    code: str | None = None  # the facility's code, when imported (eDisposition.02)
    state: str | None = None  # eDisposition.05-.07: state and county (FIPS) and ZIP code
    county: str | None = None
    zip: str | None = None
    lat: float | None = None
    lon: float | None = None
    capabilities: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    recommended: str | None = None
    override: bool = False
    reasons: tuple[str, ...] = ()


class CareRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    record_id: str  # eRecord.01: "prealert-<incident>", or the imported document's own
    uuid: str  # PatientCareReport/@UUID
    source: Source
    region: str
    incident: int | None = None
    unit: str | None = None
    times: dict[str, datetime] = {}  # keys: codes.ETIMES
    scene_lat: float | None = None
    scene_lon: float | None = None
    complaint: str = ""
    priority: int | None = None
    age_years: int | None = None
    sex: str | None = None
    chief_complaint: str | None = None
    suspected: str | None = None
    impression_icd10: str | None = None  # eSituation.11, when read from a document (else from ``suspected``)
    last_known_well: datetime | None = None
    stemi: bool | None = None
    mechanism: str | None = None
    triage_red: tuple[str, ...] = ()  # our codes (dispatch.triage)
    triage_yellow: tuple[str, ...] = ()
    notes: str | None = None
    vitals: tuple[RecordVitals, ...] = ()
    treatments: tuple[RecordTreatment, ...] = ()
    ecgs: tuple[RecordEcg, ...] = ()
    category: str | None = None  # the triage category at handover (dispatch.triage)
    prealert: str = codes.PREALERT_NONE  # eDisposition.24
    prealert_at: datetime | None = None  # eDisposition.25: the ED's board showed the patient
    acknowledged_at: datetime | None = None
    destination: RecordDestination | None = None
    transport: str | None = (
        None  # eDisposition.30 as read from a document; ours: by this unit when it had a destination
    )
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A tablet event as PostgreSQL holds it."""

    type: str
    taken_at: datetime
    received_at: datetime
    body: bytes


def capabilities(h: Hospital) -> tuple[str, ...]:
    """The hospital's eDisposition.23 codes, from the region pack."""
    found = [codes.GENERAL_HOSPITAL]
    if h.trauma_level is not None:
        found.append(codes.TRAUMA_LEVEL[h.trauma_level])
    if h.pediatric:
        found.append(codes.PEDIATRIC_CENTRE)
    if h.pci:
        found.append(codes.PCI_CAPABLE)
    if h.stroke_level is not None:
        found.append(codes.STROKE_LEVEL[h.stroke_level])
    if h.burn:
        found.append(codes.BURN_CENTRE)
    if h.obstetric:
        found.append(codes.LABOR_AND_DELIVERY)
    return tuple(found)


def vitals_of(v: Vitals | Mapping[str, Any], *, taken_at: datetime | None = None) -> RecordVitals:
    values = msgspec.structs.asdict(v) if isinstance(v, Vitals) else dict(v)
    picked: dict[str, Any] = {name: values.get(name) for name in _VITALS_FIELDS}
    gcs = clinical.gcs_total(eye=picked["gcs_eye"], verbal=picked["gcs_verbal"], motor=picked["gcs_motor"])
    rts = clinical.rts(gcs=gcs, sbp=picked["sbp"], rr=picked["rr"])
    return RecordVitals(
        taken_at=taken_at if taken_at is not None else values.get("taken_at"),
        source=values.get("source") or "manual",
        gcs_total=gcs,
        rts=rts.weighted if rts is not None else None,
        rts_coded=rts.gcs_code + rts.sbp_code + rts.rr_code if rts is not None else None,
        **picked,
    )


def _stroke(vitals: list[RecordVitals], assessment: Assessment) -> None:
    """A stroke scale taken with an assessment goes with the vitals set nearest in time (or a set of its own)."""
    scale = "race" if assessment.race is not None else "lams" if assessment.lams is not None else None
    if scale is None:
        return
    score = assessment.race if scale == "race" else assessment.lams
    assert score is not None
    scored: dict[str, Any] = {
        "stroke_scale": scale,
        "stroke_score": score,
        "stroke_positive": score >= codes.STROKE_SCALE_POSITIVE[scale],
    }
    if vitals:
        i = min(
            range(len(vitals)), key=lambda j: abs((vitals[j].taken_at or assessment.taken_at) - assessment.taken_at)
        )
        vitals[i] = msgspec.structs.replace(vitals[i], **scored)
    else:
        vitals.append(RecordVitals(taken_at=assessment.taken_at, **scored))


def _treatments(assessment: Assessment) -> Iterable[RecordTreatment]:
    for t in assessment.treatments:
        code = codes.rxnorm(t.name) if t.kind == "drug" else codes.PROCEDURES.get(t.kind)
        yield RecordTreatment(
            kind=t.kind, name=t.name, dose=t.dose, given_at=t.given_at, code=code[0] if code else None
        )


_ASSESSED: Final = (
    "age_years",
    "sex",
    "chief_complaint",
    "suspected",
    "last_known_well",
    "stemi",
    "mechanism",
    "notes",
    "triage_red",
    "triage_yellow",
)


def build(
    incident: IncidentState,
    events: Iterable[StoredEvent],
    *,
    assigned_at: datetime | None,
    destined_at: datetime | None,
    acknowledged_at: datetime | None,
    handed_over: tuple[datetime, datetime] | None,
    outcome: Outcome | None,
    hospital: Hospital | None,
    now: datetime,
) -> CareRecord:
    """The record of an incident from what is stored. Each assessment sets the fields it states (the latest wins);
    treatments add up; every status moment counts at its first report."""
    times: dict[str, datetime] = {"call": incident.created_at}
    if assigned_at is not None:
        times["unit_notified"] = assigned_at
    assessed: dict[str, Any] = {}
    vitals: list[RecordVitals] = []
    treatments: list[RecordTreatment] = []
    ecgs: list[RecordEcg] = []
    latest: dict[str, Any] = {}
    assessments: list[Assessment] = []
    for e in events:
        if e.type == "vitals":
            v = msgspec.json.decode(e.body, type=Vitals)
            vitals.append(vitals_of(v))
            latest = derive.merge(latest, v, None, _no_eta, e.received_at)
        elif e.type == "assessment":
            a = msgspec.json.decode(e.body, type=Assessment)
            assessments.append(a)
            for name in _ASSESSED:
                value = getattr(a, name)
                if value is not None and value != ():
                    assessed[name] = value
            treatments.extend(_treatments(a))
            latest = derive.merge(latest, a, None, _no_eta, e.received_at)
        elif e.type == "status":
            s = msgspec.json.decode(e.body, type=Status)
            times.setdefault(s.status, s.taken_at)
        elif e.type == "ecg12":
            ecg = msgspec.json.decode(e.body, type=_EcgHead)
            ecgs.append(RecordEcg(taken_at=ecg.taken_at, interpretation=ecg.interpretation, stemi=ecg.stemi))
            if ecg.stemi is not None:
                latest["stemi"] = ecg.stemi
    vitals.sort(key=lambda v: v.taken_at or now)
    for a in assessments:
        _stroke(vitals, a)
    if handed_over is not None:
        times.setdefault("at_destination", handed_over[0])
        times["transfer_of_care"] = handed_over[1]
    category = triage.needs(derive.facts(latest), now=times.get("at_destination", now)).category
    decision = incident.decision
    destination = None
    if hospital is not None:
        chosen = decision.reasons if decision is not None else ()
        destination = RecordDestination(
            name=hospital.name,
            hospital=hospital.id,
            lat=hospital.lat,
            lon=hospital.lon,
            capabilities=capabilities(hospital),
            reason_codes=(decision.reason_code,) if decision is not None else (),
            recommended=decision.recommended if decision is not None else None,
            override=decision.override if decision is not None else False,
            reasons=chosen,
        )
    age = assessed.get("age_years")
    stated: dict[str, Any] = {name: tuple(v) if isinstance(v, tuple) else v for name, v in assessed.items()}
    return CareRecord(
        record_id=f"prealert-{incident.id}",
        uuid=_uuid(incident.region, incident.id),
        source="prealert",
        region=incident.region,
        incident=incident.id,
        unit=incident.unit,
        times=times,
        scene_lat=incident.location.lat,
        scene_lon=incident.location.lon,
        complaint=incident.complaint,
        priority=incident.priority,
        vitals=tuple(vitals),
        treatments=tuple(treatments),
        ecgs=tuple(ecgs),
        category=category,
        prealert=codes.prealert_code(category, age) if destination is not None else codes.PREALERT_NONE,
        prealert_at=destined_at if destination is not None else None,
        acknowledged_at=acknowledged_at,
        destination=destination,
        outcome=outcome,
        **stated,
    )


class _EcgHead(msgspec.Struct, frozen=True):
    """An ecg12 event without its samples (about 120 KB that the record does not need)."""

    taken_at: datetime
    interpretation: str | None = None
    stemi: bool | None = None


def _no_eta(lat: float, lon: float, h: Hospital) -> float | None:
    return None


_NAMESPACE: Final = uuid.UUID("7a1f1e2c-9b3d-5c4e-8f60-70726561c0de")


def _uuid(region: str, incident: int) -> str:
    """A stable UUID per incident (version 5, under a namespace of our own), so a re-export is the same report."""
    return str(uuid.uuid5(_NAMESPACE, f"{region}/{incident}"))
