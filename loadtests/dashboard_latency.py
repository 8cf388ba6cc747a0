"""Tablet to pixels: how long from a tablet's vitals frame to the new heart rate painted on the ED dashboard.

Starts ``prealert serve`` (embedded Redis and PostgreSQL), opens the real dashboard page in headless Chromium,
and sends vitals from a tablet client with a distinct heart rate each time. The page's MutationObserver notes when
the card's heart rate shows the new value and waits for the next animation frame (the paint); both sides read the
same wall clock (``Date.now()`` and ``time.time()`` on one machine). Prints p50/p99/max and anything not shown.
Not part of the test suite: ``python -m loadtests.dashboard_latency``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, start_service
from tests.conftest import SECRET, make_scene, token

OBSERVER = """
([incident]) => {
  window.__painted = {};
  const watch = () => {
    const hr = document.querySelector(`[data-incident="${incident}"] [data-field="hr"]`);
    if (!hr) { requestAnimationFrame(watch); return; }
    new MutationObserver(() => {
      const value = parseInt(hr.textContent, 10);
      requestAnimationFrame(() => { if (!(value in window.__painted)) window.__painted[value] = Date.now(); });
    }).observe(hr, {childList: true, characterData: true, subtree: true});
  };
  watch();
}
"""


async def measure(samples: int, rate: float) -> int:
    with tempfile.TemporaryDirectory(prefix="prealert-bench-") as tmp:
        servers = EmbeddedServers(Path(tmp) / "servers")
        servers.start()
        service = start_service(Backends(servers.redis_url, servers.database_url), Path(tmp) / "svc", secret=SECRET)
        try:
            scene = await make_scene(service, hospital="upmc-mercy")
            tablet = scene.tablet()
            await tablet.connect()
            await tablet.wait_acked(await tablet.send(scene.vitals(hr=30)))  # the card exists before we measure
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = await (await browser.new_context(viewport={"width": 1920, "height": 1080})).new_page()
                await page.goto(
                    f"{service.http}/dashboard#hospital={scene.hospital}&token={token('ed', scene.hospital)}"
                )
                await page.wait_for_selector(f'[data-incident="{scene.incident}"] [data-field="hr"]')
                await page.evaluate(OBSERVER, [scene.incident])
                sent: dict[int, float] = {}
                for i in range(samples):
                    hr = 40 + i % 200  # a distinct value per sample within 200 samples
                    sent[hr] = time.time() * 1000
                    await tablet.send(scene.vitals(hr=hr))
                    await asyncio.sleep(1 / rate)
                await asyncio.sleep(2)
                painted: dict[str, float] = await page.evaluate("window.__painted")
                await browser.close()
            await tablet.close()
        finally:
            service.stop()
            servers.stop()
    latencies = sorted(painted[str(hr)] - at for hr, at in sent.items() if str(hr) in painted)
    missing = len(sent) - len(latencies)
    if not latencies:
        print("nothing was painted")
        return 1
    p50, p99 = (latencies[min(len(latencies) - 1, int(q * len(latencies)))] for q in (0.5, 0.99))
    print(
        f"tablet vitals frame -> pixels on the ED dashboard ({len(latencies)} samples at {rate}/s, 1920x1080): "
        f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {latencies[-1]:.1f} ms  not shown {missing}"
    )
    return 0 if missing == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="vitals per second")
    args = parser.parse_args()
    return asyncio.run(measure(min(args.samples, 200), args.rate))


if __name__ == "__main__":
    sys.exit(main())
