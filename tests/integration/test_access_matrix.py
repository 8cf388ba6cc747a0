"""Every role against every endpoint and socket, and every tablet message type across units: each cell has an
expected answer and is asserted. Bad credentials (expired, revoked, tampered, unsigned, wrong algorithm, a foreign
key) are tried on every protected endpoint as the role that would otherwise be let in.

A test also checks that the table covers every route the service has: a new route without a row fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import msgspec
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.asyncio.client import connect

from dispatch import tokens
from dispatch.protocol import CloseCode
from prealert.bootstrap import all_routes
from prealert.client import subprotocols
from prealert.harness import Service
from tests import authkit
from tests.conftest import REGION, Scene, iso, make_scene, token

ANY: Final = "any valid token"
PUBLIC: Final = "no token needed"
ED_STAFF: Final = {"ed", "ed_charge"}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    allowed: set[tokens.Role] | str
    body: Any = None


HTTP: Final[list[Row]] = [
    Row("GET", "/healthz", PUBLIC),
    Row("GET", "/openapi.json", PUBLIC),
    Row("GET", "/readyz", PUBLIC),
    Row("GET", "/metrics", PUBLIC),
    Row("GET", "/tablet", PUBLIC),
    Row("GET", "/console", PUBLIC),
    Row("GET", "/dashboard", PUBLIC),
    Row("GET", "/tablet-sw.js", PUBLIC),
    Row("GET", "/dashboard/ecg.js", PUBLIC),
    Row("GET", "/dashboard/dashboard.js", PUBLIC),
    Row("GET", "/static/scores.js", PUBLIC),
    Row("POST", "/v1/auth/sign-in", PUBLIC, {}),
    Row("POST", "/v1/auth/refresh", PUBLIC, {}),
    Row("GET", "/v1/auth/me", ANY),
    Row("POST", "/v1/auth/sign-out", ANY),
    Row("GET", "/v1/hospitals", ANY),
    Row("POST", "/v1/incidents", {"dispatcher"}, {}),
    Row("GET", "/v1/incidents", {"dispatcher"}),
    Row("GET", "/v1/incidents/{incident}", {"dispatcher"}),
    Row("POST", "/v1/incidents/{incident}/assign", {"dispatcher"}, {}),
    Row("POST", "/v1/incidents/{incident}/destination", {"dispatcher"}, {}),
    Row("GET", "/v1/incidents/{incident}/recommendation", {"dispatcher"}),
    Row("GET", "/v1/incidents/{incident}/candidates", {"dispatcher"}),
    Row("GET", "/v1/units", {"dispatcher"}),
    Row("GET", "/v1/units/{unit}/route", {"dispatcher"}),
    Row("GET", "/v1/region/map", {"dispatcher"}),
    Row("GET", "/v1/hospitals/status", {"dispatcher"}),
    Row("GET", "/v1/hospitals/{hospital}/status", {"dispatcher", *ED_STAFF, "hospital_system"}),  # type: ignore[arg-type]
    Row("PATCH", "/v1/hospitals/{hospital}/status", {"ed_charge"}, {"bogus": 1}),
    Row("PUT", "/v1/hospitals/{hospital}/status", {"ed_charge"}, {"bogus": 1}),
    Row("GET", "/v1/units/{unit}/crew", {"dispatcher", "admin"}),
    Row("PUT", "/v1/units/{unit}/crew", {"dispatcher", "admin"}, {}),
    Row("POST", "/v1/admin/accounts", {"admin"}, {}),
    Row("POST", "/v1/admin/accounts/{username}/disable", {"admin"}),
    Row("POST", "/v1/admin/revocations", {"admin"}, {}),
    Row("GET", "/v1/admin/audit", {"admin"}),
    Row("GET", "/v1/research/fields", {"researcher", "admin"}),
    Row("POST", "/v1/research/exports", {"researcher"}, {}),
    Row("GET", "/v1/research/exports", {"researcher", "admin"}),
    Row("POST", "/v1/research/exports/{export}/decision", {"admin"}, {}),
    Row("POST", "/v1/research/exports/{export}/run", {"researcher"}),
    Row("GET", "/v1/hospitals/{hospital}/incidents", ED_STAFF),  # type: ignore[arg-type]
    Row("GET", "/v1/hospitals/{hospital}/incidents/{incident}/ecgs", ED_STAFF),  # type: ignore[arg-type]
    Row("POST", "/v1/hospitals/{hospital}/incidents/{incident}/ack", ED_STAFF, {"bogus": 1}),  # type: ignore[arg-type]
    Row("POST", "/v1/hospitals/{hospital}/incidents/{incident}/transfer", ED_STAFF),  # type: ignore[arg-type]
    Row("PUT", "/v1/hospitals/{hospital}/status.edxl", {"ed_charge", "hospital_system"}, "<not-xml"),
    Row("POST", "/v1/hospitals/{hospital}/status.edxl", {"ed_charge", "hospital_system"}, "<not-xml"),
    Row("GET", "/v1/hospitals/{hospital}/status.edxl", {*ED_STAFF, "hospital_system"}),  # type: ignore[arg-type]
    Row("POST", "/v1/hospitals/{hospital}/incidents/{incident}/outcome", {*ED_STAFF, "hospital_system"}, {"bogus": 1}),  # type: ignore[arg-type]
    Row("GET", "/v1/hospitals/{hospital}/incidents/{incident}/fhir", {*ED_STAFF, "hospital_system"}),  # type: ignore[arg-type]
    Row("GET", "/v1/hospitals/{hospital}/incidents/{incident}/prealert.fhir", {*ED_STAFF, "hospital_system"}),  # type: ignore[arg-type]
    Row("GET", "/v1/incidents/{incident}/nemsis.xml", {"dispatcher", "admin"}),
    Row("GET", "/v1/incidents/{incident}/fhir", {"dispatcher", "admin"}),
    Row("GET", "/v1/records/nemsis.xml", {"dispatcher", "admin"}),
    Row("POST", "/v1/records/nemsis", {"dispatcher", "admin"}, "<not-xml"),
    Row("GET", "/v1/records/{record}/nemsis.xml", {"dispatcher", "admin"}),
    Row("GET", "/v1/records/{record}/fhir", {"dispatcher", "admin"}),
    Row("GET", "/v1/units/{unit}/history", {"paramedic"}),
]

SOCKETS: Final[list[tuple[str, set[tokens.Role]]]] = [
    ("/v1/units/{unit}/socket", {"paramedic"}),
    ("/v1/hospitals/{hospital}/feed?after=now", ED_STAFF),  # type: ignore[list-item]
    ("/v1/hospitals/{hospital}/incidents/{incident}/strip", ED_STAFF),  # type: ignore[list-item]
    ("/v1/dispatch/socket?after=now", {"dispatcher"}),
    ("/v1/dispatch/units?after=now", {"dispatcher"}),
    ("/v1/dispatch/events?after=now", {"dispatcher"}),
]


def test_the_matrix_covers_every_route() -> None:
    served: set[tuple[str, str]] = set()
    for route in all_routes():
        if isinstance(route, Route):
            served |= {(m, route.path) for m in (route.methods or set()) if m != "HEAD"}
        elif isinstance(route, WebSocketRoute):
            served.add(("WS", route.path))
        elif isinstance(route, Mount):
            served.add(("GET", route.path + "/"))
    covered = {(r.method, r.path) for r in HTTP} | {("WS", path.split("?")[0]) for path, _ in SOCKETS}
    covered = {(m, "/static/" if p.startswith("/static/") else p) for m, p in covered}
    assert served == covered


@dataclass(frozen=True)
class World:
    scene: Scene
    other_unit: str
    other_hospital: str

    def scope_for(self, role: tokens.Role, *, own: bool) -> str:
        kind = tokens.SCOPE_CLAIM[role]
        if kind == "unit":
            return self.scene.unit if own else self.other_unit
        if kind == "hospital":
            return self.scene.hospital if own else self.other_hospital
        return REGION if own else "gotham"

    def path(self, template: str) -> str:
        return template.format(
            incident=self.scene.incident,
            unit=self.scene.unit,
            hospital=self.scene.hospital,
            username="nobody-such",
            export="999999",
            record="999999",
        )


@pytest.fixture(scope="module")
async def world(service: Service) -> World:
    return World(scene=await make_scene(service), other_unit="OTHER-UNIT", other_hospital="west-penn")


async def _http(service: Service, row: Row, path: str, bearer: str | None) -> int:
    import httpx

    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        if isinstance(row.body, str):
            response = await client.request(row.method, path, content=row.body, headers=headers)
        else:
            response = await client.request(row.method, path, json=row.body, headers=headers)
    return response.status_code


def _passes(status: int) -> bool:
    """Let in: anything but a refusal of the credential (a 404, 409 or 422 comes after the check)."""
    return status not in (401, 403) and status < 500


BAD: Final[dict[str, Callable[[tokens.Role, str], str]]] = {
    "expired": authkit.expired,
    "tampered": authkit.tampered,
    "unsigned (alg none)": authkit.unsigned,
    "wrong algorithm (HS512)": authkit.wrong_algorithm,
    "foreign RS256 key": authkit.foreign_rsa,
}


@pytest.mark.parametrize("row", HTTP, ids=[f"{r.method} {r.path}" for r in HTTP])
async def test_http_matrix(service: Service, world: World, row: Row) -> None:
    path = world.path(row.path)
    if row.allowed == PUBLIC:
        assert _passes(await _http(service, row, path, None))
        return
    assert await _http(service, row, path, None) == 401, "no token"
    assert await _http(service, row, path, "garbage") == 401, "garbage"
    failures = []
    for role in tokens.ROLES:
        for own in (True, False):
            status = await _http(service, row, path, token(role, world.scope_for(role, own=own)))
            if row.allowed == ANY:
                expected_pass = True
            else:
                assert isinstance(row.allowed, set)
                expected_pass = role in row.allowed and own
            if _passes(status) != expected_pass or (not expected_pass and status != 403):
                failures.append(f"{role} ({'own' if own else 'other'} scope): {status}")
    assert failures == []
    allowed = sorted(tokens.ROLES) if isinstance(row.allowed, str) else sorted(row.allowed)
    first = allowed[0]  # the role that would be let in: only the bad credential can be why it is not
    scope = world.scope_for(first, own=True)
    for name, make in BAD.items():
        assert await _http(service, row, path, make(first, scope)) == 401, name
    revoked = await authkit.revoked(service, first, scope)
    assert await _http(service, row, path, revoked) == 401, "revoked"


@pytest.mark.parametrize(("template", "allowed"), SOCKETS, ids=[s[0] for s in SOCKETS])
async def test_socket_matrix(service: Service, world: World, template: str, allowed: set[tokens.Role]) -> None:
    url = service.ws + world.path(template)
    assert await authkit.socket_outcome(url, None) == CloseCode.UNAUTHENTICATED
    failures = []
    for role in tokens.ROLES:
        for own in (True, False):
            got = await authkit.socket_outcome(url, token(role, world.scope_for(role, own=own)))
            expected = authkit.OPEN if role in allowed and own else CloseCode.FORBIDDEN
            if got != expected:
                failures.append(f"{role} ({'own' if own else 'other'} scope): {got}, expected {expected}")
    assert failures == []
    role = sorted(allowed)[0]
    scope = world.scope_for(role, own=True)
    for name, make in BAD.items():
        assert await authkit.socket_outcome(url, make(role, scope)) == CloseCode.UNAUTHENTICATED, name
    assert await authkit.socket_outcome(url, await authkit.revoked(service, role, scope)) == CloseCode.UNAUTHENTICATED


def _message(kind: str, incident: int, seq: int) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "seq": seq, "incident": incident, "taken_at": iso()}
    extra: dict[str, dict[str, Any]] = {
        "vitals": {"hr": 90},
        "assessment": {"age_years": 60},
        "position": {"lat": 40.44, "lon": -79.99},
        "status": {"status": "transporting"},
    }
    return {**base, **extra[kind]}


MESSAGES: Final = ["vitals", "assessment", "position", "status"]


@pytest.mark.parametrize("kind", MESSAGES)
async def test_tablet_messages_only_for_the_units_own_patient(
    service: Service, world: World, db: asyncpg.Pool, kind: str
) -> None:
    """A crew may write only to its own incident: the same message for another unit's patient is refused with a
    typed error and stored nowhere; for its own, it is stored and acked."""
    other = await make_scene(service)
    unit = world.scene.unit
    async with connect(
        f"{service.ws}/v1/units/{unit}/socket", subprotocols=subprotocols(token("paramedic", unit))
    ) as ws:
        hello = msgspec.json.decode(await ws.recv())
        seq = hello["last_seq"] + 1
        await ws.send(msgspec.json.encode(_message(kind, other.incident, seq)).decode())
        refused = await _next(ws, lambda f: f["type"] == "error")
        assert refused["code"] == "not_assigned" and refused["field"] == "incident"
        await ws.send(msgspec.json.encode(_message(kind, world.scene.incident, seq + 1)).decode())
        acked = await _next(ws, lambda f: f["type"] == "ack" and f["upto"] >= seq + 1)
        assert acked["upto"] >= seq + 1
    stored = await db.fetch("SELECT incident_id FROM events WHERE unit = $1 AND seq IN ($2, $3)", unit, seq, seq + 1)
    assert [r["incident_id"] for r in stored] == [world.scene.incident]
    assert await db.fetchval("SELECT count(*) FROM events WHERE incident_id = $1", other.incident) == 0


async def _next(ws: Any, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = msgspec.json.decode(await ws.recv())
        if wanted(frame):
            return frame
