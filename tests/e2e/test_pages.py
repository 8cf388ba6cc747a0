"""End to end in a real headless Chromium (Debian's, driven by Playwright) against a real ``prealert serve``:
a patient entered on the tablet page, or streamed by a tablet client, appears live on the ED dashboard page."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from prealert.harness import Service
from tests.conftest import REGION, dispatcher_call, make_scene, token, unique_unit

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        await launched.close()


async def open_page(browser: Browser, url: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    page.set_default_timeout(10_000)
    setattr(page, "js_errors", errors)  # noqa: B010 - checked at the end of each test
    return page


def js_errors(page: Page) -> list[str]:
    errors: list[str] = getattr(page, "js_errors")  # noqa: B009
    return errors


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_dashboard_page_shows_a_streamed_patient_live(service: Service, browser: Browser) -> None:
    scene = await make_scene(service, hospital="allegheny-general")
    page = await open_page(
        browser, f"{service.http}/dashboard#hospital={scene.hospital}&token={token('ed_charge', scene.hospital)}"
    )
    await expect(page.locator("#connection")).to_have_text("live")
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send(scene.vitals(hr=128, sbp=88, dbp=50, rr=26, spo2=90, on_oxygen=True, avpu="V", temp_c=39.4))
    card = page.locator(f'[data-incident="{scene.incident}"]')
    await expect(card.locator('[data-field="hr"]')).to_contain_text("128")
    await expect(card.locator('[data-field="sbp"]')).to_contain_text("88/50")
    # NEWS2: rr 26 -> 3, spo2 90 -> 3, oxygen 2, sbp 88 -> 3, hr 128 -> 2, voice 3, temp 39.4 -> 2 = 18, high
    await expect(card.locator('[data-field="news2"]')).to_contain_text("18")
    await expect(card.locator('[data-field="news2"]')).to_contain_text("high")
    for hr in (120, 115, 110):
        await tablet.send(scene.vitals(hr=hr))
    await expect(card.locator('[data-field="hr"]')).to_contain_text("110")
    await screenshot(page, "dashboard-streamed-patient")
    await tablet.close()
    assert js_errors(page) == []


async def test_vitals_entered_on_the_tablet_page_reach_the_dashboard_page(service: Service, browser: Browser) -> None:
    unit = unique_unit("E")
    created = await dispatcher_call(
        service,
        "POST",
        "/v1/incidents",
        {"location": {"lat": 40.45, "lon": -79.95}, "complaint": "stroke symptoms", "priority": 1},
    )
    incident = created.json()["id"]
    hospital = "upmc-presbyterian"
    dashboard = await open_page(
        browser, f"{service.http}/dashboard#hospital={hospital}&token={token('ed_charge', hospital)}"
    )
    tablet = await open_page(browser, f"{service.http}/tablet#unit={unit}&token={token('paramedic', unit)}")
    await expect(tablet.locator("#connection")).to_have_text("live")
    assert (await dispatcher_call(service, "POST", f"/v1/incidents/{incident}/assign", {"unit": unit})).is_success
    # Stroke symptoms without findings: presbyterian need not be the recommendation, so give the reason.
    routed = {"hospital": hospital, "reason_code": "4220015"}
    assert (await dispatcher_call(service, "POST", f"/v1/incidents/{incident}/destination", routed)).is_success
    await expect(tablet.locator("#incident")).to_contain_text(str(incident))
    await expect(tablet.locator("#destination")).to_contain_text(hospital)
    # The crew sees the recommended destination and why (here: no findings yet, so the nearest ED).
    await expect(tablet.locator("#recommendation")).to_contain_text("Recommended:")
    await expect(tablet.locator("#recommendation")).to_contain_text("ETA")

    await tablet.fill("#hr", "96")
    await tablet.fill("#sbp", "182")
    await tablet.fill("#dbp", "101")
    await tablet.fill("#spo2", "97")
    await tablet.click("#send-vitals")
    await expect(tablet.locator("#acked")).to_have_text("1")
    await expect(tablet.locator("#pending")).to_have_text("0")
    await tablet.click("#status-transporting")
    await expect(tablet.locator("#acked")).to_have_text("2")

    card = dashboard.locator(f'[data-incident="{incident}"]')
    await expect(card.locator('[data-field="hr"]')).to_contain_text("96")
    await expect(card.locator('[data-field="sbp"]')).to_contain_text("182/101")
    await expect(card.locator('[data-field="status"]')).to_contain_text("transporting")
    await screenshot(tablet, "tablet-after-vitals")
    await screenshot(dashboard, "dashboard-after-tablet-vitals")
    assert js_errors(tablet) == [] and js_errors(dashboard) == []


async def test_console_page_creates_assigns_and_routes(service: Service, browser: Browser) -> None:
    page = await open_page(browser, f"{service.http}/console#token={token('dispatcher', REGION)}")
    await page.fill("#complaint", "fall from ladder, e2e")
    await page.click("#create-incident")
    row = page.locator("tr[data-incident]", has_text="fall from ladder, e2e").first
    await expect(row).to_be_visible()
    incident = await row.get_attribute("data-incident")
    unit = unique_unit("C")
    await row.locator(".assign-unit").fill(unit)
    await row.locator(".assign").click()
    await row.locator("select.destination").select_option("upmc-mercy")
    await row.locator("select.reason").select_option("4220015")  # patient's choice: an override needs a reason
    await row.locator(".route").click()
    fresh = page.locator(f'tr[data-incident="{incident}"]')
    await expect(fresh).to_contain_text(unit)
    await expect(fresh).to_contain_text("upmc-mercy")
    stored = (await dispatcher_call(service, "GET", f"/v1/incidents/{incident}")).json()
    assert (stored["unit"], stored["destination"]) == (unit, "upmc-mercy")
    await screenshot(page, "console")
    assert js_errors(page) == []


async def test_console_board_and_recommendation_follow_a_diversion(service: Service, browser: Browser) -> None:
    hospital = "upmc-st-margaret"
    ed = {"authorization": f"Bearer {token('ed_charge', hospital)}"}
    async with httpx.AsyncClient(base_url=service.http, headers=ed, timeout=10) as client:
        assert (await client.patch(f"/v1/hospitals/{hospital}/status", json={"ems_traffic": "Normal"})).is_success
        page = await open_page(browser, f"{service.http}/console#token={token('dispatcher', REGION)}")
        row = page.locator(f'tr[data-hospital="{hospital}"]')
        await expect(row).to_contain_text("Normal")
        # An incident next to St. Margaret: a general patient goes to the nearest ED.
        created = await dispatcher_call(
            service,
            "POST",
            "/v1/incidents",
            {"location": {"lat": 40.4890, "lon": -79.8965}, "complaint": "e2e diversion", "priority": 2},
        )
        incident = created.json()["id"]
        recommendation = page.locator(f'tr[data-incident="{incident}"] td[data-col="recommendation"]')
        await expect(recommendation).to_contain_text("St. Margaret")
        try:
            closed = {"ems_traffic": "Closed", "ems_traffic_reason": "e2e: CT down"}
            assert (await client.patch(f"/v1/hospitals/{hospital}/status", json=closed)).is_success
            await expect(row).to_contain_text("Closed", timeout=2_000)
            await expect(page.locator("#status-log")).to_contain_text("e2e: CT down")
            await expect(page.locator(".reroute-alert", has_text=f"#{incident}")).to_be_visible()
            await expect(recommendation).not_to_contain_text("St. Margaret")
            await screenshot(page, "console-diversion")
        finally:
            assert (await client.patch(f"/v1/hospitals/{hospital}/status", json={"ems_traffic": "Normal"})).is_success
    assert js_errors(page) == []
