"""100,000 generated frames of every type, valid and broken, through a real tablet socket into the real service.

The server never crashes or closes the socket, answers every broken frame with exactly the typed error the pure
core gives it (in order), stores every valid frame once and no broken one, and is still ready at the end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from dispatch.protocol import ErrorCode, Strip, tablet_decoder
from prealert.client import subprotocols
from prealert.harness import Backends, Service
from tests.conftest import Scene, make_scene, token
from tests.fuzzing import Drawn, frame, utc_now, verdict, with_seq

BATCH = 50
BATCHES = 2000  # 100,000 frames
CODES = set(get_args(ErrorCode))
SERVER_TYPES = {"hello", "ack", "error", "assignment", "patient", "recommendation", "ed_ack"}


@dataclass
class Run:
    """Frames go out as fast as they are drawn while a reader thread takes the replies (so drawing and the server's
    work overlap); the replies are checked against what the pure core expects once the last sentinel is acked."""

    ws: ClientConnection
    incident: int
    next_seq: int
    sent: int = 0
    valid_seqs: set[int] = field(default_factory=set)
    accepted_upto: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    expected: list[tuple[str, Drawn]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    acked: int = 0
    last_sentinel: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def take(self) -> int:
        """The next seq, above every seq the server has accepted: after a mutated frame took the unit's seq far
        ahead, later frames go on above it (as a tablet does), so that they are still new and the run keeps
        exercising the durable path (one run had only 611 new frames out of 100,000 otherwise)."""
        self.next_seq = max(self.next_seq, self.accepted_upto + 1) + 1
        return self.next_seq - 1

    def _new(self, seq: int) -> bool:
        """Whether the server takes ``seq`` as new: above every seq accepted so far, whatever became of that message
        (a frame whose seq a mutation changed, e.g. a digit flipped to 0, may have moved that mark far ahead)."""
        if seq <= self.accepted_upto:
            return False
        self.accepted_upto = seq
        return True

    def send(self, batch: list[Drawn], now: datetime) -> None:
        for drawn in batch:
            code, message = verdict(drawn.raw, now)
            if code is not None:
                self.expected.append((code, drawn))
            elif isinstance(message, Strip):
                pass  # no reply, whoever's patient it is: relayed, or dropped when late or not the unit's
            elif message is not None and self._new(message.seq):
                if message.incident in (None, self.incident):  # no incident (a status, a position): the unit's own
                    self.valid_seqs.add(message.seq)
                else:  # well formed, but for a patient who is not this unit's (a mutated incident number)
                    self.expected.append(("not_assigned", drawn))
            # else: a repeat of a seq already accepted: acked, not stored again, no error
            self.ws.send(drawn.raw)
            self.sent += 1
            self.kinds[drawn.kind] = self.kinds.get(drawn.kind, 0) + 1
        sentinel = self.take()
        if self._new(sentinel):
            self.valid_seqs.add(sentinel)
        self.last_sentinel = sentinel
        taken_at = now.isoformat().replace("+00:00", "Z")
        vitals = {"type": "vitals", "seq": sentinel, "incident": self.incident, "taken_at": taken_at, "hr": 80}
        self.ws.send(json.dumps(vitals))

    def read(self) -> None:
        """The reader thread: every reply, until the socket closes."""
        try:
            for raw in self.ws:
                reply = json.loads(raw)
                if reply["type"] not in SERVER_TYPES:
                    self.unexpected.append(str(reply)[:300])
                elif reply["type"] == "error":
                    self.errors.append(reply)
                elif reply["type"] == "ack":
                    self.acked = max(self.acked, reply["upto"])
        finally:
            self.done.set()


@pytest.fixture(scope="module")
async def scene(service: Service) -> Scene:
    return await make_scene(service)


async def _stored(database_url: str, unit: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT seq, body::text AS body FROM events WHERE unit = $1 ORDER BY seq", unit)
    finally:
        await conn.close()
    return [(r["seq"], r["body"]) for r in rows]


def test_fuzzed_frames_through_a_real_socket(service: Service, backends: Backends, scene: Scene) -> None:
    url = f"{service.ws}/v1/units/{scene.unit}/socket"
    # No keepalive pings: they draw from the global random module, which Hypothesis watches during draws.
    protocols = subprotocols(token("paramedic", scene.unit))
    with connect(url, subprotocols=protocols, max_size=2**22, ping_interval=None) as ws:
        hello = json.loads(ws.recv(timeout=10))
        run = Run(ws=ws, incident=scene.incident, next_seq=max(hello["last_seq"] + 1, 100_000_000))
        reader = threading.Thread(target=run.read, daemon=True)
        reader.start()
        started = utc_now()

        # Drawn against the start time (the frames' own times are minutes to an hour old, so they stay plausible
        # for the run; live strips soon count as late and are dropped without a word, which is also checked).
        @settings(
            max_examples=BATCHES,
            phases=[Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(frame(incident=scene.incident, now=started), min_size=BATCH, max_size=BATCH))
        def send(drawn: list[Drawn]) -> None:
            run.send([with_seq(d, run.take()) for d in drawn], started)

        send()
        deadline = time.monotonic() + 120

        def answered() -> bool:
            # Both: the last sentinel acked, and as many errors as expected. An ack alone is not enough: after a
            # flipped digit took the unit's seq far ahead, a cumulative ack covers the last sentinel before the
            # last batch's errors have been read (CI caught the comparison running early).
            return run.acked >= run.last_sentinel and len(run.errors) >= len(run.expected)

        while not answered() and not run.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.acked >= run.last_sentinel and not run.done.is_set(), "the server stopped answering or closed"
    got = [e["code"] for e in run.errors]
    want = [code for code, _ in run.expected]
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    assert got == want, (first, run.expected[first : first + 3], run.errors[first : first + 3])
    assert all(e["code"] in CODES and e["reason"] for e in run.errors)
    assert run.unexpected == []
    assert run.sent >= 100_000 and all(run.kinds.get(k, 0) > 1000 for k in ("vitals", "strip", "status")), run.kinds
    assert len(run.errors) > 10_000 and len(run.valid_seqs) > 10_000
    stored = asyncio.run(_stored(backends.database_url, scene.unit))
    assert [seq for seq, _ in stored] == sorted(run.valid_seqs)  # every valid frame once, no broken one
    for _, body in stored:
        tablet_decoder.decode(body)
    assert httpx.get(f"{service.http}/readyz", timeout=5).status_code == 200
