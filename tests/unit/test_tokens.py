from __future__ import annotations

import jwt
import pytest

from dispatch import tokens
from dispatch.errors import AuthError, ForbiddenError

SECRET = "unit-test-secret-" * 5


def test_issue_and_verify_round_trip() -> None:
    raw = tokens.issue(SECRET, role="paramedic", scope="M1", subject="alice", now=1000, ttl_s=60)
    who = tokens.verify(SECRET, raw, now=1059)
    assert (who.role, who.scope, who.subject) == ("paramedic", "M1", "alice")
    assert tokens.require(who, "paramedic", "M1") is who


def test_expiry_boundary() -> None:
    raw = tokens.issue(SECRET, role="ed", scope="west-penn", subject="x", now=1000, ttl_s=60)
    tokens.verify(SECRET, raw, now=1059)
    with pytest.raises(AuthError, match="token expired"):
        tokens.verify(SECRET, raw, now=1060)


@pytest.mark.parametrize("raw", [None, "", "abc", "a.b.c"])
def test_missing_or_malformed(raw: str | None) -> None:
    with pytest.raises(AuthError):
        tokens.verify(SECRET, raw, now=0)


def test_wrong_algorithm_is_refused() -> None:
    claims = {
        "iss": "prealert",
        "sub": "x",
        "role": "paramedic",
        "unit": "M1",
        "iat": 0,
        "exp": 10**10,
        "jti": "1",
    }
    unsigned = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(AuthError, match="invalid token"):
        tokens.verify(SECRET, unsigned, now=1)
    hs512 = jwt.encode(claims, SECRET, algorithm="HS512")
    with pytest.raises(AuthError, match="invalid token"):
        tokens.verify(SECRET, hs512, now=1)


def test_scope_and_role_are_enforced() -> None:
    who = tokens.verify(SECRET, tokens.issue(SECRET, role="paramedic", scope="M1", subject="a", now=0, ttl_s=99), now=1)
    with pytest.raises(ForbiddenError, match="not 'M2'"):
        tokens.require(who, "paramedic", "M2")
    with pytest.raises(ForbiddenError, match="role paramedic"):
        tokens.require(who, "ed", "M1")


def test_a_token_without_its_scope_claim_is_refused() -> None:
    claims = {"iss": "prealert", "sub": "x", "role": "ed", "unit": "M1", "iat": 0, "exp": 10**10, "jti": "1"}
    with pytest.raises(AuthError, match="no role scope"):
        tokens.verify(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"), now=1)
