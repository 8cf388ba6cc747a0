"""Tells this process's tablet sockets that their unit's incident changed (Redis pub/sub, one connection per process).

Pub/sub may miss a message while a connection is down; that is safe because every tablet (re)connect starts with a
``hello`` that carries the unit's current incident.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from redis.exceptions import RedisError

from dispatch.live import NOTIFY_PATTERN
from dispatch.redis_client import RedisClient

log = logging.getLogger("prealert.notify")
Notice = tuple[str, int]  # ("assignment" | "recommendation" | "ack" | "patient" | "outcome", incident)


class UnitNotifier:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._listeners: defaultdict[str, set[asyncio.Queue[Notice]]] = defaultdict(set)

    def listen(self, unit: str) -> asyncio.Queue[Notice]:
        queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=100)
        self._listeners[unit].add(queue)
        return queue

    def forget(self, unit: str, queue: asyncio.Queue[Notice]) -> None:
        self._listeners[unit].discard(queue)
        if not self._listeners[unit]:
            del self._listeners[unit]

    async def run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                log.warning("unit notifications interrupted, resubscribing", extra={"error": str(exc)})
                await asyncio.sleep(0.5)

    async def _listen_once(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.psubscribe(NOTIFY_PATTERN)
            async for message in pubsub.listen():
                if message["type"] == "pmessage":
                    kind, _, incident = message["data"].decode().partition(":")
                    self._deliver(message["channel"].decode().split(":")[2], (kind, int(incident)))

    def _deliver(self, unit: str, notice: Notice) -> None:
        for queue in self._listeners.get(unit, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(notice)
