"""NEMSIS v3.5.1: every export of every test scenario passes the official XSD and national Schematron with no
error-level assertion; the official 2025 compliance cases are read in and exported again without losing their times,
vitals, destination or alert; the cases built to fail are refused with the validator's message."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch import codes, nemsis
from dispatch.care_record import CareRecord
from dispatch.nemsis_import import ImportRefused, read
from dispatch.nemsis_validate import NemsisDocumentError, validate
from tests.records_kit import AGENCY, NEMSIS_CASES, at, instants, record_of, scenarios, texts

SCENARIOS = {s.name: s for s in scenarios()}
CASES = sorted((NEMSIS_CASES / "full").glob("*EMS*.xml")) + sorted((NEMSIS_CASES / "national").glob("*EMS*.xml"))
PCR = "n:Header/n:PatientCareReport/"


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_exports_valid_nemsis(name: str) -> None:
    report = validate(nemsis.render(record_of(SCENARIOS[name]), AGENCY))
    assert report.schema_errors == ()
    assert report.errors == (), report.messages()


def _document(name: str) -> bytes:
    return nemsis.render(record_of(SCENARIOS[name]), AGENCY)


def test_stemi_export_holds_times_vitals_treatments_destination_alert_and_outcome() -> None:
    doc = _document("stemi-cath-lab")
    times = {e: texts(doc, PCR + f"n:eTimes/n:{e}") for e in codes.ETIMES.values()}
    assert instants(times["eTimes.01"]) == [at(0)]
    assert instants(times["eTimes.03"]) == [at(1)]
    assert instants(times["eTimes.05"]) == [at(2)]
    assert instants(times["eTimes.06"]) == [at(9)]
    assert instants(times["eTimes.07"]) == [at(10)]
    assert instants(times["eTimes.09"]) == [at(20)]
    assert instants(times["eTimes.11"]) == [at(32)]
    assert instants(times["eTimes.12"]) == [at(40)]
    group = PCR + "n:eVitals/n:eVitals.VitalGroup/"
    assert texts(doc, group + "n:eVitals.BloodPressureGroup/n:eVitals.06") == ["85", "92"]
    assert texts(doc, group + "n:eVitals.BloodPressureGroup/n:eVitals.07") == ["50"]
    assert texts(doc, group + "n:eVitals.HeartRateGroup/n:eVitals.10") == ["110", "104"]
    assert texts(doc, group + "n:eVitals.12") == ["93", "95"]
    assert texts(doc, group + "n:eVitals.14") == ["24", "20"]
    assert texts(doc, group + "n:eVitals.16") == ["35", ""]
    assert texts(doc, group + "n:eVitals.18") == ["140", ""]
    assert texts(doc, group + "n:eVitals.GlasgowScoreGroup/n:eVitals.23") == ["15"]
    assert texts(doc, group + "n:eVitals.TemperatureGroup/n:eVitals.24") == ["37.2"]
    assert texts(doc, group + "n:eVitals.26") == ["3326001", ""]
    assert texts(doc, group + "n:eVitals.33") == ["11"]  # GCS 15 -> 4, SBP 85 -> 3, RR 24 -> 4
    assert texts(doc, PCR + "n:eMedications/n:eMedications.MedicationGroup/n:eMedications.03") == ["1191"]
    dosage = PCR + "n:eMedications/n:eMedications.MedicationGroup/n:eMedications.DosageGroup/"
    assert texts(doc, dosage + "n:eMedications.05") == ["300"]
    assert texts(doc, dosage + "n:eMedications.06") == ["3706021"]
    assert texts(doc, PCR + "n:eProcedures/n:eProcedures.ProcedureGroup/n:eProcedures.03") == ["392230005"]
    assert "Unlisted remedy 1 tab" in texts(doc, PCR + "n:eNarrative/n:eNarrative.01")[0]
    d = PCR + "n:eDisposition/"
    assert texts(doc, d + "n:eDisposition.20") == ["4220019"]
    assert "9908031" in texts(doc, d + "n:eDisposition.23")
    assert texts(doc, d + "n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24") == ["4224013"]
    assert instants(texts(doc, d + "n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.25")) == [at(15)]
    o = PCR + "n:eOutcome/"
    assert texts(doc, o + "n:eOutcome.01") == ["09"]
    assert texts(doc, o + "n:eOutcome.EmergencyDepartmentProceduresGroup/n:eOutcome.09") == ["02703ZZ"]
    assert instants(texts(doc, o + "n:eOutcome.EmergencyDepartmentProceduresGroup/n:eOutcome.19")) == [at(73)]
    assert texts(doc, o + "n:eOutcome.10") == ["I21.19"]
    assert texts(doc, PCR + "n:eSituation/n:eSituation.11") == ["I21.3"]


def test_stroke_export_holds_scale_last_known_well_and_thrombolysis() -> None:
    doc = _document("stroke-race")
    group = PCR + "n:eVitals/n:eVitals.VitalGroup/n:eVitals.StrokeScaleGroup/"
    assert texts(doc, group + "n:eVitals.29") == ["3329005"]  # RACE 7: positive
    assert texts(doc, group + "n:eVitals.30") == ["3330021"]
    assert texts(doc, group + "n:eVitals.34") == ["7"]
    assert instants(texts(doc, PCR + "n:eSituation/n:eSituation.18")) == [at(-50)]
    assert texts(doc, PCR + "n:eVitals/n:eVitals.VitalGroup/n:eVitals.26") == ["3326003"]  # C (new confusion): V
    assert texts(doc, PCR + "n:eOutcome/n:eOutcome.EmergencyDepartmentProceduresGroup/n:eOutcome.09") == ["3E03317"]


def test_pediatric_trauma_export_holds_field_triage_and_the_override_reason() -> None:
    doc = _document("pediatric-trauma-red")
    assert texts(doc, PCR + "n:eInjury/n:eInjury.03") == ["2903009", "2903029"]  # skull; SBP low for age 0-9
    assert texts(doc, PCR + "n:eInjury/n:eInjury.04") == ["2904001", "2904011"]
    d = PCR + "n:eDisposition/"
    assert texts(doc, d + "n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24") == ["4224011"]
    assert texts(doc, d + "n:eDisposition.20") == ["4220011"]
    assert texts(doc, PCR + "n:eOutcome/n:eOutcome.01") == ["20"]
    assert sorted(texts(doc, PCR + "n:eProcedures/n:eProcedures.ProcedureGroup/n:eProcedures.03")) == [
        "112798008",
        "20655006",
    ]


def test_an_incident_without_destination_says_no_transport_and_no_alert() -> None:
    doc = _document("no-destination-yet")
    d = PCR + "n:eDisposition/"
    assert texts(doc, d + "n:eDisposition.IncidentDispositionGroup/n:eDisposition.30") == ["4230013"]
    assert texts(doc, d + "n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24") == ["4224001"]


def test_several_records_make_one_document_that_validates() -> None:
    records = [record_of(s) for s in SCENARIOS.values()]
    doc = nemsis.render_many(records, AGENCY)
    assert len(texts(doc, "n:Header/n:PatientCareReport/n:eRecord/n:eRecord.01")) == len(records)
    assert validate(doc).valid


# Import ----------
_KEPT = (
    *(f"n:eTimes/n:{e}" for e in codes.ETIMES.values()),
    *(
        f"n:eVitals/n:eVitals.VitalGroup/{p}"
        for p in (
            "n:eVitals.01",
            "n:eVitals.BloodPressureGroup/n:eVitals.06",
            "n:eVitals.HeartRateGroup/n:eVitals.10",
            "n:eVitals.12",
            "n:eVitals.14",
            "n:eVitals.18",
            "n:eVitals.GlasgowScoreGroup/n:eVitals.19",
            "n:eVitals.GlasgowScoreGroup/n:eVitals.20",
            "n:eVitals.GlasgowScoreGroup/n:eVitals.21",
            "n:eVitals.TemperatureGroup/n:eVitals.24",
            "n:eVitals.26",
            "n:eVitals.StrokeScaleGroup/n:eVitals.29",
            "n:eVitals.StrokeScaleGroup/n:eVitals.30",
            "n:eVitals.33",
        )
    ),
    *(f"n:eDisposition/n:eDisposition.DestinationGroup/n:eDisposition.{n}" for n in ("01", "02", "05", "06", "07")),
    "n:eDisposition/n:eDisposition.20",
    "n:eDisposition/n:eDisposition.23",
    "n:eDisposition/n:eDisposition.IncidentDispositionGroup/n:eDisposition.30",
    "n:eDisposition/n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24",
    "n:eDisposition/n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.25",
    "n:eSituation/n:eSituation.18",
    "n:ePatient/n:ePatient.25",
)


def _same(path: str, before: list[str], after: list[str]) -> None:
    if "eTimes" in path or path.endswith(("eVitals.01", "eDisposition.25", "eSituation.18")):
        assert instants([v for v in before if v]) == instants([v for v in after if v]), path
    elif path.endswith(("eVitals.24",)):
        assert [float(v) for v in before if v] == [float(v) for v in after if v], path
    else:
        assert [v for v in before if v] == [v for v in after if v], path


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_compliance_case_read_in_and_exported_again_keeps_its_record(case: Path) -> None:
    original = case.read_bytes()
    records = read(original, region="pittsburgh")
    assert len(records) == 1
    again = nemsis.render_many(records, AGENCY)
    report = validate(again)
    assert report.valid, report.messages()
    for path in _KEPT:
        _same(path, texts(original, PCR + path), texts(again, PCR + path))
    assert read(again, region="pittsburgh")[0].vitals == records[0].vitals


def test_mvc_case_outcome_and_triage_are_read() -> None:
    record: CareRecord = read((NEMSIS_CASES / "full" / "2025-EMS-3-MVC_v351.xml").read_bytes(), region="x")[0]
    assert record.outcome is not None and record.outcome.disposition == "admitted"
    assert record.outcome.diagnosis_icd10 == "S01.00XA"
    assert record.triage_red == (
        "active_bleeding_tourniquet_packing",
        "sbp_low_for_age",
        "room_air_spo2_below_90",
        "rr_below_10_or_above_29",
        "unable_to_follow_commands",
    )
    assert record.triage_yellow == ("vehicle_telemetry", "anticoagulants")
    assert record.prealert == "4224003"


def test_a_pertinent_negative_medication_is_not_read_as_given() -> None:
    record = read((NEMSIS_CASES / "full" / "2025-EMS-1-Overdose_v351.xml").read_bytes(), region="x")[0]
    assert "1191" not in [t.code for t in record.treatments]  # aspirin with PN "contraindication noted"


def test_case_built_to_fail_the_xsd_is_refused_with_its_message() -> None:
    with pytest.raises(ImportRefused) as refused:
        read((NEMSIS_CASES / "fail" / "2025-EMS-FailXsd_v351.xml").read_bytes(), region="x")
    assert refused.value.messages and "eSituation" in refused.value.messages[0]
    assert "Missing child element" in refused.value.messages[0]


def test_case_built_to_fail_the_schematron_is_refused_with_its_message() -> None:
    with pytest.raises(ImportRefused) as refused:
        read((NEMSIS_CASES / "fail" / "2025-EMS-FailSchematron_v351.xml").read_bytes(), region="x")
    assert len(refused.value.messages) == 1
    assert refused.value.messages[0].startswith("nemSch_e005 (error)")
    assert "Pertinent Negative" in refused.value.messages[0]


def test_a_document_with_a_dtd_or_entities_is_refused_before_validation() -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EMSDataSet>&e;</EMSDataSet>'
    with pytest.raises(NemsisDocumentError):
        validate(xxe)
    with pytest.raises(ImportRefused):
        read(xxe, region="x")
    with pytest.raises(ImportRefused):
        read(b"not xml", region="x")
