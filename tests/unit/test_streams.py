from __future__ import annotations

import asyncio

from dispatch.streams import Subscriber, id_key


def test_a_full_queue_marks_the_subscriber_overflowed_and_drops_nothing_silently() -> None:
    subscriber = Subscriber(asyncio.Queue(maxsize=2))
    subscriber.offer(("1-0", b"{}"))
    subscriber.offer(("2-0", b"{}"))
    assert not subscriber.overflowed.is_set()
    subscriber.offer(("3-0", b"{}"))  # no room: the subscriber must reconnect and resume from "2-0"
    assert subscriber.overflowed.is_set()
    subscriber.offer(("4-0", b"{}"))
    assert [subscriber.queue.get_nowait()[0] for _ in range(2)] == ["1-0", "2-0"]
    assert subscriber.queue.empty()


def test_stream_ids_sort_numerically() -> None:
    assert id_key("1700000000000-10") > id_key("1700000000000-9")
    assert id_key("1700000000001-0") > id_key("1700000000000-99")
    assert id_key("0-0") == (0, 0)
