"""Stopping tasks for sure, even one that lost its cancellation (Python 3.11's ``wait_for``, used by redis-py)."""

from __future__ import annotations

import asyncio

import pytest

from dispatch.tasks import cancel_and_wait


async def loses_its_first_cancellation(swallowed: list[int]) -> None:
    """What a loop does when a Redis call under it swallowed the cancellation: it goes on to its next sleep."""
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(1)
            asyncio.current_task().uncancel()  # type: ignore[union-attr]


async def test_a_task_that_lost_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed: list[int] = []
    task = asyncio.create_task(loses_its_first_cancellation(swallowed))
    await asyncio.sleep(0)

    await asyncio.wait_for(cancel_and_wait([task]), timeout=5)

    assert swallowed == [1] and task.cancelled()


async def test_one_cancel_is_not_enough_for_such_a_task() -> None:
    """The defect the helper exists for: cancel once and the task runs on."""
    swallowed: list[int] = []
    task = asyncio.create_task(loses_its_first_cancellation(swallowed))
    await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=0.3)

    assert not done and swallowed == [1]
    await cancel_and_wait([task])
    assert task.cancelled()


async def fails(error: BaseException) -> None:
    raise error


async def test_an_ignored_error_is_not_raised_and_another_is() -> None:
    ignored = asyncio.create_task(fails(RuntimeError("socket gone")))
    await asyncio.sleep(0)
    await cancel_and_wait([ignored], ignore=(RuntimeError,))

    raised = asyncio.create_task(fails(ValueError("a defect")))
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="a defect"):
        await cancel_and_wait([raised], ignore=(RuntimeError,))


async def test_tasks_already_ended_are_left_as_they_are() -> None:
    done = asyncio.create_task(asyncio.sleep(0, result=7))
    await done
    await cancel_and_wait([done])
    assert done.result() == 7
