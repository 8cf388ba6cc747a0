"""The faults, each run the same way: ED screens connect, crews stream vitals, the fault strikes a third of the way in
and ends, the crews stream on to the end, then everything settles and the audit runs. The stage (its own embedded
Redis and PostgreSQL, two ``prealert serve`` processes) is shared by the faults of one run; each fault has its own
units and incidents."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg

from loadtests.chaos.kit import Audit, Crew, Screen, audit, prepare, until_recovered, until_screens_caught_up
from loadtests.chaos.proxy import ChaosProxy, Faults
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, Service, start_service
from tests.conftest import SECRET

HOSPITALS = ["upmc-mercy", "upmc-presbyterian", "allegheny-general", "west-penn", "upmc-shadyside"]


@dataclass
class Sizes:
    tablets: int = 200
    screens: int = 20
    seconds: float = 30.0
    period_s: float = 1.0  # each tablet sends a vitals set this often
    outage_s: float = 60.0  # PostgreSQL stopped this long


@dataclass
class Stage:
    folder: Path
    servers: EmbeddedServers = field(init=False)
    services: list[Service] = field(default_factory=list)
    db: asyncpg.Pool | None = None
    runs: int = 0

    def __post_init__(self) -> None:
        self.servers = EmbeddedServers(self.folder / "servers")

    async def start(self) -> None:
        self.servers.start()
        for i in range(2):
            self.services.append(self._service(i))
        self.db = await asyncpg.create_pool(self.servers.database_url, min_size=0, max_size=4)

    def _service(self, i: int) -> Service:
        backends = Backends(self.servers.redis_url, self.servers.database_url)
        return start_service(backends, self.folder / f"service-{i}-{time.monotonic_ns()}", secret=SECRET,
                             PREALERT_TABLET_RATE_PER_S="1000", PREALERT_TABLET_BURST="1000")  # fmt: skip

    def revive(self) -> None:
        """Any service that died (killed on purpose) starts again, for the next fault."""
        for i, service in enumerate(self.services):
            if service.process.poll() is not None:
                self.services[i] = self._service(i)

    async def stop(self) -> None:
        if self.db is not None:
            await self.db.close()
        for service in self.services:
            service.stop()
        self.servers.stop()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.db is not None
        return self.db


Strike = Callable[[Stage, list[Crew], list[Screen]], Awaitable[str]]  # injects the fault, returns a note


async def run_fault(
    stage: Stage,
    name: str,
    sizes: Sizes,
    strike: Strike,
    *,
    proxy: Faults | None = None,
    skew: Callable[[int], timedelta] = lambda _: timedelta(),
) -> Audit:
    stage.revive()
    stage.runs += 1
    rng = random.Random(stage.runs)
    hospitals = HOSPITALS[: max(1, min(len(HOSPITALS), sizes.screens))]
    units = [f"C{stage.runs}x{i:03d}" for i in range(sizes.tablets)]
    made = await prepare(stage.services[0].http, units, hospitals)
    chaos = ChaosProxy(_port(stage.services[0]), faults=proxy, seed=stage.runs) if proxy is not None else None
    if chaos is not None:
        await chaos.start()
    bases = [s.ws for s in stage.services]
    crews = []
    for i, unit in enumerate(units):
        urls = [chaos.ws] if chaos is not None else bases[i % 2 :] + bases[: i % 2]
        crews.append(Crew(unit, made[unit][0], made[unit][1], urls, skew=skew(i)))
    screens = [Screen(hospitals[i % len(hospitals)], bases[i % 2 :] + bases[: i % 2]) for i in range(sizes.screens)]
    stop = asyncio.Event()
    for screen in screens:
        await screen.ensure_connected()
    watching = [asyncio.create_task(s.watch(stop)) for s in screens]
    streaming = [asyncio.create_task(c.stream(stop, sizes.period_s, rng)) for c in crews]
    started = time.monotonic()
    await asyncio.sleep(sizes.seconds / 3)
    note = await strike(stage, crews, screens)
    ended = time.monotonic()
    recovery = None if chaos is not None else asyncio.create_task(until_recovered(crews, ended))
    await asyncio.sleep(max(0.0, sizes.seconds - (ended - started)))
    stop.set()
    await asyncio.gather(*streaming, *watching)
    if chaos is not None:  # the link is good again (the fault lasted until now): everything settles through it
        chaos.faults.cut_after_s = None
        chaos.faults.delay_s = (0.0, 0.0)
        recovery = asyncio.create_task(until_recovered(crews, time.monotonic()))
    assert recovery is not None
    deadline = time.monotonic() + 60
    await asyncio.gather(*(c.settle(deadline) for c in crews))
    recovered = await recovery
    await until_screens_caught_up(stage.pool, crews, screens, timeout_s=30)
    result = await audit(name, stage.pool, crews, screens, recovered, note)
    for client in [c.client for c in crews] + [s.client for s in screens]:
        await client.close()
    if chaos is not None:
        await chaos.stop()
    return result


def _port(service: Service) -> int:
    return service.port


# The strikes ----------
async def flaky_link(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    return "every tablet through a proxy that cuts (each connection lives 1-5 s), delays and splits frames"


async def kill_one_process(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    victim = stage.services[0]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    return f"kill -9 of one of two processes (pid {victim.process.pid}); its clients reconnect to the other"


async def restart_redis(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    stage.servers.halt("redis")
    await asyncio.sleep(1.0)
    stage.servers.resume("redis")
    return "Redis killed (-9) and started again on its append-only file, 1 s later"


async def restart_redis_empty(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    stage.servers.halt("redis")
    await asyncio.sleep(1.0)
    stage.servers.resume("redis", empty=True)
    return "Redis killed (-9) and started again empty: live state rebuilt from PostgreSQL"


def stop_postgres(outage_s: float) -> Strike:
    async def strike(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
        acked_before = sum(c.client.acked for c in crews)
        seen_before = sum(len(s.seen()) for s in screens)
        stage.servers.halt("postgres", sig=signal.SIGINT)
        await asyncio.sleep(outage_s)
        acked_during = sum(c.client.acked for c in crews) - acked_before
        seen_during = sum(len(s.seen()) for s in screens) - seen_before
        stage.servers.resume("postgres")
        return (f"PostgreSQL stopped {outage_s:.0f} s: meanwhile {seen_during} events reached the screens live and "
                f"{acked_during} acks were sent (acks wait for the record)")  # fmt: skip

    return strike


async def network_blip(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    chaos_cut = 0
    for crew in crews:
        if crew.client.connected:
            await crew.client.abort()
            chaos_cut += 1
    return f"every tablet's connection dropped at once ({chaos_cut} sockets); all reconnect and resend together"


async def skewed_clocks(stage: Stage, crews: list[Crew], screens: list[Screen]) -> str:
    return "tablets' clocks 10 min behind to 10 min ahead: taken_at kept as sent, order by the server's time"


def skew_of(i: int) -> timedelta:
    """10 min behind, 10 ahead, 9 behind, 9 ahead, ... 0: the first two tablets already span the whole range."""
    return timedelta(minutes=(10 - (i // 2) % 11) * (1 if i % 2 else -1))


def all_faults(sizes: Sizes) -> list[tuple[str, Strike, Faults | None, Callable[[int], timedelta] | None]]:
    return [
        ("flaky link (proxy)", flaky_link, Faults(), None),
        ("kill -9 one of two processes", kill_one_process, None, None),
        ("Redis restart (AOF)", restart_redis, None, None),
        ("Redis restart empty", restart_redis_empty, None, None),
        (f"PostgreSQL stopped {sizes.outage_s:.0f} s", stop_postgres(sizes.outage_s), None, None),
        ("reconnect storm", network_blip, None, None),
        ("clock skew ±10 min", skewed_clocks, None, skew_of),
    ]
