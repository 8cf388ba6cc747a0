"""Stopping tasks for sure.

On Python 3.11, ``asyncio.wait_for`` loses a cancellation that arrives as the call it waits for completes (CPython
gh-86296, fixed in 3.12 by rewriting it on ``asyncio.timeout``). redis-py wraps every socket write in ``wait_for``
when a socket timeout is set, so a task cancelled during a Redis command sometimes goes on as if nothing had
happened: a process once did not stop because its live-state check lost its cancellation and slept on for ever.
Whoever stops a task therefore cancels it again until it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Final

log = logging.getLogger("prealert.tasks")

AGAIN_AFTER_S: Final = 0.5  # a cancellation that was lost is sent again after this
GIVE_UP_AFTER: Final = 20  # cancellations; a task that outlives them ignores them on purpose (a defect): logged


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[object]], *, ignore: tuple[type[BaseException], ...] = ()
) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again any that go on. An exception a task ended
    with is raised here unless it is of a type in ``ignore``; a cancelled task raises nothing."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for _ in range(GIVE_UP_AFTER):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=AGAIN_AFTER_S)
    else:
        if pending:
            log.error("tasks ignored cancellation", extra={"tasks": sorted(task.get_name() for task in pending)})
    for task in tasks:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None and not isinstance(error, ignore):
            raise error
