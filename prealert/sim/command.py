"""``prealert simulate``: its options, and running it against a service (one it starts itself when no --url)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from dispatch import region, roads
from dispatch.settings import Settings
from prealert.sim import city
from prealert.sim.runner import SimConfig, Simulation
from prealert.sim.summary import Summary


def _range(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    values = (float(low), float(high or low))
    if not 0 <= values[0] <= values[1]:
        raise argparse.ArgumentTypeError(f"expected minutes like 10-20, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the service (default: start one on the embedded Redis and PostgreSQL)")
    parser.add_argument("--secret", help="the service's token secret (default: PREALERT_SIM_SECRET, or the data dir's)")
    parser.add_argument("--units", type=int, default=12, help="ambulances (default 12)")
    parser.add_argument(
        "--rate-per-hour",
        type=float,
        default=city.DEFAULT_RATE_PER_HOUR,
        help=f"incidents per hour, Poisson (default {city.DEFAULT_RATE_PER_HOUR}: London's rate per head, scaled to "
        "Pittsburgh's 300,000 people)",
    )
    parser.add_argument("--minutes", type=float, default=60, help="simulated minutes of arrivals (default 60)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    parser.add_argument("--seed", type=int, help="for a repeatable run")
    parser.add_argument("--mix", type=city.parse_mix, help="condition weights, e.g. stemi=2,stroke_lvo=1,general=3")
    parser.add_argument("--on-scene", type=_range, default=(10.0, 20.0), help="minutes on scene (default 10-20)")
    parser.add_argument("--offload", type=_range, default=(8.0, 25.0), help="minutes at the ED (default 8-25)")


def config_of(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        units=args.units,
        rate_per_hour=args.rate_per_hour,
        minutes=args.minutes,
        speed=args.speed,
        seed=args.seed,
        mix=args.mix or dict(city.DEFAULT_MIX),
        on_scene_min=args.on_scene,
        offload_min=args.offload,
    )


async def _ready(url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).is_success:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} is not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)


async def simulate(url: str, secret: str, settings: Settings, config: SimConfig) -> Summary:
    """Run the simulation against the service at ``url``; the region and roads are read from the same pack."""
    await _ready(url)
    pack = region.load(settings.regions_dir, settings.region)
    graph = await asyncio.to_thread(roads.load, settings.regions_dir / settings.region, settings.roads)
    travel = await asyncio.to_thread(roads.TravelTimes, graph, {h.id: (h.lat, h.lon) for h in pack.hospitals.values()})
    ws = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    simulation = Simulation(http=url, ws=ws, secret=secret, region=pack, travel=travel, config=config)
    print(
        f"simulating {config.units} units, {config.rate_per_hour:g} incidents/h for {config.minutes:g} min "
        f"at {config.speed:g}x (seed {config.seed}) against {url}",
        flush=True,
    )
    summary = await simulation.run()
    print(("simulation stopped early\n" if simulation.interrupted else "") + summary.table(), flush=True)
    return summary


def main(args: argparse.Namespace, settings: Settings) -> int:
    config = config_of(args)
    if args.url:
        secret = args.secret or os.environ.get("PREALERT_SIM_SECRET") or settings.token_secret
        if not secret:
            print("--secret (or PREALERT_SIM_SECRET) is needed with --url", file=sys.stderr)
            return 2
        return _run(simulate(args.url, secret, settings, config))
    from prealert.embedded import EmbeddedServers
    from prealert.harness import Backends, start_service

    with tempfile.TemporaryDirectory(prefix="prealert-sim-") as tmp:
        servers = EmbeddedServers(Path(tmp) / "servers")
        servers.start()
        secret = secrets.token_urlsafe(32)
        service = start_service(Backends(servers.redis_url, servers.database_url), Path(tmp) / "service", secret=secret)
        try:
            return _run(simulate(service.http, secret, settings, config))
        finally:
            service.stop()
            servers.stop()


def _run(job: Coroutine[Any, Any, Summary]) -> int:
    """Run to the end, or until SIGINT or SIGTERM: then the simulation stops, drains its outboxes and prints what it
    did. (Handlers on the loop itself: a process started in the background may have inherited SIGINT ignored.)"""

    async def stoppable() -> Summary:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        return await job

    return _report(asyncio.run(stoppable()))


def _report(summary: Summary) -> int:
    return 0 if summary.lost == 0 and not summary.misrouted else 1
