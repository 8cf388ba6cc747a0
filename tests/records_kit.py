"""Care records for the standards' tests: built the way the service builds them (``care_record.build`` from stored
events), for a handful of patients that between them reach every mapping."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from lxml import etree

from dispatch import nemsis
from dispatch.care_record import CareRecord, StoredEvent, build
from dispatch.outcome import OutcomeReport, check
from dispatch.protocol import (
    Assessment,
    DecisionSummary,
    IncidentState,
    Location,
    Status,
    TabletMessage,
    Treatment,
    Vitals,
    encoder,
)
from dispatch.region import Region, load
from dispatch.settings import Settings

T0: Final = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
AGENCY: Final = nemsis.Agency(state_id="PA-TEST", number="prealert-test", state="42")
NEMSIS_CASES: Final = Path(__file__).parent / "data" / "nemsis"
NS: Final = {"n": "http://www.nemsis.org"}
PCR: Final = "n:Header/n:PatientCareReport/"


def region() -> Region:
    return load(Settings().regions_dir, "pittsburgh")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Scenario:
    name: str
    messages: tuple[TabletMessage, ...]
    hospital: str | None
    outcome: OutcomeReport | None = None
    override: bool = False


def _status(seq: int, minutes: float, status: Any) -> Status:
    return Status(seq=seq, incident=1, taken_at=at(minutes), status=status)


def _all_statuses(start_seq: int) -> tuple[Status, ...]:
    moments = (("en_route", 2), ("on_scene", 9), ("at_patient", 10), ("transporting", 20), ("at_destination", 32))
    return tuple(_status(start_seq + i, m, s) for i, (s, m) in enumerate(moments))


def scenarios() -> list[Scenario]:
    r = region()
    pci = next(h.id for h in r.hospitals.values() if h.pci)
    stroke = next(h.id for h in r.hospitals.values() if h.thrombectomy)
    trauma = next(h.id for h in r.hospitals.values() if h.trauma_level == 1 and h.trauma_population == "pediatric")
    return [
        Scenario(
            "stemi-cath-lab",
            (
                *_all_statuses(1),
                Vitals(
                    seq=10,
                    incident=1,
                    taken_at=at(11),
                    hr=110,
                    sbp=85,
                    dbp=50,
                    spo2=93,
                    rr=24,
                    temp_c=37.2,
                    gcs_eye=4,
                    gcs_verbal=5,
                    gcs_motor=6,
                    avpu="A",
                    etco2_mmhg=35,
                    glucose_mg_dl=140,
                ),
                Assessment(
                    seq=11,
                    incident=1,
                    taken_at=at(12),
                    age_years=64,
                    sex="male",
                    chief_complaint="crushing chest pain",
                    suspected="stemi",
                    stemi=True,
                    treatments=(
                        Treatment(kind="drug", name="Aspirin", dose="300 mg", given_at=at(13)),
                        Treatment(kind="iv", name="IV 18G left arm", given_at=at(14)),
                        Treatment(kind="drug", name="Unlisted remedy", dose="1 tab", given_at=at(15)),
                    ),
                ),
                Vitals(seq=12, incident=1, taken_at=at(25), hr=104, sbp=92, spo2=95, rr=20),
            ),
            pci,
            OutcomeReport(
                disposition="cath_lab", diagnosis="Inferior STEMI", diagnosis_icd10="I21.19", balloon_at=at(32 + 41)
            ),
        ),
        Scenario(
            "stroke-race",
            (
                *_all_statuses(1),
                Vitals(
                    seq=10,
                    incident=1,
                    taken_at=at(11),
                    hr=88,
                    sbp=172,
                    dbp=95,
                    spo2=97,
                    rr=16,
                    gcs_eye=4,
                    gcs_verbal=4,
                    gcs_motor=6,
                    avpu="C",
                ),
                Assessment(
                    seq=11,
                    incident=1,
                    taken_at=at(12),
                    age_years=79,
                    sex="female",
                    suspected="stroke",
                    race=7,
                    last_known_well=at(-50),
                ),
            ),
            stroke,
            OutcomeReport(
                disposition="thrombolysed",
                diagnosis="Left MCA stroke",
                diagnosis_icd10="I63.512",
                needle_at=at(32 + 35),
            ),
        ),
        Scenario(
            "pediatric-trauma-red",
            (
                *_all_statuses(1),
                Assessment(
                    seq=10,
                    incident=1,
                    taken_at=at(10),
                    age_years=8,
                    sex="unknown",
                    suspected="trauma",
                    mechanism="cyclist struck by car",
                    triage_red=("skull_deformity", "sbp_low_for_age"),
                    triage_yellow=("pedestrian_cyclist_struck", "extrication"),
                    treatments=(
                        Treatment(kind="tourniquet", name="Tourniquet right thigh", given_at=at(11)),
                        Treatment(kind="airway", name="ETT 5.5", given_at=at(12)),
                    ),
                ),
                Vitals(
                    seq=11,
                    incident=1,
                    taken_at=at(13),
                    hr=150,
                    sbp=70,
                    rr=32,
                    spo2=88,
                    gcs_eye=2,
                    gcs_verbal=2,
                    gcs_motor=4,
                    avpu="P",
                    temp_c=35.4,
                ),
            ),
            trauma,
            OutcomeReport(disposition="died", diagnosis="Traumatic brain injury"),
            override=True,
        ),
        Scenario(
            "arrest-no-vitals",
            (*_all_statuses(1)[:3], Assessment(seq=10, incident=1, taken_at=at(10), suspected="cardiac_arrest")),
            pci,
        ),
        Scenario("no-destination-yet", (_status(1, 2, "en_route"),), None),
    ]


def stored(messages: tuple[TabletMessage, ...]) -> Iterator[StoredEvent]:
    for m in messages:
        tag = type(m).__struct_config__.tag
        assert isinstance(tag, str)
        yield StoredEvent(type=tag, taken_at=m.taken_at, received_at=m.taken_at, body=encoder.encode(m))


def record_of(s: Scenario) -> CareRecord:
    r = region()
    hospital = r.hospitals[s.hospital] if s.hospital else None
    decision = None
    if hospital is not None:
        decision = DecisionSummary(
            hospital=hospital.id,
            recommended="some-other" if s.override else hospital.id,
            override=s.override,
            reason_code="4220011" if s.override else "4220019",
            reason="On-Line/On-Scene Medical Direction" if s.override else "Protocol",
            reasons=("the ranking's reason",),
        )
    incident = IncidentState(
        id=1,
        region="pittsburgh",
        created_at=T0,
        location=Location(lat=40.44, lon=-79.99),
        complaint=s.name,
        priority=1,
        unit="M1",
        destination=s.hospital,
        decision=decision,
    )
    arrived = at(32)
    handed = (arrived, at(40)) if hospital is not None and len(s.messages) > 3 else None
    outcome = None
    if s.outcome is not None and hospital is not None:
        outcome = check(s.outcome, incident=1, hospital=hospital.id, arrived_at=arrived, now=at(200), by="dr-ed")
    return build(
        incident,
        stored(s.messages),
        assigned_at=at(1),
        destined_at=at(15) if hospital else None,
        acknowledged_at=at(16) if hospital else None,
        handed_over=handed,
        outcome=outcome,
        hospital=hospital,
        now=at(300),
    )


def texts(document: bytes, path: str) -> list[str]:
    """Every value at ``path`` (namespace prefix ``n:``) of a NEMSIS document, as text, in order."""
    root = etree.fromstring(document)
    return [(e.text or "").strip() for e in root.iterfind(path, NS)]


def instants(values: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(v) for v in values]
