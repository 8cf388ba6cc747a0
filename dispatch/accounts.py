"""People's and machines' accounts: sign-in with an argon2id-hashed password, short-lived access tokens with a
rotating refresh secret, sign-out, revocation, and the crews of units (a tablet is bound to its crew's unit).

- ``sign_in`` checks the password (in a thread: argon2 is slow on purpose) and opens a session: an access token
  (minutes) and a refresh token ``<session>.<secret>`` (hours; only the secret's SHA-256 is stored).
- ``refresh`` swaps a refresh token for a new pair; the old secret stops working. A refresh secret used twice means it
  was copied: the whole session is revoked.
- A crew change revokes the sessions of everyone taken off the unit, and their open sockets close within seconds.
- Failed sign-ins are counted per account and per address (ten times the limit: an ED shares one); past the
  limit, sign-in is refused for the rest of the window, even with the right password.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import argon2

from dispatch import tokens
from dispatch.errors import AuthError, ConflictError, ForbiddenError, NotFoundError, ProtocolError
from dispatch.pg import Pool
from dispatch.redis_client import RedisClient
from dispatch.revocation import Revocations

_HASHER: Final = argon2.PasswordHasher()  # argon2id, the library's (RFC 9106 low-memory) parameters
# Compared against when the account does not exist, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH: Final = _HASHER.hash(secrets.token_urlsafe(16))


class TooManyAttempts(ForbiddenError):
    """Sign-in refused for a while after too many failures (HTTP 429)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


async def create_account(
    pool: Pool,
    username: str,
    role: tokens.Role,
    password: str,
    scope: str | None,
    *,
    region: str,
    hospitals: frozenset[str],
) -> None:
    """A new account; its scope is the hospital for ED roles and hospital systems, the region for the others, and
    none for a paramedic (bound to a unit at each sign-in)."""
    if role not in tokens.ROLES:
        raise ProtocolError("invalid_field", f"unknown role {role!r}", field="role")
    if tokens.SCOPE_CLAIM[role] == "hospital" and scope not in hospitals:
        raise ProtocolError("invalid_field", f"{role} needs a hospital of the region", field="scope")
    if tokens.SCOPE_CLAIM[role] == "region":
        scope = region
    if role == "paramedic":
        scope = None
    if len(password) < 12:
        raise ProtocolError("invalid_field", "a password needs at least 12 characters", field="password")
    hashed = await asyncio.to_thread(hash_password, password)
    inserted = await pool.fetchval(
        "INSERT INTO accounts (username, role, scope, password_hash) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING username",
        username,
        role,
        scope,
        hashed,
    )
    if inserted is None:
        raise ConflictError(f"account {username!r} exists")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenPair:
    username: str
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    role: str
    scope: str


@dataclass(frozen=True, slots=True)
class Limits:
    access_ttl: timedelta
    refresh_ttl: timedelta
    attempts: int
    window: timedelta


