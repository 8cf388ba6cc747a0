"""The ED's view of waveforms in a real headless Chromium: a 12-lead sent by the crew is drawn on ECG paper (3 x 4
plus a lead II rhythm strip, grid, calibration pulses, lead labels) with its interpretation, raises the STEMI pre-alert,
stays viewable after a reload; the live monitor strip scrolls with the heart rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, expect

from dispatch.protocol import ECG_LEADS
from prealert.harness import Service
from prealert.waveforms import ecg
from tests.conftest import iso, make_scene, token
from tests.e2e.test_pages import browser, js_errors, open_page, screenshot

__all__ = ["browser"]


async def test_a_12_lead_is_drawn_on_ecg_paper_and_the_strip_scrolls(service: Service, browser: Browser) -> None:
    scene = await make_scene(service, hospital="allegheny-general")
    url = f"{service.http}/dashboard#hospital={scene.hospital}&token={token('ed', scene.hospital)}"
    page = await open_page(browser, url)
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await expect(page.locator("#connection")).to_have_text("live")
    tablet = scene.tablet()
    await tablet.connect()
    recording = ecg.twelve_lead()
    await tablet.send(
        {
            "type": "ecg12",
            "incident": scene.incident,
            "taken_at": iso(),
            "sample_rate_hz": recording.sample_rate_hz,
            "gain_per_mv": ecg.GAIN_PER_MV,
            "leads": [{"name": name, "samples": recording.leads[name]} for name in ECG_LEADS],
            "interpretation": "STEMI inferolateral",
            "stemi": True,
        },
        binary=True,
    )
    card = page.locator(f'[data-incident="{scene.incident}"]')
    await expect(card.locator('[data-field="prealert"]')).to_have_text("STEMI")
    button = card.locator("button.ecg")
    await expect(button).to_contain_text("STEMI inferolateral")
    await button.click()
    drawing = page.locator("#ecg-view svg.ecg12")
    await expect(drawing).to_be_visible()
    await expect(drawing.locator(".ecg-lead")).to_have_count(13)  # 12 leads + the lead II rhythm strip
    await expect(drawing.locator(".ecg-cal")).to_have_count(4)  # a calibration pulse on each row
    await expect(drawing.locator(".ecg-grid")).to_have_count(1)
    labels = await drawing.locator(".ecg-label").all_text_contents()
    assert sorted(labels) == sorted([*ECG_LEADS, "II (rhythm)"])
    assert "STEMI inferolateral" in (await drawing.get_attribute("aria-label") or "")
    # The scale: 10 s of rhythm strip spans 250 mm of the drawing's millimetre viewBox.
    box = await drawing.locator('[data-lead="II-rhythm"]').evaluate("p => { const b = p.getBBox(); return b.width; }")
    assert 249 <= box <= 250.1

    # The live strip: chunks from the unit's monitor scroll in, with the heart rate. (Stamped as if the monitor had
    # begun two seconds ago: the strip is drawn a second behind real time, and the screenshot should show a trace.)
    strip = ecg.rhythm_strip()
    for piece in ecg.chunks(strip, "MLII", start_at=datetime.now(UTC) - timedelta(seconds=2), chunk_s=0.25):
        sent = await tablet.send_strip(
            {
                "incident": scene.incident,
                "lead": "MLII",
                "start_at": piece.start_at.isoformat(),
                "sample_rate_hz": strip.sample_rate_hz,
                "gain_per_mv": ecg.GAIN_PER_MV,
                "samples": piece.samples,
                "hr": 75,
            }
        )
        assert sent
        if int(await page.locator("#strip-canvas").get_attribute("data-chunks") or "0") >= 8:
            break
    await expect(page.locator("#strip-note")).to_contain_text("lead MLII")
    # Green trace pixels on the black strip (the HR text alone makes far fewer), as soon as the next frames are drawn.
    await page.wait_for_function(
        """() => { const c = document.getElementById("strip-canvas"); if (!c.width) return false;
                   const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
                   for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 200 && d[i] < 120) n++; return n > 1500; }""",
        timeout=5_000,
    )
    await screenshot(page, "dashboard-ecg-12lead")
    await page.locator("#viewer-close").click()
    await expect(page.locator("#viewer")).not_to_be_visible()

    # After a reload the ECG is still listed and is fetched from the gateway when opened.
    await page.reload()
    await expect(page.locator("#connection")).to_have_text("live")
    await page.locator(f'[data-incident="{scene.incident}"] button.ecg').click()
    await expect(page.locator("#ecg-view svg.ecg12 .ecg-lead")).to_have_count(13)
    assert js_errors(page) == []
    await tablet.close()
