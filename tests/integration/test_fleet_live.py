"""The dispatchers' view of the fleet over real sockets: the units snapshot, the live units feed (resumable), the
units that could answer an incident, and the region's map."""

from __future__ import annotations

import asyncpg

from dispatch.protocol import CloseCode
from prealert.client import DispatcherClient
from prealert.harness import Service
from tests.conftest import dispatcher_call, iso, make_scene, token
from tests.integration.test_refusals import _close_code


class UnitsFeed(DispatcherClient):
    @property
    def path(self) -> str:
        return "/v1/dispatch/units"


def units_feed(service: Service, last_id: str | None = None) -> UnitsFeed:
    return UnitsFeed(service.ws, "", token("dispatcher", "pittsburgh"), last_id=last_id)


async def test_positions_and_statuses_reach_the_units_feed_and_snapshot(service: Service, db: asyncpg.Pool) -> None:
    scene = await make_scene(service)
    feed = units_feed(service, last_id="now")
    hello = await feed.connect()
    assert hello["feed"] == "units:pittsburgh" and hello["after"] != "now"
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send({"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "transporting"})
    for i in range(3):
        await tablet.send({"type": "position", "taken_at": iso(), "lat": (40440 + i) / 1000, "lon": -79.99})
    await feed.wait(lambda: len([e for _, e in feed.events if e["unit"] == scene.unit]) >= 4)
    mine = [e for _, e in feed.events if e["unit"] == scene.unit]
    assert mine[0]["status"]["status"] == "transporting" and mine[0]["incident"] == scene.incident
    assert [e["position"]["lat"] for e in mine[1:]] == [40.44, 40.441, 40.442]

    snapshot = (await dispatcher_call(service, "GET", "/v1/units")).json()
    me = next(u for u in snapshot if u["unit"] == scene.unit)
    assert me["incident"] == scene.incident
    assert me["position"]["lat"] == 40.442 and me["status"]["status"] == "transporting"

    # Away, then back with the last id: the positions sent meanwhile arrive, none twice.
    await feed.close()
    await tablet.send({"type": "position", "taken_at": iso(), "lat": 40.45, "lon": -79.99})
    await tablet.wait_acked(tablet.next_seq - 1)
    resumed = units_feed(service, last_id=feed.last_id)
    await resumed.connect()
    await resumed.wait(lambda: any(e["unit"] == scene.unit for _, e in resumed.events))
    assert [e["position"]["lat"] for _, e in resumed.events if e["unit"] == scene.unit] == [40.45]
    await resumed.close()
    await tablet.close()


async def test_candidates_rank_available_units_by_driving_time(service: Service) -> None:
    near, far, busy = [await make_scene(service) for _ in range(3)]
    spots = {near.unit: (40.4400, -79.9900), far.unit: (40.4700, -80.0500), busy.unit: (40.4401, -79.9901)}
    for scene in (near, far, busy):
        tablet = scene.tablet()
        await tablet.connect()
        lat, lon = spots[scene.unit]
        status = "transporting" if scene is busy else "back_in_service"
        await tablet.send({"type": "status", "incident": scene.incident, "taken_at": iso(), "status": status})
        await tablet.wait_acked(await tablet.send({"type": "position", "taken_at": iso(), "lat": lat, "lon": lon}))
        await tablet.close()
    call = {"location": {"lat": 40.441, "lon": -79.99}, "complaint": "fall", "priority": 2}
    created = await dispatcher_call(service, "POST", "/v1/incidents", call)
    number = created.json()["id"]
    response = await dispatcher_call(service, "GET", f"/v1/incidents/{number}/candidates?limit=50")
    assert response.status_code == 200
    ranked = [c for c in response.json() if c["unit"] in spots]
    assert [c["unit"] for c in ranked] == [near.unit, far.unit, busy.unit]
    assert ranked[0]["available"] and ranked[0]["eta_s"] < ranked[1]["eta_s"]
    assert not ranked[2]["available"] and ranked[2]["reason"].startswith("busy (transporting")


async def test_region_map_and_units_need_a_dispatcher_of_the_region(service: Service) -> None:
    drawn = await dispatcher_call(service, "GET", "/v1/region/map")
    assert drawn.status_code == 200
    body = drawn.json()
    assert body["region"] == "pittsburgh" and body["attribution"].startswith("© OpenStreetMap")
    assert len(body["hospitals"]) >= 7 and body["roads"]["major"].startswith("M")
    for path in ("/v1/region/map", "/v1/units", "/v1/incidents/1/candidates"):
        refused = await dispatcher_call(service, "GET", path, auth=token("ed", "upmc-mercy"))
        assert refused.status_code == 403, path
    code, _ = await _close_code(f"{service.ws}/v1/dispatch/units", token("ed", "upmc-mercy"))
    assert code == CloseCode.FORBIDDEN
