"""Credentials for tests that try to break in: expired, tampered, wrong-algorithm and foreign tokens, admin calls,
and what a socket answers (open, or its close code)."""

from __future__ import annotations

import asyncio
import base64
import time
import warnings
from typing import Any

import httpx
import jwt
import jwt.warnings
import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch import tokens
from prealert.client import subprotocols
from prealert.harness import Service
from tests.conftest import REGION, SECRET, token

OPEN = 0  # what socket_outcome says of a socket that was let in


def expired(role: tokens.Role, scope: str) -> str:
    return token(role, scope, ttl_s=60, now=int(time.time()) - 3600)


def tampered(role: tokens.Role, scope: str, *, to: str = "someone-else") -> str:
    header, payload, signature = token(role, scope).split(".")
    claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=="))
    claims[tokens.SCOPE_CLAIM[role]] = to
    forged = base64.urlsafe_b64encode(msgspec.json.encode(claims)).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _claims(role: tokens.Role, scope: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": tokens.ISSUER,
        "sub": f"forger-{role}",
        "role": role,
        tokens.SCOPE_CLAIM[role]: scope,
        "iat": now,
        "exp": now + 600,
        "jti": "forged",
    }


def unsigned(role: tokens.Role, scope: str) -> str:
    """``alg: none``: no signature at all."""
    return jwt.encode(_claims(role, scope), "", algorithm="none")


def wrong_algorithm(role: tokens.Role, scope: str) -> str:
    """Signed with our secret, but HS512: not the algorithm we accept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the forger does not care
        return jwt.encode(_claims(role, scope), SECRET, algorithm="HS512")


def foreign_rsa(role: tokens.Role, scope: str) -> str:
    """RS256 from a key nobody configured."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(role, scope), key, algorithm="RS256", headers={"kid": "unknown"})


def admin() -> str:
    return token("admin", REGION)


async def call(service: Service, method: str, path: str, bearer: str | None, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(base_url=service.http, timeout=10) as client:
        return await client.request(method, path, json=body, headers=headers)


async def revoked(service: Service, role: tokens.Role, scope: str) -> str:
    """A token an administrator has revoked."""
    raw = token(role, scope)
    jti = tokens.verify(SECRET, raw, now=int(time.time())).token_id
    response = await call(service, "POST", "/v1/admin/revocations", admin(), {"kind": "token", "id": jti})
    assert response.status_code == 204, response.text
    return raw


async def socket_outcome(url: str, bearer: str | None, *, origin: str | None = None, quiet_s: float = 1.5) -> int:
    """OPEN if the socket was let in (its first frame arrived, or it stayed open ``quiet_s`` without a word: a live
    strip says nothing until the monitor streams), else the close code it was refused with."""
    protocols = subprotocols(bearer) if bearer else subprotocols("x")[:1]
    headers = {"origin": origin} if origin else None
    async with connect(url, subprotocols=protocols, additional_headers=headers, open_timeout=10) as ws:
        try:
            await asyncio.wait_for(ws.recv(), quiet_s)
        except TimeoutError:
            return OPEN
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1
    return OPEN


async def closed_within(ws: Any, seconds: float) -> int:
    """Read until the server closes the socket; its close code (fails if it is still open after ``seconds``)."""

    async def until_closed() -> int:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else -1

    return await asyncio.wait_for(until_closed(), seconds)
