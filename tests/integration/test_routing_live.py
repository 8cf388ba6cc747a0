"""Destination routing on the live service: the recommendation follows the patient and the hospitals' status, a
change of first choice reaches the dispatchers' feed and the crew's tablet, and every decision is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from prealert.client import DispatcherClient
from prealert.harness import Service
from tests.conftest import REGION, Scene, dispatcher_call, iso, token, unique_unit

NEAR_MERCY = {"lat": 40.4355, "lon": -79.9870}


async def status_call(
    service: Service, hospital: str, method: str, body: Any = None, auth: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {auth or token('ed_charge', hospital)}"}
    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        return await client.request(method, f"/v1/hospitals/{hospital}/status", json=body, headers=headers)


@pytest.fixture
async def reopen_mercy(service: Service) -> AsyncIterator[None]:
    yield
    reopened = await status_call(service, "upmc-mercy", "PATCH", {"ems_traffic": "Normal"})
    assert reopened.status_code == 200


async def stemi_patient(service: Service) -> Scene:
    created = await dispatcher_call(
        service, "POST", "/v1/incidents", {"location": NEAR_MERCY, "complaint": "chest pain", "priority": 1}
    )
    incident = int(created.json()["id"])
    unit = unique_unit("R")
    assert (await dispatcher_call(service, "POST", f"/v1/incidents/{incident}/assign", {"unit": unit})).is_success
    return Scene(incident=incident, unit=unit, hospital="upmc-mercy", service=service)


async def test_diversion_moves_the_recommendation_and_tells_dispatch_and_crew(
    service: Service, db: asyncpg.Pool, reopen_mercy: None
) -> None:
    for hospital in ("upmc-mercy", "upmc-presbyterian", "allegheny-general"):
        fresh = await status_call(service, hospital, "PATCH", {"ems_traffic": "Normal", "offload_minutes": 0})
        assert fresh.status_code == 200, fresh.text
    scene = await stemi_patient(service)
    dispatch = DispatcherClient(service.ws, "", token("dispatcher", REGION))
    await dispatch.connect()
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send({"type": "position", "incident": scene.incident, "taken_at": iso(), **NEAR_MERCY})
    await tablet.send(
        {
            "type": "assessment",
            "incident": scene.incident,
            "taken_at": iso(),
            "suspected": "stemi",
            "stemi": True,
            "age_years": 61,
            "sex": "male",
        }
    )
    await tablet.send(scene.vitals(hr=92, sbp=138, dbp=84, spo2=96, rr=18))
    await tablet.wait_acked(3)

    def top(update: dict[str, Any]) -> str:
        return str(update["recommendation"]["ranked"][0]["hospital"])

    await dispatch.wait(lambda: any(top(u) == "upmc-mercy" for u in dispatch.updates(scene.incident)))
    first = (await dispatcher_call(service, "GET", f"/v1/incidents/{scene.incident}/recommendation")).json()
    assert first["category"] == "stemi"
    assert first["ranked"][0]["hospital"] == "upmc-mercy"
    assert any("STEMI: PCI centre" in r for r in first["ranked"][0]["reasons"])

    closed = await status_call(
        service, "upmc-mercy", "PATCH", {"ems_traffic": "Closed", "ems_traffic_reason": "CT down"}
    )
    assert closed.status_code == 200 and closed.json()["ems_traffic_since"]

    await dispatch.wait(
        lambda: any(u["top_changed"] and u["previous_top"] == "upmc-mercy" for u in dispatch.updates(scene.incident)),
        timeout=5,
    )
    change = next(u for u in dispatch.updates(scene.incident) if u["top_changed"] and u["previous_top"] == "upmc-mercy")
    moved_to = top(change)
    assert moved_to != "upmc-mercy"
    mercy = next(e for e in change["recommendation"]["excluded"] if e["hospital"] == "upmc-mercy")
    assert mercy["reasons"][0].startswith("on diversion") and "CT down" in mercy["reasons"][0]
    await tablet.wait(lambda: any(top(r) == moved_to for r in tablet.recommendations), timeout=5)
    status_changes = [e for _, e in dispatch.events if e["type"] == "hospital_status"]
    assert any(
        s["status"]["hospital"] == "upmc-mercy" and s["status"]["ems_traffic"] == "Closed" for s in status_changes
    )

    # The dispatcher follows the recommendation: recorded with it, as "Protocol".
    followed = await dispatcher_call(
        service, "POST", f"/v1/incidents/{scene.incident}/destination", {"hospital": moved_to}
    )
    assert followed.status_code == 200, followed.text
    # An override needs a reason from the NEMSIS list, and is recorded as one.
    refused = await dispatcher_call(
        service, "POST", f"/v1/incidents/{scene.incident}/destination", {"hospital": "upmc-st-margaret"}
    )
    assert refused.status_code == 422 and refused.json()["field"] == "reason_code"
    overridden = await dispatcher_call(
        service,
        "POST",
        f"/v1/incidents/{scene.incident}/destination",
        {"hospital": "upmc-st-margaret", "reason_code": "4220015", "note": "patient insists"},
    )
    assert overridden.status_code == 200
    rows = await db.fetch(
        "SELECT hospital, recommended, is_override, reason_code, reason_text, recommendation "
        "FROM destination_decisions WHERE incident_id = $1 ORDER BY id",
        scene.incident,
    )
    assert [(r["hospital"], r["recommended"], r["is_override"], r["reason_code"]) for r in rows] == [
        (moved_to, moved_to, False, "4220019"),
        ("upmc-st-margaret", moved_to, True, "4220015"),
    ]
    assert rows[1]["reason_text"] == "patient insists"
    assert '"category": "stemi"' in rows[0]["recommendation"]
    history = await db.fetchval(
        "SELECT count(*) FROM hospital_status_history WHERE hospital = 'upmc-mercy' "
        "AND ems_traffic = 'Closed' AND status->>'ems_traffic_reason' = 'CT down'"
    )
    assert history >= 1
    await tablet.close()
    await dispatch.close()


async def test_status_api_is_scoped_validated_and_readable(service: Service) -> None:
    other = await status_call(
        service, "west-penn", "PATCH", {"ems_traffic": "Closed"}, auth=token("ed_charge", "upmc-mercy")
    )
    assert other.status_code == 403
    paramedic = await status_call(service, "west-penn", "GET", auth=token("paramedic", "M1"))
    assert paramedic.status_code == 403
    bad = await status_call(service, "west-penn", "PATCH", {"ems_traffic": "Open"})
    assert bad.status_code == 422 and bad.json()["field"] == "ems_traffic"
    negative = await status_call(service, "west-penn", "PATCH", {"offload_minutes": -5})
    assert negative.status_code == 422 and negative.json()["code"] == "implausible"
    unknown = await status_call(
        service, "nowhere", "PATCH", {"ems_traffic": "Closed"}, auth=token("ed_charge", "nowhere")
    )
    assert unknown.status_code == 404
    updated = await status_call(
        service,
        "west-penn",
        "PATCH",
        {
            "census": {"red": 2, "yellow": 5, "green": 9},
            "offload": "Delayed",
            "offload_minutes": 35,
            "resources": {"cath_lab": False},
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["census"] == {"red": 2, "yellow": 5, "green": 9, "black": 0}
    assert body["resources"]["cath_lab"] is False and body["offload_minutes"] == 35
    partial = await status_call(service, "west-penn", "PATCH", {"offload_minutes": 10, "offload": "Normal"})
    assert partial.json()["census"] == body["census"]  # a partial update keeps what it does not name
    listed = (await dispatcher_call(service, "GET", "/v1/hospitals/status")).json()
    assert {s["hospital"] for s in listed} >= {"west-penn", "upmc-mercy", "allegheny-general"}
