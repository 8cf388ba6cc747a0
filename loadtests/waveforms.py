"""The waveform benchmark: does waveform traffic slow the vitals down, and how soon is a 12-lead drawn at the ED?

Against a real ``prealert serve`` on real Redis and PostgreSQL (embedded unless PREALERT_TEST_REDIS_URL/DATABASE_URL
are set):
1. vitals only: N tablets at 1 vitals set/s, open loop, to the ED dashboards (latency from the scheduled send to
   each dashboard's receipt, and to the ack, as in ``loadtests.foundation``);
2. the same vitals while every unit also streams its live monitor strip (MIT-BIH MLII, 360 /s, 0.25 s chunks:
   about 1.9 KB/s per unit) to ED strip viewers (monitors and viewers run in a process of their own, so that the
   load generator's CPU does not count as latency), and sends one 12-lead ECG (PTB, 10 s x 12 leads x 500 /s) as a
   binary frame: vitals p50/p99 with waveforms, chunks dropped, 12-lead send -> the ED feed's notice;
3. vitals only again (phase 1 also pays for warming up, so compare 2 with 3 as well);
then, in a real headless Chromium (Debian's), the ED dashboard with the patient open: 12-leads sent one after
another, time from the tablet's send to the 12-lead drawn on the page (fetched and built as SVG), p50/p99.
Not part of the test suite: ``make bench-waveforms`` or ``python -m loadtests.waveforms --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from playwright.async_api import async_playwright
from websockets.asyncio.client import connect

from dispatch.protocol import ECG_LEADS
from loadtests.foundation import HOSPITALS, Tally, percentiles, run_tablet, settle, setup_incidents, with_service
from prealert.client import DashboardClient, TabletClient, subprotocols
from prealert.harness import Service
from prealert.waveforms import ecg
from tests.conftest import SECRET, token

TWELVE = ecg.twelve_lead()
STRIP = ecg.rhythm_strip()


def ecg12(incident: int, interpretation: str) -> dict[str, Any]:
    return {
        "type": "ecg12",
        "incident": incident,
        "taken_at": datetime.now(UTC).isoformat(),
        "sample_rate_hz": TWELVE.sample_rate_hz,
        "gain_per_mv": ecg.GAIN_PER_MV,
        "leads": [{"name": name, "samples": TWELVE.leads[name]} for name in ECG_LEADS],
        "interpretation": interpretation,
        "stemi": True,
    }


async def stream_strip(tablet: TabletClient, incident: int, until: float, counts: dict[str, int]) -> None:
    """A monitor: a 0.25 s chunk every 0.25 s, stamped with its real acquisition time, dropped if the link is busy."""
    start = datetime.now(UTC)
    for i, piece in enumerate(ecg.chunks(STRIP, "MLII", start_at=start, chunk_s=0.25)):
        due = time.monotonic() + max(0.0, (piece.start_at - datetime.now(UTC)).total_seconds() + 0.25)
        if due > until:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        sent = await tablet.send_strip(
            {
                "incident": incident,
                "lead": "MLII",
                "start_at": (start + timedelta(seconds=i * 0.25)).isoformat(),
                "sample_rate_hz": STRIP.sample_rate_hz,
                "gain_per_mv": ecg.GAIN_PER_MV,
                "samples": piece.samples,
                "hr": 75,
            },
            max_buffered=4096,
        )
        counts["sent" if sent else "dropped_by_tablet"] += 1


async def watch_strip(
    ws_base: str, bearer: str, hospital: str, incident: int, until: float, counts: dict[str, int]
) -> None:
    url = f"{ws_base}/v1/hospitals/{hospital}/incidents/{incident}/strip"
    async with connect(url, subprotocols=subprotocols(bearer)) as viewer:
        while (left := until + 2 - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    await viewer.recv()
            except TimeoutError:
                return
            counts["viewed"] += 1


async def strip_load(
    ws_base: str, scenes: list[tuple[str, int, str]], duration: float, viewers: int, secret: str
) -> None:
    """Every unit's monitor (a second socket of the unit, as a real monitor is a second device) streams its strip,
    and ``viewers`` ED screens watch; prints the counts as JSON. Runs in its own process, so that its CPU does not
    count as the server's latency."""
    counts = {"sent": 0, "dropped_by_tablet": 0, "viewed": 0}
    monitors = [TabletClient(ws_base, unit, token("paramedic", unit, secret=secret)) for unit, _, _ in scenes]
    for monitor in monitors:
        await monitor.connect()
    until = time.monotonic() + duration
    await asyncio.gather(
        *(stream_strip(m, incident, until, counts) for m, (_, incident, _) in zip(monitors, scenes, strict=True)),
        *(watch_strip(ws_base, token("ed", h, secret=secret), h, i, until, counts) for _, i, h in scenes[:viewers]),
    )
    for monitor in monitors:
        await monitor.close()
    print(json.dumps(counts))


