"""The standards' records and the loop back to the crew, against the real service (Redis, PostgreSQL, sockets):
an incident closed by the crew and the ED exports as NEMSIS (valid under both official validators) and FHIR; the
ED's outcome reaches the crew's tablet and history and the exports; bad outcome posts get clear errors and change
nothing; NEMSIS documents are imported (once), refused with the validator's message when they fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from dispatch.nemsis_validate import validate
from prealert.harness import Service
from tests.conftest import REGION, Scene, iso, make_scene, token, transfer_care
from tests.records_kit import NEMSIS_CASES, PCR, texts

ED_HOSPITAL = "upmc-mercy"


async def _call(service: Service, method: str, path: str, who: str, body: Any = None, **kw: Any) -> httpx.Response:
    role, scope = who.split(":", 1)
    headers = {"authorization": f"Bearer {token(role, scope)}"}  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=service.http, timeout=20) as client:
        if isinstance(body, bytes):
            return await client.request(method, path, content=body, headers=headers, **kw)
        return await client.request(method, path, json=body, headers=headers, **kw)


@pytest.fixture(scope="module")
async def closed(service: Service) -> Scene:
    scene = await make_scene(service, hospital=ED_HOSPITAL)
    tablet = scene.tablet()
    await tablet.connect()
    last = 0
    for message in (
        {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "on_scene"},
        {"type": "assessment", "incident": scene.incident, "taken_at": iso(), "age_years": 61, "sex": "female",
         "suspected": "stemi", "stemi": True, "chief_complaint": "chest pain",
         "treatments": [{"kind": "drug", "name": "aspirin", "dose": "300 mg", "given_at": iso()}]},
        scene.vitals(hr=96, sbp=134, dbp=80, spo2=96, rr=18, temp_c=36.9, gcs_eye=4, gcs_verbal=5, gcs_motor=6),
        {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "transporting"},
        {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "at_destination"},
    ):  # fmt: skip
        last = await tablet.send(message)
    await tablet.wait_acked(last)
    ack = await _call(
        service, "POST", f"/v1/hospitals/{ED_HOSPITAL}/incidents/{scene.incident}/ack", f"ed:{ED_HOSPITAL}", {}
    )
    assert ack.status_code == 200, ack.text
    prealert = await _call(
        service, "GET", f"/v1/hospitals/{ED_HOSPITAL}/incidents/{scene.incident}/prealert.fhir", f"ed:{ED_HOSPITAL}"
    )
    assert prealert.status_code == 200 and prealert.headers["content-type"].startswith("application/fhir+json")
    message = prealert.json()
    assert message["type"] == "message" and message["entry"][0]["resource"]["resourceType"] == "MessageHeader"
    assert message["entry"][0]["resource"]["reason"]["coding"][0]["code"] == "4224013"  # STEMI
    for entry in message["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    await transfer_care(service, scene)
    await tablet.close()
    return scene


async def test_a_closed_incident_exports_as_valid_nemsis(service: Service, closed: Scene) -> None:
    response = await _call(service, "GET", f"/v1/incidents/{closed.incident}/nemsis.xml", f"dispatcher:{REGION}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    report = validate(response.content)
    assert report.valid, report.messages()
    doc = response.content
    assert texts(doc, PCR + "n:eVitals/n:eVitals.VitalGroup/n:eVitals.HeartRateGroup/n:eVitals.10") == ["96"]
    assert texts(doc, PCR + "n:eDisposition/n:eDisposition.HospitalTeamActivationGroup/n:eDisposition.24") == [
        "4224013"
    ]
    assert texts(doc, PCR + "n:eDisposition/n:eDisposition.20") == ["4220015"]  # the dispatcher's override reason
    assert len(texts(doc, PCR + "n:eTimes/n:eTimes.12")[0]) > 0


async def test_an_open_incident_is_not_exported_as_nemsis_but_is_as_fhir(service: Service) -> None:
    scene = await make_scene(service)
    refused = await _call(service, "GET", f"/v1/incidents/{scene.incident}/nemsis.xml", f"dispatcher:{REGION}")
    assert refused.status_code == 409 and "not closed" in refused.text
    bundle = await _call(service, "GET", f"/v1/incidents/{scene.incident}/fhir", f"dispatcher:{REGION}")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/fhir+json")


async def test_bad_outcome_posts_get_clear_errors_and_change_nothing(service: Service, closed: Scene, db: Any) -> None:
    path = f"/v1/hospitals/{ED_HOSPITAL}/incidents/{closed.incident}/outcome"
    before = await db.fetchval("SELECT count(*) FROM ed_outcomes WHERE incident_id = $1", closed.incident)
    cases = [
        ({"disposition": "home", "diagnosis": "x"}, 422, "disposition"),
        ({"disposition": "admitted"}, 422, "diagnosis"),
        ({"disposition": "cath_lab", "diagnosis": "STEMI", "balloon_at": "2020-01-01T00:00:00Z"}, 422, "arrived"),
        ({"disposition": "admitted", "diagnosis": "x", "needle_at": iso()}, 422, "needle_at"),
        ({"disposition": "admitted", "diagnosis": "x", "diagnosis_icd10": "nope"}, 422, "diagnosis_icd10"),
    ]  # fmt: skip
    for body, status, words in cases:
        response = await _call(service, "POST", path, f"ed:{ED_HOSPITAL}", body)
        assert response.status_code == status, (body, response.text)
        assert words in response.text, (body, response.text)
    other = await _call(
        service, "POST", f"/v1/hospitals/west-penn/incidents/{closed.incident}/outcome", "ed:west-penn",
        {"disposition": "admitted", "diagnosis": "x"},
    )  # fmt: skip
    assert other.status_code == 409 and "not been handed over to west-penn" in other.text
    foreign = await _call(service, "POST", path, "ed:west-penn", {"disposition": "admitted", "diagnosis": "x"})
    assert foreign.status_code == 403
    open_scene = await make_scene(service)
    early = await _call(
        service, "POST", f"/v1/hospitals/{ED_HOSPITAL}/incidents/{open_scene.incident}/outcome", f"ed:{ED_HOSPITAL}",
        {"disposition": "admitted", "diagnosis": "x"},
    )  # fmt: skip
    assert early.status_code == 409
    after = await db.fetchval("SELECT count(*) FROM ed_outcomes WHERE incident_id = $1", closed.incident)
    assert after == before


async def test_the_outcome_reaches_the_crew_history_and_both_exports(service: Service, closed: Scene) -> None:
    tablet = closed.tablet()
    await tablet.connect()
    balloon = datetime.now(UTC) + timedelta(seconds=1)
    posted = await _call(
        service,
        "POST",
        f"/v1/hospitals/{ED_HOSPITAL}/incidents/{closed.incident}/outcome",
        f"ed_charge:{ED_HOSPITAL}",
        {"disposition": "cath_lab", "diagnosis": "Anterior STEMI", "diagnosis_icd10": "I21.09",
         "balloon_at": balloon.isoformat()},
    )  # fmt: skip
    assert posted.status_code == 201, posted.text
    assert posted.json()["door_to_balloon_min"] >= 0
    await tablet.wait(lambda: any(f["type"] == "ed_outcome" for f in tablet.frames), timeout=10)
    pushed = next(f for f in tablet.frames if f["type"] == "ed_outcome")
    assert (pushed["incident"], pushed["disposition"], pushed["diagnosis"]) == (
        closed.incident,
        "to the cath lab",
        "Anterior STEMI",
    )
    await tablet.close()
    history = await _call(service, "GET", f"/v1/units/{closed.unit}/history", f"paramedic:{closed.unit}")
    assert history.status_code == 200
    mine = next(h for h in history.json() if h["incident"] == closed.incident)
    assert mine["outcome"]["disposition"] == "cath_lab" and mine["transferred_at"] is not None
    assert mine["destination_name"]
    other_crew = await _call(service, "GET", f"/v1/units/{closed.unit}/history", "paramedic:SOMEONE-ELSE")
    assert other_crew.status_code == 403
    doc = (await _call(service, "GET", f"/v1/incidents/{closed.incident}/nemsis.xml", f"dispatcher:{REGION}")).content
    assert validate(doc).valid
    assert texts(doc, PCR + "n:eOutcome/n:eOutcome.01") == ["09"]
    assert texts(doc, PCR + "n:eOutcome/n:eOutcome.10") == ["I21.09"]
    assert texts(doc, PCR + "n:eOutcome/n:eOutcome.EmergencyDepartmentProceduresGroup/n:eOutcome.09") == ["02703ZZ"]
    bundle = (await _call(service, "GET", f"/v1/incidents/{closed.incident}/fhir", f"admin:{REGION}")).json()
    conditions = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert any(c["code"].get("coding", [{}])[0].get("code") == "I21.09" for c in conditions)
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    end = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    many = await _call(
        service, "GET", "/v1/records/nemsis.xml", f"dispatcher:{REGION}", params={"from": start, "to": end}
    )
    assert many.status_code == 200 and validate(many.content).valid
    assert f"prealert-{closed.incident}" in texts(many.content, PCR + "n:eRecord/n:eRecord.01")


async def test_nemsis_documents_are_imported_once_and_failures_refused(service: Service) -> None:
    case = (NEMSIS_CASES / "full" / "2025-EMS-3-MVC_v351.xml").read_bytes()
    first = await _call(service, "POST", "/v1/records/nemsis", f"dispatcher:{REGION}", case)
    assert first.status_code == 201, first.text
    (kept,) = first.json()["records"]
    again = await _call(service, "POST", "/v1/records/nemsis", f"admin:{REGION}", case)
    assert again.json()["records"][0] == {**kept, "created": False}
    exported = await _call(service, "GET", f"/v1/records/{kept['id']}/nemsis.xml", f"dispatcher:{REGION}")
    assert validate(exported.content).valid
    assert texts(exported.content, PCR + "n:eDisposition/n:eDisposition.DestinationGroup/n:eDisposition.01") == [
        "Danbury Hospital"
    ]
    fhir = await _call(service, "GET", f"/v1/records/{kept['id']}/fhir", f"dispatcher:{REGION}")
    assert fhir.status_code == 200
    for name, words in (
        ("2025-EMS-FailXsd_v351.xml", "Missing child element"),
        ("2025-EMS-FailSchematron_v351.xml", "nemSch_e005"),
    ):
        refused = await _call(
            service, "POST", "/v1/records/nemsis", f"dispatcher:{REGION}", (NEMSIS_CASES / "fail" / name).read_bytes()
        )
        assert refused.status_code == 422 and words in refused.text, refused.text
    missing = await _call(service, "GET", "/v1/records/99999999/nemsis.xml", f"dispatcher:{REGION}")
    assert missing.status_code == 404