class Accounts:
    def __init__(
        self,
        *,
        pool: Pool,
        redis: RedisClient,
        secret: str,
        revocations: Revocations,
        limits: Limits,
        region: str,
        hospitals: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._secret = secret
        self._revocations = revocations
        self._limits = limits
        self._region = region
        self._hospitals = hospitals
        self._clock = clock

    # Accounts

    async def create(self, username: str, role: tokens.Role, password: str, scope: str | None = None) -> None:
        await create_account(
            self._pool, username, role, password, scope, region=self._region, hospitals=self._hospitals
        )

    async def disable(self, username: str) -> None:
        found = await self._pool.fetchval(
            "UPDATE accounts SET disabled = true WHERE username = $1 RETURNING username", username
        )
        if found is None:
            raise NotFoundError("account", username)
        await self._revoke_sessions("username = $1", username, reason="account disabled")
        await self._revocations.revoke(f"sub:{username}")

    # Crews

    async def set_crew(self, unit: str, members: list[str]) -> list[str]:
        """The unit's crew is now ``members`` (paramedic accounts); whoever left it is signed out of the unit."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetch(
                "SELECT username FROM accounts WHERE username = ANY($1) AND role = 'paramedic' AND NOT disabled",
                members,
            )
            missing = sorted(set(members) - {r["username"] for r in found})
            if missing:
                raise ProtocolError("invalid_field", f"not paramedic accounts: {', '.join(missing)}", field="members")
            await conn.execute("DELETE FROM unit_crews WHERE unit = $1 AND NOT username = ANY($2)", unit, members)
            await conn.executemany(
                "INSERT INTO unit_crews (unit, username) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                [(unit, m) for m in members],
            )
        await self._revoke_sessions(
            "role = 'paramedic' AND scope = $1 AND NOT username = ANY($2)", unit, members, reason="crew change"
        )
        return sorted(members)

    async def crew(self, unit: str) -> list[str]:
        rows = await self._pool.fetch("SELECT username FROM unit_crews WHERE unit = $1 ORDER BY username", unit)
        return [r["username"] for r in rows]

    # Sessions

    async def sign_in(self, username: str, password: str, *, unit: str | None, source: str) -> TokenPair:
        await self._check_attempts(username, source)
        row = await self._pool.fetchrow(
            "SELECT role, scope, password_hash, disabled FROM accounts WHERE username = $1", username
        )
        matches = await asyncio.to_thread(password_matches, row["password_hash"] if row else _DUMMY_HASH, password)
        if row is None or not matches or row["disabled"]:
            await self._count_failure(username, source)
            raise AuthError("wrong username or password")
        role: tokens.Role = row["role"]
        scope: str = row["scope"]
        if role == "paramedic":
            if not unit:
                raise ProtocolError("invalid_field", "a paramedic signs in to a unit", field="unit")
            if username not in await self.crew(unit):
                raise ForbiddenError(f"{username} is not on the crew of {unit}")
            scope = unit
        session = secrets.token_urlsafe(16)
        refresh_secret = secrets.token_urlsafe(32)
        now = self._clock()
        await self._pool.execute(
            "INSERT INTO auth_sessions (id, username, role, scope, created_at, refresh_hash, refresh_expires) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            session,
            username,
            role,
            scope,
            now,
            _digest(refresh_secret),
            now + self._limits.refresh_ttl,
        )
        await self._redis.delete(self._attempts_key("user", username))
        return self._pair(username, role, scope, session, refresh_secret, now)

    async def refresh(self, refresh_token: str) -> TokenPair:
        session, _, refresh_secret = refresh_token.partition(".")
        now = self._clock()
        new_secret = secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT s.username, s.role, s.scope, s.refresh_hash, s.refresh_expires, s.revoked_at, a.disabled "
                "FROM auth_sessions s JOIN accounts a USING (username) WHERE s.id = $1 FOR UPDATE OF s",
                session,
            )
            if row is None or row["revoked_at"] is not None or row["disabled"]:
                raise AuthError("refresh token revoked or unknown")
            if not hmac.compare_digest(row["refresh_hash"], _digest(refresh_secret)):
                reuse = True
            elif row["refresh_expires"] <= now:
                raise AuthError("refresh token expired")
            else:
                reuse = False
                await conn.execute(
                    "UPDATE auth_sessions SET refresh_hash = $2, refresh_expires = $3 WHERE id = $1",
                    session,
                    _digest(new_secret),
                    now + self._limits.refresh_ttl,
                )
        if reuse:
            # An old refresh secret came back: someone holds a copy. End the session for everyone holding it.
            await self.sign_out(session, reason="refresh token reused")
            raise AuthError("refresh token already used; the session is revoked")
        return self._pair(row["username"], row["role"], row["scope"], session, new_secret, now)

    async def sign_out(self, session: str, *, reason: str = "signed out") -> None:
        await self._revoke_sessions("id = $1", session, reason=reason)

    async def _revoke_sessions(self, where: str, *args: object, reason: str) -> None:
        rows = await self._pool.fetch(
            f"UPDATE auth_sessions SET revoked_at = now(), revoked_reason = ${len(args) + 1} "
            f"WHERE revoked_at IS NULL AND {where} RETURNING id",
            *args,
            reason,
        )
        for row in rows:
            await self._revocations.revoke(f"sid:{row['id']}")

    def _pair(
        self, username: str, role: tokens.Role, scope: str, session: str, refresh_secret: str, now: datetime
    ) -> TokenPair:
        ttl = int(self._limits.access_ttl.total_seconds())
        access = tokens.issue(
            self._secret, role=role, scope=scope, subject=username, now=int(now.timestamp()), ttl_s=ttl, session=session
        )
        return TokenPair(
            username=username,
            access_token=access,
            refresh_token=f"{session}.{refresh_secret}",
            expires_in=ttl,
            role=role,
            scope=scope,
        )

    # Failed sign-ins

    @staticmethod
    def _attempts_key(kind: str, who: str) -> str:
        return f"pa:signin-failures:{kind}:{who}"

    async def _check_attempts(self, username: str, source: str) -> None:
        # An address may fail ten times as often as an account: many people sign in from one ED's network.
        limits = ((self._attempts_key("user", username), 1), (self._attempts_key("addr", source), 10))
        for key, times in limits:
            failures = int(await self._redis.get(key) or 0)
            if failures >= self._limits.attempts * times:
                raise TooManyAttempts(max(1, int(await self._redis.ttl(key))))

    async def _count_failure(self, username: str, source: str) -> None:
        window = int(self._limits.window.total_seconds())
        for key in (self._attempts_key("user", username), self._attempts_key("addr", source)):
            async with self._redis.pipeline(transaction=True) as pipe:  # one key per transaction: one Cluster shard
                pipe.set(key, 0, ex=window, nx=True)  # the window starts at the first failure (no EXPIRE NX in 6.2)
                pipe.incr(key)
                await pipe.execute()
