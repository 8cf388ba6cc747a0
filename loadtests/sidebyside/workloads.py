"""Open-loop workloads and what they measure.

Every tablet sends on a fixed schedule. Each message's latency is counted from its *scheduled* send time to its
arrival at each subscriber, so a generator or server that stalls cannot hide its stall (no coordinated omission).
The generator's own lateness is measured too: a step whose sends were late (p99 over ``LAG_LIMIT_MS``) is marked and
left out of the comparisons, and the report says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from loadtests.sidebyside.systems import Subscriber, System, Tablet

LAG_LIMIT_MS = 20.0
_steps = itertools.count(1)


def quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Step:
    system: str
    workload: str
    rate: float  # messages per second, all tablets together
    seconds: float
    tablets: int
    subscribers: int
    sent: int = 0
    expected: int = 0  # deliveries
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    unacked: int = 0
    refused: int = 0  # messages the server answered with an error (none expected: they count against the system)
    p50: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None
    ack_p50: float | None = None
    ack_p99: float | None = None
    lag_p99: float | None = None
    lagged: bool = False
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core, by process
    peak_rss_mib: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unacked or self.refused) and (self.p99 or 0) <= 100.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Tally:
    scheduled: dict[str, float] = field(default_factory=dict)
    fanout: dict[str, int] = field(default_factory=dict)  # deliveries each message should have
    received: Counter[str] = field(default_factory=Counter)
    delivery_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)

    def delivered(self, key: str) -> None:
        due = self.scheduled.get(key)
        if due is None:
            return  # another step's message
        self.received[key] += 1
        self.delivery_ms.append((time.monotonic() - due) * 1000)

    def acked(self, key: str) -> None:
        if (due := self.scheduled.get(key)) is not None:
            self.ack_ms.append((time.monotonic() - due) * 1000)

    def complete(self) -> bool:
        return all(self.received[k] >= n for k, n in self.fanout.items())


class Monitor:
    """CPU (% of one core) and peak RSS of each process of interest, sampled every 0.25 s."""

    def __init__(self, processes: dict[str, list[int]]) -> None:
        self.procs = {
            name: [psutil.Process(p) for p in pids if psutil.pid_exists(p)] for name, pids in processes.items()
        }
        self.peak: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def _tree(self, proc: psutil.Process) -> list[psutil.Process]:
        """The process with its descendants (PostgreSQL's backends, a relay's workers), except for the generator,
        whose descendants are the very servers it measures."""
        if proc.pid == os.getpid():
            return [proc]
        try:
            return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []

    def _times(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, procs in self.procs.items():
            total = 0.0
            for p in procs:
                for q in self._tree(p):
                    with contextlib.suppress(psutil.Error):
                        t = q.cpu_times()
                        total += t.user + t.system
            out[name] = total
        return out

    def _rss(self) -> None:
        for name, procs in self.procs.items():
            rss = 0
            for p in procs:
                for q in self._tree(p):
                    with contextlib.suppress(psutil.Error):
                        rss += q.memory_info().rss
            self.peak[name] = max(self.peak[name], rss)

    async def __aenter__(self) -> Monitor:
        self._start = (time.monotonic(), self._times())

        async def sample() -> None:
            while True:
                self._rss()
                await asyncio.sleep(0.25)

        self._task = asyncio.create_task(sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        elapsed = time.monotonic() - self._start[0]
        end = self._times()
        self.cpu = {n: round(100 * (end[n] - self._start[1][n]) / elapsed, 1) for n in end}


async def _connect_all(clients: Sequence[Tablet | Subscriber], batch: int = 100) -> None:
    for start in range(0, len(clients), batch):
        await asyncio.gather(*(c.connect() for c in clients[start : start + batch]))


async def _close_all(clients: Sequence[Tablet | Subscriber]) -> None:
    for start in range(0, len(clients), 200):
        await asyncio.gather(*(c.close() for c in clients[start : start + 200]), return_exceptions=True)


async def run_load(
    system: System,
    workload: str,
    *,
    units: list[str],
    destination: dict[str, str],
    dashboards: list[str],
    dispatchers: int,
    rate_per_unit: float,
    seconds: float,
    processes: dict[str, list[int]],
    settle_s: float = 10.0,
) -> Step:
    """Send ``rate_per_unit`` vitals/s from every unit for ``seconds`` (open loop), each to its destination's
    dashboards (one subscriber per entry of ``dashboards``) and to every dispatcher console."""
    step_id = next(_steps)
    tally = Tally()
    subscribers: list[Subscriber] = [
        system.dashboard(i, hospital, tally.delivered) for i, hospital in enumerate(dashboards)
    ]
    subscribers += [system.dispatcher(i, tally.delivered) for i in range(dispatchers)]
    await _connect_all(subscribers)
    tablets = [system.tablet(i, unit, tally.acked) for i, unit in enumerate(units)]
    await _connect_all(tablets)
    per_hospital = Counter(dashboards)
    await asyncio.sleep(0.5)
    step = Step(
        system=system.name,
        workload=workload,
        rate=rate_per_unit * len(units),
        seconds=seconds,
        tablets=len(units),
        subscribers=len(subscribers),
    )
    interval = 1.0 / rate_per_unit
    start = time.monotonic() + 0.5

    async def drive(i: int, unit: str, tablet: Tablet) -> int:
        hospital = destination[unit]
        n = 0
        offset = (i / len(units)) * interval
        while (due := start + offset + n * interval) < start + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.lag_ms.append((time.monotonic() - due) * 1000)
            key = f"s{step_id:03d}u{i:05d}n{n:06d}"  # a uid: 8-64 characters
            tally.scheduled[key] = due
            tally.fanout[key] = per_hospital[hospital] + dispatchers
            await tablet.send(key, hospital, n)
            n += 1
        return n

    async with Monitor(processes) as monitor:
        sent = await asyncio.gather(*(drive(i, u, t) for i, (u, t) in enumerate(zip(units, tablets, strict=True))))
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and not (tally.complete() and not any(t.unacked() for t in tablets)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    step.sent = sum(sent)
    step.expected = sum(tally.fanout.values())
    step.delivered = sum(min(n, tally.fanout[k]) for k, n in tally.received.items())
    step.lost = step.expected - step.delivered
    step.duplicated = sum(max(0, n - tally.fanout[k]) for k, n in tally.received.items())
    step.unacked = sum(t.unacked() for t in tablets)
    step.refused = sum(t.refused() for t in tablets)
    step.p50, step.p99, step.p999 = (quantile(tally.delivery_ms, q) for q in (0.5, 0.99, 0.999))
    step.max = max(tally.delivery_ms) if tally.delivery_ms else None
    step.ack_p50, step.ack_p99 = quantile(tally.ack_ms, 0.5), quantile(tally.ack_ms, 0.99)
    step.lag_p99 = quantile(tally.lag_ms, 0.99)
    step.lagged = (step.lag_p99 or 0) > LAG_LIMIT_MS
    step.cpu = monitor.cpu
    step.peak_rss_mib = {n: round(v / 2**20, 1) for n, v in monitor.peak.items()}
    await _close_all(tablets)
    await _close_all(subscribers)
    return step


def generator_pid() -> int:
    return os.getpid()
