"""FHIR R4: every scenario's Bundle and pre-alert message validate against the fhir.resources R4B models, resource by
resource; the vital signs carry the profile, LOINC code and UCUM unit the rules file gives; every reference
resolves inside its bundle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from dispatch import fhir
from dispatch.nemsis_import import read
from tests.records_kit import NEMSIS_CASES, at, record_of, scenarios

SCENARIOS = {s.name: s for s in scenarios()}
PROFILES = {
    "8867-4": ("heartrate", "/min"),
    "9279-1": ("resprate", "/min"),
    "2708-6": ("oxygensat", "%"),
    "8310-5": ("bodytemp", "Cel"),
}


def _validate(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    for resource in resources:  # the Bundle model does not descend into its entries' resources
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(resources)
    for reference in _references(bundle):
        assert reference in urls, reference
    return resources


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def _of(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == kind]


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_bundle_validates(name: str) -> None:
    _validate(fhir.bundle(record_of(SCENARIOS[name])))


def test_vital_signs_carry_profile_loinc_and_ucum() -> None:
    resources = _validate(fhir.bundle(record_of(SCENARIOS["stemi-cath-lab"])))
    observations = _of(resources, "Observation")
    seen = set()
    for o in observations:
        code = o["code"]["coding"][0]["code"]
        if code in PROFILES:
            profile, unit = PROFILES[code]
            assert o["meta"]["profile"] == [f"http://hl7.org/fhir/StructureDefinition/{profile}"]
            assert o["category"][0]["coding"][0]["code"] == "vital-signs"
            assert o["valueQuantity"]["system"] == "http://unitsofmeasure.org"
            assert o["valueQuantity"]["code"] == unit
            seen.add(code)
    assert seen == set(PROFILES)
    spo2 = next(o for o in observations if o["code"]["coding"][0]["code"] == "2708-6")
    assert [c["code"] for c in spo2["code"]["coding"]] == ["2708-6", "59408-5"]
    bp = [o for o in observations if o["code"]["coding"][0]["code"] == "85354-9"]
    assert [c["valueQuantity"]["value"] for c in bp[0]["component"]] == [85, 50]
    assert [c["code"]["coding"][0]["code"] for c in bp[0]["component"]] == ["8480-6", "8462-4"]
    assert "valueQuantity" not in bp[1]["component"][1]  # the second set had no diastolic: absent, not zero
    gcs = next(o for o in observations if o["code"]["coding"][0]["code"] == "9269-2")
    assert gcs["valueInteger"] == 15
    assert [(c["code"]["coding"][0]["code"], c["valueInteger"]) for c in gcs["component"]] == [
        ("9267-6", 4),
        ("9270-0", 5),
        ("9268-4", 6),
    ]
    temperature = next(o for o in observations if o["code"]["coding"][0]["code"] == "8310-5")
    assert temperature["valueQuantity"]["value"] == 37.2


def test_timing_treatments_condition_destination_and_outcome() -> None:
    resources = _validate(fhir.bundle(record_of(SCENARIOS["stemi-cath-lab"])))
    ems, ed = _of(resources, "Encounter")
    assert ems["period"] == {"start": "2026-12-06T08:00:00Z", "end": "2026-12-06T08:40:00Z"}
    assert [(loc["location"]["display"], loc["period"]) for loc in ems["location"]][:2] == [
        ("scene", {"start": "2026-12-06T08:09:00Z", "end": "2026-12-06T08:20:00Z"}),
        ("ambulance M1", {"start": "2026-12-06T08:20:00Z", "end": "2026-12-06T08:32:00Z"}),
    ]
    medication = _of(resources, "MedicationAdministration")
    assert [m["medicationCodeableConcept"].get("coding", [{}])[0].get("code") for m in medication] == ["1191", None]
    assert medication[0]["dosage"]["text"] == "300 mg"
    procedures = _of(resources, "Procedure")
    assert {p["code"]["coding"][0]["code"] for p in procedures} == {"392230005", "02703ZZ"}
    suspected, diagnosis = _of(resources, "Condition")
    assert suspected["code"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "401303003",
        "display": "Acute ST segment elevation myocardial infarction",
    }
    assert suspected["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert diagnosis["code"]["coding"][0]["code"] == "I21.19"
    assert ed["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "other"
    location = next(r for r in _of(resources, "Location") if "managingOrganization" in r)
    organization = _of(resources, "Organization")[0]
    assert location["managingOrganization"]["reference"] == f"urn:uuid:{organization['id']}"
    assert ems["hospitalization"]["destination"]["reference"] == f"urn:uuid:{location['id']}"


def test_the_same_record_gives_the_same_resources() -> None:
    record = record_of(SCENARIOS["stroke-race"])
    assert fhir.bundle(record) == fhir.bundle(record)


def test_prealert_message_is_a_message_bundle_headed_by_its_event() -> None:
    record = record_of(SCENARIOS["stroke-race"])
    message = fhir.prealert_message(
        record, atmister={"A": "79 F", "S": "HR 88, BP 172/95"}, eta_s=540, now=at(21) + timedelta(seconds=5)
    )
    resources = _validate(message)
    assert message["type"] == "message"
    header = resources[0]
    assert header["resourceType"] == "MessageHeader"
    assert header["eventCoding"]["code"] == "prealert"
    assert header["reason"]["coding"][0]["code"] == "4224015"
    assert header["destination"][0]["endpoint"] == f"urn:prealert:hospital:{record.destination.hospital}"  # type: ignore[union-attr]
    communication = _of(resources, "Communication")[0]
    assert [p["contentString"] for p in communication["payload"]] == [
        "A: 79 F",
        "S: HR 88, BP 172/95",
        "ETA: 9 min (2026-12-06T08:21:05Z + 540 s)",
    ]
    assert header["focus"][1]["reference"] == f"urn:uuid:{communication['id']}"


@pytest.mark.parametrize("case", sorted((NEMSIS_CASES / "full").glob("*EMS*.xml")), ids=lambda p: p.name)
def test_an_imported_record_exports_as_fhir(case: object) -> None:
    record = read(case.read_bytes(), region="pittsburgh")[0]  # type: ignore[attr-defined]
    _validate(fhir.bundle(record))
