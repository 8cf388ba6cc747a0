"""The paramedic's tablet page in a real headless Chromium: what the crew enters reaches the ED with the same scores;
the outbox lives in IndexedDB and survives going offline and reloading (the service worker serves the page); a second
tablet of the same unit, or a message whose ack was lost, duplicates and loses nothing; monitor numerics and the ED's
acknowledgement come back to the crew; and the page's scores are the server's, value for value."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import asyncpg
import httpx
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

from dispatch import clinical, triage
from prealert.harness import Service
from prealert.waveforms import ecg
from tests.conftest import Scene, iso, make_scene, token, transfer_care
from tests.e2e.test_pages import ARTIFACTS, CHROMIUM, browser, js_errors, screenshot

__all__ = ["browser"]


async def tablet_page(browser: Browser, service: Service, unit: str | None) -> Page:
    """A fresh tablet (its own browser context: empty IndexedDB), signed in by its link, or not at all."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    setattr(page, "js_errors", errors)  # noqa: B010 - checked at the end of each test
    page.set_default_timeout(10_000)
    signed_in = f"#unit={unit}&token={token('paramedic', unit)}" if unit else ""
    await page.goto(f"{service.http}/tablet{signed_in}")
    return page


async def rows(db: asyncpg.Pool, unit: str, kind: str = "vitals") -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT seq, uid, body, taken_at FROM events WHERE unit = $1 AND type = $2 ORDER BY seq", unit, kind
        )
    )


async def enter_vitals(page: Page, **values: str) -> None:
    for field, value in values.items():
        await page.fill(f"#{field}", value)
    await page.click("#send-vitals")


async def outbox(page: Page, unit: str) -> list[dict[str, Any]]:
    """The tablet's outbox as IndexedDB holds it: ``{uid, seq, at, message}`` per waiting message."""
    entries: list[dict[str, Any]] = await page.evaluate(
        """unit => new Promise((resolve, reject) => {
             const open = indexedDB.open("prealert-tablet-" + unit);
             open.onerror = () => reject(open.error);
             open.onsuccess = () => {
               const all = open.result.transaction("outbox").objectStore("outbox").getAll();
               all.onsuccess = () => { open.result.close(); resolve(all.result); };
               all.onerror = () => reject(all.error);
             };
           })""",
        unit,
    )
    return sorted(entries, key=lambda e: int(e["seq"]))


async def tablet_screenshot(page: Page, name: str, section: Locator | None = None) -> None:
    """The whole tablet page, or one section of it, seen from the top (the header is sticky: scrolled, a full-page
    capture would draw it across the middle)."""
    await page.evaluate("window.scrollTo(0, 0)")
    if section is None:
        await screenshot(page, name)
        return
    box = await section.bounding_box()
    assert box is not None
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, clip=box)


async def open_dashboard(browser: Browser, service: Service, hospital: str) -> Page:
    dashboard = await browser.new_page(viewport={"width": 1600, "height": 1000})
    dashboard.set_default_timeout(10_000)
    await dashboard.goto(f"{service.http}/dashboard#hospital={hospital}&token={token('ed', hospital)}")
    await expect(dashboard.locator("#connection")).to_have_text("live")
    return dashboard


