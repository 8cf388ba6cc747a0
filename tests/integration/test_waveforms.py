"""Waveforms end to end over real sockets, Redis and PostgreSQL: a 12-lead ECG sent as a binary frame is stored once
and reaches the receiving ED byte-identical, exactly once, also across a cut mid-upload; a STEMI reading raises the
STEMI pre-alert; the live strip reaches an ED viewer of an inbound patient and nobody else; a late or over-budget
chunk is dropped."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect

from dispatch.protocol import ECG_LEADS, CloseCode
from prealert.client import DashboardClient, subprotocols
from prealert.harness import Service
from prealert.waveforms import ecg
from tests.conftest import Scene, iso, make_scene, token
from tests.integration.test_refusals import _close_code

RECORDING = ecg.twelve_lead()


def ecg12(scene: Scene, **changes: Any) -> dict[str, Any]:
    return {
        "type": "ecg12",
        "incident": scene.incident,
        "taken_at": iso(),
        "sample_rate_hz": RECORDING.sample_rate_hz,
        "gain_per_mv": ecg.GAIN_PER_MV,
        "leads": [{"name": name, "samples": RECORDING.leads[name]} for name in ECG_LEADS],
        "interpretation": "STEMI inferolateral",
        "stemi": True,
        **changes,
    }


def ecgs_seen(dashboard: DashboardClient, scene: Scene) -> list[dict[str, Any]]:
    return [e["body"] for _, e in dashboard.events if e["unit"] == scene.unit and e["body"]["type"] == "ecg12_notice"]


def leads_of(body: dict[str, Any]) -> dict[str, bytes]:
    return {lead["name"]: base64.b64decode(lead["samples"]) for lead in body["leads"]}


@pytest.fixture
async def scene(service: Service) -> Scene:
    return await make_scene(service)


async def test_a_12_lead_is_stored_once_and_reaches_the_ed_byte_identical(scene: Scene, db: asyncpg.Pool) -> None:
    dashboard = scene.dashboard()
    await dashboard.connect()
    tablet = scene.tablet()
    await tablet.connect()
    seq = await tablet.send(ecg12(scene), binary=True)
    await tablet.wait_acked(seq)
    await dashboard.wait(lambda: bool(ecgs_seen(dashboard, scene)))

    stored = await db.fetch("SELECT body FROM events WHERE unit = $1 AND type = 'ecg12'", scene.unit)
    assert len(stored) == 1
    assert leads_of(msgspec.json.decode(stored[0]["body"])) == RECORDING.leads
    [seen] = ecgs_seen(dashboard, scene)  # the feed says a 12-lead came (not its 120 KB of samples)
    assert seen["seq"] == seq and seen["interpretation"] == "STEMI inferolateral" and seen["seconds"] == 10.0
    assert seen["leads"] == list(ECG_LEADS) and "samples" not in msgspec.json.encode(seen).decode()
    derived = next(e["derived"] for _, e in reversed(dashboard.events) if e["body"]["type"] == "ecg12_notice")
    assert derived["prealert"] == "STEMI" and derived["latest"]["ecg_interpretation"] == "STEMI inferolateral"
    await tablet.wait(lambda: tablet.patient is not None and tablet.patient["derived"].get("prealert") == "STEMI")
    await tablet.close()
    await dashboard.close()

    # The ED reads the samples from the gateway, byte-identical (earlier ECGs stay there); another ED may not.
    async with httpx.AsyncClient(base_url=scene.service.http) as http:
        path = f"/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/ecgs"
        listed = await http.get(path, headers={"authorization": f"Bearer {token('ed', scene.hospital)}"})
        other = "allegheny-general" if scene.hospital != "allegheny-general" else "upmc-mercy"
        refused = await http.get(
            f"/v1/hospitals/{other}/incidents/{scene.incident}/ecgs",
            headers={"authorization": f"Bearer {token('ed', other)}"},
        )
        one = await http.get(
            f"{path}?unit={scene.unit}&seq={seq}", headers={"authorization": f"Bearer {token('ed', scene.hospital)}"}
        )
        half = await http.get(f"{path}?seq={seq}", headers={"authorization": f"Bearer {token('ed', scene.hospital)}"})
    assert one.status_code == 200 and [e["seq"] for e in one.json()] == [seq]
    assert half.status_code == 422 and half.json()["field"] == "seq"
    assert listed.status_code == 200
    [kept] = listed.json()
    assert kept["seq"] == seq and leads_of(kept["body"]) == RECORDING.leads
    assert refused.status_code == 403


async def test_a_12_lead_cut_mid_upload_is_resent_and_stored_and_delivered_once(scene: Scene, db: asyncpg.Pool) -> None:
    dashboard = scene.dashboard()
    await dashboard.connect()
    tablet = scene.tablet()
    await tablet.connect()
    first = await tablet.send(ecg12(scene, interpretation="first"), binary=True)
    await tablet.abort()  # the signal goes as the frame leaves: did it arrive? The tablet cannot know.
    second = await tablet.send(ecg12(scene, interpretation="second"), binary=True)
    await tablet.connect()  # resends both from its outbox, under their own seq and uid
    await tablet.wait_acked(second)
    await dashboard.wait(lambda: len(ecgs_seen(dashboard, scene)) >= 2)

    rows = await db.fetch(
        "SELECT seq, body->>'interpretation' AS what FROM events WHERE unit = $1 AND type = 'ecg12' ORDER BY seq",
        scene.unit,
    )
    assert [(r["seq"], r["what"]) for r in rows] == [(first, "first"), (second, "second")]
    assert [e["interpretation"] for e in ecgs_seen(dashboard, scene)] == ["first", "second"]
    await tablet.close()
    await dashboard.close()


def strip_chunk(scene: Scene, start_at: datetime, samples: bytes) -> dict[str, Any]:
    return {
        "incident": scene.incident,
        "lead": "MLII",
        "start_at": start_at.isoformat(),
        "sample_rate_hz": 360,
        "gain_per_mv": 1000,
        "samples": samples,
        "hr": 75,
    }


async def test_the_live_strip_reaches_an_ed_viewer_of_the_inbound_patient(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/strip"
    strip = ecg.rhythm_strip()
    async with connect(url, subprotocols=subprotocols(token("ed", scene.hospital))) as viewer:
        tablet = scene.tablet()
        await tablet.connect()
        now = datetime.now(UTC)
        pieces = ecg.chunks(strip, "MLII", start_at=now, chunk_s=0.25)
        sent = []
        received: list[dict[str, Any]] = []
        while len(received) < 3:  # the viewer's subscription may start a moment after the socket opens
            piece = next(pieces)
            assert await tablet.send_strip(strip_chunk(scene, piece.start_at, piece.samples))
            sent.append(piece.samples)
            received.append(msgspec.json.decode(await viewer.recv()))
        first = received[0]
        assert first["type"] == "strip_chunk" and first["unit"] == scene.unit and first["hr"] == 75
        assert [base64.b64decode(r["samples"]) for r in received] == sent[len(sent) - 3 :]
        late = strip_chunk(scene, now - timedelta(seconds=10), b"\x00\x00" * 90)
        assert await tablet.send_strip(late)  # sent, and dropped by the server for being late
        piece = next(pieces)
        await tablet.send_strip(strip_chunk(scene, datetime.now(UTC), piece.samples))
        after = msgspec.json.decode(await viewer.recv())
        assert base64.b64decode(after["samples"]) == piece.samples  # the late chunk never arrived
        await tablet.close()
    assert tablet.errors == []


async def test_the_strip_is_only_for_the_destination_ed(scene: Scene, service: Service) -> None:
    other = "allegheny-general" if scene.hospital != "allegheny-general" else "upmc-mercy"
    path = f"/v1/hospitals/{other}/incidents/{scene.incident}/strip"
    code, reason = await _close_code(f"{service.ws}{path}", token("ed", other))
    assert code == CloseCode.FORBIDDEN and "not inbound" in reason
    code, _ = await _close_code(
        f"{service.ws}/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/strip", token("ed", other)
    )
    assert code == CloseCode.FORBIDDEN


async def test_a_unit_over_its_strip_budget_has_chunks_dropped_not_queued(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/hospitals/{scene.hospital}/incidents/{scene.incident}/strip"
    async with connect(url, subprotocols=subprotocols(token("ed", scene.hospital))) as viewer:
        tablet = scene.tablet()
        await tablet.connect()
        big = b"\x01\x00" * 1000  # 2 KB of samples per chunk; the budget is 4 KB/s with an 8 KB burst
        for _ in range(20):
            await tablet.send_strip(strip_chunk(scene, datetime.now(UTC), big))
        marker = await tablet.send(scene.vitals(hr=88))  # vitals are never behind chunks: acked at once
        await tablet.wait_acked(marker)
        got = 0
        while True:
            try:
                async with asyncio.timeout(1.0):
                    await viewer.recv()
                    got += 1
            except TimeoutError:
                break
        assert 0 < got <= 6  # 8 KB burst + refill over the sends: about four 2 KB chunks, not twenty
        await tablet.close()


async def test_a_binary_frame_over_the_limit_closes_with_1009(scene: Scene) -> None:
    tablet = scene.tablet()
    await tablet.connect()
    assert tablet.ws is not None
    ws = tablet.ws
    await tablet.send_raw(b"\x80" + b"\x00" * (300 * 1024))
    await tablet.disconnected()
    assert ws.close_code == CloseCode.TOO_BIG
