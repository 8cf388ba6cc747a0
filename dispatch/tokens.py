"""Access tokens (JWT): our own, signed HS256 with the service's secret, or an external identity provider's, signed
RS256/ES256 and verified against its JWKS. Each names one role and the one unit, hospital or region it acts for.

Pure apart from the clock (an argument) and, for external tokens, the JWKS key lookup (an argument). ``verify``
raises ``AuthError`` for a missing, malformed, tampered, wrong-algorithm, wrong-issuer or expired token, and
``require`` raises ``ForbiddenError`` when a valid token is used outside its role or scope.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import jwt

from dispatch.errors import AuthError, ForbiddenError

Role = Literal["paramedic", "dispatcher", "ed", "ed_charge", "hospital_system", "researcher", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
ALGORITHM: Final = "HS256"
EXTERNAL_ALGORITHMS: Final = ("RS256", "ES256")
ISSUER: Final = "prealert"
# The claim that names each role's scope: a paramedic's unit (the tablet's binding), an ED's hospital, else the region.
SCOPE_CLAIM: Final[dict[Role, str]] = {
    "paramedic": "unit",
    "dispatcher": "region",
    "ed": "hospital",
    "ed_charge": "hospital",
    "hospital_system": "hospital",
    "researcher": "region",
    "admin": "region",
}
ED_STAFF: Final[frozenset[Role]] = frozenset({"ed", "ed_charge"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role and the one unit, region or hospital it may act for, and which token says so."""

    subject: str
    role: Role
    scope: str
    token_id: str
    issued_at: int = 0
    expires_at: int = 0
    session: str | None = None  # the sign-in session (refreshable, revocable as a whole); None for a minted token


@dataclass(frozen=True, slots=True)
class ExternalIssuer:
    """An identity provider whose tokens we accept: its issuer, our audience at it, and its signing keys by ``kid``.
    Its tokens carry the role in ``role_claim`` and the scope in the same claims as ours."""

    issuer: str
    audience: str
    key_for: Callable[[str], Any]  # the verifying key for the token's kid, from keys already fetched
    role_claim: str = "prealert_role"


def issue(
    secret: str, *, role: Role, scope: str, subject: str, now: int, ttl_s: int, session: str | None = None
) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role,
        SCOPE_CLAIM[role]: scope,
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    if session is not None:
        claims["sid"] = session
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str | None, *, now: int, external: ExternalIssuer | None = None) -> Principal:
    if not token:
        raise AuthError("no token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    algorithm = header.get("alg")
    if algorithm == ALGORITHM:
        claims = _decode(token, secret, [ALGORITHM], issuer=ISSUER, audience=None)
        role_claim = "role"
    elif external is not None and algorithm in EXTERNAL_ALGORITHMS:
        try:
            key = external.key_for(token)  # raises AuthError for a kid it does not hold
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        claims = _decode(token, key, list(EXTERNAL_ALGORITHMS), issuer=external.issuer, audience=external.audience)
        role_claim = external.role_claim
    else:
        raise AuthError(f"invalid token: algorithm {algorithm!r} is not accepted")
    if int(claims["exp"]) <= now:
        raise AuthError("token expired")
    role = claims.get(role_claim)
    if role not in SCOPE_CLAIM or not isinstance(claims.get(SCOPE_CLAIM[role]), str):
        raise AuthError("invalid token: no role scope")
    session = claims.get("sid")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        scope=claims[SCOPE_CLAIM[role]],
        token_id=str(claims["jti"]),
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
        session=session if isinstance(session, str) else None,
    )


def _decode(token: str, key: Any, algorithms: list[str], *, issuer: str, audience: str | None) -> dict[str, Any]:
    required = ["exp", "iat", "sub", "jti"] + (["aud"] if audience else [])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            options={"require": required, "verify_exp": False, "verify_aud": audience is not None},
        )
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    return claims


def require(principal: Principal, roles: Role | Collection[Role], scope: str | None = None) -> Principal:
    """Refuse a principal of another role, or of this role for another unit, region or hospital."""
    allowed = {roles} if isinstance(roles, str) else set(roles)
    if principal.role not in allowed:
        raise ForbiddenError(f"role {principal.role} may not do this")
    if scope is not None and principal.scope != scope:
        claim = SCOPE_CLAIM[principal.role]
        raise ForbiddenError(f"token is for {claim} {principal.scope!r}, not {scope!r}")
    return principal