async def strip_load_process(
    service: Service, scenes: list[tuple[str, int, str]], args: argparse.Namespace, counts: dict[str, int]
) -> None:
    spec = json.dumps(
        {"ws": service.ws, "scenes": scenes, "duration": args.duration, "viewers": args.viewers, "secret": SECRET}
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtests.waveforms", "--strip-load", spec, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    counts.update(json.loads(out.decode().strip().splitlines()[-1]))


async def phase(
    service: Service, scenes: list[tuple[str, int, str]], args: argparse.Namespace, *, waveforms: bool
) -> tuple[Tally, dict[str, int], list[float], int]:
    tally = Tally()
    ecg_ms: list[float] = []
    ecg_sent: dict[tuple[str, int], float] = {}
    hospitals = sorted({h for _, _, h in scenes})
    dashboards = []
    for hospital in hospitals:
        dashboard = DashboardClient(service.ws, hospital, token("ed", hospital))

        def on_event(_id: str, event: dict[str, Any], hospital: str = hospital) -> None:
            key = (event["unit"], event["seq"])
            if event["body"]["type"] == "vitals" and key in tally.scheduled:
                tally.received[(hospitals.index(hospital), *key)] += 1
                tally.delivery_ms.append((time.monotonic() - tally.scheduled[key]) * 1000)
            elif event["body"]["type"] == "ecg12_notice" and key in ecg_sent:
                ecg_ms.append((time.monotonic() - ecg_sent.pop(key)) * 1000)

        dashboard.on_event = on_event
        await dashboard.connect()
        dashboards.append(dashboard)
    await asyncio.sleep(1.0)  # the replay of earlier events passes before measuring
    tablets = [TabletClient(service.ws, unit, token("paramedic", unit)) for unit, _, _ in scenes]
    for tablet in tablets:
        tablet.on_ack = tally.ack_timer(tablet.unit)
        await tablet.connect()
    counts = {"sent": 0, "dropped_by_tablet": 0, "viewed": 0}
    start = time.monotonic() + 0.5
    jobs: list[Coroutine[Any, Any, object]] = [
        run_tablet(t, incident, tally, start, i / len(scenes), 1.0, args.duration)
        for i, (t, (_, incident, _)) in enumerate(zip(tablets, scenes, strict=True))
    ]
    if waveforms and "strip" in args.kinds:  # the monitors and the ED viewers run in a process of their own
        jobs.append(strip_load_process(service, scenes, args, counts))

    async def send_ecgs() -> None:
        for i, (tablet, (_, incident, _)) in enumerate(zip(tablets, scenes, strict=True)):
            await asyncio.sleep(max(0.0, start + args.duration * i / len(scenes) - time.monotonic()))
            ecg_sent[(tablet.unit, tablet.next_seq)] = time.monotonic()
            await tablet.send(ecg12(incident, "STEMI inferolateral"), binary=True)

    if waveforms and "ecg" in args.kinds:
        jobs.append(send_ecgs())
    await asyncio.gather(*(asyncio.ensure_future(j) for j in jobs))
    expected = {(hospitals.index(h), unit, seq) for (unit, seq) in tally.scheduled for u, _, h in scenes if u == unit}
    await settle(lambda: len(tally.received) >= len(expected) and not any(t.outbox for t in tablets), 15.0)
    lost = len(expected - set(tally.received)) + len(ecg_sent)
    for client in [*tablets, *dashboards]:
        await client.close()
    return tally, counts, ecg_ms, lost


async def drawn_at_the_ed(service: Service, scene: tuple[str, int, str], count: int) -> list[float]:
    """Send ``count`` 12-leads while the ED has the patient open; time to each one drawn on the page."""
    unit, incident, hospital = scene
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.goto(f"{service.http}/dashboard#hospital={hospital}&token={token('ed', hospital)}")
        tablet = TabletClient(service.ws, unit, token("paramedic", unit))
        await tablet.connect()
        first = await tablet.send(ecg12(incident, "warm-up"), binary=True)
        card = page.locator(f'[data-incident="{incident}"]')
        await card.locator("button.monitor").click(timeout=15_000)
        await page.wait_for_function(f"() => window.prealertEcgDrawn['{unit}:{first}'] !== undefined")
        sent_at: dict[str, float] = {}
        for i in range(count):
            key = f"{unit}:{tablet.next_seq}"
            sent_at[key] = time.time() * 1000
            await tablet.send(ecg12(incident, f"12-lead {i + 1}"), binary=True)
            await page.wait_for_function(f"() => window.prealertEcgDrawn['{key}'] !== undefined", timeout=10_000)
        drawn: dict[str, float] = await page.evaluate("() => window.prealertEcgDrawn")
        await tablet.close()
        await browser.close()
    return [drawn[key] - sent for key, sent in sent_at.items()]


async def bench(service: Service, args: argparse.Namespace) -> int:
    hospitals = HOSPITALS[: args.hospitals]
    process = psutil.Process(service.process.pid)
    results = []
    for waveforms in (False, True, False):  # vitals only again at the end: the first phase also pays for warming up
        scenes = await setup_incidents(service, args.units, hospitals)
        process.cpu_percent()
        results.append((waveforms, *await phase(service, scenes, args, waveforms=waveforms), process.cpu_percent()))
    drawn = await drawn_at_the_ed(service, (await setup_incidents(service, 1, hospitals))[0], args.ecgs)

    print(
        f"\nprealert waveform benchmark: {args.units} units x 1 vitals/s to {len(hospitals)} ED dashboards, "
        f"{args.duration:.0f} s per phase, 1 server process, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d}"
    )
    bad = 0
    for n, (waveforms, tally, counts, ecg_ms, lost, cpu) in enumerate(results, start=1):
        label = f"{n}. {'with waveforms' if waveforms else 'vitals only'}".ljust(17)
        print(f"  {label} vitals tablet -> dashboard  {percentiles(tally.delivery_ms)}")
        print(f"  {'':17} vitals tablet -> ack        {percentiles(tally.ack_ms) if tally.ack_ms else 'n/a'}")
        print(f"  {'':17} generator lag               {percentiles(tally.send_lag_ms)}")
        print(f"  {'':17} server CPU {cpu:.0f}%   LOST {lost}")
        if waveforms:
            print(
                f"  {'':17} strip chunks sent {counts['sent']}, dropped at the tablet {counts['dropped_by_tablet']}, "
                f"received by {args.viewers} viewers {counts['viewed']}"
            )
            print(f"  {'':17} 12-lead tablet -> ED feed (notice)  {percentiles(ecg_ms)}  (n={len(ecg_ms)})")
        bad += lost
    print(f"  12-lead tablet -> drawn on the ED page (Chromium)  {percentiles(drawn)}  (n={len(drawn)})")
    print(f"  server RSS {process.memory_info().rss / 2**20:.0f} MiB")
    return 0 if bad == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--hospitals", type=int, default=7)
    parser.add_argument("--viewers", type=int, default=10, help="ED strip viewers (patients watched live)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--ecgs", type=int, default=30, help="12-leads timed to the drawn page")
    parser.add_argument("--kinds", default="strip,ecg", help="waveform traffic of phase 2: strip, ecg or both")
    parser.add_argument("--strip-load", help=argparse.SUPPRESS)  # internal: the process that runs the monitors
    args = parser.parse_args()
    if args.strip_load:
        spec = json.loads(args.strip_load)
        scenes = [(unit, incident, hospital) for unit, incident, hospital in spec["scenes"]]
        asyncio.run(strip_load(spec["ws"], scenes, spec["duration"], spec["viewers"], spec["secret"]))
        return 0
    return with_service(lambda service, _: bench(service, args))


if __name__ == "__main__":
    sys.exit(main())
