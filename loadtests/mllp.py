"""The MLLP intake benchmark: ADT messages per second with their ACKs, over one connection and over several at once.

A real ``hospital_gateway.mllp.serve`` runs in its own process (so the load generator shares neither its event loop nor
its interpreter), with one ED census per hospital, the project's JSON logs at INFO to /dev/null (their cost counts) and
an ``on_census`` that only counts. Each connection is one hospital's feed and runs closed loop, as MLLP's original mode
does: send a message, wait for its ACK, send the next. Each patient goes A04 (into the ED, random ESI), A08 (new ESI),
A02 (to a ward), A03, so most messages change the census and publish it.

Prints per run: messages ACKed per second, ACK latency p50/p99/p99.9/max (from writing the frame to reading the whole
ACK), what was not AA (by code), timeouts and lost connections, and the CPU of the server and of the generator.
Not part of the test suite: ``python -m loadtests.mllp [--seconds 10] [--connections 1 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import psutil

from dispatch.capacity import TriageCounts
from hospital_gateway.adt import EdCensus
from hospital_gateway.mllp import END_BLOCK, START_BLOCK, serve
from prealert.logs import JsonFormatter

ACK_TIMEOUT_S = 5.0
TRIGGERS = ("A04", "A08", "A02", "A03")


@dataclass
class Tally:
    latency_ms: list[float] = field(default_factory=list)
    not_aa: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    lost_connections: int = 0


def message(feed: int, n: int, rng: random.Random) -> bytes:
    """The n-th message of feed ``feed``: patient n // 4, at step n % 4 of A04, A08, A02, A03."""
    trigger = TRIGGERS[n % 4]
    location = "ICU" if trigger in ("A02", "A03") else "ED"
    pv1 = f"PV1|1|E|{location}^R{n % 40}^B1" + "|" * 16 + "V1"
    segments = [
        f"MSH|^~\\&|EPIC|HOSP{feed}|PREALERT|H{feed}|{datetime.now(UTC):%Y%m%d%H%M%S}||ADT^{trigger}|L{feed}-{n}|P|2.5.1",
        f"EVN|{trigger}|{datetime.now(UTC):%Y%m%d%H%M%S}",
        f"PID|1||P{feed}-{n // 4}^^^HOSP{feed}^MR||DOE^JANE^Q||19700101|F",
        pv1,
        "PV2" + "|" * 25 + str(rng.randint(1, 5)),
    ]
    return START_BLOCK + "\r".join(segments).encode() + END_BLOCK


def ack_code(reply: bytes) -> str:
    at = reply.find(b"\rMSA|")
    return reply[at + 5 : at + 7].decode("ascii", "replace") if at >= 0 else "??"


async def feed(port: int, feed_id: int, start: float, deadline: float, tally: Tally) -> None:
    """One hospital's feed, closed loop; only ACKs after ``start`` are measured (the rest is warm-up)."""
    rng = random.Random(feed_id)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            writer.write(message(feed_id, n, rng))
            reply = await asyncio.wait_for(reader.readuntil(END_BLOCK), ACK_TIMEOUT_S)
            if time.monotonic() >= start:
                tally.latency_ms.append((time.perf_counter() - sent) * 1000)
                if (code := ack_code(reply)) != "AA":
                    tally.not_aa[code] += 1
            n += 1
    except TimeoutError:
        tally.timeouts += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        tally.lost_connections += 1
    finally:
        writer.close()
        await writer.wait_closed()


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p50, p99, p999 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.50, 0.99, 0.999))
    return f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   p99.9 {p999:6.2f} ms   max {ordered[-1]:6.2f} ms"


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def run(port: int, server: psutil.Process, connections: int, seconds: float, warmup: float) -> None:
    tally = Tally()
    start = time.monotonic() + warmup
    deadline = start + seconds
    feeds = asyncio.gather(*(feed(port, f, start, deadline, tally) for f in range(connections)))
    await asyncio.sleep(warmup)
    server_cpu, own_cpu, began = cpu_s(server), cpu_s(psutil.Process()), time.monotonic()
    await feeds
    elapsed = time.monotonic() - began
    acked = len(tally.latency_ms)
    print(f"\n{connections} connection(s), {seconds:.0f} s after {warmup:.0f} s warm-up")
    print(f"  ACKed        {acked} messages, {acked / elapsed:,.0f} per second")
    print(f"  ACK latency  {percentiles(tally.latency_ms)}")
    errors = dict(tally.not_aa) or "none"
    print(f"  not AA       {errors}   timeouts {tally.timeouts}   lost connections {tally.lost_connections}")
    server_pct = (cpu_s(server) - server_cpu) / elapsed * 100
    own_pct = (cpu_s(psutil.Process()) - own_cpu) / elapsed * 100
    print(f"  CPU          server {server_pct:.0f}% of a core, load generator {own_pct:.0f}%")


def server_process(ready: Queue[Any], stop: Event, hospitals: int) -> None:
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    asyncio.run(serve_until(ready, stop, hospitals))


async def serve_until(ready: Queue[Any], stop: Event, hospitals: int) -> None:
    censuses = {
        f"H{i}": EdCensus(hospital=f"hospital-{i}", ed_location="ED", facility=f"H{i}") for i in range(hospitals)
    }
    published: Counter[str] = Counter()

    async def on_census(hospital: str, counts: TriageCounts) -> None:
        published[hospital] += 1

    def now() -> datetime:
        return datetime.now(UTC)

    server = await serve(host="127.0.0.1", port=0, census_for=censuses.get, on_census=on_census, now=now)
    assert isinstance(server, asyncio.Server)
    ready.put(server.sockets[0].getsockname()[1])
    while not stop.is_set():  # noqa: ASYNC110 - a multiprocessing event, not an asyncio one
        await asyncio.sleep(0.1)
    server.close()
    ready.put(sum(published.values()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before each run (default 1)")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8], help="runs, by connection count")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready: Queue[Any] = context.Queue()
    stop = context.Event()
    child = context.Process(target=server_process, args=(ready, stop, max(args.connections)), daemon=True)
    child.start()
    try:
        port = int(ready.get(timeout=30))
        print(
            f"MLLP listener pid {child.pid} on 127.0.0.1:{port}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
        )
        for connections in args.connections:
            asyncio.run(run(port, psutil.Process(child.pid), connections, args.seconds, args.warmup))
        stop.set()
        print(f"\ncensus publishes by the server: {ready.get(timeout=30)}")
    finally:
        stop.set()
        child.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
