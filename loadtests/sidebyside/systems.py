"""The systems the side-by-side benchmark drives, each started on the same Redis: prealert (one or two processes, full
pipeline: validation, scores, durable ack), and the two bare relays a team might pick instead, python-socketio and
Node socket.io (two processes each, joined through Redis). The relays' packages are installed by the harness into
``.bench/peers/`` (never project dependencies).

Every system offers the same three kinds of client, driven the same way by ``loadtests.sidebyside.workloads``:
a tablet that sends a vitals message and is acked, an ED dashboard subscribed to one hospital, and a dispatcher
console that sees every message.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from loadtests.sidebyside.sio import SocketIoClient
from prealert.client import DashboardClient, RegionEventsClient, TabletClient
from prealert.harness import Backends, Service, free_port, start_service
from tests.conftest import SECRET, token

PEERS = Path(__file__).parent.parent / "peers"
BENCH_REGION = "bench50"

# Callbacks into the tally: (message token) -> None
Delivered = Callable[[str], None]


class Tablet(Protocol):
    async def connect(self) -> None: ...
    async def send(self, key: str, hospital: str, n: int) -> None: ...
    async def close(self) -> None: ...
    def unacked(self) -> int: ...
    def refused(self) -> int: ...


class Subscriber(Protocol):
    async def connect(self) -> None: ...
    async def close(self) -> None: ...


def vitals_fields(n: int) -> dict[str, Any]:
    """The vitals of the n-th message: the same numbers (and so the same size) in every system."""
    return {
        "taken_at": datetime.now(UTC).isoformat(),
        "hr": 60 + n % 60,
        "sbp": 120,
        "dbp": 80,
        "spo2": 96,
        "rr": 16,
        "temp_c": 37.0,
        "gcs_eye": 4,
        "gcs_verbal": 5,
        "gcs_motor": 6,
        "avpu": "A",
    }


def bench_region(folder: Path, hospitals: int) -> Path:
    """A region pack with ``hospitals`` EDs (the real Pittsburgh roads; the real hospitals' places, repeated)."""
    source = Path(__file__).parent.parent.parent / "dispatch" / "regions" / "pittsburgh"
    target = folder / BENCH_REGION
    target.mkdir(parents=True, exist_ok=True)
    for name in ("nodes.csv", "edges.csv"):
        if not (target / name).exists():
            (target / name).symlink_to(source / name)
    with (source / "hospitals.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (target / "hospitals.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(hospitals):
            row = dict(rows[i % len(rows)])
            writer.writerow({**row, "id": f"ed{i:02d}", "name": f"Bench ED {i:02d} ({row['name']})"})
    return folder


def hospital_ids(count: int) -> list[str]:
    return [f"ed{i:02d}" for i in range(count)]


# prealert ------------------------------------------------------------------------------------------------------------
@dataclass
class PrealertTablet:
    client: TabletClient
    incident: int
    on_ack: Callable[[str], None]
    keys: dict[int, str] = field(default_factory=dict)

    async def connect(self) -> None:
        acked = [0]

        def acked_upto(upto: int) -> None:
            for seq in range(acked[0] + 1, upto + 1):
                if (key := self.keys.pop(seq, None)) is not None:
                    self.on_ack(key)
            acked[0] = max(acked[0], upto)

        self.client.on_ack = acked_upto
        await self.client.connect()

    async def send(self, key: str, hospital: str, n: int) -> None:
        self.keys[self.client.next_seq] = key
        message = {"type": "vitals", "incident": self.incident, "uid": key, **vitals_fields(n)}
        await self.client._enqueue(message, binary=False)

    async def close(self) -> None:
        await self.client.close()

    def unacked(self) -> int:
        return len(self.client.outbox)

    def refused(self) -> int:
        return len(self.client.errors)


@dataclass
class PrealertSubscriber:
    client: DashboardClient

    async def connect(self) -> None:
        await self.client.connect()

    async def close(self) -> None:
        await self.client.close()


@dataclass
class Prealert:
    """``prealert serve`` x ``processes`` on the given Redis and PostgreSQL, sharing nothing else (a load balancer's
    part is played by the generator, which spreads the clients over the processes)."""

    backends: Backends
    folder: Path
    processes: int
    hospitals: int
    services: list[Service] = field(default_factory=list)
    incidents: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"prealert x{self.processes}" + (" (Redis Cluster)" if self.backends.redis_cluster else "")

    def start(self) -> None:
        regions = bench_region(self.folder / "regions", self.hospitals)
        for i in range(self.processes):
            self.services.append(
                start_service(
                    self.backends,
                    self.folder / f"prealert-{i}",
                    secret=SECRET,
                    PREALERT_REGION=BENCH_REGION,
                    PREALERT_REGIONS_DIR=str(regions),
                    PREALERT_TABLET_RATE_PER_S="100",
                    PREALERT_TABLET_BURST="400",
                )
            )

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.services]

    def _ws(self, i: int) -> str:
        return self.services[i % len(self.services)].ws

    async def prepare(self, units: list[str], destination: dict[str, str]) -> None:
        """An incident per unit, assigned and routed to its ED (the dispatcher's part, over HTTP)."""
        headers = {"authorization": f"Bearer {token('dispatcher', BENCH_REGION)}"}
        limits = httpx.Limits(max_connections=8)
        async with httpx.AsyncClient(base_url=self.services[0].http, headers=headers, timeout=60, limits=limits) as c:

            async def one(unit: str) -> None:
                body = {"location": {"lat": 40.44, "lon": -79.99}, "complaint": "bench", "priority": 2}
                incident = int((await c.post("/v1/incidents", json=body)).json()["id"])
                await c.post(f"/v1/incidents/{incident}/assign", json={"unit": unit})
                routed = await c.post(
                    f"/v1/incidents/{incident}/destination",
                    json={"hospital": destination[unit], "reason_code": "4220013"},
                )
                if not routed.is_success:
                    raise RuntimeError(f"set-up failed: {routed.text}")
                self.incidents[unit] = incident

            for start in range(0, len(units), 50):
                await asyncio.gather(*(one(u) for u in units[start : start + 50]))

    def tablet(self, i: int, unit: str, on_ack: Callable[[str], None]) -> Tablet:
        client = TabletClient(self._ws(i), unit, token("paramedic", unit))
        return PrealertTablet(client, self.incidents[unit], on_ack)

    def dashboard(self, i: int, hospital: str, delivered: Delivered) -> Subscriber:
        client = DashboardClient(self._ws(i), hospital, token("ed", hospital), last_id="now")
        return _subscriber(client, delivered)

    def dispatcher(self, i: int, delivered: Delivered) -> Subscriber:
        client = RegionEventsClient(self._ws(i), "", token("dispatcher", BENCH_REGION), last_id="now")
        return _subscriber(client, delivered)

    def stop(self) -> None:
        for s in self.services:
            s.stop()


def _subscriber(client: DashboardClient, delivered: Delivered) -> Subscriber:
    def on_event(_id: str, event: dict[str, Any]) -> None:
        body = event["body"]
        if body["type"] == "vitals" and body.get("uid"):
            delivered(body["uid"])

    client.on_event = on_event
    client.events = _Discard()  # a long run would otherwise keep every event
    return PrealertSubscriber(client)


class _Discard(list[Any]):
    def append(self, item: Any) -> None:
        pass


# Socket.IO relays ----------------------------------------------------------------------------------------------------
@dataclass
class SioTablet:
    client: SocketIoClient
    on_ack: Callable[[str], None]
    keys: dict[int, str] = field(default_factory=dict)

    async def connect(self) -> None:
        self.client.on_ack = lambda ident: self.on_ack(self.keys.pop(ident, ""))
        await self.client.connect()

    async def send(self, key: str, hospital: str, n: int) -> None:
        message = {"type": "vitals", "hospital": hospital, "uid": key, **vitals_fields(n)}
        ident = await self.client.emit("vitals", message, ack=True)
        assert ident is not None
        self.keys[ident] = key

    async def close(self) -> None:
        await self.client.close()

    def unacked(self) -> int:
        return len(self.keys)

    def refused(self) -> int:
        return 0  # a relay refuses nothing: it does not look


@dataclass
class SioSubscriber:
    client: SocketIoClient
    room: str

    async def connect(self) -> None:
        await self.client.connect()
        await self.client.call("join", self.room)

    async def close(self) -> None:
        await self.client.close()


@dataclass
class SocketIoRelay:
    """Two relay processes of one Socket.IO implementation, joined through Redis."""

    kind: str  # "python" | "node"
    redis_url: str
    folder: Path
    processes: int = 2
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"socket.io {self.kind} x{self.processes}"

    def install(self) -> Path:
        peers = self.folder / "peers"
        if self.kind == "python":
            target = peers / "python"
            if not (target / "socketio").exists():
                subprocess.run(
                    [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "python-socketio",
                     "uvicorn"],
                    check=True,
                )  # fmt: skip
            return target
        target = peers / "node"
        if not (target / "node_modules" / "socket.io").exists():
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(target), "socket.io",
                 "@socket.io/redis-adapter", "redis"],
                check=True,
            )  # fmt: skip
        return target

    def start(self) -> None:
        target = self.install()
        for i in range(self.processes):
            port = free_port()
            env = {**os.environ, "PORT": str(port), "REDIS_URL": self.redis_url}
            if self.kind == "python":
                env["PYTHONPATH"] = f"{target}{os.pathsep}{env.get('PYTHONPATH', '')}"
                command = [sys.executable, str(PEERS / "socketio_relay.py")]
            else:
                env["NODE_PATH"] = str(target / "node_modules")
                command = ["node", str(PEERS / "socketio_relay.js")]
            log = (self.folder / f"{self.kind}-{i}.log").open("wb")
            self.procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            self.ports.append(port)
        for port in self.ports:
            _wait_port(port)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def _url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.ports[i % len(self.ports)]}"

    async def prepare(self, units: list[str], destination: dict[str, str]) -> None:
        return None

    def tablet(self, i: int, unit: str, on_ack: Callable[[str], None]) -> Tablet:
        return SioTablet(SocketIoClient(self._url(i)), on_ack)

    def dashboard(self, i: int, hospital: str, delivered: Delivered) -> Subscriber:
        return self._subscriber(i, f"hospital:{hospital}", delivered)

    def dispatcher(self, i: int, delivered: Delivered) -> Subscriber:
        return self._subscriber(i, "dispatch", delivered)

    def _subscriber(self, i: int, room: str, delivered: Delivered) -> Subscriber:
        client = SocketIoClient(self._url(i))

        def on_event(event: str, data: Any) -> None:
            if event == "vitals":
                delivered(data["uid"])

        client.on_event = on_event
        return SioSubscriber(client, room)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s")


System = Prealert | SocketIoRelay
