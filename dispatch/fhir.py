"""A care record as FHIR R4: a Bundle of the whole incident, and the pre-alert as a FHIR message.

Pure: records in, JSON-ready dicts out (``application/fhir+json``). The resources:

- Patient (sex, no name: the service never holds one) and an age Observation (LOINC 30525-0, UCUM ``a``);
- the EMS Encounter: its period from the call to the transfer of care, its status history, and its locations in
  time (the scene, the ambulance, the destination), so each status moment is in the record;
- Observations in the vital-signs profile (LOINC codes and UCUM units from the rules file): heart rate, respiratory
  rate, SpO2 (2708-6 with US Core's 59408-5), body temperature, the blood-pressure panel (85354-9 with systolic
  8480-6 and diastolic 8462-4); GCS total 9269-2 with its eye/verbal/motor parts; end-tidal CO2 and glucose;
- Condition for the suspected condition (provisional, SNOMED CT) and, with the ED's outcome, the ED diagnosis
  (confirmed, ICD-10-CM), an ED Encounter with its discharge disposition, and the PCI or thrombolysis as Procedure;
- Procedure and MedicationAdministration for each treatment (SNOMED CT, RxNorm);
- Organization and Location for the destination.

Ids are UUIDs derived from the record's own, so the same record always gives the same resources.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from dispatch import codes
from dispatch.care_record import CareRecord, RecordVitals

LOINC: Final = "http://loinc.org"
UCUM: Final = "http://unitsofmeasure.org"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS: Final = "http://www.cms.gov/Medicare/Coding/ICD10"
NEMSIS_ALERT: Final = "http://nemsis.org/v3.5.1/eDisposition.24"  # NEMSIS has no FHIR code system of its own
OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DISCHARGE_DISPOSITION: Final = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
MESSAGE_EVENT: Final = "urn:prealert:message-event"
FHIR_JSON: Final = "application/fhir+json"
_PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/"
# our vitals field -> vital-signs profile
_VITAL_PROFILE: Final[dict[str, str]] = {"hr": "heartrate", "rr": "resprate", "spo2": "oxygensat", "temp_c": "bodytemp"}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Ids:
    def __init__(self, record: CareRecord) -> None:
        self._base = uuid.UUID(record.uuid)

    def __call__(self, *parts: object) -> str:
        return str(uuid.uuid5(self._base, "/".join(str(p) for p in parts)))


def _ref(resource_id: object) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def bundle(record: CareRecord) -> dict[str, Any]:
    """The whole record as a FHIR R4 ``collection`` Bundle."""
    resources = list(_resources(record, _Ids(record)))
    return {
        "resourceType": "Bundle",
        "id": _Ids(record)("bundle"),
        "type": "collection",
        "timestamp": _time(max([*record.times.values(), *(v.taken_at for v in record.vitals if v.taken_at)])),
        "entry": [_entry(r) for r in resources],
    }


def prealert_message(
    record: CareRecord, *, atmister: dict[str, str], eta_s: int | None, now: datetime
) -> dict[str, Any]:
    """The pre-alert as a FHIR message a receiving EHR can ingest: a ``message`` Bundle whose MessageHeader (event
    ``prealert``) points at the EMS Encounter, followed by the Patient, the Encounter, the latest vitals, the suspected
    condition and a Communication that carries the ATMISTER handover the ED reads in thirty seconds."""
    ids = _Ids(record)
    patient, encounter = _patient(record, ids), _encounter(record, ids)
    latest = record.vitals[-1:] if record.vitals else ()
    observations = [o for v in latest for o in _observations(v, ids, encounter["id"], patient["id"])]
    conditions = list(_suspected(record, ids, patient["id"], encounter["id"]))
    destination = list(_destination(record, ids))
    alert = codes.PREALERT_WORDS.get(record.prealert, "Yes-Other")
    lines = [f"{k}: {v}" for k, v in atmister.items()]
    if eta_s is not None:
        lines.append(f"ETA: {round(eta_s / 60)} min ({_time(now)} + {eta_s} s)")
    communication = {
        "resourceType": "Communication",
        "id": ids("prealert-communication", _time(now)),
        "status": "completed",
        "category": [{"text": "EMS pre-arrival alert"}],
        "priority": "stat" if record.prealert != codes.PREALERT_NONE else "urgent",
        "subject": _ref(patient["id"]),
        "encounter": _ref(encounter["id"]),
        "sent": _time(now),
        "reasonCode": [{"coding": [_coding(NEMSIS_ALERT, record.prealert, alert)], "text": alert}],
        "payload": [{"contentString": line} for line in lines] or [{"contentString": "no findings recorded yet"}],
    }
    if destination:
        communication["recipient"] = [_ref(destination[0]["id"])]
    header = {
        "resourceType": "MessageHeader",
        "id": ids("prealert-header", _time(now)),
        "eventCoding": _coding(MESSAGE_EVENT, "prealert", "EMS pre-arrival alert"),
        "source": {"name": "prealert", "endpoint": "urn:prealert:dispatch"},
        "destination": [
            {
                "name": record.destination.name if record.destination else "receiving ED",
                "endpoint": f"urn:prealert:hospital:{record.destination.hospital if record.destination else 'unknown'}",
            }
        ],
        "reason": {"coding": [_coding(NEMSIS_ALERT, record.prealert, alert)]},
        "focus": [_ref(encounter["id"]), _ref(communication["id"])],
    }
    places = list(_scene_and_ambulance(record, ids))
    resources = [header, communication, patient, encounter, *observations, *conditions, *places, *destination]
    return {
        "resourceType": "Bundle",
        "id": ids("prealert-bundle", _time(now)),
        "type": "message",
        "timestamp": _time(now),
        "entry": [_entry(r) for r in resources],
    }


def _resources(r: CareRecord, ids: _Ids) -> Iterator[dict[str, Any]]:
    patient, encounter = _patient(r, ids), _encounter(r, ids)
    yield patient
    yield encounter
    if r.age_years is not None:
        yield {
            "resourceType": "Observation",
            "id": ids("age"),
            "status": "final",
            "code": {"coding": [_coding(LOINC, "30525-0", "Age")]},
            "subject": _ref(patient["id"]),
            "encounter": _ref(encounter["id"]),
            "valueQuantity": _quantity(r.age_years, "a"),
        } | ({"effectiveDateTime": _time(r.times["call"])} if "call" in r.times else {})
    for v in r.vitals:
        yield from _observations(v, ids, encounter["id"], patient["id"])
    yield from _suspected(r, ids, patient["id"], encounter["id"])
    yield from _treatments(r, ids, patient["id"], encounter["id"])
    yield from _scene_and_ambulance(r, ids)
    yield from _destination(r, ids)
    yield from _outcome(r, ids, patient["id"], encounter["id"])


def _patient(r: CareRecord, ids: _Ids) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": ids("patient")}
    if r.sex is not None:
        patient["gender"] = codes.FHIR_GENDER[r.sex]
    return patient


_LOCATION_PERIODS: Final = (  # (where, from the moment, to the moment)
    ("scene", "on_scene", "transporting"),
    ("ambulance", "transporting", "at_destination"),
    ("destination", "at_destination", "transfer_of_care"),
)


def _period(r: CareRecord, start: str, end: str) -> dict[str, str]:
    period = {}
    if start in r.times:
        period["start"] = _time(r.times[start])
    if end in r.times:
        period["end"] = _time(r.times[end])
    return period


def _encounter(r: CareRecord, ids: _Ids) -> dict[str, Any]:
    finished = "transfer_of_care" in r.times
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": ids("encounter"),
        "identifier": [{"system": "urn:prealert:record", "value": r.record_id}],
        "status": "finished" if finished else "in-progress",
        "class": _coding(ACT_CODE, "FLD", "field"),
        "type": [{"text": "EMS response and transport"}],
        "subject": _ref(ids("patient")),
        "period": _period(r, "call", "transfer_of_care"),
        "statusHistory": [
            {"status": status, "period": period}
            for status, period in (
                ("planned", _period(r, "call", "on_scene")),
                ("in-progress", _period(r, "on_scene", "transfer_of_care")),
            )
            if period.get("start")
        ],
    }
    locations = []
    for where, period in _places(r):
        locations.append(
            {
                "location": _ref(ids("location", where)) | {"display": _location_name(r, where)},
                "status": "completed" if "end" in period else "active",
                "period": period,
            }
        )
    if locations:
        encounter["location"] = locations
    if r.destination is not None:
        encounter["hospitalization"] = {"destination": _ref(ids("location", "destination"))}
    return encounter


def _places(r: CareRecord) -> Iterator[tuple[str, dict[str, str]]]:
    """The places the encounter was at, with when: the scene, the ambulance, the destination."""
    for where, start, end in _LOCATION_PERIODS:
        period = _period(r, start, end)
        if period and (where != "destination" or r.destination is not None):
            yield where, period


def _scene_and_ambulance(r: CareRecord, ids: _Ids) -> Iterator[dict[str, Any]]:
    """Location resources for the scene and the ambulance, when the encounter was there (the destination's own
    Location comes with its Organization)."""
    for where, _ in _places(r):
        if where == "destination":
            continue
        location: dict[str, Any] = {"resourceType": "Location", "id": ids("location", where)}
        location["name"] = _location_name(r, where)
        if where == "scene":
            location["mode"] = "instance"
            if r.scene_lat is not None and r.scene_lon is not None:
                location["position"] = {"latitude": r.scene_lat, "longitude": r.scene_lon}
        else:
            location["mode"] = "kind"
            location["physicalType"] = {
                "coding": [_coding("http://terminology.hl7.org/CodeSystem/location-physical-type", "ve", "Vehicle")]
            }
        yield location


def _location_name(r: CareRecord, where: str) -> str:
    if where == "destination" and r.destination is not None:
        return r.destination.name or "destination"
    return {"scene": "scene", "ambulance": f"ambulance {r.unit or ''}".strip()}.get(where, where)


def _observation(
    ids: _Ids, key: str, taken_at: datetime | None, encounter: str, patient: str, *, profile: str | None
) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ids("obs", key, _time(taken_at) if taken_at else "unknown"),
        "status": "final",
        "category": [{"coding": [_coding(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]}],
        "subject": _ref(patient),
        "encounter": _ref(encounter),
    }
    if profile:
        o["meta"] = {"profile": [_PROFILE + profile]}
    if taken_at is not None:
        o["effectiveDateTime"] = _time(taken_at)
    return o


def _observations(v: RecordVitals, ids: _Ids, encounter: str, patient: str) -> Iterator[dict[str, Any]]:
    for name in ("hr", "rr", "spo2", "temp_c", "etco2_mmhg", "glucose_mg_dl"):
        value = getattr(v, name)
        if value is None:
            continue
        code = codes.VITALS[name]
        assert code.loinc is not None and code.ucum is not None
        o = _observation(ids, name, v.taken_at, encounter, patient, profile=_VITAL_PROFILE.get(name))
        coding = [_coding(LOINC, code.loinc, code.display)]
        if name == "spo2":
            coding.append(_coding(LOINC, *codes.SPO2_US_CORE))
        if name == "glucose_mg_dl":
            o["category"] = [{"coding": [_coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}]
        o["code"] = {"coding": coding, "text": code.display}
        o["valueQuantity"] = _quantity(value, code.ucum)
        yield o
    if v.sbp is not None or v.dbp is not None:
        o = _observation(ids, "bp", v.taken_at, encounter, patient, profile="bp")
        o["code"] = {"coding": [_coding(LOINC, *codes.BLOOD_PRESSURE_PANEL)], "text": "Blood pressure"}
        o["component"] = [
            {
                "code": {"coding": [_coding(LOINC, codes.VITALS[name].loinc or "", codes.VITALS[name].display)]},
                **(
                    {"valueQuantity": _quantity(value, "mm[Hg]")}
                    if value is not None
                    else {"dataAbsentReason": {"text": "not recorded"}}
                ),
            }
            for name, value in (("sbp", v.sbp), ("dbp", v.dbp))
        ]
        yield o
    if v.gcs_total is not None:
        o = _observation(ids, "gcs", v.taken_at, encounter, patient, profile=None)
        o["category"] = [{"coding": [_coding(OBSERVATION_CATEGORY, "survey", "Survey")]}]
        o["code"] = {"coding": [_coding(LOINC, *codes.GCS_PANEL)], "text": "Glasgow coma score"}
        o["valueInteger"] = v.gcs_total
        parts = [("gcs_eye", v.gcs_eye), ("gcs_verbal", v.gcs_verbal), ("gcs_motor", v.gcs_motor)]
        o["component"] = [
            {
                "code": {"coding": [_coding(LOINC, codes.VITALS[name].loinc or "", codes.VITALS[name].display)]},
                "valueInteger": value,
            }
            for name, value in parts
            if value is not None
        ]
        if not o["component"]:
            del o["component"]
        yield o


def _suspected(r: CareRecord, ids: _Ids, patient: str, encounter: str) -> Iterator[dict[str, Any]]:
    if r.suspected is None and r.impression_icd10 is None:
        return
    coding = []
    if r.suspected is not None:
        snomed, display, icd = codes.SUSPECTED[r.suspected]
        coding = [_coding(SNOMED, snomed, display), _coding(ICD10CM, icd)]
    elif r.impression_icd10 is not None:
        coding = [_coding(ICD10CM, r.impression_icd10)]
    yield {
        "resourceType": "Condition",
        "id": ids("condition", "suspected"),
        "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")]},
        "verificationStatus": {"coding": [_coding(CONDITION_VERIFICATION, "provisional")]},
        "category": [{"coding": [_coding(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")]}],
        "code": {"coding": coding, "text": r.chief_complaint or r.complaint or "suspected condition"},
        "subject": _ref(patient),
        "encounter": _ref(encounter),
        **({"onsetDateTime": _time(r.last_known_well)} if r.last_known_well else {}),
    }


def _treatments(r: CareRecord, ids: _Ids, patient: str, encounter: str) -> Iterator[dict[str, Any]]:
    for i, t in enumerate(r.treatments):
        when = {"effectiveDateTime": _time(t.given_at)} if t.given_at else {}
        if t.kind == "drug":
            medication: dict[str, Any] = {"text": t.name}
            if t.code is not None:
                system = SNOMED if t.code_type == "9924005" else RXNORM
                medication["coding"] = [_coding(system, t.code, t.name)]
            yield {
                "resourceType": "MedicationAdministration",
                "id": ids("medication", i),
                "status": "completed",
                "medicationCodeableConcept": medication,
                "subject": _ref(patient),
                "context": _ref(encounter),
                # effective[x] is required: a drug read from a document without its time counts from the call
                **(when or {"effectivePeriod": {"start": _time(r.times["call"])} if "call" in r.times else {}}),
                **({"dosage": {"text": t.dose}} if t.dose else {}),
            }
            continue
        code, display = (t.code, t.name) if t.code else codes.PROCEDURES[t.kind]
        yield {
            "resourceType": "Procedure",
            "id": ids("procedure", i),
            "status": "completed",
            "code": {"coding": [_coding(SNOMED, code, display)], "text": t.name},
            "subject": _ref(patient),
            "encounter": _ref(encounter),
            **({"performedDateTime": when["effectiveDateTime"]} if when else {}),
        }
    for i, ecg in enumerate(r.ecgs):
        yield {
            "resourceType": "Procedure",
            "id": ids("ecg", i),
            "status": "completed",
            "code": {"coding": [_coding(SNOMED, *codes.ECG_12_LEAD)]},
            "subject": _ref(patient),
            "encounter": _ref(encounter),
            "performedDateTime": _time(ecg.taken_at),
            **({"note": [{"text": ecg.interpretation}]} if ecg.interpretation else {}),
        }


def _destination(r: CareRecord, ids: _Ids) -> Iterator[dict[str, Any]]:
    d = r.destination
    if d is None:
        return
    organization = {
        "resourceType": "Organization",
        "id": ids("organization", "destination"),
        "name": d.name or "destination",
        "type": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/organization-type", "prov")]}],
    }
    if d.hospital or d.code:
        organization["identifier"] = [{"system": "urn:prealert:hospital", "value": d.hospital or d.code}]
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": ids("location", "destination"),
        "name": d.name or "destination",
        "type": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "ER", "Emergency room")]}],
        "managingOrganization": _ref(organization["id"]),
    }
    if d.lat is not None and d.lon is not None:
        location["position"] = {"latitude": d.lat, "longitude": d.lon}
    yield location
    yield organization


def _outcome(r: CareRecord, ids: _Ids, patient: str, encounter: str) -> Iterator[dict[str, Any]]:
    o = r.outcome
    if o is None:
        return
    disposition = codes.DISPOSITIONS[o.disposition]
    ed = {
        "resourceType": "Encounter",
        "id": ids("ed-encounter"),
        "status": "finished",
        "class": _coding(ACT_CODE, "EMER", "emergency"),
        "subject": _ref(patient),
        "partOf": _ref(encounter),
        "period": {"start": _time(o.arrived_at)},
        "hospitalization": {
            "dischargeDisposition": {
                "coding": [_coding(DISCHARGE_DISPOSITION, disposition.fhir)],
                "text": disposition.words,
            }
        },
    }
    yield ed
    code = [_coding(ICD10CM, o.diagnosis_icd10)] if o.diagnosis_icd10 else []
    yield {
        "resourceType": "Condition",
        "id": ids("condition", "ed-diagnosis"),
        "verificationStatus": {"coding": [_coding(CONDITION_VERIFICATION, "confirmed")]},
        "category": [{"coding": [_coding(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")]}],
        "code": {"coding": code, "text": o.diagnosis} if code else {"text": o.diagnosis},
        "subject": _ref(patient),
        "encounter": _ref(ed["id"]),
        "recordedDate": _time(o.at),
    }
    if disposition.procedure is not None:
        when = o.balloon_at or o.needle_at
        yield {
            "resourceType": "Procedure",
            "id": ids("ed-procedure"),
            "status": "completed",
            "code": {"coding": [_coding(ICD10PCS, *disposition.procedure)], "text": disposition.procedure[1]},
            "subject": _ref(patient),
            "encounter": _ref(ed["id"]),
            **({"performedDateTime": _time(when)} if when else {}),
        }
