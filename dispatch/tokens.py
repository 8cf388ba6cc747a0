"""Signed, expiring access tokens (JWT, HS256), each scoped to one unit, hospital or region.

Pure apart from the clock, which is an argument. ``verify`` raises ``AuthError`` for a missing, malformed, tampered,
wrong-algorithm or expired token, and ``ForbiddenError`` when a valid token is used outside its scope.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final, Literal

import jwt

from dispatch.errors import AuthError, ForbiddenError

Role = Literal["paramedic", "dispatcher", "ed"]
ALGORITHM: Final = "HS256"
ISSUER: Final = "prealert"
_SCOPE_CLAIM: Final[dict[str, str]] = {"paramedic": "unit", "dispatcher": "region", "ed": "hospital"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role and the one unit, region or hospital it may act for."""

    subject: str
    role: Role
    scope: str
    token_id: str


def issue(secret: str, *, role: Role, scope: str, subject: str, now: int, ttl_s: int) -> str:
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "role": role,
        _SCOPE_CLAIM[role]: scope,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str | None, *, now: int) -> Principal:
    if not token:
        raise AuthError("no token")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "role", "jti"], "verify_exp": False},
        )
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    if int(claims["exp"]) <= now:
        raise AuthError("token expired")
    role = claims["role"]
    if role not in _SCOPE_CLAIM or not isinstance(claims.get(_SCOPE_CLAIM[role]), str):
        raise AuthError("invalid token: no role scope")
    return Principal(
        subject=str(claims["sub"]), role=role, scope=claims[_SCOPE_CLAIM[role]], token_id=str(claims["jti"])
    )


def require(principal: Principal, role: Role, scope: str | None = None) -> Principal:
    """Refuse a principal of another role, or of this role for another unit, region or hospital."""
    if principal.role != role:
        raise ForbiddenError(f"role {principal.role} may not do this")
    if scope is not None and principal.scope != scope:
        raise ForbiddenError(f"token is for {_SCOPE_CLAIM[role]} {principal.scope!r}, not {scope!r}")
    return principal
