"""A care record as a NEMSIS v3.5.1 EMSDataSet document (one PatientCareReport).

Pure: a ``CareRecord`` and the agency's identity in, XML bytes out. Every element the standard requires is present;
what the service does not know is sent as the standard's "Not Value" (``NV``): "Not Recorded" (7701003) where it
could have been known, "Not Applicable" (7701001) where it does not apply. The codes come from ``dispatch.codes``.
Times are sent in UTC with an explicit ``+00:00`` offset (the XSD requires an offset and refuses ``Z``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from lxml import etree

from dispatch import codes
from dispatch.care_record import CareRecord, RecordTreatment, RecordVitals
from dispatch.nemsis_validate import NEMSIS_NS

_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_N: Final = f"{{{NEMSIS_NS}}}"
_NIL: Final = f"{{{_XSI}}}nil"
SOFTWARE: Final = ("prealert project", "prealert", "0.1")  # eRecord.02-.04: creator, name, version
_DOSE: Final = re.compile(r"^\s*(\d{1,5}(?:\.\d{1,3})?)\s*([a-zA-Zµ/]+)\s*$")


@dataclass(frozen=True, slots=True)
class Agency:
    """Who reports: dAgency.01 (the state's id of the agency), .02 (agency number), .04 (state, FIPS code)."""

    state_id: str
    number: str
    state: str


def _time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


class _Builder:
    def __init__(self, root: etree._Element) -> None:
        self.node = root

    def group(self, name: str) -> _Builder:
        return _Builder(etree.SubElement(self.node, _N + name))

    def value(self, name: str, value: object, *, nv: str = codes.NOT_RECORDED, **attrs: str) -> None:
        el = etree.SubElement(self.node, _N + name)
        if value is None or value == "":
            el.set(_NIL, "true")
            el.set("NV", nv)
            return
        for k, v in attrs.items():
            el.set(k, v)
        el.text = (
            _time(value) if isinstance(value, datetime) else _number(value) if isinstance(value, float) else str(value)
        )

    def values(self, name: str, values: list[str] | tuple[str, ...], *, nv: str = codes.NOT_RECORDED) -> None:
        if not values:
            self.value(name, None, nv=nv)
        for v in dict.fromkeys(values):  # in order, once each
            self.value(name, v)


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def render(record: CareRecord, agency: Agency) -> bytes:
    return render_many([record], agency)


def render_many(records: Sequence[CareRecord], agency: Agency) -> bytes:
    """One EMSDataSet document: the agency's header, then a PatientCareReport per record (at least one)."""
    if not records:
        raise ValueError("an EMSDataSet holds at least one PatientCareReport")
    root = etree.Element(_N + "EMSDataSet", nsmap={None: NEMSIS_NS, "xsi": _XSI})  # type: ignore[dict-item]
    header = _Builder(etree.SubElement(root, _N + "Header"))
    demographic = header.group("DemographicGroup")
    demographic.value("dAgency.01", agency.state_id)
    demographic.value("dAgency.02", agency.number)
    demographic.value("dAgency.04", agency.state)
    for record in records:
        _report(header.group("PatientCareReport"), record, agency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _report(pcr: _Builder, record: CareRecord, agency: Agency) -> None:
    pcr.node.set("UUID", record.uuid)
    _record(pcr.group("eRecord"), record)
    _response(pcr.group("eResponse"), record, agency)
    _dispatch(pcr.group("eDispatch"), record)
    _times(pcr.group("eTimes"), record)
    _patient(pcr.group("ePatient"), record)
    payment = pcr.group("ePayment")
    payment.value("ePayment.01", None)
    payment.value("ePayment.50", None)
    _scene(pcr.group("eScene"), record)
    _situation(pcr.group("eSituation"), record)
    _injury(pcr.group("eInjury"), record)
    _arrest(pcr.group("eArrest"), record)
    history = pcr.group("eHistory")
    history.value("eHistory.01", None)
    history.value("eHistory.17", None)
    narrative = _narrative(record)
    if narrative:
        pcr.group("eNarrative").value("eNarrative.01", narrative)
    _vitals(pcr.group("eVitals"), record)
    pcr.group("eProtocols").group("eProtocols.ProtocolGroup").value("eProtocols.01", None)
    _medications(pcr.group("eMedications"), record)
    _procedures(pcr.group("eProcedures"), record)
    _disposition(pcr.group("eDisposition"), record)
    _outcome(pcr.group("eOutcome"), record)


def _record(b: _Builder, r: CareRecord) -> None:
    b.value("eRecord.01", r.record_id)
    software = b.group("eRecord.SoftwareApplicationGroup")
    for name, value in zip(("eRecord.02", "eRecord.03", "eRecord.04"), SOFTWARE, strict=True):
        software.value(name, value)


def _response(b: _Builder, r: CareRecord, agency: Agency) -> None:
    b.group("eResponse.AgencyGroup").value("eResponse.01", agency.number)
    number = f"{r.incident:03d}" if r.incident is not None else r.record_id  # at least 3 characters
    b.value("eResponse.03", number)
    b.value("eResponse.04", f"{number}-{r.unit}" if r.unit else number)
    b.group("eResponse.ServiceGroup").value("eResponse.05", "2205001")  # Emergency Response (Primary Response Area)
    b.value("eResponse.07", "2207015")  # Ground Transport (ALS Equipped)
    for name in ("eResponse.08", "eResponse.09", "eResponse.10", "eResponse.11", "eResponse.12"):
        b.value(name, None)
    b.value("eResponse.13", r.unit or "unknown")
    b.value("eResponse.14", r.unit or "unknown")
    b.value("eResponse.23", codes.EMERGENT.get(r.priority or 0, "2223001"))
    b.value("eResponse.24", None)


def _dispatch(b: _Builder, r: CareRecord) -> None:
    b.value("eDispatch.01", codes.DISPATCH_REASON[r.suspected or "general"])
    b.value("eDispatch.02", None)


def _times(b: _Builder, r: CareRecord) -> None:
    known = sorted(r.times.values())
    # eTimes.03 and .13 are Mandatory (no Not Value): when the crew sent no such moment, the nearest one the record
    # holds stands in (the call for the unit's notification; the last moment for back in service)
    stand_in = {"unit_notified": known[0] if known else None, "back_in_service": known[-1] if known else None}
    for ours, element in codes.ETIMES.items():
        b.value(element, r.times.get(ours) or stand_in.get(ours))


def _patient(b: _Builder, r: CareRecord) -> None:
    for name in ("ePatient.07", "ePatient.08", "ePatient.09"):  # home county, state, ZIP
        b.value(name, None)
    b.value("ePatient.13", None)
    b.value("ePatient.14", None)
    age = b.group("ePatient.AgeGroup")
    age.value("ePatient.15", r.age_years)
    age.value("ePatient.16", codes.AGE_YEARS if r.age_years is not None else None)
    b.value("ePatient.25", codes.SEX.get(r.sex or ""))


def _scene(b: _Builder, r: CareRecord) -> None:
    b.value("eScene.01", None)
    b.value("eScene.06", "2707005")  # Single: one patient per incident here
    b.value("eScene.07", "9923001")  # Mass casualty incident: No
    b.value("eScene.08", None, nv=codes.NOT_APPLICABLE)  # MCI triage classification
    b.value("eScene.09", None)
    if r.scene_lat is not None and r.scene_lon is not None:
        b.value("eScene.11", f"{r.scene_lat:.5f},{r.scene_lon:.5f}")
    for name in ("eScene.18", "eScene.19", "eScene.21"):
        b.value(name, None)


def _situation(b: _Builder, r: CareRecord) -> None:
    b.value("eSituation.01", None)
    trauma = r.suspected == "trauma" or bool(r.triage_red or r.triage_yellow)
    b.value("eSituation.02", "9922005" if trauma else None)
    complaint = r.chief_complaint or r.complaint
    if complaint:
        group = b.group("eSituation.PatientComplaintGroup")
        group.value("eSituation.03", "2803001")  # Chief (Primary)
        group.value("eSituation.04", complaint)
    site = codes.COMPLAINT_SITE.get(r.suspected or "")
    b.value("eSituation.07", site[0] if site else None)
    b.value("eSituation.08", site[1] if site else None)
    b.value("eSituation.09", None)
    b.value("eSituation.10", None)
    impression = codes.SUSPECTED.get(r.suspected or "")
    b.value("eSituation.11", r.impression_icd10 or (impression[2] if impression else None))
    b.value("eSituation.12", None)
    b.value("eSituation.13", codes.ACUITY[r.category][0] if r.category in codes.ACUITY else None)
    b.value("eSituation.18", r.last_known_well)
    b.value("eSituation.20", None, nv=codes.NOT_APPLICABLE)


def _injury(b: _Builder, r: CareRecord) -> None:
    trauma = r.suspected == "trauma" or bool(r.triage_red or r.triage_yellow)
    na = codes.NOT_RECORDED if trauma else codes.NOT_APPLICABLE
    b.value("eInjury.01", None, nv=na)
    red = [
        codes.triage_red_code(c, r.age_years) for c in r.triage_red if c in codes.TRIAGE_RED or c == "sbp_low_for_age"
    ]
    b.values("eInjury.03", red, nv=codes.NOT_APPLICABLE)
    b.values(
        "eInjury.04",
        [codes.TRIAGE_YELLOW[c] for c in r.triage_yellow if c in codes.TRIAGE_YELLOW],
        nv=codes.NOT_APPLICABLE,
    )


def _arrest(b: _Builder, r: CareRecord) -> None:
    arrest = r.suspected == "cardiac_arrest" or r.category == "cardiac_arrest"
    b.value("eArrest.01", "3001003" if arrest else "3001001")
    nv = codes.NOT_RECORDED if arrest else codes.NOT_APPLICABLE
    for name in (
        "eArrest.02", "eArrest.03", "eArrest.04", "eArrest.07", "eArrest.09", "eArrest.11", "eArrest.12",
        "eArrest.14", "eArrest.16", "eArrest.17", "eArrest.18", "eArrest.20", "eArrest.21", "eArrest.22",
    ):  # fmt: skip
        b.value(name, None, nv=nv)


def _narrative(r: CareRecord) -> str:
    lines = []
    if r.complaint:
        lines.append(f"Call: {r.complaint}")
    if r.mechanism:
        lines.append(f"Mechanism: {r.mechanism}")
    uncoded = [t for t in r.treatments if t.kind == "drug" and t.code is None]
    for t in uncoded:
        lines.append(f"Medication given (no RxNorm code known here): {t.name} {t.dose or ''}".rstrip())
    for ecg in r.ecgs:
        reading = ecg.interpretation or ("STEMI" if ecg.stemi else "no interpretation")
        lines.append(f"12-lead ECG at {_time(ecg.taken_at)}: {reading}")
    if r.notes:
        lines.append(r.notes)
    return "\n".join(lines)


def _vitals(b: _Builder, r: CareRecord) -> None:
    for v in r.vitals or (RecordVitals(taken_at=None),):
        _vital_group(b.group("eVitals.VitalGroup"), v)


def _vital_group(g: _Builder, v: RecordVitals) -> None:
    g.value("eVitals.01", v.taken_at)
    g.value("eVitals.02", codes.OBTAINED_PRIOR_NO)
    rhythm = g.group("eVitals.CardiacRhythmGroup")
    for name in ("eVitals.03", "eVitals.04", "eVitals.05"):
        rhythm.value(name, None)
    bp = g.group("eVitals.BloodPressureGroup")
    bp.value("eVitals.06", v.sbp)
    if v.dbp is not None:
        bp.value("eVitals.07", v.dbp)
    g.group("eVitals.HeartRateGroup").value("eVitals.10", v.hr)
    g.value("eVitals.12", v.spo2)
    g.value("eVitals.14", v.rr)
    if v.etco2_mmhg is not None:
        g.value("eVitals.16", v.etco2_mmhg, ETCO2Type=codes.ETCO2_MMHG)
    else:
        g.value("eVitals.16", None)
    g.value("eVitals.18", v.glucose_mg_dl)
    gcs = g.group("eVitals.GlasgowScoreGroup")
    gcs.value("eVitals.19", v.gcs_eye)
    gcs.value("eVitals.20", v.gcs_verbal)
    gcs.value("eVitals.21", v.gcs_motor)
    gcs.value("eVitals.22", None)
    if v.gcs_total is not None:
        gcs.value("eVitals.23", v.gcs_total)
    if v.temp_c is not None:
        g.group("eVitals.TemperatureGroup").value("eVitals.24", v.temp_c)
    g.value("eVitals.26", codes.AVPU.get(v.avpu or ""))
    g.group("eVitals.PainScaleGroup").value("eVitals.27", None)
    stroke = g.group("eVitals.StrokeScaleGroup")
    stroke.value("eVitals.29", codes.STROKE_RESULT[v.stroke_positive] if v.stroke_positive is not None else None)
    scale = codes.STROKE_SCALE_TYPE.get(v.stroke_scale or "", v.stroke_scale)
    stroke.value("eVitals.30", scale)
    if v.stroke_score is not None:
        stroke.value("eVitals.34", v.stroke_score)
    g.value("eVitals.31", None)
    if v.rts_coded is not None:
        g.value("eVitals.33", v.rts_coded)


def dose(text: str | None) -> tuple[str, str] | None:
    """("300", "3706021") from "300 mg": the amount and its eMedications.06 unit, when the dose reads that way."""
    found = _DOSE.match(text or "")
    if found is None or found.group(2).lower() not in codes.DOSE_UNITS:
        return None
    return found.group(1), codes.DOSE_UNITS[found.group(2).lower()]


def _medications(b: _Builder, r: CareRecord) -> None:
    drugs = [t for t in r.treatments if t.kind == "drug" and t.code is not None]
    if not drugs:
        _no_medication(b.group("eMedications.MedicationGroup"))
    for t in drugs:
        _medication(b.group("eMedications.MedicationGroup"), t)


def _no_medication(g: _Builder) -> None:
    for name in ("eMedications.01", "eMedications.02", "eMedications.03", "eMedications.04"):
        g.value(name, None, nv=codes.NOT_APPLICABLE)
    dosage = g.group("eMedications.DosageGroup")
    dosage.value("eMedications.05", None, nv=codes.NOT_APPLICABLE)
    dosage.value("eMedications.06", None, nv=codes.NOT_APPLICABLE)
    for name in ("eMedications.07", "eMedications.08", "eMedications.10"):
        g.value(name, None, nv=codes.NOT_APPLICABLE)


def _medication(g: _Builder, t: RecordTreatment) -> None:
    g.value("eMedications.01", t.given_at)
    g.value("eMedications.02", codes.OBTAINED_PRIOR_NO)
    g.value("eMedications.03", t.code, CodeType=t.code_type or codes.RXNORM_CODE_TYPE)
    g.value("eMedications.04", None)
    amount = dose(t.dose)
    dosage = g.group("eMedications.DosageGroup")
    dosage.value("eMedications.05", amount[0] if amount else None)
    dosage.value("eMedications.06", amount[1] if amount else None)
    for name in ("eMedications.07", "eMedications.08", "eMedications.10"):
        g.value(name, None)


def _procedures(b: _Builder, r: CareRecord) -> None:
    done: list[tuple[datetime | None, str]] = [
        (t.given_at, t.code or codes.PROCEDURES["other"][0]) for t in r.treatments if t.kind != "drug"
    ]
    done += [(ecg.taken_at, codes.ECG_12_LEAD[0]) for ecg in r.ecgs]
    if not done:
        g = b.group("eProcedures.ProcedureGroup")
        for name in ("eProcedures.01", "eProcedures.02", "eProcedures.03", "eProcedures.05", "eProcedures.06",
                     "eProcedures.07", "eProcedures.08", "eProcedures.10"):  # fmt: skip
            g.value(name, None, nv=codes.NOT_APPLICABLE)
    for at, code in done:
        g = b.group("eProcedures.ProcedureGroup")
        g.value("eProcedures.01", at)
        g.value("eProcedures.02", codes.OBTAINED_PRIOR_NO)
        g.value("eProcedures.03", code)
        for name in ("eProcedures.05", "eProcedures.06", "eProcedures.07", "eProcedures.08", "eProcedures.10"):
            g.value(name, None)


def _disposition(b: _Builder, r: CareRecord) -> None:
    d = r.destination
    place = b.group("eDisposition.DestinationGroup")
    if d is not None and d.name:
        place.value("eDisposition.01", d.name)
    if d is not None and d.code:
        place.value("eDisposition.02", d.code)
    place.value("eDisposition.05", d.state if d else None)
    place.value("eDisposition.06", d.county if d else None)
    place.value("eDisposition.07", d.zip if d else None)
    if d is not None and d.lat is not None and d.lon is not None:
        place.value("eDisposition.09", f"{d.lat:.5f},{d.lon:.5f}")
    transported = d is not None
    outcome = b.group("eDisposition.IncidentDispositionGroup")
    transport = r.transport or ("4230001" if transported else "4230013")  # by this unit / no transport
    outcome.value("eDisposition.27", "4227001")  # Patient Contact Made
    outcome.value("eDisposition.28", "4228001")  # Patient Evaluated and Care Provided
    outcome.value("eDisposition.29", "4229001")  # Initiated and Continued Primary Care
    outcome.value("eDisposition.30", transport)
    transported = transport in ("4230001", "4230003")
    na = codes.NOT_RECORDED if transported else codes.NOT_APPLICABLE
    b.value("eDisposition.16", "4216005" if transported else None, nv=na)  # Ground-Ambulance
    b.value("eDisposition.17", codes.TRANSPORT_MODE.get(r.priority or 0) if transported else None, nv=na)
    b.value("eDisposition.18", None, nv=na)
    b.value("eDisposition.19", codes.ACUITY[r.category][1] if r.category in codes.ACUITY else None)
    b.values("eDisposition.20", list(d.reason_codes) if d else [], nv=na)
    b.value("eDisposition.21", codes.EMERGENCY_DEPARTMENT if transported else None, nv=na)
    b.value("eDisposition.22", None, nv=na)
    b.values("eDisposition.23", list(d.capabilities) if d else [], nv=na)
    alert = b.group("eDisposition.HospitalTeamActivationGroup")
    alert.value("eDisposition.24", r.prealert)
    alert.value(
        "eDisposition.25",
        r.prealert_at if r.prealert != codes.PREALERT_NONE else None,
        nv=codes.NOT_APPLICABLE if r.prealert == codes.PREALERT_NONE else codes.NOT_RECORDED,
    )
    b.value("eDisposition.32", "4232005")  # ALS - Paramedic


def _outcome(b: _Builder, r: CareRecord) -> None:
    o = r.outcome
    nv = codes.NOT_RECORDED if r.destination is not None else codes.NOT_APPLICABLE
    code = codes.DISPOSITIONS[o.disposition] if o is not None else None
    b.value("eOutcome.01", code.ed if code else None, nv=nv)
    b.value("eOutcome.02", None, nv=nv)
    procedure = code.procedure if code else None
    ed = b.group("eOutcome.EmergencyDepartmentProceduresGroup")
    when = (o.balloon_at or o.needle_at) if o is not None else None
    ed.value("eOutcome.09", procedure[0] if procedure else None, nv=nv)
    ed.value("eOutcome.19", when if procedure else None, nv=nv)
    b.value("eOutcome.10", o.diagnosis_icd10 if o is not None else None, nv=nv)
    b.value("eOutcome.11", None, nv=nv)
    hospital = b.group("eOutcome.HospitalProceduresGroup")
    hospital.value("eOutcome.12", None, nv=nv)
    hospital.value("eOutcome.20", None, nv=nv)
    b.value("eOutcome.13", None, nv=nv)
    b.value("eOutcome.16", None, nv=nv)
    b.value("eOutcome.18", o.arrived_at if o is not None else r.times.get("at_destination"), nv=nv)
