"""Live, resumable feeds over Redis streams: the ED feed of a hospital, the dispatchers' feed of a region.

One reader task per stream per process follows the stream and offers each entry to that process's subscribers (a
bounded queue each). A subscriber joins by registering its queue first, then replaying the stream after its last id,
then taking live entries, skipping any it already sent: registration before replay means nothing falls between the
two, the skip means nothing is sent twice.

Backpressure policy: a subscriber whose queue fills (it reads slower than events arrive, by a whole queue) is closed
with 4408; it reconnects with its last id and resumes from Redis. Its slowness costs the others nothing, memory stays
bounded, and it loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

from redis.exceptions import RedisError

from dispatch.live import FeedEntry, Live, entry_of, rebuilt_mark
from dispatch.tasks import cancel_and_wait

log = logging.getLogger("prealert.feed")
STREAM_ID: Final = re.compile(r"^\d{1,20}-\d{1,20}$")


def id_key(stream_id: str) -> tuple[int, int]:
    """A Redis stream id as a sortable pair."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[FeedEntry]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    restarted: asyncio.Event = field(default_factory=asyncio.Event)  # the stream's history was rebuilt

    def offer(self, entry: FeedEntry) -> None:
        if self.overflowed.is_set() or self.restarted.is_set():  # on its way out: it resumes from its last id
            return
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            log.info("subscriber queue full", extra={"size": self.queue.maxsize})
            self.overflowed.set()


class StreamFollower:
    """Follows one stream for every subscriber of it in this process."""

    def __init__(self, live: Live, key: str) -> None:
        self._live = live
        self.key = key
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        cursor = await self._live.stream_tail(self.key)
        self._task = asyncio.create_task(self._follow(cursor))

    def stopping(self) -> bool:
        return self._stopping

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            # redis-py may turn the cancellation of a blocking read into its own TimeoutError
            await cancel_and_wait([self._task], ignore=(RedisError,))

    async def _follow(self, cursor: str) -> None:
        key = self.key
        restarted_for: str | None = None  # the rebuild this follower's subscribers were restarted for
        while not self.stopping():
            try:
                reply: Any = await self._live.readers.xread(
                    {key: cursor}, count=1000, block=2000
                )  # under redis-py's 5 s socket timeout
            except (RedisError, OSError) as exc:
                if self.stopping():  # the cancellation came back as redis-py's own error: stop, do not retry
                    return
                log.warning("stream reader lost redis, retrying", extra={"stream": key, "error": str(exc)})
                await asyncio.sleep(0.5)
                continue
            for _, raw_entries in reply:
                for entry_id, fields in raw_entries:
                    mark = rebuilt_mark(fields)
                    if mark is not None and mark != restarted_for:
                        # A history made again after Redis lost it (``Rebuilder``), not new events: every subscriber
                        # must start over (told ``reset`` when it resumes with its last id), not receive it twice.
                        restarted_for = mark
                        for subscriber in list(self.subscribers):
                            subscriber.restarted.set()
                    entry = entry_of(entry_id, fields)
                    cursor = entry[0]
                    for subscriber in list(self.subscribers):
                        subscriber.offer(entry)


class StreamHub:
    def __init__(self, live: Live, *, queue_size: int) -> None:
        self._live = live
        self._queue_size = queue_size
        self._feeds: dict[str, StreamFollower] = {}
        self._lock = asyncio.Lock()

    async def subscribe(self, key: str) -> Subscriber:
        subscriber = Subscriber(asyncio.Queue(maxsize=self._queue_size))
        async with self._lock:
            feed = self._feeds.get(key)
            if feed is None:
                feed = self._feeds[key] = StreamFollower(self._live, key)
                await feed.start()
            feed.subscribers.add(subscriber)
        return subscriber

    async def unsubscribe(self, key: str, subscriber: Subscriber) -> None:
        async with self._lock:
            feed = self._feeds.get(key)
            if feed is None:
                return
            feed.subscribers.discard(subscriber)
            if not feed.subscribers:
                del self._feeds[key]
                await feed.stop()

    async def close(self) -> None:
        async with self._lock:
            for feed in self._feeds.values():
                await feed.stop()
            self._feeds.clear()
