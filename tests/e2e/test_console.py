"""The dispatcher's console in a real headless Chromium at 1920×1080, with the simulator running a living city against
the same service: units move on the map; the queue suggests the nearest available unit and one key assigns it; one
key routes to the recommendation and an override records its reason (both checked in PostgreSQL); a diversion
changes the board within a second and raises the re-route alert; the keyboard help is there."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import httpx
from playwright.async_api import Browser, expect

from dispatch import region, roads
from prealert.harness import Service
from prealert.sim.runner import SimConfig, Simulation
from tests.conftest import REGION, SECRET, dispatcher_call, iso, token, unique_unit
from tests.e2e.test_pages import browser, js_errors, open_page, screenshot

__all__ = ["browser"]
REGIONS = Path(__file__).resolve().parents[2] / "dispatch" / "regions"


async def test_the_console_runs_a_living_city_from_the_keyboard(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    pack = region.load(REGIONS, "pittsburgh")
    for hospital in pack.hospitals:  # open EDs to start with (other tests of the session changed some)
        path = f"/v1/hospitals/{hospital}/status"
        assert (await dispatcher_call(service, "PUT", path, {}, auth=token("ed_charge", hospital))).is_success
    graph = roads.load(REGIONS / "pittsburgh", roads.RoadSettings())
    travel = roads.TravelTimes(graph, {h.id: (h.lat, h.lon) for h in pack.hospitals.values()})
    config = SimConfig(
        units=4, rate_per_hour=60, minutes=30, speed=10, seed=11, on_scene_min=(3, 4), diversion_chance=0
    )
    simulation = Simulation(
        http=service.http, ws=service.ws, secret=SECRET, region=pack, travel=travel, config=config, prefix="C"
    )
    city = asyncio.create_task(simulation.run())
    page = await open_page(browser, f"{service.http}/console#token={token('dispatcher', REGION)}")
    await page.set_viewport_size({"width": 1920, "height": 1080})
    try:
        # Units on the map, and moving.
        await expect(page.locator("#layer-units g.unit")).not_to_have_count(0)
        await expect(page.locator("#layer-roads path.road")).to_have_count(3)
        await expect(page.locator("#attribution")).to_contain_text("OpenStreetMap")
        where = "gs => Object.fromEntries(gs.map(g => [g.dataset.unit, g.getAttribute('transform')]))"
        first = await page.eval_on_selector_all("#layer-units g.unit", where)
        await page.wait_for_function(
            """before => Array.from(document.querySelectorAll('#layer-units g.unit'))
                 .some(g => before[g.dataset.unit] && before[g.dataset.unit] !== g.getAttribute('transform'))""",
            arg=first,
            timeout=20_000,
        )

        # A unit of our own, available right next to a new incident: the queue suggests it; "a" assigns it.
        unit = unique_unit("K")
        from prealert.client import TabletClient

        tablet = TabletClient(service.ws, unit, token("paramedic", unit))
        await tablet.connect()
        await tablet.send({"type": "status", "taken_at": iso(), "status": "back_in_service"})
        await tablet.wait_acked(
            await tablet.send({"type": "position", "taken_at": iso(), "lat": 40.4385, "lon": -79.9970})
        )
        call = {"location": {"lat": 40.4390, "lon": -79.9965}, "complaint": "e2e chest pain", "priority": 1}
        incident = (await dispatcher_call(service, "POST", "/v1/incidents", call)).json()["id"]
        row = page.locator(f'tr[data-incident="{incident}"]')
        await expect(row).to_be_visible()
        await row.locator('td[data-col="complaint"]').click()
        await expect(row).to_have_class("selected")
        await expect(row.locator("button.suggestion").first).to_contain_text(unit)
        await page.keyboard.press("a")
        await expect(row.locator('td[data-col="unit"]')).to_have_text(unit)
        assigned = await db.fetchval(
            "SELECT detail->>'unit' FROM incident_changes WHERE incident_id = $1 AND change = 'unit_set'", incident
        )
        assert assigned == unit

        # "r": route to the recommendation, recorded as following it.
        await expect(row.locator(".rec-top")).not_to_be_empty()
        await page.keyboard.press("r")
        await expect(row.locator('td[data-col="destination"]')).not_to_have_text("not set")
        decision = await db.fetchrow(
            "SELECT hospital, recommended, is_override FROM destination_decisions WHERE incident_id = $1", incident
        )
        assert decision is not None and decision["hospital"] == decision["recommended"] and not decision["is_override"]
        await page.locator(f'#layer-units g.unit[data-unit="{unit}"]').click()
        await page.wait_for_function("() => document.getElementById('route').getAttribute('d').length > 10")

        # "o": override with a reason from the list.
        other = (await dispatcher_call(service, "POST", "/v1/incidents", {**call, "complaint": "e2e override"})).json()
        row2 = page.locator(f'tr[data-incident="{other["id"]}"]')
        await row2.locator('td[data-col="complaint"]').click()
        await page.keyboard.press("o")
        await expect(row2.locator("select.destination")).to_be_focused()
        target = next(h for h in ("west-penn", "upmc-shadyside") if h != decision["hospital"])
        await row2.locator("select.destination").select_option(target)
        await row2.locator("select.reason").select_option("4220015")  # Patient's Choice
        await row2.locator("button.route").click()
        await expect(row2.locator('td[data-col="destination"]')).to_contain_text(target)
        override = await db.fetchrow(
            "SELECT hospital, is_override, reason_code FROM destination_decisions WHERE incident_id = $1", other["id"]
        )
        assert override is not None
        assert dict(override) == {"hospital": target, "is_override": True, "reason_code": "4220015"}

        # A diversion of the first patient's destination: the board within a second, and the re-route alert.
        hospital = decision["hospital"]
        async with httpx.AsyncClient(base_url=service.http, timeout=10) as http:
            closed = {"ems_traffic": "Closed", "ems_traffic_reason": "e2e: ED saturated"}
            headers = {"authorization": f"Bearer {token('ed_charge', hospital)}"}
            assert (await http.patch(f"/v1/hospitals/{hospital}/status", json=closed, headers=headers)).is_success
            board = page.locator(f'#hospitals tr[data-hospital="{hospital}"]')
            await expect(board).to_contain_text("Closed", timeout=1_000)
            await expect(page.locator(f'#layer-hospitals g[data-hospital="{hospital}"]')).to_have_attribute(
                "data-traffic", "Closed"
            )
            await expect(page.locator(".reroute-alert", has_text=f"#{incident}")).to_be_visible()
            await page.keyboard.press("?")
            await expect(page.locator("#help")).to_be_visible()
            await screenshot(page, "console-living-city")
            await page.keyboard.press("?")
            await page.keyboard.press("Escape")
            assert (
                await http.patch(f"/v1/hospitals/{hospital}/status", json={"ems_traffic": "Normal"}, headers=headers)
            ).is_success
        await tablet.close()
        assert js_errors(page) == []
    finally:
        city.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await city
