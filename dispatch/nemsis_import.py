"""A NEMSIS v3.5.1 EMSDataSet document read into care records (one per PatientCareReport).

Pure. The document must pass both official validators first (``dispatch.nemsis_validate``); a document that fails is
refused with the validators' own messages, and nothing of it is kept. What the record model holds is read: the
times, the patient, the complaint and impression, field-triage criteria, every vitals set, medications and
procedures, the destination with its capabilities and the reason for choosing it, the pre-arrival alert and its
time, and the ED outcome. The rest of the document is not kept (the original stays stored beside the record).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec
from lxml import etree

from dispatch import clinical, codes
from dispatch.care_record import CareRecord, RecordDestination, RecordEcg, RecordTreatment, RecordVitals
from dispatch.nemsis_validate import NEMSIS_NS, Report, parse, validate
from dispatch.outcome import Outcome

_NS: Final = {"n": NEMSIS_NS}
_ETIMES_FROM_NEMSIS: Final = {element: ours for ours, element in codes.ETIMES.items()}
_PROCEDURE_KIND: Final = {code: kind for kind, (code, _) in codes.PROCEDURES.items() if kind != "other"}
_RXNORM_NAME: Final = dict(codes.RXNORM.values())
_DOSE_UNIT_WORDS: Final = {code: words for words, code in reversed(codes.DOSE_UNITS.items())}
_EMERGENT: Final = ("2223001", "2223007")  # eResponse.23: Emergent, Non-Emergent Upgraded to Emergent


class ImportRefused(ValueError):
    """The document failed validation: ``messages`` are the validators' own."""

    def __init__(self, report: Report | None, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.report = report
        self.messages = messages


def read(document: bytes, *, region: str) -> list[CareRecord]:
    """The document's care records, or ImportRefused with the XSD's or the Schematron's messages."""
    try:
        report = validate(document)
    except ValueError as exc:
        raise ImportRefused(None, [str(exc)]) from None
    if not report.valid:
        raise ImportRefused(report, report.messages())
    root = parse(document).getroot()
    if etree.QName(root).localname != "EMSDataSet":
        raise ImportRefused(report, [f"expected an EMSDataSet document, not {etree.QName(root).localname}"])
    return [_record(pcr, region) for pcr in root.iterfind("n:Header/n:PatientCareReport", _NS)]


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, _NS)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def _texts(node: etree._Element, path: str) -> list[str]:
    return [e.text.strip() for e in node.iterfind(path, _NS) if e.text and e.text.strip()]


def _time(node: etree._Element, path: str) -> datetime | None:
    value = _text(node, path)
    return msgspec.convert(value, datetime) if value else None


def _float(node: etree._Element, path: str) -> float | None:
    """A number, or None: not recorded, or not a number (a diastolic pressure "p", palpated)."""
    value = _text(node, path)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(node: etree._Element, path: str) -> int | None:
    value = _float(node, path)
    return int(value) if value is not None else None


def _given(node: etree._Element) -> bool:
    """A medication or procedure group with a Pertinent Negative (``PN``: contraindicated, refused, ...) was not
    given: it is not a treatment."""
    return all(e.get("PN") is None for e in node)


def _point(value: str | None) -> tuple[float, float] | None:
    if not value or "," not in value:
        return None
    lat, lon = value.split(",", 1)
    return float(lat), float(lon)


