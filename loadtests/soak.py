"""The soak: W1 (500 units at 1 vitals/s, 50 ED dashboards, 2 dispatcher consoles) on one ``prealert serve`` for
30 minutes, measured minute by minute, to show that latency and memory stay flat (``make soak``; not a test).

    python -m loadtests.soak                     # 30 one-minute steps
    python -m loadtests.soak --minutes 5 --rate 0.5

Each minute is one open-loop step of the side-by-side harness (``loadtests/sidebyside``) on the same process:
p50/p99 tablet to dashboard, ack p99, delivered against expected, lost, duplicated, the server's CPU and peak RSS.
The verdict compares the last third of the run with the first: p99 and RSS must not have grown by more than half.
Results also go to ``docs/performance/soak.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

from loadtests.sidebyside.__main__ import OUT, backend_pids, start_redis
from loadtests.sidebyside.systems import Prealert, hospital_ids
from loadtests.sidebyside.workloads import Step, run_load
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends


def _row(minute: int, step: Step) -> str:
    rss = sum(v for k, v in step.peak_rss_mib.items() if k.startswith("server"))
    cpu = sum(v for k, v in step.cpu.items() if k.startswith("server"))
    return (f"| {minute} | {step.rate:.0f} | {step.p50:.1f} | {step.p99:.1f} | {step.ack_p99:.1f} | "
            f"{step.delivered}/{step.expected} | {step.lost} | {step.duplicated} | {cpu:.0f} | {rss:.0f} | "
            f"{'lagged' if step.lagged else ''} |")  # fmt: skip


async def run(minutes: int, rate: float) -> int:
    with tempfile.TemporaryDirectory(prefix="prealert-soak-") as tmp:
        folder = Path(tmp)
        redis_url, redis_proc = start_redis(folder / "redis")
        servers = EmbeddedServers(folder / "servers")
        servers.start()
        system = Prealert(Backends(redis_url, servers.database_url), folder / "prealert", processes=1, hospitals=50)
        system.start()
        steps: list[Step] = []
        try:
            pids = await backend_pids(redis_url, servers.database_url)
            procs = {**pids, "server-0": system.pids(), "generator": [os.getpid()]}
            eds = hospital_ids(50)
            units = [f"S{i:04d}" for i in range(500)]
            destination = {u: eds[i % len(eds)] for i, u in enumerate(units)}
            await system.prepare(units, destination)
            print(header_text(), flush=True)
            for minute in range(1, minutes + 1):
                step = await run_load(system, "soak", units=units, destination=destination, dashboards=eds,
                                      dispatchers=2, rate_per_unit=rate, seconds=60.0, processes=procs,
                                      settle_s=5.0)  # fmt: skip
                steps.append(step)
                print(_row(minute, step), flush=True)
        finally:
            system.stop()
            servers.stop()
            redis_proc.terminate()
            redis_proc.wait(10)
    third = max(1, len(steps) // 3)

    def p99s(part: list[Step]) -> float:
        return statistics.median(s.p99 or 0.0 for s in part)

    def rss(part: list[Step]) -> float:
        return statistics.median(sum(v for k, v in s.peak_rss_mib.items() if k.startswith("server")) for s in part)

    first, last = steps[:third], steps[-third:]
    flat = p99s(last) <= 1.5 * p99s(first) + 5 and rss(last) <= 1.5 * rss(first)
    lost = sum(s.lost for s in steps)
    verdict = (f"p99 (median of a third) {p99s(first):.1f} -> {p99s(last):.1f} ms; server RSS {rss(first):.0f} -> "
               f"{rss(last):.0f} MiB; lost {lost}, duplicated {sum(s.duplicated for s in steps)}: "
               f"{'flat' if flat else 'NOT FLAT'}")  # fmt: skip
    print(verdict)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [_row(i + 1, s) for i, s in enumerate(steps)]
    lines = [f"# Soak: W1 for {minutes} minutes on one process", "", header_text(), *rows, "", verdict]
    (OUT / "soak.md").write_text("\n".join(lines) + "\n")
    return 0 if flat and not lost else 1


def header_text() -> str:
    return ("| minute | msg/s | p50 (ms) | p99 (ms) | ack p99 (ms) | delivered | lost | dup | server CPU % | "
            "server peak RSS MiB | generator |\n|---|---|---|---|---|---|---|---|---|---|---|")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--rate", type=float, default=1.0, help="vitals per second per unit (500 units)")
    args = parser.parse_args()
    return asyncio.run(run(args.minutes, args.rate))


if __name__ == "__main__":
    sys.exit(main())
