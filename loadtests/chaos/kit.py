"""What a fault-injection run is made of: crews (tablets that stream vitals and reconnect, as the real tablet does,
keeping every unacked message in their outbox), ED screens (dashboards that reconnect with their last id), and the
audit that ends every run.

The audit: every acked (unit, seq) is in PostgreSQL exactly once, holding the message the tablet sent under it (its
uid); every dashboard received every stored event of its hospital's patients, in order, with no gap and no
duplicate. A dashboard told ``reset`` starts over (as the page does), so each stretch between resets is checked on its
own; a repeat of a (unit, seq) within a stretch counts as a duplicate on the screen.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from websockets.exceptions import InvalidHandshake, WebSocketException

from prealert.client import DashboardClient, TabletClient, new_uid
from tests.conftest import REGION, token

Json = dict[str, Any]
_DROPPED = (OSError, TimeoutError, WebSocketException, InvalidHandshake, RuntimeError)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass
class Crew:
    """One unit's tablet. ``urls`` are tried in turn after a failed connect (a load balancer's part)."""

    unit: str
    incident: int
    hospital: str
    urls: list[str]
    skew: timedelta = timedelta()  # the tablet's clock minus the true time
    client: TabletClient = field(init=False)
    sent: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # seq -> (uid, taken_at as sent)
    reconnects: int = 0
    _next_url: int = 0

    def __post_init__(self) -> None:
        self.client = TabletClient(self.urls[0], self.unit, token("paramedic", self.unit), skew=self.skew)

    async def ensure_connected(self) -> bool:
        if self.client.connected:
            return True
        self.client.ws_base = self.urls[self._next_url % len(self.urls)]
        try:
            await asyncio.wait_for(self.client.connect(), 5)
        except _DROPPED:
            self._next_url += 1
            return False
        self.reconnects += 1
        return True

    async def stream(self, stop: asyncio.Event, period_s: float, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, period_s))
        while not stop.is_set():
            if not await self.ensure_connected():
                await asyncio.sleep(0.2 + rng.uniform(0, 0.3))
                continue
            uid, taken = new_uid(), self.client.now()
            vitals = {"hr": rng.randint(50, 150), "sbp": rng.randint(80, 180), "spo2": rng.randint(88, 100)}
            message = {"type": "vitals", "incident": self.incident, "taken_at": iso(taken), "uid": uid, **vitals}
            seq = await self.client.send(message)
            self.sent[seq] = (uid, taken)
            await asyncio.sleep(period_s)

    async def settle(self, deadline: float) -> None:
        """Reconnect until every message is acked (or the deadline passes)."""
        while self.client.outbox and time.monotonic() < deadline:
            if not await self.ensure_connected():
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(0.05)

    @property
    def acked(self) -> list[int]:
        return [seq for seq in self.sent if seq <= self.client.acked]


@dataclass
class Screen:
    """One ED dashboard. Its stretches: the (id, unit, seq) of the tablet events it received, a new stretch after
    each ``reset``."""

    hospital: str
    urls: list[str]
    client: DashboardClient = field(init=False)
    stretches: list[list[tuple[str, str, int]]] = field(default_factory=lambda: [[]])
    reconnects: int = 0
    connects: list[tuple[int, int, str | None, int | None]] = field(default_factory=list)  # stretch, at, after, code
    _next_url: int = 0

    def __post_init__(self) -> None:
        self.client = DashboardClient(
            self.urls[0], self.hospital, token("ed", self.hospital), on_event=self._on_event, on_reset=self._on_reset
        )

    def _on_reset(self) -> None:
        """Told ``reset`` (before any event of the new connection): a new stretch starts, as the page starts over."""
        self.stretches.append([])

    def _on_event(self, entry_id: str, event: Json) -> None:
        if event.get("seq") is not None and event.get("unit"):
            self.stretches[-1].append((entry_id, event["unit"], int(event["seq"])))

    async def ensure_connected(self) -> bool:
        if self.client.connected:
            return True
        self.client.ws_base = self.urls[self._next_url % len(self.urls)]
        after = self.client.last_id
        try:
            await asyncio.wait_for(self.client.connect(), 5)
        except _DROPPED:
            self._next_url += 1
            return False
        self.connects.append((len(self.stretches) - 1, len(self.stretches[-1]), after, self.client.close_code))
        self.reconnects += 1
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self.ensure_connected():
                await asyncio.sleep(0.3)
                continue
            await asyncio.sleep(0.1)

    def seen(self) -> set[tuple[str, int]]:
        return {(unit, seq) for stretch in self.stretches for _, unit, seq in stretch}


async def prepare(http: str, units: list[str], hospitals: list[str]) -> dict[str, tuple[int, str]]:
    """An incident per unit, assigned and routed (the dispatcher's part): unit -> (incident, hospital)."""
    headers = {"authorization": f"Bearer {token('dispatcher', REGION)}"}
    made: dict[str, tuple[int, str]] = {}
    async with httpx.AsyncClient(base_url=http, headers=headers, timeout=60) as client:

        async def one(i: int, unit: str) -> None:
            body = {"location": {"lat": 40.44, "lon": -79.99}, "complaint": "chaos", "priority": 2}
            incident = int((await client.post("/v1/incidents", json=body)).json()["id"])
            await client.post(f"/v1/incidents/{incident}/assign", json={"unit": unit})
            hospital = hospitals[i % len(hospitals)]
            routed = await client.post(f"/v1/incidents/{incident}/destination",
                                       json={"hospital": hospital, "reason_code": "4220013"})  # fmt: skip
            if not routed.is_success:
                raise RuntimeError(f"set-up failed: {routed.text}")
            made[unit] = (incident, hospital)

        for start in range(0, len(units), 25):
            await asyncio.gather(*(one(start + i, u) for i, u in enumerate(units[start : start + 25])))
    return made


@dataclass
class Audit:
    fault: str
    sent: int
    acked: int
    stored: int
    lost: int  # acked, and not in PostgreSQL holding what was sent
    stored_twice: int
    delivered: int  # (screen, event) pairs received, each counted once per screen
    expected: int  # (screen, event) pairs: every stored event of each screen's hospital
    missing_on_screens: int
    duplicated_on_screens: int
    out_of_order: int
    recover_s: float | None
    reconnects: int
    resets: int
    notes: str = ""

    @property
    def clean(self) -> bool:
        return not (self.lost or self.stored_twice or self.missing_on_screens or self.duplicated_on_screens
                    or self.out_of_order or self.acked < self.sent)  # fmt: skip


async def audit(
    fault: str, db: asyncpg.Pool, crews: list[Crew], screens: list[Screen], recover_s: float | None, notes: str = ""
) -> Audit:
    units = [c.unit for c in crews]
    rows = await db.fetch("SELECT unit, seq, uid, taken_at FROM events WHERE unit = ANY($1::text[])", units)
    stored: dict[tuple[str, int], list[asyncpg.Record]] = {}
    for row in rows:
        stored.setdefault((row["unit"], row["seq"]), []).append(row)
    by_uid = Counter((row["unit"], row["uid"]) for row in rows)
    lost = 0
    for crew in crews:
        for seq in crew.acked:
            uid, taken = crew.sent[seq]
            held = stored.get((crew.unit, seq), [])
            if len(held) != 1 or held[0]["uid"] != uid or held[0]["taken_at"] != taken:  # the tablet's own time
                lost += 1
    twice = sum(1 for held in stored.values() if len(held) > 1) + sum(1 for n in by_uid.values() if n > 1)
    hospital_of = {c.unit: c.hospital for c in crews}
    delivered = expected = missing = duplicated = disorder = 0
    for screen in screens:
        mine = {key for key in stored if hospital_of[key[0]] == screen.hospital}
        expected += len(mine)
        seen = screen.seen() & mine
        delivered += len(seen)
        missing += len(mine - seen)
        for stretch in screen.stretches:
            counts = Counter((unit, seq) for _, unit, seq in stretch)
            duplicated += sum(n - 1 for n in counts.values() if n > 1)
            if os.environ.get("CHAOS_DEBUG"):
                repeated = {k for k, n in counts.items() if n > 1}
                if repeated:
                    first = next(i for i, e in enumerate(stretch) if (e[1], e[2]) in repeated)
                    key = (stretch[first][1], stretch[first][2])
                    second = next(i for i, e in enumerate(stretch) if i > first and (e[1], e[2]) == key)
                    print("repeated on", screen.hospital, "stretch", screen.stretches.index(stretch), "of",
                          len(screen.stretches), "len", len(stretch), "first", first, stretch[first], "second",
                          second, stretch[max(0, second - 3):second + 2], "n", len(repeated),
                          [c for c in screen.connects if c[0] == screen.stretches.index(stretch)])  # fmt: skip
            last: dict[str, int] = {}
            for _, unit, seq in stretch:
                if seq < last.get(unit, 0):
                    disorder += 1
                last[unit] = max(seq, last.get(unit, 0))
    return Audit(
        fault=fault,
        sent=sum(len(c.sent) for c in crews),
        acked=sum(len(c.acked) for c in crews),
        stored=len(rows),
        lost=lost,
        stored_twice=twice,
        delivered=delivered,
        expected=expected,
        missing_on_screens=missing,
        duplicated_on_screens=duplicated,
        out_of_order=disorder,
        recover_s=recover_s,
        reconnects=sum(c.reconnects for c in crews) + sum(s.reconnects for s in screens),
        resets=sum(len(s.stretches) - 1 for s in screens),
        notes=notes,
    )


async def until_recovered(crews: list[Crew], since: float, timeout_s: float = 120) -> float | None:
    """Seconds from ``since`` (the end of the fault: call it then) until every crew has every message it had sent by
    then acked."""
    marks = {c.unit: max(c.sent, default=0) for c in crews}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(c.client.acked >= marks[c.unit] for c in crews):
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    return None


async def until_screens_caught_up(db: asyncpg.Pool, crews: list[Crew], screens: list[Screen], timeout_s: float) -> None:
    """Wait until every screen has seen every stored event of its hospital (or the timeout: the audit then says)."""
    deadline = time.monotonic() + timeout_s
    hospital_of = {c.unit: c.hospital for c in crews}
    while time.monotonic() < deadline:
        rows = await db.fetch("SELECT unit, seq FROM events WHERE unit = ANY($1::text[])", list(hospital_of))
        keys = {(r["unit"], r["seq"]) for r in rows}
        if all({k for k in keys if hospital_of[k[0]] == s.hospital} <= s.seen() for s in screens):
            return
        for screen in screens:
            await screen.ensure_connected()
        await asyncio.sleep(0.1)


def table(audits: list[Audit]) -> str:
    head = ("| fault | sent | acked | stored | lost | stored twice | delivered / expected (screens) | missing | "
            "duplicated | out of order | recovered in (s) | reconnects | resets | notes |")  # fmt: skip
    lines = [head, "|" + "---|" * 14]
    for a in audits:
        recover = f"{a.recover_s:.2f}" if a.recover_s is not None else "not recovered"
        lines.append(
            f"| {a.fault} | {a.sent} | {a.acked} | {a.stored} | {a.lost} | {a.stored_twice} | "
            f"{a.delivered} / {a.expected} | {a.missing_on_screens} | {a.duplicated_on_screens} | {a.out_of_order} | "
            f"{recover} | {a.reconnects} | {a.resets} | {a.notes} |"
        )
    return "\n".join(lines)