def _record(pcr: etree._Element, region: str) -> CareRecord:
    times = {
        _ETIMES_FROM_NEMSIS[etree.QName(e).localname]: msgspec.convert(e.text.strip(), datetime)
        for e in pcr.iterfind("n:eTimes/*", _NS)
        if etree.QName(e).localname in _ETIMES_FROM_NEMSIS and e.text and e.text.strip()
    }
    scene = _point(_text(pcr, "n:eScene/n:eScene.11"))
    age_units = _text(pcr, "n:ePatient/n:ePatient.AgeGroup/n:ePatient.16")
    age = _int(pcr, "n:ePatient/n:ePatient.AgeGroup/n:ePatient.15")
    complaints = _texts(pcr, "n:eSituation/n:eSituation.PatientComplaintGroup/n:eSituation.04")
    treatments, ecgs = _care(pcr)
    response_mode = _text(pcr, "n:eResponse/n:eResponse.23")
    return CareRecord(
        record_id=_text(pcr, "n:eRecord/n:eRecord.01") or "",
        uuid=pcr.get("UUID") or "",
        source="nemsis",
        region=region,
        unit=_text(pcr, "n:eResponse/n:eResponse.14"),
        times=times,
        scene_lat=scene[0] if scene else None,
        scene_lon=scene[1] if scene else None,
        complaint=complaints[0] if complaints else "",
        priority=(1 if response_mode in _EMERGENT else 3) if response_mode else None,
        age_years=(age if age_units == codes.AGE_YEARS else 0) if age is not None else None,
        sex=codes.SEX_FROM_NEMSIS.get(_text(pcr, "n:ePatient/n:ePatient.25") or ""),
        chief_complaint=complaints[0] if complaints else None,
        impression_icd10=_text(pcr, "n:eSituation/n:eSituation.11"),
        last_known_well=_time(pcr, "n:eSituation/n:eSituation.18"),
        triage_red=tuple(
            dict.fromkeys(
                codes.TRIAGE_RED_FROM_NEMSIS[c]
                for c in _texts(pcr, "n:eInjury/n:eInjury.03")
                if c in codes.TRIAGE_RED_FROM_NEMSIS
            )
        ),
        triage_yellow=tuple(
            dict.fromkeys(
                codes.TRIAGE_YELLOW_FROM_NEMSIS[c]
                for c in _texts(pcr, "n:eInjury/n:eInjury.04")
                if c in codes.TRIAGE_YELLOW_FROM_NEMSIS
            )
        ),
        notes=_text(pcr, "n:eNarrative/n:eNarrative.01"),
        vitals=tuple(_vitals(g) for g in pcr.iterfind("n:eVitals/n:eVitals.VitalGroup", _NS)),
        treatments=treatments,
        ecgs=ecgs,
        prealert=_text(pcr, "n:eDisposition/n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24")
        or codes.PREALERT_NONE,
        prealert_at=_time(pcr, "n:eDisposition/n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.25"),
        destination=_destination(pcr),
        transport=_text(pcr, "n:eDisposition/n:eDisposition.IncidentDispositionGroup/n:eDisposition.30"),
        outcome=_outcome(pcr, times),
    )


def _vitals(g: etree._Element) -> RecordVitals:
    etco2 = g.find("n:eVitals.16", _NS)
    etco2_mmhg = (
        _float(g, "n:eVitals.16") if etco2 is not None and etco2.get("ETCO2Type") in (None, codes.ETCO2_MMHG) else None
    )
    eye = _int(g, "n:eVitals.GlasgowScoreGroup/n:eVitals.19")
    verbal = _int(g, "n:eVitals.GlasgowScoreGroup/n:eVitals.20")
    motor = _int(g, "n:eVitals.GlasgowScoreGroup/n:eVitals.21")
    total = _int(g, "n:eVitals.GlasgowScoreGroup/n:eVitals.23")
    sbp = _int(g, "n:eVitals.BloodPressureGroup/n:eVitals.06")
    rr = _int(g, "n:eVitals.14")
    gcs = clinical.gcs_total(eye=eye, verbal=verbal, motor=motor) or total
    rts = clinical.rts(gcs=gcs, sbp=sbp, rr=rr) if gcs is not None and 3 <= gcs <= 15 else None
    result = _text(g, "n:eVitals.StrokeScaleGroup/n:eVitals.29")
    return RecordVitals(
        taken_at=_time(g, "n:eVitals.01"),
        sbp=sbp,
        dbp=_int(g, "n:eVitals.BloodPressureGroup/n:eVitals.07"),
        hr=_int(g, "n:eVitals.HeartRateGroup/n:eVitals.10"),
        spo2=_int(g, "n:eVitals.12"),
        rr=rr,
        etco2_mmhg=etco2_mmhg,
        glucose_mg_dl=_int(g, "n:eVitals.18"),
        gcs_eye=eye,
        gcs_verbal=verbal,
        gcs_motor=motor,
        gcs_total=gcs,
        temp_c=_float(g, "n:eVitals.TemperatureGroup/n:eVitals.24"),
        avpu=codes.AVPU_FROM_NEMSIS.get(_text(g, "n:eVitals.26") or ""),
        rts=rts.weighted if rts is not None else None,
        rts_coded=_int(g, "n:eVitals.33"),
        stroke_scale=_text(g, "n:eVitals.StrokeScaleGroup/n:eVitals.30"),
        stroke_score=_int(g, "n:eVitals.StrokeScaleGroup/n:eVitals.34"),
        stroke_positive={"3329005": True, "3329001": False}.get(result or ""),
    )


