"""The paramedic's tablet page in a real headless Chromium: what the crew enters reaches the ED with the same scores;
the outbox lives in IndexedDB and survives going offline and reloading (the service worker serves the page); a second
tablet of the same unit duplicates and loses nothing; the ED's acknowledgement comes back; and the page's scores are
the server's, value for value."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from playwright.async_api import Browser, Page, expect

from dispatch import clinical, triage
from prealert.harness import Service
from prealert.waveforms import ecg
from tests.conftest import Scene, make_scene, token
from tests.e2e.test_pages import browser, js_errors, screenshot

__all__ = ["browser"]


async def tablet_page(browser: Browser, service: Service, unit: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    setattr(page, "js_errors", errors)  # noqa: B010 - checked at the end of each test
    page.set_default_timeout(10_000)
    await page.goto(f"{service.http}/tablet#unit={unit}&token={token('paramedic', unit)}")
    return page


async def rows(db: asyncpg.Pool, unit: str, kind: str = "vitals") -> list[asyncpg.Record]:
    return list(
        await db.fetch("SELECT seq, uid, body FROM events WHERE unit = $1 AND type = $2 ORDER BY seq", unit, kind)
    )


async def enter_vitals(page: Page, **values: str) -> None:
    for field, value in values.items():
        await page.fill(f"#{field}", value)
    await page.click("#send-vitals")


async def test_vitals_and_assessment_reach_the_ed_with_the_same_scores(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service, hospital="upmc-mercy")
    dashboard = await browser.new_page(viewport={"width": 1600, "height": 1000})
    await dashboard.goto(f"{service.http}/dashboard#hospital={scene.hospital}&token={token('ed', scene.hospital)}")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#incident")).to_contain_text(str(scene.incident))

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
    await page.select_option("#avpu", "C")
    await page.check("#on_oxygen")
    for part, value in (("gcs_eye", 3), ("gcs_verbal", 4), ("gcs_motor", 6)):
        await page.click(f'[data-gcs="{part}"] button[value="{value}"]')
    await page.fill("#hr", "112")
    await page.fill("#sbp", "188")
    await page.fill("#dbp", "96")
    await page.fill("#spo2", "93")
    await page.fill("#rr", "22")
    await page.fill("#temp_c", "37.9")
    # NEWS2: RR 22 -> 2, SpO2 93 -> 2, oxygen 2, SBP 188 -> 0, HR 112 -> 2, C -> 3, 37.9 -> 0 = 11, high
    await expect(page.locator("#score-news2")).to_have_text("11 high")  # on the page, before it is sent
    await page.click("#send-vitals")
    await expect(page.locator("#pending")).to_have_text("0")
    await expect(page.locator("#acked")).to_have_text("3")

    await expect(page.locator("#server-news2")).to_have_text("11 high")  # the server agrees
    await expect(page.locator("#score-category")).to_have_text("Stroke (LVO)")
    await expect(page.locator("#score-gcs")).to_have_text("13")
    card = dashboard.locator(f'[data-incident="{scene.incident}"]')
    await expect(card.locator('[data-field="news2"]')).to_contain_text("11")
    await expect(card.locator('[data-field="prealert"]')).to_have_text("Stroke (LVO)")
    await expect(card.locator('[data-field="age_sex"]')).to_contain_text("67 y female")
    await expect(card.locator('[data-field="neuro"]')).to_contain_text("GCS 13")
    assessment = (await rows(db, scene.unit, "assessment"))[0]["body"]
    assert '"lams": 5' in assessment and '"oxygen 2 L/min"' in assessment
    await screenshot(page, "tablet-assessment")
    await screenshot(dashboard, "dashboard-from-tablet")
    assert js_errors(page) == []


async def test_offline_entries_survive_a_reload_and_arrive_exactly_once(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null || location.reload()")
    await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    await expect(page.locator("#connection")).to_have_text("live")
    await page.context.set_offline(True)
    await expect(page.locator("#connection")).to_have_text("offline")
    for i in range(5):
        await enter_vitals(page, hr=str(80 + i), spo2="96")
        await expect(page.locator("#pending")).to_have_text(str(i + 1))
    await page.reload()  # in the tunnel: the page comes from the service worker, the outbox from IndexedDB
    await expect(page.locator("#pending")).to_have_text("5")
    await expect(page.locator("#outbox-list li")).to_have_count(5)
    await screenshot(page, "tablet-offline-outbox")
    assert await rows(db, scene.unit) == []
    await page.context.set_offline(False)
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#pending")).to_have_text("0")

    stored = await rows(db, scene.unit)
    assert [json.loads(r["body"])["hr"] for r in stored] == [80, 81, 82, 83, 84]
    assert len({r["uid"] for r in stored}) == 5
    assert js_errors(page) == []


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
    second = await tablet_page(browser, service, scene.unit)  # another tablet, fresh storage
    await expect(second.locator("#connection")).to_have_text("live")
    await expect(second.locator("#incident")).to_contain_text(str(scene.incident))
    await enter_vitals(second, hr="90")  # takes seq 3 on the server
    await expect(second.locator("#pending")).to_have_text("0")
    await first.context.set_offline(False)
    await expect(first.locator("#pending")).to_have_text("0")  # its seq 3 was taken: resent under seq 4

    stored = await rows(db, scene.unit)
    assert sorted(json.loads(r["body"])["hr"] for r in stored) == [70, 71, 72, 90]
    assert len({r["uid"] for r in stored}) == 4 and len(stored) == 4
    assert js_errors(first) == [] and js_errors(second) == []


async def test_the_eds_acknowledgement_appears_on_the_tablet(service: Service, browser: Browser) -> None:
    scene: Scene = await make_scene(service, hospital="allegheny-general")
    page = await tablet_page(browser, service, scene.unit)
    await expect(page.locator("#connection")).to_have_text("live")
    async with httpx.AsyncClient(base_url=service.http) as http:
        response = await http.post(
            f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/ack",
            json={"note": "Resus 2, stroke team paged"},
            headers={"authorization": f"Bearer {token('ed', scene.hospital)}"},
        )
    assert response.status_code == 200
    await expect(page.locator("#ed-ack")).to_contain_text("Resus 2, stroke team paged")
    await page.reload()  # kept on the tablet
    await expect(page.locator("#ed-ack")).to_contain_text("Resus 2, stroke team paged")
    await screenshot(page, "tablet-ed-ack")


def cases() -> list[dict[str, Any]]:
    """Every NEWS2 band edge, the shock-index and RTS edges, and seeded random sets."""
    found: list[dict[str, Any]] = []
    for rr in (8, 9, 11, 12, 20, 21, 24, 25):
        found.append({"rr": rr})
    for spo2 in (83, 84, 85, 86, 87, 88, 91, 92, 93, 94, 95, 96, 97):
        for scale in (1, 2):
            for oxygen in (True, False, None):
                found.append({"spo2": spo2, "spo2_scale": scale, "on_oxygen": oxygen})
    for sbp in (0, 49, 50, 75, 76, 89, 90, 91, 100, 101, 110, 111, 219, 220):
        found.append({"sbp": sbp, "hr": 90, "gcs_eye": 4, "gcs_verbal": 5, "gcs_motor": 6, "rr": 16})
    for hr in (40, 41, 50, 51, 90, 91, 110, 111, 130, 131):
        found.append({"hr": hr, "sbp": 150})
    for temp in (35.0, 35.04, 35.05, 35.1, 36.0, 36.1, 38.0, 38.1, 39.0, 39.05, 39.1):
        found.append({"temp_c": temp})
    for hr, sbp in ((60, 100), (59, 100), (90, 151), (100, 100), (99, 100), (140, 100), (139, 100), (1, 3), (2, 3)):
        found.append({"hr": hr, "sbp": sbp})
    for gcs in (3, 4, 5, 6, 8, 9, 12, 13):
        eye = min(4, gcs - 2)
        motor = min(6, gcs - eye - 1)
        verbal = gcs - eye - motor
        found.append({"gcs_eye": eye, "gcs_verbal": verbal, "gcs_motor": motor, "sbp": 100, "rr": 30})
    rng = random.Random(20261124)
    for _ in range(300):
        case: dict[str, Any] = {}
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
    facts = triage.PatientFacts(**fields)
    return {
        "news2": [news.score, news.band, news.partial, list(news.missing)],
        "shock": None if shock is None else [shock.value, shock.klass],
        "gcs": gcs,
        "rts": None if rts is None else rts.weighted,
        "triage": triage.field_triage(facts).colour,
        "category": triage.needs(facts, now=datetime.now(UTC)).category,
    }


async def test_the_pages_scores_are_the_servers_value_for_value(service: Service, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{service.http}/static/scores.js")  # any page of the service; the script is added below
    await page.set_content("<!doctype html><title>scores</title>")
    await page.add_script_tag(url=f"{service.http}/static/scores.js")
    all_cases = cases()
    got = await page.evaluate(
        """cases => cases.map(c => {
             const S = window.PrealertScores;
             const n = S.news2(c), si = S.shockIndex(c), r = S.rts(c);
             return { news2: [n.score, n.band, n.partial, n.missing], shock: si ? [si.value, si.klass] : null,
                      gcs: S.gcsTotal(c), rts: r ? r.weighted : null, triage: S.fieldTriage(c),
                      category: S.category(c, Date.now()) };
           })""",
        all_cases,
    )
    mismatches = [(case, g, expected(case)) for case, g in zip(all_cases, got, strict=True) if g != expected(case)]
    assert mismatches == [], mismatches[:3]
    assert len(all_cases) > 400


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
