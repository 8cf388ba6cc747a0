"""Bad input gets a typed error naming the field and reason, changes nothing, and leaves the socket open; every
authentication failure closes the socket (or answers HTTP) with its documented code."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.protocol import CloseCode
from prealert.client import subprotocols
from prealert.harness import Service
from tests.conftest import (
    REGION,
    Scene,
    dispatcher_call,
    in_minutes,
    iso,
    make_scene,
    token,
)


@pytest.fixture(scope="module")
async def scene(service: Service) -> Scene:
    return await make_scene(service)


def frame(scene: Scene, seq: int, **fields: Any) -> str:
    return msgspec.json.encode(
        {"type": "vitals", "seq": seq, "incident": scene.incident, "taken_at": iso(), **fields}
    ).decode()


BAD_FRAMES: list[tuple[str, Any, dict[str, Any]]] = [
    ("malformed json", "{not json", {"code": "malformed", "field": None, "seq": None}),
    ("unknown type", '{"type":"teleport","seq":1}', {"code": "unknown_type", "field": "type"}),
    ("no type", '{"seq":5}', {"code": "invalid_field", "field": "type", "reason": "is required", "seq": 5}),
    ("missing seq", {"seq": None}, {"code": "invalid_field", "field": "seq"}),
    ("mistyped hr", {"hr": "ninety"}, {"code": "invalid_field", "field": "hr"}),
    ("hr 900", {"hr": 900}, {"code": "implausible", "field": "hr", "reason": "Expected `int` <= 300"}),
    ("spo2 140", {"spo2": 140}, {"code": "implausible", "field": "spo2", "reason": "Expected `int` <= 100"}),
    ("negative rr", {"rr": -1}, {"code": "implausible", "field": "rr", "reason": "Expected `int` >= 0"}),
    ("temperature 50", {"temp_c": 50.0}, {"code": "implausible", "field": "temp_c"}),
    ("gcs eye 5", {"gcs_eye": 5}, {"code": "implausible", "field": "gcs_eye"}),
    ("unknown avpu", {"avpu": "X"}, {"code": "invalid_field", "field": "avpu"}),
    ("unknown field", {"hr": 80, "mood": "calm"}, {"code": "invalid_field", "field": "mood"}),
    (
        "future time",
        {"hr": 80, "taken_at": "IN_AN_HOUR"},  # computed when the test runs, not when the module loads
        {"code": "implausible", "field": "taken_at", "reason": "is 60 min in the future"},
    ),
    (
        "time without zone",
        {"hr": 80, "taken_at": "2026-11-24T10:00:00"},
        {"code": "invalid_field", "field": "taken_at"},
    ),
    ("no measurement", {}, {"code": "invalid_field", "field": None}),
    ("diastolic above systolic", {"sbp": 80, "dbp": 90}, {"code": "implausible", "field": "dbp"}),
    (
        "incident of another unit",
        {"hr": 80, "incident": "OTHER"},
        {"code": "not_assigned", "field": "incident"},
    ),
]


@pytest.fixture(scope="module")
async def other_scene(service: Service) -> Scene:
    return await make_scene(service, hospital="west-penn")


@pytest.mark.parametrize(("case", "bad", "expected"), BAD_FRAMES, ids=[c for c, _, _ in BAD_FRAMES])
async def test_bad_frame_gets_typed_error_and_changes_nothing(
    scene: Scene, other_scene: Scene, db: asyncpg.Pool, case: str, bad: Any, expected: dict[str, Any]
) -> None:
    tablet = scene.tablet()
    hello = await tablet.connect()
    before = await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", scene.unit)
    seq = hello["last_seq"] + 1
    if isinstance(bad, dict):
        stand_in = {"OTHER": other_scene.incident, "IN_AN_HOUR": in_minutes(60)}
        fields = {k: stand_in.get(v, v) if isinstance(v, str) else v for k, v in bad.items() if v is not None}
        raw = frame(scene, seq, **fields)
        if "seq" in bad:
            raw = raw.replace(f'"seq":{seq},', "")
        expected = {"seq": None if "seq" in bad else seq, **expected}
    else:
        raw = bad
    await tablet.send_raw(raw)
    await tablet.wait(lambda: bool(tablet.errors))
    error = tablet.errors[0]
    assert error["type"] == "error"
    assert {k: error[k] for k in expected} == expected, error
    # The socket stays open and works: a good frame after the bad one (with the next seq: a refused seq is spent)
    # is stored and acked.
    tablet.next_seq = seq + 1
    good = await tablet.send(scene.vitals(hr=77))
    await tablet.wait_acked(good)
    after = await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", scene.unit)
    assert after == before + 1
    assert await db.fetchval("SELECT body->>'hr' FROM events WHERE unit = $1 AND seq = $2", scene.unit, good) == "77"
    await tablet.close()


async def test_oversized_frame_closes_with_1009(scene: Scene, db: asyncpg.Pool) -> None:
    tablet = scene.tablet()
    await tablet.connect()
    before = await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", scene.unit)
    await tablet.send_raw(frame(scene, 10**6, hr=80, notes="x" * 70_000))
    await tablet.disconnected()
    assert tablet.ws is None
    assert await db.fetchval("SELECT count(*) FROM events WHERE unit = $1", scene.unit) == before


async def _close_code(url: str, bearer: str | None, header: bool = False) -> tuple[int, str]:
    protocols = subprotocols(bearer)[: 2 if bearer and not header else 1] if bearer else subprotocols("x")[:1]
    headers = {"authorization": f"Bearer {bearer}"} if header and bearer else None
    async with connect(url, subprotocols=protocols, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _expired(role: Any, scope: str) -> str:
    return token(role, scope, ttl_s=60, now=int(time.time()) - 3600)


def _tampered(role: Any, scope: str) -> str:
    header, payload, signature = token(role, scope).split(".")
    claims = msgspec.json.decode(__import__("base64").urlsafe_b64decode(payload + "=="))
    claims["unit" if role == "paramedic" else "hospital"] = "someone-else"
    forged = __import__("base64").urlsafe_b64encode(msgspec.json.encode(claims)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


TABLET_AUTH = [
    ("no token", lambda unit: None, CloseCode.UNAUTHENTICATED, "no token"),
    ("garbage token", lambda unit: "not-a-jwt", CloseCode.UNAUTHENTICATED, "invalid token"),
    ("expired", lambda unit: _expired("paramedic", unit), CloseCode.UNAUTHENTICATED, "token expired"),
    ("tampered", lambda unit: _tampered("paramedic", unit), CloseCode.UNAUTHENTICATED, "invalid token"),
    (
        "other secret",
        lambda unit: token("paramedic", unit, secret="another-secret-another-secret-xx"),
        CloseCode.UNAUTHENTICATED,
        "invalid token",
    ),
    ("wrong unit", lambda unit: token("paramedic", "SOMEONE-ELSE"), CloseCode.FORBIDDEN, "not"),
    ("ED token on a tablet socket", lambda unit: token("ed", "upmc-mercy"), CloseCode.FORBIDDEN, "role ed"),
]


@pytest.mark.parametrize(("case", "make", "code", "reason"), TABLET_AUTH, ids=[c[0] for c in TABLET_AUTH])
async def test_tablet_socket_authentication(scene: Scene, case: str, make: Any, code: int, reason: str) -> None:
    got_code, got_reason = await _close_code(f"{scene.service.ws}/v1/units/{scene.unit}/socket", make(scene.unit))
    assert got_code == code
    assert reason in got_reason


async def test_tablet_may_authenticate_with_a_header(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/units/{scene.unit}/socket"
    headers = {"authorization": f"Bearer {token('paramedic', scene.unit)}"}
    async with connect(url, additional_headers=headers) as ws:
        assert msgspec.json.decode(await ws.recv())["type"] == "hello"


DASHBOARD_AUTH = [
    ("no token", lambda h: None, CloseCode.UNAUTHENTICATED),
    ("expired", lambda h: _expired("ed", h), CloseCode.UNAUTHENTICATED),
    ("tampered", lambda h: _tampered("ed", h), CloseCode.UNAUTHENTICATED),
    ("another hospital", lambda h: token("ed", "west-penn"), CloseCode.FORBIDDEN),
    ("paramedic token", lambda h: token("paramedic", "M1"), CloseCode.FORBIDDEN),
]


@pytest.mark.parametrize(("case", "make", "code"), DASHBOARD_AUTH, ids=[c[0] for c in DASHBOARD_AUTH])
async def test_dashboard_socket_authentication(scene: Scene, case: str, make: Any, code: int) -> None:
    got, _ = await _close_code(f"{scene.service.ws}/v1/hospitals/{scene.hospital}/feed", make(scene.hospital))
    assert got == code


async def test_dashboard_bad_resume_id_closes_with_4400(scene: Scene) -> None:
    url = f"{scene.service.ws}/v1/hospitals/{scene.hospital}/feed?after=yesterday"
    async with connect(url, subprotocols=subprotocols(token("ed", scene.hospital))) as ws:
        error = msgspec.json.decode(await ws.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert error == {
        "type": "error",
        "code": "invalid_field",
        "field": "after",
        "reason": "expected a feed id like 1732450000000-0",
        "seq": None,
        "last_seq": None,
    }
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.BAD_REQUEST


HTTP_CASES = [
    ("no token", None, "GET", "/v1/incidents", None, 401),
    ("paramedic on dispatcher API", "paramedic", "GET", "/v1/incidents", None, 403),
    ("ED on dispatcher API", "ed", "POST", "/v1/incidents", {}, 403),
    ("dispatcher of another region", "other-region", "GET", "/v1/incidents", None, 403),
    ("missing field", "dispatcher", "POST", "/v1/incidents", {"complaint": "x", "priority": 1}, 422),
    (
        "priority 9",
        "dispatcher",
        "POST",
        "/v1/incidents",
        {"location": {"lat": 40.4, "lon": -80.0}, "complaint": "x", "priority": 9},
        422,
    ),
    ("unknown incident", "dispatcher", "GET", "/v1/incidents/999999999", None, 404),
    (
        "unknown hospital",
        "dispatcher",
        "POST",
        "/v1/incidents/{incident}/destination",
        {"hospital": "nowhere"},
        404,
    ),
    ("bad unit id", "dispatcher", "POST", "/v1/incidents/{incident}/assign", {"unit": "no spaces!"}, 422),
]


@pytest.mark.parametrize(
    ("case", "who", "method", "path", "body", "status"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES]
)
async def test_dispatcher_api_refusals(
    scene: Scene, db: asyncpg.Pool, case: str, who: str | None, method: str, path: str, body: Any, status: int
) -> None:
    auth = {
        None: "not-a-token",
        "dispatcher": token("dispatcher", REGION),
        "paramedic": token("paramedic", "M1"),
        "ed": token("ed", "upmc-mercy"),
        "other-region": token("dispatcher", "gotham"),
    }[who]
    before = await db.fetchval("SELECT count(*) FROM incident_changes")
    response = await dispatcher_call(scene.service, method, path.format(incident=scene.incident), body, auth=auth)
    assert response.status_code == status, response.text
    assert response.json()["type"] == "error" and response.json()["reason"]
    assert await db.fetchval("SELECT count(*) FROM incident_changes") == before


async def test_event_table_is_append_only(scene: Scene, db: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("DELETE FROM events WHERE unit = $1", scene.unit)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("UPDATE events SET seq = seq WHERE unit = $1", scene.unit)