def _care(pcr: etree._Element) -> tuple[tuple[RecordTreatment, ...], tuple[RecordEcg, ...]]:
    treatments: list[RecordTreatment] = []
    ecgs: list[RecordEcg] = []
    for g in pcr.iterfind("n:eMedications/n:eMedications.MedicationGroup", _NS):
        code = _text(g, "n:eMedications.03")
        if code is None or not _given(g):
            continue
        code_type = g.find("n:eMedications.03", _NS).get("CodeType")  # type: ignore[union-attr]
        amount, unit = (
            _text(g, "n:eMedications.DosageGroup/n:eMedications.05"),
            _text(g, "n:eMedications.DosageGroup/n:eMedications.06"),
        )
        dose = f"{amount} {_DOSE_UNIT_WORDS.get(unit or '', '')}".strip() if amount else None
        name = _RXNORM_NAME.get(code, f"{'SNOMED CT' if code_type == '9924005' else 'RxNorm'} {code}")
        given = _time(g, "n:eMedications.01")
        treatments.append(
            RecordTreatment(
                kind="drug",
                name=name,
                dose=dose,
                given_at=given,
                code=code,
                code_type=code_type if code_type != codes.RXNORM_CODE_TYPE else None,
            )
        )
    for g in pcr.iterfind("n:eProcedures/n:eProcedures.ProcedureGroup", _NS):
        code = _text(g, "n:eProcedures.03")
        at = _time(g, "n:eProcedures.01")
        if code is None or not _given(g):
            continue
        if code == codes.ECG_12_LEAD[0] and at is not None:
            ecgs.append(RecordEcg(taken_at=at))
            continue
        kind = _PROCEDURE_KIND.get(code, "other")
        name = codes.PROCEDURES[kind][1] if kind != "other" else f"SNOMED CT {code}"
        treatments.append(RecordTreatment(kind=kind, name=name, given_at=at, code=code))
    return tuple(treatments), tuple(ecgs)


def _destination(pcr: etree._Element) -> RecordDestination | None:
    """Where the patient was taken, as far as the document says (None when it says nothing of a destination)."""
    place = "n:eDisposition/n:eDisposition.DestinationGroup/n:"
    if not any(_text(pcr, place + f"eDisposition.{n:02d}") for n in range(1, 12)):
        return None
    point = _point(_text(pcr, place + "eDisposition.09"))
    return RecordDestination(
        name=_text(pcr, place + "eDisposition.01") or "",
        code=_text(pcr, place + "eDisposition.02"),
        state=_text(pcr, place + "eDisposition.05"),
        county=_text(pcr, place + "eDisposition.06"),
        zip=_text(pcr, place + "eDisposition.07"),
        lat=point[0] if point else None,
        lon=point[1] if point else None,
        capabilities=tuple(_texts(pcr, "n:eDisposition/n:eDisposition.23")),
        reason_codes=tuple(_texts(pcr, "n:eDisposition/n:eDisposition.20")),
    )


def _outcome(pcr: etree._Element, times: dict[str, datetime]) -> Outcome | None:
    disposition = codes.DISPOSITION_FROM_NEMSIS.get(_text(pcr, "n:eOutcome/n:eOutcome.01") or "")
    arrived = _time(pcr, "n:eOutcome/n:eOutcome.18") or times.get("at_destination")
    if disposition is None or arrived is None:
        return None
    diagnosis = _text(pcr, "n:eOutcome/n:eOutcome.10")
    return Outcome(
        incident=None,
        hospital=_text(pcr, "n:eDisposition/n:eDisposition.DestinationGroup/n:eDisposition.01") or "",
        disposition=disposition,  # type: ignore[arg-type]
        diagnosis=diagnosis or "not recorded",
        diagnosis_icd10=diagnosis,
        arrived_at=arrived,
        balloon_at=None,
        needle_at=None,
        door_to_balloon_min=None,
        door_to_needle_min=None,
        note=None,
        at=arrived,
        by="NEMSIS import",
    )
