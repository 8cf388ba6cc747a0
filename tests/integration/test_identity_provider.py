"""Tokens from an external identity provider (RS256, verified against its JWKS served over real HTTP), and what an
ED may still see after a patient is handed over or re-routed (a service with a short "recently handed over")."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect

from dispatch.protocol import CloseCode
from prealert.client import subprotocols
from prealert.harness import Backends, Service, free_port
from tests import authkit
from tests.conftest import REGION, Scene, iso, make_scene, start_service, token, transfer_care

ISSUER = "https://idp.test/realms/ems"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Jwks(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    _Jwks.body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/protocol/openid-connect/certs"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def idp_service(backends: Backends, jwks_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = start_service(
        backends,
        Path(tmp_path_factory.mktemp("idp")),
        PREALERT_JWKS_URL=jwks_url,
        PREALERT_OIDC_ISSUER=ISSUER,
        PREALERT_ED_RECENT_HANDOVER_MIN="0.1",  # six seconds
    )
    try:
        yield running
    finally:
        running.stop()


def _idp_token(key: Any = KEY, *, kid: str = "k1", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "prealert",
        "sub": "f3c1-dispatcher-in-the-idp",
        "prealert_role": "dispatcher",
        "region": REGION,
        "iat": now,
        "exp": now + 300,
        "jti": f"idp-{now}-{id(changes)}",
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256", headers={"kid": kid})


def _hs256(claims: dict[str, Any], key: bytes) -> str:
    def segment(raw: bytes) -> bytes:
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    header = segment(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    signing = header + b"." + segment(json.dumps(claims).encode())
    return (signing + b"." + segment(hmac.new(key, signing, hashlib.sha256).digest())).decode()


async def test_identity_provider_tokens_are_verified_against_its_jwks(idp_service: Service) -> None:
    good = await authkit.call(idp_service, "GET", "/v1/incidents", _idp_token())
    assert good.status_code == 200, good.text
    me = (await authkit.call(idp_service, "GET", "/v1/auth/me", _idp_token())).json()
    assert me["subject"] == "f3c1-dispatcher-in-the-idp" and me["role"] == "dispatcher"
    url = f"{idp_service.ws}/v1/dispatch/socket?after=now"
    assert await authkit.socket_outcome(url, _idp_token()) == authkit.OPEN
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    # The classic confusion: HS256 "signed" with the provider's public key (PyJWT will not make one: by hand).
    claims = jwt.decode(_idp_token(), options={"verify_signature": False})
    confused = _hs256(claims, public_pem)
    refused = {
        "another key, same kid": _idp_token(OTHER_KEY),
        "unknown kid": _idp_token(kid="k9"),
        "wrong audience": _idp_token(aud="someone-else"),
        "no audience": _idp_token(aud=None),
        "wrong issuer": _idp_token(iss="https://evil.example"),
        "expired": _idp_token(exp=now - 1),
        "HS256 with the public key": confused,
    }
    for case, raw in refused.items():
        answer = await authkit.call(idp_service, "GET", "/v1/incidents", raw)
        assert answer.status_code == 401, case
        assert await authkit.socket_outcome(url, raw) == CloseCode.UNAUTHENTICATED, case
    wrong_scope = await authkit.call(idp_service, "GET", "/v1/incidents", _idp_token(region="gotham"))
    assert wrong_scope.status_code == 403
    # Our own tokens still work beside the provider's, and revoking a person covers the provider's tokens too.
    assert (await authkit.call(idp_service, "GET", "/v1/incidents", token("dispatcher", REGION))).status_code == 200
    kept = _idp_token(sub="to-be-revoked")
    assert (await authkit.call(idp_service, "GET", "/v1/incidents", kept)).status_code == 200
    revoke = {"kind": "subject", "id": "to-be-revoked"}
    assert (
        await authkit.call(idp_service, "POST", "/v1/admin/revocations", authkit.admin(), revoke)
    ).status_code == 204
    assert (await authkit.call(idp_service, "GET", "/v1/incidents", kept)).status_code == 401


async def _hand_over(service: Service, scene: Scene) -> None:
    tablet = scene.tablet(service)
    await tablet.connect()
    await tablet.send(scene.vitals(hr=91))
    seq = await tablet.send(
        {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "at_destination"}
    )
    await tablet.wait_acked(seq)
    await tablet.close()
    await transfer_care(service, scene)


async def _feed_incidents(service: Service, hospital: str, after: str, seconds: float = 1.0) -> set[int]:
    """The incidents whose events a dashboard replaying from ``after`` is sent."""
    seen: set[int] = set()
    url = f"{service.ws}/v1/hospitals/{hospital}/feed?after={after}"
    async with connect(url, subprotocols=subprotocols(token("ed", hospital))) as ws:
        try:
            while True:
                frame = msgspec.json.decode(await asyncio.wait_for(ws.recv(), seconds))
                if frame["type"] == "event" and frame["event"].get("incident") is not None:
                    seen.add(frame["event"]["incident"])
        except TimeoutError:
            pass
    return seen


async def _tail(service: Service, hospital: str) -> str:
    url = f"{service.ws}/v1/hospitals/{hospital}/feed?after=now"
    async with connect(url, subprotocols=subprotocols(token("ed", hospital))) as ws:
        hello = msgspec.json.decode(await ws.recv())
    after: str = hello["after"]
    return after


async def test_an_ed_sees_a_handed_over_patient_only_for_a_while(idp_service: Service) -> None:
    hospital = "upmc-mercy"
    start = await _tail(idp_service, hospital)
    scene = await make_scene(idp_service, hospital)
    await _hand_over(idp_service, scene)
    ed = token("ed", hospital)
    ecgs = f"/v1/hospitals/{hospital}/incidents/{scene.incident}/ecgs"
    assert (await authkit.call(idp_service, "GET", ecgs, ed)).status_code == 200
    assert scene.incident in await _feed_incidents(idp_service, hospital, start)
    today = (await authkit.call(idp_service, "GET", f"/v1/hospitals/{hospital}/incidents", ed)).json()
    assert scene.incident in {row["id"] for row in today}
    await asyncio.sleep(6.5)
    late = await authkit.call(idp_service, "GET", ecgs, ed)
    assert late.status_code == 403 and "not inbound" in late.json()["reason"]
    assert scene.incident not in await _feed_incidents(idp_service, hospital, start)
    today = (await authkit.call(idp_service, "GET", f"/v1/hospitals/{hospital}/incidents", ed)).json()
    assert scene.incident not in {row["id"] for row in today}


async def test_a_rerouted_patient_leaves_the_first_eds_feed(service: Service) -> None:
    first, second = "upmc-mercy", "upmc-presbyterian"
    start = await _tail(service, first)
    scene = await make_scene(service, first)
    tablet = scene.tablet()
    await tablet.connect()
    await tablet.wait_acked(await tablet.send(scene.vitals(hr=101)))
    assert scene.incident in await _feed_incidents(service, first, start, seconds=1.0)
    rerouted = await authkit.call(
        service,
        "POST",
        f"/v1/incidents/{scene.incident}/destination",
        token("dispatcher", REGION),
        {"hospital": second, "reason_code": "4220015"},
    )
    assert rerouted.status_code == 200, rerouted.text
    await tablet.wait_acked(await tablet.send(scene.vitals(hr=99)))
    await tablet.close()
    assert scene.incident not in await _feed_incidents(service, first, start, seconds=1.0)
    assert scene.incident in await _feed_incidents(service, second, start, seconds=1.0)
    ecgs = f"/v1/hospitals/{first}/incidents/{scene.incident}/ecgs"
    assert (await authkit.call(service, "GET", ecgs, token("ed", first))).status_code == 403
