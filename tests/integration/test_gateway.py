"""The hospital gateway on the live service: status intake by REST (with optimistic concurrency), EDXL-HAVE and HL7
ADT over MLLP, all landing in the same live status; the ED's acknowledgement reaching the crew; transfer of care
measuring offload into the status dispatch ranks on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import hl7
import hl7.mllp
import httpx

from dispatch.capacity import HospitalStatus, TriageCounts
from hospital_gateway import edxl
from prealert.harness import Backends, Service, free_port
from tests.conftest import iso, make_scene, start_service, token


def ed(service: Service, hospital: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=service.http, timeout=10, headers={"authorization": f"Bearer {token('ed_charge', hospital)}"}
    )


async def test_status_updates_are_conditional_on_the_version(service: Service) -> None:
    async with ed(service, "west-penn") as client:
        current = await client.get("/v1/hospitals/west-penn/status")
        version = current.headers["etag"]
        changed = await client.patch(
            "/v1/hospitals/west-penn/status", json={"offload_minutes": 7}, headers={"if-match": version}
        )
        assert changed.status_code == 200 and changed.headers["etag"] != version
        stale = await client.patch(
            "/v1/hospitals/west-penn/status", json={"offload_minutes": 9}, headers={"if-match": version}
        )
        assert stale.status_code == 409
        assert stale.json()["current"]["offload_minutes"] == 7
        assert stale.headers["etag"] == changed.headers["etag"]
        bad = await client.patch("/v1/hospitals/west-penn/status", json={}, headers={"if-match": "yesterday"})
        assert bad.status_code == 422 and bad.json()["field"] == "If-Match"
        full = await client.put(
            "/v1/hospitals/west-penn/status", json={"census": {"red": 1}}, headers={"if-match": changed.headers["etag"]}
        )
        assert full.status_code == 200
        assert full.json()["offload_minutes"] == 0  # a full update resets what it does not name
        assert full.json()["census"]["red"] == 1


async def test_edxl_have_import_and_export(service: Service) -> None:
    document = edxl.render(
        [
            HospitalStatus(
                hospital="upmc-shadyside",
                ems_traffic="Advisory",
                ems_traffic_reason="CT maintenance",
                census=TriageCounts(yellow=11),
                offload_minutes=14,
            )
        ],
        names={"upmc-shadyside": "UPMC Shadyside"},
    )
    async with ed(service, "upmc-shadyside") as client:
        imported = await client.put("/v1/hospitals/upmc-shadyside/status.edxl", content=document)
        assert imported.status_code == 200, imported.text
        assert (imported.json()["ems_traffic"], imported.json()["census"]["yellow"]) == ("Advisory", 11)
        exported = await client.get("/v1/hospitals/upmc-shadyside/status.edxl")
        assert exported.headers["content-type"].startswith("application/xml")
        back = edxl.parse(exported.content, hospitals=["upmc-shadyside"])["upmc-shadyside"]
        assert (back.ems_traffic, back.ems_traffic_reason, back.offload_minutes) == ("Advisory", "CT maintenance", 14)
        broken = await client.put("/v1/hospitals/upmc-shadyside/status.edxl", content=b"<HospitalStatus")
        assert broken.status_code == 422 and broken.json()["code"] == "invalid_field"
        normal = await client.patch("/v1/hospitals/upmc-shadyside/status", json={"ems_traffic": "Normal"})
        assert normal.status_code == 200


async def test_acknowledgement_reaches_the_crew_and_transfer_measures_offload(
    service: Service, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service, hospital="upmc-presbyterian")
    tablet = scene.tablet()
    await tablet.connect()
    acks: list[dict[str, Any]] = []
    async with ed(service, "upmc-presbyterian") as client:
        path = f"/v1/hospitals/upmc-presbyterian/incidents/{scene.incident}"
        too_early = await client.post(f"{path}/transfer")
        assert too_early.status_code == 409 and "arrival" in too_early.json()["reason"]
        acked = await client.post(f"{path}/ack", json={"note": "Resus 2, stroke team paged"})
        assert acked.status_code == 200, acked.text
        await tablet.wait(lambda: bool(tablet.frames_of("ed_ack")), timeout=5)
        acks = tablet.frames_of("ed_ack")
        async with ed(service, "west-penn") as other:  # an ED the patient is not coming to
            foreign = await other.post(f"/v1/hospitals/west-penn/incidents/{scene.incident}/ack", json={})
        assert foreign.status_code == 403
        arrived = await tablet.send(
            {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "at_destination"}
        )
        await tablet.wait_acked(arrived)
        handover = await client.post(f"{path}/transfer")
        assert handover.status_code == 200, handover.text
        status = (await client.get("/v1/hospitals/upmc-presbyterian/status")).json()
    assert acks[0]["note"] == "Resus 2, stroke team paged" and acks[0]["hospital"] == "upmc-presbyterian"
    assert 0 <= handover.json()["offload_minutes"] < 5
    assert status["updated_by"] == "offload-measurement"
    assert await db.fetchval("SELECT count(*) FROM acknowledgements WHERE incident_id = $1", scene.incident) == 1
    assert await db.fetchval("SELECT count(*) FROM handovers WHERE incident_id = $1", scene.incident) == 1
    await tablet.close()


def a04(hospital: str, control: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EPIC|ED|PREALERT|{hospital}|20261124120000||ADT^A04|{control}|P|2.5.1",
            "EVN|A04|20261124120000",
            f"PID|1||MRN-{control}^^^H^MR||DOE^JANE",
            "PV1|1|E|ED^R1^B1" + "|" * 16 + f"V{control}",
            "PV2" + "|" * 25 + "2",
        ]
    )


async def test_hl7_adt_over_mllp_keeps_the_ed_census(backends: Backends, tmp_path: Path) -> None:
    port = free_port()
    with_mllp = start_service(backends, tmp_path / "mllp", PREALERT_MLLP_PORT=str(port))
    try:
        reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port)
        replies = []
        for control in ("G1", "G2"):
            writer.writeblock(a04("upmc-childrens", control).encode())
            await writer.drain()
            replies.append(await asyncio.wait_for(reader.readmessage(), 5))
        writer.writeblock(a04("nowhere", "G3").encode())
        await writer.drain()
        refused = await asyncio.wait_for(reader.readmessage(), 5)
        writer.close()
        codes = [str(r.extract_field("MSA", 1, 1, 1, 1, 1)) for r in replies]
        assert codes == ["AA", "AA"]
        assert str(refused.extract_field("MSA", 1, 1, 1, 1, 1)) in ("AE", "AR")
        async with ed(with_mllp, "upmc-childrens") as client:
            census = (await client.get("/v1/hospitals/upmc-childrens/status")).json()["census"]
        assert census["red"] >= 2  # ESI 2 is red; both arrivals counted
    finally:
        with_mllp.stop()
