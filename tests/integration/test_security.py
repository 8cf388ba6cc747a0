"""Identity, revocation and hardening against a real service: sign-in with argon2, refresh rotation and reuse,
revocation and crew changes closing open sockets within seconds, limits, origins, headers, and the audit log."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time

import asyncpg
import pytest
from websockets.asyncio.client import connect

from dispatch.protocol import CloseCode
from prealert.client import subprotocols
from prealert.harness import Backends, Service
from tests.authkit import OPEN, admin, call, closed_within, socket_outcome
from tests.conftest import REGION, Scene, make_scene, token

PASSWORD = "correct horse battery staple"


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def _account(service: Service, role: str, scope: str | None = None) -> str:
    username = _name(role.replace("_", "-"))
    body = {"username": username, "role": role, "password": PASSWORD, "scope": scope}
    created = await call(service, "POST", "/v1/admin/accounts", admin(), body)
    assert created.status_code == 201, created.text
    return username


async def _sign_in(service: Service, username: str, password: str = PASSWORD, unit: str | None = None) -> dict:  # type: ignore[type-arg]
    response = await call(
        service, "POST", "/v1/auth/sign-in", None, {"username": username, "password": password, "unit": unit}
    )
    assert response.status_code == 200, response.text
    pair: dict = response.json()  # type: ignore[type-arg]
    return pair


@pytest.fixture(scope="module")
async def scene(service: Service) -> Scene:
    return await make_scene(service)


async def test_passwords_are_stored_as_argon2id(service: Service, db: asyncpg.Pool) -> None:
    username = await _account(service, "ed", "upmc-mercy")
    stored = await db.fetchval("SELECT password_hash FROM accounts WHERE username = $1", username)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_sign_in_refresh_rotation_and_reuse(service: Service) -> None:
    username = await _account(service, "ed_charge", "upmc-mercy")
    pair = await _sign_in(service, username)
    assert pair["role"] == "ed_charge" and pair["scope"] == "upmc-mercy" and 0 < pair["expires_in"] <= 15 * 60
    me = await call(service, "GET", "/v1/auth/me", pair["access_token"])
    assert me.json()["subject"] == username
    renewed = await call(service, "POST", "/v1/auth/refresh", None, {"refresh_token": pair["refresh_token"]})
    assert renewed.status_code == 200
    new = renewed.json()
    assert new["refresh_token"] != pair["refresh_token"]
    assert (await call(service, "GET", "/v1/auth/me", new["access_token"])).status_code == 200
    # The old refresh secret comes back: a copy exists. The session ends, for the copy and for the holder.
    reused = await call(service, "POST", "/v1/auth/refresh", None, {"refresh_token": pair["refresh_token"]})
    assert reused.status_code == 401 and "revoked" in reused.json()["reason"]
    assert (
        await call(service, "POST", "/v1/auth/refresh", None, {"refresh_token": new["refresh_token"]})
    ).status_code == 401
    refused = await call(service, "GET", "/v1/auth/me", new["access_token"])
    assert refused.status_code == 401 and "revoked" in refused.json()["reason"]


async def test_wrong_passwords_then_the_limit(service: Service) -> None:
    username = await _account(service, "dispatcher")
    for _ in range(5):
        wrong = await call(service, "POST", "/v1/auth/sign-in", None, {"username": username, "password": "x" * 12})
        assert wrong.status_code == 401 and wrong.json()["reason"] == "wrong username or password"
    blocked = await call(service, "POST", "/v1/auth/sign-in", None, {"username": username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
    unknown = await call(service, "POST", "/v1/auth/sign-in", None, {"username": "nobody-at-all", "password": PASSWORD})
    assert unknown.status_code == 401 and unknown.json()["reason"] == "wrong username or password"


async def test_sign_out_closes_the_open_feed_within_seconds(service: Service, scene: Scene) -> None:
    username = await _account(service, "ed", scene.hospital)
    pair = await _sign_in(service, username)
    url = f"{service.ws}/v1/hospitals/{scene.hospital}/feed?after=now"
    async with connect(url, subprotocols=subprotocols(pair["access_token"])) as ws:
        assert "feed_hello" in str(await ws.recv())
        started = time.monotonic()
        assert (await call(service, "POST", "/v1/auth/sign-out", pair["access_token"])).status_code == 204
        assert await closed_within(ws, 5) == CloseCode.UNAUTHENTICATED
        assert time.monotonic() - started < 5
    assert await socket_outcome(url, pair["access_token"]) == CloseCode.UNAUTHENTICATED


async def test_an_administrator_revokes_a_token_on_an_open_tablet(service: Service, scene: Scene) -> None:
    raw = token("paramedic", scene.unit)
    from dispatch import tokens
    from tests.conftest import SECRET

    jti = tokens.verify(SECRET, raw, now=int(time.time())).token_id
    async with connect(f"{service.ws}/v1/units/{scene.unit}/socket", subprotocols=subprotocols(raw)) as ws:
        assert "hello" in str(await ws.recv())
        revoked = await call(service, "POST", "/v1/admin/revocations", admin(), {"kind": "token", "id": jti})
        assert revoked.status_code == 204
        assert await closed_within(ws, 5) == CloseCode.UNAUTHENTICATED


async def test_a_paramedic_binds_only_to_their_crews_unit_and_a_crew_change_signs_them_out(service: Service) -> None:
    scene = await make_scene(service)
    first, second = await _account(service, "paramedic"), await _account(service, "paramedic")
    dispatcher = token("dispatcher", REGION)
    crew = await call(service, "PUT", f"/v1/units/{scene.unit}/crew", dispatcher, {"members": [first]})
    assert crew.status_code == 200 and crew.json()["members"] == [first]
    outsider = await call(
        service, "POST", "/v1/auth/sign-in", None, {"username": second, "password": PASSWORD, "unit": scene.unit}
    )
    assert outsider.status_code == 403 and "not on the crew" in outsider.json()["reason"]
    no_unit = await call(service, "POST", "/v1/auth/sign-in", None, {"username": first, "password": PASSWORD})
    assert no_unit.status_code == 422 and no_unit.json()["field"] == "unit"
    pair = await _sign_in(service, first, unit=scene.unit)
    assert pair["role"] == "paramedic" and pair["scope"] == scene.unit
    other_unit = await socket_outcome(f"{service.ws}/v1/units/{scene.unit}x/socket", pair["access_token"])
    assert other_unit == CloseCode.FORBIDDEN
    async with connect(
        f"{service.ws}/v1/units/{scene.unit}/socket", subprotocols=subprotocols(pair["access_token"])
    ) as ws:
        assert "hello" in str(await ws.recv())
        change = await call(service, "PUT", f"/v1/units/{scene.unit}/crew", dispatcher, {"members": [second]})
        assert change.status_code == 200
        assert await closed_within(ws, 5) == CloseCode.UNAUTHENTICATED
    assert (await _sign_in(service, second, unit=scene.unit))["scope"] == scene.unit
    paramedic_tries = await call(service, "PUT", f"/v1/units/{scene.unit}/crew", pair["access_token"], {"members": []})
    assert paramedic_tries.status_code == 401  # its session was revoked by the crew change


async def test_a_token_holds_a_limited_number_of_sockets(service: Service, scene: Scene) -> None:
    raw = token("ed", scene.hospital)
    url = f"{service.ws}/v1/hospitals/{scene.hospital}/feed?after=now"
    sockets = [await connect(url, subprotocols=subprotocols(raw)) for _ in range(4)]
    try:
        for ws in sockets:
            await ws.recv()
        assert await socket_outcome(url, raw) == CloseCode.TOO_MANY
        assert await socket_outcome(url, token("ed", scene.hospital)) == OPEN  # another token may
    finally:
        for ws in sockets:
            await ws.close()
    # Closed sockets give their places back (the server notices each close a moment after the client sends it).
    outcomes = [await socket_outcome(url, raw, quiet_s=0.2) for _ in range(3)]
    assert OPEN in outcomes and set(outcomes) <= {OPEN, CloseCode.TOO_MANY}


async def test_sockets_from_a_foreign_page_are_refused(service: Service, scene: Scene) -> None:
    url = f"{service.ws}/v1/hospitals/{scene.hospital}/feed?after=now"
    raw = token("ed", scene.hospital)
    assert await socket_outcome(url, raw, origin="https://evil.example") == CloseCode.FORBIDDEN
    assert await socket_outcome(url, raw, origin=service.http) == OPEN


async def test_request_bodies_are_limited(service: Service) -> None:
    big = {"complaint": "x" * (600 * 1024)}
    response = await call(service, "POST", "/v1/incidents", token("dispatcher", REGION), big)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


async def test_every_page_has_security_headers_and_no_inline_script(service: Service) -> None:
    import httpx
    from lxml import html

    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        for path in (
            "/tablet",
            "/console",
            "/dashboard",
            "/static/tablet.js",
            "/dashboard/dashboard.js",
            "/v1/hospitals",
        ):
            response = await client.get(path)
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert "frame-ancestors 'none'" in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            if path in ("/tablet", "/console", "/dashboard"):
                document = html.fromstring(response.content)
                scripts = list(document.iter("script"))
                assert scripts and all(s.get("src") and not (s.text or "").strip() for s in scripts)
                handlers = [a for el in document.iter() for a in el.attrib if str(a).lower().startswith("on")]
                assert handlers == []
                links = [el.get("href") or "" for el in document.iter() if el.get("href")]
                assert not [h for h in links if h.lower().startswith("javascript:")]
        api = await client.get("/v1/hospitals", headers={"authorization": f"Bearer {token('dispatcher', REGION)}"})
        assert api.headers["cache-control"] == "no-store"


async def test_reads_writes_and_refusals_are_audited(service: Service, scene: Scene, db: asyncpg.Pool) -> None:
    dispatcher = token("dispatcher", REGION)
    assert (await call(service, "GET", f"/v1/incidents/{scene.incident}", dispatcher)).status_code == 200
    assert (await call(service, "GET", f"/v1/incidents/{scene.incident}", token("ed", "west-penn"))).status_code == 403
    tablet = scene.tablet()
    await tablet.connect()
    seq = await tablet.send(scene.vitals(hr=88))
    await tablet.wait_acked(seq)
    await tablet.close()
    deadline = time.monotonic() + 5
    while True:
        found = await call(service, "GET", f"/v1/admin/audit?incident={scene.incident}&limit=1000", admin())
        entries = found.json()
        write = [
            e for e in entries if e["action"] == "write" and e["unit"] == scene.unit and e["detail"].get("seq") == seq
        ]
        if write or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    read = [e for e in entries if e["action"] == "read" and e["resource"] == "GET /v1/incidents/{incident}"]
    refused = [e for e in entries if (e["action"] == "refuse" and e["role"] == "none") or e["outcome"] == 403]
    assert read and read[-1]["actor"] == "test-dispatcher" and read[-1]["role"] == "dispatcher"
    assert read[-1]["purpose"] == "emergency dispatch" and read[-1]["source"] == "127.0.0.1"
    assert read[-1]["outcome"] == 200 and read[-1]["incident"] == scene.incident
    assert any(e["outcome"] == 403 and e["actor"] == "test-ed" for e in refused)
    assert write and write[0]["role"] == "paramedic" and write[0]["detail"]["type"] == "vitals"
    assert write[0]["purpose"] == "treatment"
    # Only administrators read the audit log (and the attempt is itself audited).
    assert (await call(service, "GET", "/v1/admin/audit", dispatcher)).status_code == 403
    bad = await call(service, "GET", "/v1/admin/audit?since=yesterday", admin())
    assert bad.status_code == 422 and bad.json()["field"] == "since"


async def test_the_audit_log_is_append_only(db: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("DELETE FROM audit_log WHERE seq = 1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 1")


def _verify(backends: Backends) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREALERT_DATABASE_URL": backends.database_url, "PREALERT_REDIS_URL": backends.redis_url}
    return subprocess.run(
        [sys.executable, "-m", "prealert", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )


async def test_the_verify_command_finds_a_tampered_entry(
    service: Service, backends: Backends, db: asyncpg.Pool
) -> None:
    # audited before the answer came back
    assert (await call(service, "GET", "/v1/incidents", token("dispatcher", REGION))).status_code == 200
    intact = await asyncio.to_thread(_verify, backends)
    assert intact.returncode == 0 and "audit log intact" in intact.stdout, intact.stdout + intact.stderr
    victim = await db.fetchrow("SELECT seq, actor FROM audit_log ORDER BY seq DESC LIMIT 1 OFFSET 3")
    assert victim is not None
    async with db.acquire() as conn, conn.transaction():  # what an intruder with the database's keys could do
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = $1", victim["seq"])
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    try:
        broken = await asyncio.to_thread(_verify, backends)
        assert broken.returncode == 1
        assert f"broken at entry {victim['seq']}" in broken.stdout and "changed" in broken.stdout
    finally:
        async with db.acquire() as conn, conn.transaction():
            await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            await conn.execute("UPDATE audit_log SET actor = $2 WHERE seq = $1", victim["seq"], victim["actor"])
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    assert (await asyncio.to_thread(_verify, backends)).returncode == 0


async def test_an_administrator_revokes_a_session(service: Service) -> None:
    username = await _account(service, "ed", "upmc-mercy")
    pair = await _sign_in(service, username)
    session = pair["refresh_token"].partition(".")[0]
    revoke = {"kind": "session", "id": session}
    assert (await call(service, "POST", "/v1/admin/revocations", admin(), revoke)).status_code == 204
    assert (await call(service, "GET", "/v1/auth/me", pair["access_token"])).status_code == 401
    refused = await call(service, "POST", "/v1/auth/refresh", None, {"refresh_token": pair["refresh_token"]})
    assert refused.status_code == 401 and "revoked" in refused.json()["reason"]
