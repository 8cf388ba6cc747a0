"""Revocation that reaches open sockets within seconds, in every process.

A revocation names a token (``jti:``), a sign-in session (``sid:``) or a person (``sub:``, every token of theirs
issued up to that moment). It is written to a Redis hash (so a process that starts later knows it) and published
(so running processes learn it at once); each process keeps the set in memory, re-reads the hash every few seconds
in case a message was missed, and wakes the sockets of the revoked principals, which close with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any, Final

from redis.exceptions import RedisError

from dispatch.errors import AuthError
from dispatch.redis_client import RedisClient
from dispatch.tasks import cancel_and_wait
from dispatch.tokens import Principal

log = logging.getLogger("prealert.revocation")
KEY: Final = "pa:revoked"
CHANNEL: Final = "pa:revoked"
POLL_S: Final = 2.0


def _names(principal: Principal) -> Iterator[str]:
    yield f"jti:{principal.token_id}"
    if principal.session:
        yield f"sid:{principal.session}"
    yield f"sub:{principal.subject}"


class Revocations:
    def __init__(self, redis: RedisClient, *, keep_s: int) -> None:
        self._redis = redis
        self._keep_s = keep_s  # the longest a token lives: older revocations can be forgotten
        self._revoked: dict[str, int] = {}  # name -> the moment (epoch s) it was revoked
        self._watchers: dict[Principal, set[asyncio.Event]] = {}

    def check(self, principal: Principal) -> None:
        if (reason := self.revoked(principal)) is not None:
            raise AuthError(reason)

    def revoked(self, principal: Principal) -> str | None:
        for name in _names(principal):
            at = self._revoked.get(name)
            if at is None:
                continue
            if name.startswith("sub:") and principal.issued_at > at:
                continue  # signed in again after the person's tokens were revoked
            return f"token revoked ({name.partition(':')[0]})"
        return None

    async def revoke(self, name: str, *, now: int | None = None) -> None:
        at = int(now if now is not None else time.time())
        await self._redis.hset(KEY, name, at)
        await self._redis.publish(CHANNEL, f"{name} {at}")
        self._learn(name, at)

    def watch(self, principal: Principal) -> asyncio.Event:
        """An event set when this principal is revoked (check ``revoked`` first; this only sees later ones)."""
        event = asyncio.Event()
        self._watchers.setdefault(principal, set()).add(event)
        return event

    def unwatch(self, principal: Principal, event: asyncio.Event) -> None:
        events = self._watchers.get(principal)
        if events is not None:
            events.discard(event)
            if not events:
                del self._watchers[principal]

    def _learn(self, name: str, at: int) -> None:
        if self._revoked.get(name) == at:
            return
        self._revoked[name] = at
        for principal, events in list(self._watchers.items()):
            if self.revoked(principal) is not None:
                for event in events:
                    event.set()

    async def load(self) -> None:
        raw: dict[Any, Any] = await self._redis.hgetall(KEY)
        cutoff = int(time.time()) - self._keep_s
        stale = []
        for name, at in raw.items():
            key, moment = name.decode() if isinstance(name, bytes) else str(name), int(at)
            if moment < cutoff:
                stale.append(key)
            else:
                self._learn(key, moment)
        if stale:
            await self._redis.hdel(KEY, *stale)

    async def run(self) -> None:
        """Follow revocations: published ones at once, and the whole set every ``POLL_S`` as a backstop."""
        listener = asyncio.create_task(self._listen())
        try:
            while True:
                with contextlib.suppress(RedisError, OSError):
                    await self.load()
                await asyncio.sleep(POLL_S)
        finally:
            await cancel_and_wait([listener], ignore=(RedisError,))

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        name, _, at = message["data"].decode().rpartition(" ")
                        self._learn(name, int(at))
            except (RedisError, OSError) as exc:
                log.warning("revocation channel lost, retrying", extra={"error": str(exc)})
                await asyncio.sleep(0.5)