async def test_vitals_and_assessment_reach_the_ed_with_the_same_scores(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service, hospital="upmc-mercy")
    dashboard = await open_dashboard(browser, service, scene.hospital)
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#incident")).to_contain_text(f"#{scene.incident} · P1 · chest pain")
    await expect(page.locator("#destination")).to_contain_text("→ upmc-mercy")
    await expect(page.locator("#destination")).to_contain_text("Patient's Choice")  # the decision's reason

    await page.fill("#age_years", "67")
    await page.select_option("#sex", "female")
    await page.select_option("#suspected", "stroke")
    await page.fill("#chief_complaint", "right arm weakness, slurred speech")
    for item, value in (("facial_droop", 1), ("arm_drift", 2), ("grip", 2)):
        await page.click(f'[data-item="{item}"] button[value="{value}"]')
    await expect(page.locator("#lams-total")).to_contain_text("LAMS 5")
    await page.fill("#last_known_well", datetime.now().strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#tx-name", "oxygen 2 L/min")
    await page.select_option("#tx-kind", "oxygen")
    await page.click("#add-treatment")
    await page.click("#send-assessment")
    await enter_vitals(page, hr="112", sbp="188", dbp="96", spo2="93", rr="22", temp_c="37.9")
    await expect(page.locator("#hr")).to_have_value("")  # the form is clear for the next set at once
    await page.click("#repeat-last")  # one tap: the last set again, to change what changed
    await expect(page.locator("#hr")).to_have_value("112")
    await expect(page.locator("#temp_c")).to_have_value("37.9")
    await page.select_option("#avpu", "C")
    await page.check("#on_oxygen")
    for part, value in (("gcs_eye", 3), ("gcs_verbal", 4), ("gcs_motor", 6)):
        await page.click(f'[data-gcs="{part}"] button[value="{value}"]')
    await expect(page.locator("#gcs-total")).to_have_text("total 13")
    # NEWS2: RR 22 -> 2, SpO2 93 -> 2, oxygen 2, SBP 188 -> 0, HR 112 -> 2, C -> 3, 37.9 -> 0 = 11, high
    await expect(page.locator("#score-news2")).to_have_text("11 high")  # on the page, before it is sent
    await page.click("#send-vitals")
    await expect(page.locator("#pending")).to_have_text("0")
    await expect(page.locator("#acked")).to_have_text("3")
    await expect(page.locator("#acked-list li")).to_have_count(3)

    await expect(page.locator("#server-news2")).to_have_text("11 high")  # the server agrees
    await expect(page.locator("#news2-agreement")).to_have_text("agrees with this tablet")
    await expect(page.locator("#score-category")).to_have_text("Stroke (LVO)")
    await expect(page.locator("#score-gcs")).to_have_text("13")
    card = dashboard.locator(f'[data-incident="{scene.incident}"]')
    tablet_news2 = await page.locator("#score-news2").text_content()
    await expect(card.locator('[data-field="news2"]')).to_have_text(tablet_news2 or "?")
    tablet_shock = await page.locator("#score-shock").text_content()
    assert tablet_shock == "0.60 (<0.6)"  # 112/188 = 0.596: rounds to 0.60, and is below 0.6
    await expect(card.locator('[data-field="shock_index"]')).to_have_text(tablet_shock)
    await expect(card.locator('[data-field="prealert"]')).to_have_text("Stroke (LVO)")
    await expect(card.locator('[data-field="age_sex"]')).to_contain_text("67 y female")
    await expect(card.locator('[data-field="neuro"]')).to_contain_text("GCS 13")
    await expect(card.locator('[data-field="hr"]')).to_contain_text("112")
    await expect(card.locator('[data-line="signs"]')).to_contain_text("GCS 13")
    assessment = (await rows(db, scene.unit, "assessment"))[0]["body"]
    assert '"lams": 5' in assessment and '"oxygen 2 L/min"' in assessment
    stored = await rows(db, scene.unit)
    assert [json.loads(r["body"])["source"] for r in stored] == ["manual", "manual"]
    assert all(abs(r["taken_at"] - datetime.now(UTC)) < timedelta(minutes=2) for r in stored)  # "taken at": now
    await tablet_screenshot(page, "tablet-with-incident")
    await tablet_screenshot(page, "tablet-assessment", page.locator('section[aria-labelledby="assessment-h"]'))
    await screenshot(dashboard, "dashboard-from-tablet")
    assert js_errors(page) == []


async def test_the_prealert_goes_in_one_tap_with_everything_entered(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service, hospital="upmc-mercy")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await page.fill("#age_years", "34")
    await page.select_option("#sex", "male")
    await page.select_option("#suspected", "trauma")
    await page.fill("#mechanism", "motorcyclist thrown at speed")
    await page.check('input[name="red"][value="pelvic_fracture"]')
    await page.check('input[name="yellow"][value="rider_separated"]')
    await page.fill("#tx-name", "tourniquet left thigh")
    await page.select_option("#tx-kind", "tourniquet")
    await page.click("#add-treatment")
    await page.click("#send-assessment")
    await expect(page.locator("#pending")).to_have_text("0")
    await expect(page.locator("#score-triage")).to_have_text("RED")
    await expect(page.locator("#server-news2")).to_have_text("0* low")  # the server's view came: kept on the tablet
    # The page writes the ack and the server's view to IndexedDB as they come; a reload within those milliseconds
    # would resend an acked entry under a fresh seq (stored once all the same, by its uid) and count one ack more
    await page.wait_for_function(
        "async () => (await getAll('outbox')).length === 0 && !!(await getMeta('patient'))", polling=100
    )
    await page.reload()  # the assessment form is empty now; the server's view and the outbox are not
    await expect(page.locator("#connection")).to_have_text("live")
    await page.fill("#hr", "128")
    await page.fill("#sbp", "84")  # typed, not sent: the pre-alert sends it too
    await expect(page.locator("#atmister")).to_contain_text("34 y male")
    await expect(page.locator("#atmister")).to_contain_text("tourniquet left thigh")
    await expect(page.locator("#atmister")).to_contain_text("HR 128/min")
    await page.click("#send-prealert")
    await expect(page.locator("#acked")).to_have_text("3")
    await expect(page.locator("#pending")).to_have_text("0")

    prealert = json.loads((await rows(db, scene.unit, "assessment"))[-1]["body"])
    assert (prealert["age_years"], prealert["sex"], prealert["suspected"]) == (34, "male", "trauma")
    assert prealert["mechanism"] == "motorcyclist thrown at speed"
    assert (prealert["triage_red"], prealert["triage_yellow"]) == (["pelvic_fracture"], ["rider_separated"])
    assert prealert["treatments"] == []  # sent once already: the server appends treatments
    assert [json.loads(r["body"])["hr"] for r in await rows(db, scene.unit)] == [128]
    await expect(page.locator("#score-category")).to_have_text("Trauma RED")
    dashboard = await open_dashboard(browser, service, scene.hospital)
    card = dashboard.locator(f'[data-incident="{scene.incident}"]')
    await expect(card.locator('[data-field="prealert"]')).to_have_text("Trauma RED")
    await expect(card.locator('[data-line="treatment"]')).to_contain_text("tourniquet left thigh")
    await expect(card.locator('[data-line="mechanism"]')).to_have_text("motorcyclist thrown at speed")
    assert js_errors(page) == []


async def test_offline_entries_survive_a_reload_and_arrive_exactly_once(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    dashboard = await open_dashboard(browser, service, scene.hospital)
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#incident")).to_contain_text(str(scene.incident))
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null || location.reload()")
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    await expect(page.locator("#connection")).to_have_text("live")
    await page.context.set_offline(True)
    await expect(page.locator("#connection")).to_have_text("offline")
    for i in range(3):
        await enter_vitals(page, hr=str(80 + i), spo2="96")
        await expect(page.locator("#pending")).to_have_text(str(i + 1))
    await expect(page.locator("#score-news2")).to_have_text("0* low")  # from the outbox: SpO2 96 on air, HR 82

    await page.reload()  # in the tunnel: the page comes from the service worker, the outbox from IndexedDB
    await expect(page.locator("#pending")).to_have_text("3")
    await expect(page.locator("#incident")).to_contain_text(f"#{scene.incident}")  # kept on the tablet
    await expect(page.locator("#incident")).to_contain_text("as of")
    for i in range(3, 5):  # and the crew can go on entering
        await enter_vitals(page, hr=str(80 + i), spo2="96")
    await expect(page.locator("#pending")).to_have_text("5")
    await expect(page.locator("#outbox-list li")).to_have_count(5)
    await expect(page.locator("#outbox-list li").first).to_contain_text("#1 vitals")
    assert [e["seq"] for e in await outbox(page, scene.unit)] == [1, 2, 3, 4, 5]
    await tablet_screenshot(page, "tablet-offline-outbox")
    assert await rows(db, scene.unit) == []

    await page.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#pending")).to_have_text("0")
    await expect(page.locator("#acked")).to_have_text("5")
    assert await outbox(page, scene.unit) == []
    stored = await rows(db, scene.unit)
    assert [json.loads(r["body"])["hr"] for r in stored] == [80, 81, 82, 83, 84]
    assert len({r["uid"] for r in stored}) == 5
    trend = dashboard.locator(f'[data-incident="{scene.incident}"] [data-field="hr_trend"]')
    await expect(trend).to_have_attribute("aria-label", "heart rate trend, last 5: 80, 81, 82, 83, 84 /min")
    assert js_errors(page) == []


async def test_the_outbox_survives_a_browser_restart(service: Service, db: asyncpg.Pool, tmp_path: Path) -> None:
    scene = await make_scene(service)
    link = f"{service.http}/tablet#unit={scene.unit}&token={token('paramedic', scene.unit)}"
    profile = tmp_path / "chromium-profile"  # the tablet's own browser profile, kept between launches
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    async with async_playwright() as p:

        async def launch() -> tuple[BrowserContext, Page]:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=args, viewport={"width": 1280, "height": 1000}
            )
            context.set_default_timeout(10_000)
            return context, context.pages[0] if context.pages else await context.new_page()

        context, page = await launch()
        await page.goto(link)
        await expect(page.locator("#connection")).to_have_text("live")
        await expect(page.locator("#incident")).to_contain_text(str(scene.incident))
        assert await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        await context.set_offline(True)
        await expect(page.locator("#connection")).to_have_text("offline")
        await enter_vitals(page, hr="101", sbp="97")
        await enter_vitals(page, hr="104")
        await expect(page.locator("#pending")).to_have_text("2")
        await context.close()  # the browser quits (a flat battery, a crash)

        context, page = await launch()
        await context.set_offline(True)  # and starts again in the tunnel
        await page.goto(link)
        await expect(page.locator("#pending")).to_have_text("2")
        await expect(page.locator("#incident")).to_contain_text(str(scene.incident))
        await page.click("#repeat-last")  # the last set is kept too
        await expect(page.locator("#hr")).to_have_value("104")
        await page.click("#clear-vitals")
        await context.set_offline(False)
        await expect(page.locator("#connection")).to_have_text("live")
        await expect(page.locator("#pending")).to_have_text("0")
        await enter_vitals(page, hr="99")
        await expect(page.locator("#acked")).to_have_text("3")  # seqs 1 and 2 from before the restart, then 3
        await context.close()
    stored = await rows(db, scene.unit)
    assert [(r["seq"], json.loads(r["body"])["hr"]) for r in stored] == [(1, 101), (2, 104), (3, 99)]


async def test_a_second_tablet_with_empty_storage_duplicates_and_loses_nothing(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    first = await tablet_page(browser, service, scene.unit)
    await expect(first.locator("#connection")).to_have_text("live")
    for hr in ("70", "71"):
        await enter_vitals(first, hr=hr)
    await expect(first.locator("#acked")).to_have_text("2")
    await first.context.set_offline(True)
    await expect(first.locator("#connection")).to_have_text("offline")
    await enter_vitals(first, hr="72")  # seq 3, only on the first tablet

    second = await tablet_page(browser, service, None)  # another tablet, fresh storage: the crew signs in
    await expect(second.locator("#signin")).to_be_visible()
    await second.fill("#signin-unit", scene.unit)
    await second.fill("#signin-token", token("paramedic", scene.unit))
    await second.click("#signin button[type=submit]")
    await expect(second.locator("#unit-name")).to_have_text(scene.unit)
    await expect(second.locator("#connection")).to_have_text("live")
    await expect(second.locator("#incident")).to_contain_text(str(scene.incident))
    await enter_vitals(second, hr="90")  # takes seq 3 on the server
    await expect(second.locator("#acked")).to_have_text("3")

    await first.context.set_offline(False)  # hello says 3: its waiting seq 3 goes again as seq 4, same uid
    await expect(first.locator("#pending")).to_have_text("0")
    await expect(first.locator("#acked")).to_have_text("4")
    await enter_vitals(second, hr="91")  # its seq 4 is the first tablet's now: seq_taken, resent as seq 5
    await expect(second.locator("#pending")).to_have_text("0")
    await expect(second.locator("#acked")).to_have_text("5")
    assert await second.locator("#last-error").text_content() == ""

    stored = await rows(db, scene.unit)
    assert [(r["seq"], json.loads(r["body"])["hr"]) for r in stored] == [(1, 70), (2, 71), (3, 90), (4, 72), (5, 91)]
    by_uid = await db.fetch("SELECT uid, count(*) AS n FROM events WHERE unit = $1 GROUP BY uid", scene.unit)
    assert len(by_uid) == 5 and all(r["n"] == 1 and r["uid"] for r in by_uid)
    assert js_errors(first) == [] and js_errors(second) == []


async def test_a_message_stored_before_its_ack_was_lost_is_stored_once(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await page.context.set_offline(True)
    await expect(page.locator("#connection")).to_have_text("offline")
    await enter_vitals(page, hr="77")
    [entry] = await outbox(page, scene.unit)
    assert entry["seq"] == 1 and 8 <= len(entry["uid"]) <= 64
    # The same message reached the server (seq 1, same uid) but its ack never came back to the tablet.
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.send_raw(json.dumps({**entry["message"], "seq": entry["seq"], "uid": entry["uid"]}))
    await tablet.wait_acked(1, timeout=10)
    await tablet.close()

    await page.context.set_offline(False)  # hello says 1: the tablet cannot know that seq 1 is its own
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#pending")).to_have_text("0")
    await expect(page.locator("#acked")).to_have_text("2")  # resent as seq 2 with the same uid: acked, not stored
    await enter_vitals(page, hr="78")
    await expect(page.locator("#acked")).to_have_text("3")
    stored = await rows(db, scene.unit)
    assert [(r["seq"], json.loads(r["body"])["hr"]) for r in stored] == [(1, 77), (3, 78)]
    assert stored[0]["uid"] == entry["uid"]
    assert js_errors(page) == []


async def test_monitor_numerics_and_the_eta_reach_the_tablet(service: Service, browser: Browser) -> None:
    scene = await make_scene(service, hospital="upmc-mercy")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    monitor = scene.tablet()  # the unit's monitor, another device of the same unit
    await monitor.connect()
    position = {"type": "position", "incident": scene.incident, "taken_at": iso(), "lat": 40.44, "lon": -79.99}
    await monitor.send(position)
    await monitor.send(scene.vitals(source="monitor", hr=123, spo2=91, rr=24, sbp=101, dbp=66))
    await expect(page.locator('#monitor [data-field="hr"]')).to_contain_text("123")
    await expect(page.locator('#monitor [data-field="spo2"]')).to_contain_text("91")
    await expect(page.locator('#monitor [data-field="rr"]')).to_contain_text("24")
    await expect(page.locator('#monitor [data-field="bp"]')).to_contain_text("101/66")
    await expect(page.locator("#monitor-at")).to_contain_text("at ")
    await expect(page.locator("#eta")).to_contain_text("ETA")
    # NEWS2 so far: RR 24 -> 2, SpO2 91 -> 3, SBP 101 -> 1, HR 123 -> 2 = 8 (partial)
    await expect(page.locator("#server-news2")).to_have_text("8* high")
    await expect(page.locator("#score-news2")).to_have_text("8* high")
    await enter_vitals(page, temp_c="38.4")  # a manual set: the monitor strip keeps the monitor's numerics
    await expect(page.locator("#server-news2")).to_have_text("9* high")
    await expect(page.locator('#monitor [data-field="hr"]')).to_contain_text("123")
    await monitor.send(scene.vitals(source="monitor", hr=118))
    await expect(page.locator('#monitor [data-field="hr"]')).to_contain_text("118")
    await monitor.close()
    await tablet_screenshot(page, "tablet-monitor")
    assert js_errors(page) == []


async def test_the_eds_acknowledgement_appears_on_the_tablet(service: Service, browser: Browser) -> None:
    scene: Scene = await make_scene(service, hospital="allegheny-general")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#ed-ack")).to_be_hidden()
    await page.context.set_offline(True)
    await page.click("#status-transporting")  # a NEMSIS moment: shown as waiting until acked, then as sent
    await expect(page.locator("#status-transporting small")).to_contain_text("waiting")
    await page.context.set_offline(False)
    await expect(page.locator("#status-transporting small")).to_contain_text("sent")
    await expect(page.locator("#status-on_scene small")).to_have_text("")
    async with httpx.AsyncClient(base_url=service.http) as http:
        response = await http.post(
            f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/ack",
            json={"note": "Resus 2, stroke team paged"},
            headers={"authorization": f"Bearer {token('ed', scene.hospital)}"},
        )
    assert response.status_code == 200
    await expect(page.locator("#ed-ack")).to_be_visible()
    await expect(page.locator("#ed-ack")).to_contain_text("Resus 2, stroke team paged")
    await page.reload()  # kept on the tablet
    await expect(page.locator("#ed-ack")).to_contain_text("Resus 2, stroke team paged")
    await tablet_screenshot(page, "tablet-ed-ack")
    assert js_errors(page) == []


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def cases() -> list[dict[str, Any]]:
    """Every NEWS2 band edge, the shock-index and RTS edges, the triage and stroke edges, and seeded random sets."""
    found: list[dict[str, Any]] = []
    for rr in (8, 9, 11, 12, 20, 21, 24, 25):
        found.append({"rr": rr})
    for spo2 in (83, 84, 85, 86, 87, 88, 91, 92, 93, 94, 95, 96, 97):
        for scale in (1, 2):
            for oxygen in (True, False, None):
                found.append({"spo2": spo2, "spo2_scale": scale, "on_oxygen": oxygen})
    for oxygen in (True, False):
        found.append({"on_oxygen": oxygen})
    for sbp in (0, 1, 49, 50, 75, 76, 89, 90, 91, 100, 101, 110, 111, 219, 220):
        found.append({"sbp": sbp, "hr": 90, "gcs_eye": 4, "gcs_verbal": 5, "gcs_motor": 6, "rr": 16})
    for hr in (40, 41, 50, 51, 90, 91, 110, 111, 130, 131):
        found.append({"hr": hr, "sbp": 150})
    for avpu in "ACVPU":
        found.append({"avpu": avpu})
    for temp in (35.0, 35.04, 35.05, 35.1, 36.0, 36.04, 36.05, 36.1, 38.0, 38.05, 38.1, 39.0, 39.05, 39.1):
        found.append({"temp_c": temp})
    for hr, sbp in ((60, 100), (59, 100), (90, 151), (100, 100), (99, 100), (140, 100), (139, 100), (1, 3), (2, 3)):
        found.append({"hr": hr, "sbp": sbp})
    for gcs in (3, 4, 5, 6, 8, 9, 12, 13, 15):
        eye = min(4, gcs - 2)
        motor = min(6, gcs - eye - 1)
        verbal = gcs - eye - motor
        found.append({"gcs_eye": eye, "gcs_verbal": verbal, "gcs_motor": motor, "sbp": 100, "rr": 30})
    for rr in (0, 1, 5, 6, 9, 10, 29, 30):  # RTS respiratory codes, and the RED RR criterion
        found.append({"rr": rr, "sbp": 120, "gcs_eye": 4, "gcs_verbal": 5, "gcs_motor": 6})
    gcs_parts = ((1, 1, 1), (1, 1, 2), (1, 1, 4), (2, 2, 5), (4, 4, 5))  # RTS GCS codes 0, 1, 2, 3, 4
    for (eye, verbal, motor), sbp, rr in itertools.product(gcs_parts, (0, 1, 50, 76, 90), (0, 1, 6, 10, 30)):
        found.append({"gcs_eye": eye, "gcs_verbal": verbal, "gcs_motor": motor, "sbp": sbp, "rr": rr})  # every RTS
    full = {"rr": 16, "spo2": 97, "on_oxygen": False, "sbp": 120, "hr": 70, "avpu": "A", "temp_c": 37.0}
    for change in (
        {},
        {"hr": 91, "rr": 21},
        {"hr": 91, "rr": 21, "temp_c": 38.5},
        {"hr": 111, "rr": 21, "temp_c": 38.5},
        {"rr": 25},
        {"avpu": "V"},
        {"hr": 111, "rr": 21, "on_oxygen": True},
        {"hr": 111, "rr": 21, "on_oxygen": True, "temp_c": 38.5},
        {"hr": 131, "rr": 25, "sbp": 90},
    ):
        found.append({**full, **change})  # totals 0, 3, 4 (low), 5 (medium), a single 3, 6, 7 (high), 9
    for age in (None, 0, 9, 10, 64, 65):  # SBP low for age; HR > SBP from age 10
        for sbp in (69, 70, 88, 89, 90, 109, 110):
            found.append({"age_years": age, "sbp": sbp, "hr": sbp + 1, "suspected": "trauma"})
    for spo2, oxygen in ((89, False), (89, True), (89, None), (90, False)):
        found.append({"spo2": spo2, "on_oxygen": oxygen, "triage_yellow": ["fall_over_10ft"]})
    for motor in (5, 6):
        found.append({"gcs_motor": motor, "suspected": "trauma"})
    for minutes in (None, -5, 0, 359, 360, 361):  # last known well: within 6 h includes 6 h 00 min 59 s
        for stroke_scale in ({"lams": 4}, {"lams": 3}, {"race": 5}, {"race": 4}):
            case: dict[str, Any] = {**stroke_scale, "suspected": "stroke"}
            if minutes is not None:
                lkw = NOW - timedelta(minutes=minutes, seconds=59 if minutes == 360 else 0)
                case["last_known_well"] = iso(lkw)
            found.append(case)
    found.append({"triage_yellow": ["pregnancy_over_20_weeks"]})
    found.append({"sbp": 100, "rr": 22})  # qSOFA 2
    found.append({"sbp": 101, "rr": 22, "avpu": "C"})
    found.append({"rr": 22, "gcs_eye": 4, "gcs_verbal": 4, "gcs_motor": 6})
    rng = random.Random(20261124)
    for _ in range(300):
        case = {}
        for name, low, high in (("hr", 20, 200), ("sbp", 40, 240), ("rr", 0, 50), ("spo2", 70, 100)):
            if rng.random() < 0.85:
                case[name] = rng.randint(low, high)
        if rng.random() < 0.8:
            case["temp_c"] = round(rng.uniform(33, 41.5), rng.choice((1, 2)))
        if rng.random() < 0.8:
            case["avpu"] = rng.choice("ACVPU")
        case["on_oxygen"] = rng.choice((True, False, None))
        case["spo2_scale"] = rng.choice((1, 2))
        if rng.random() < 0.6:
            case.update(gcs_eye=rng.randint(1, 4), gcs_verbal=rng.randint(1, 5), gcs_motor=rng.randint(1, 6))
        if rng.random() < 0.5:
            case["age_years"] = rng.randint(0, 100)
        case["suspected"] = rng.choice((None, "stemi", "stroke", "trauma", "sepsis", "cardiac_arrest", "obstetric"))
        if rng.random() < 0.3:
            case["lams"] = rng.randint(0, 5)
        if rng.random() < 0.2:
            case["race"] = rng.randint(0, 9)
        if rng.random() < 0.3:
            case["last_known_well"] = iso(NOW - timedelta(minutes=rng.randint(0, 600)))
        if rng.random() < 0.3:
            case["triage_red"] = rng.sample(sorted(triage.RED_INJURY_CODES), 1)
        if rng.random() < 0.3:
            case["triage_yellow"] = rng.sample(sorted(triage.YELLOW_CODES), 1)
        if rng.random() < 0.2:
            case["stemi"] = rng.choice((True, False))
        found.append(case)
    return found


def expected(case: dict[str, Any]) -> dict[str, Any]:
    news = clinical.news2(
        rr=case.get("rr"),
        spo2=case.get("spo2"),
        on_oxygen=case.get("on_oxygen"),
        sbp=case.get("sbp"),
        hr=case.get("hr"),
        acvpu=case.get("avpu"),
        temp_c=case.get("temp_c"),
        spo2_scale=case.get("spo2_scale", 1),
    )
    shock = clinical.shock_index(hr=case.get("hr"), sbp=case.get("sbp"))
    gcs = clinical.gcs_total(eye=case.get("gcs_eye"), verbal=case.get("gcs_verbal"), motor=case.get("gcs_motor"))
    rts = clinical.rts(gcs=gcs, sbp=case.get("sbp"), rr=case.get("rr"))
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in case.items() if k != "spo2_scale"}
    if fields.get("last_known_well"):
        fields["last_known_well"] = datetime.fromisoformat(fields["last_known_well"])
    facts = triage.PatientFacts(**fields)
    return {
        "news2": [news.score, news.band, news.partial, list(news.missing)],
        "shock": None if shock is None else [shock.value, shock.klass],
        "gcs": gcs,
        "rts": None if rts is None else [rts.gcs_code, rts.sbp_code, rts.rr_code, rts.weighted],
        "triage": triage.field_triage(facts).colour,
        "category": triage.needs(facts, now=NOW).category,
    }


async def test_the_pages_scores_are_the_servers_value_for_value(service: Service, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{service.http}/static/scores.js")  # any page of the service; the script is added below
    await page.set_content("<!doctype html><title>scores</title>")
    await page.add_script_tag(url=f"{service.http}/static/scores.js")
    all_cases = cases()
    got = await page.evaluate(
        """([cases, now]) => cases.map(c => {
             const S = window.PrealertScores;
             const n = S.news2(c), si = S.shockIndex(c), r = S.rts(c);
             return { news2: [n.score, n.band, n.partial, n.missing], shock: si ? [si.value, si.klass] : null,
                      gcs: S.gcsTotal(c), rts: r ? [r.gcs_code, r.sbp_code, r.rr_code, r.weighted] : null,
                      triage: S.fieldTriage(c), category: S.category(c, now) };
           })""",
        [all_cases, NOW.timestamp() * 1000],
    )
    mismatches = [(case, g, expected(case)) for case, g in zip(all_cases, got, strict=True) if g != expected(case)]
    assert mismatches == [], mismatches[:3]
    assert len(all_cases) > 500
    categories = {expected(case)["category"] for case in all_cases}
    assert categories == set(get_args(triage.Category))  # every category was compared


async def test_a_12_lead_from_the_monitors_csv_is_sent_as_binary_byte_identical(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#incident")).to_contain_text(str(scene.incident))
    csv = Path(ecg.__file__).parent / "data" / "ptbdb_s0010_re_10s_500hz.csv"
    await page.set_input_files("#ecg-file", str(csv))
    await expect(page.locator("#ecg-summary")).to_have_text("12 leads · 10.0 s · 500 /s")
    await page.fill("#ecg-interpretation", "STEMI inferolateral")
    await page.select_option("#stemi", "yes")
    await page.click("#send-ecg")
    await expect(page.locator("#acked")).to_have_text("1")
    await expect(page.locator("#pending")).to_have_text("0")
    assert await page.locator("#last-error").text_content() == ""
    [row] = await rows(db, scene.unit, "ecg12")
    body = json.loads(row["body"])
    leads = {lead["name"]: base64.b64decode(lead["samples"]) for lead in body["leads"]}
    assert leads == ecg.twelve_lead().leads  # the CSV's mV, as µV, byte for byte
    assert body["interpretation"] == "STEMI inferolateral" and body["stemi"] is True
    await expect(page.locator("#score-category")).to_have_text("STEMI")
    assert js_errors(page) == []


async def test_the_eds_outcome_reaches_the_crews_history(service: Service, browser: Browser) -> None:
    scene: Scene = await make_scene(service, hospital="upmc-mercy")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#history-list")).to_contain_text(f"#{scene.incident}")
    await expect(page.locator("#history-list")).to_contain_text("in progress")
    await page.click("#status-at_destination")
    await expect(page.locator("#status-at_destination small")).to_contain_text("sent")
    await transfer_care(service, scene)
    async with httpx.AsyncClient(base_url=service.http) as http:
        response = await http.post(
            f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/outcome",
            json={
                "disposition": "cath_lab",
                "diagnosis": "Anterior STEMI",
                "balloon_at": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
            },
            headers={"authorization": f"Bearer {token('ed_charge', scene.hospital)}"},
        )
    assert response.status_code == 201, response.text
    await expect(page.locator("#history-news")).to_contain_text(
        f"Outcome for incident {scene.incident}: to the cath lab — Anterior STEMI"
    )
    await expect(page.locator("#history-list")).to_contain_text("to the cath lab — Anterior STEMI · door-to-balloon")
    await page.reload()  # the history is the server's: it is there after a reload too
    await expect(page.locator("#history-list")).to_contain_text("to the cath lab — Anterior STEMI")
    await tablet_screenshot(page, "tablet-history")
    assert js_errors(page) == []


# The tablet's clock 12 minutes ahead: every `new Date()` and `Date.now()` on the page (not in the service worker).
SKEWED_CLOCK = """(() => {
  const Real = Date, off = 12 * 60000;
  function Skewed(...args) {
    if (!new.target) return new Real(Real.now() + off).toString();
    return args.length ? new Real(...args) : new Real(Real.now() + off);
  }
  Skewed.prototype = Real.prototype;
  Skewed.now = () => Real.now() + off;
  Skewed.parse = Real.parse;
  Skewed.UTC = Real.UTC;
  globalThis.Date = Skewed;
})();"""


async def test_a_tablet_whose_clock_runs_12_minutes_ahead_is_warned_and_loses_nothing(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service, hospital="upmc-mercy")
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    await context.add_init_script(SKEWED_CLOCK)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"{service.http}/tablet#unit={scene.unit}&token={token('paramedic', scene.unit)}")
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#clock-warning")).to_be_visible()
    await expect(page.locator("#clock-warning")).to_contain_text("12 min ahead of")
    await enter_vitals(page, hr="101", spo2="95")
    async with asyncio.timeout(10):  # stored, not refused as "in the future"
        while not (stored := await rows(db, scene.unit)):  # noqa: ASYNC110 - the database is polled
            await asyncio.sleep(0.1)
    await expect(page.locator("#pending")).to_have_text("0")  # and acked
    [row] = stored
    assert timedelta(minutes=11) < row["taken_at"] - datetime.now(UTC) < timedelta(minutes=13)  # as stamped
    assert await page.locator("#last-error").text_content() == ""
    await context.close()
