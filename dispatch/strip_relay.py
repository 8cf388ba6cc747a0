"""Passing live waveform chunks on, off the tablet sockets' path: a socket hands a chunk over and reads its next frame
at once (a vitals set is never behind a chunk's Redis round trip); one task per process publishes the chunks in
pipelined batches.

The queue is bounded: when Redis cannot keep up, new chunks are dropped (a gap in a live trace), never queued.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from redis.exceptions import RedisError

from dispatch.live import Live
from dispatch.metrics import STRIPS

log = logging.getLogger("prealert.strips")
BATCH: Final = 200

Item = tuple[str, int, bytes]  # unit, incident, the encoded StripChunk


class StripRelay:
    def __init__(self, live: Live, *, capacity: int = 2000) -> None:
        self._live = live
        self._queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=capacity)

    def offer(self, unit: str, incident: int, chunk: bytes) -> bool:
        """Queue a chunk for publishing; False (dropped) if the relay is a whole queue behind."""
        try:
            self._queue.put_nowait((unit, incident, chunk))
        except asyncio.QueueFull:
            STRIPS.labels(outcome="relay_full").inc()
            return False
        return True

    async def run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                outcomes = await self._live.publish_strips(items)
            except (RedisError, OSError) as exc:  # a live trace skips; nothing to retry
                STRIPS.labels(outcome="redis_error").inc(len(items))
                log.warning("strip chunks not published", extra={"chunks": len(items), "error": repr(exc)})
                continue
            for outcome in outcomes:
                STRIPS.labels(outcome=outcome).inc()
