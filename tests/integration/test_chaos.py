"""The short version of ``make chaos``: every fault, on a small fleet, each ending with the audit (every acked message
in PostgreSQL exactly once, every screen shown every event of its hospital in order, no gap, no duplicate).

The faults kill and stop servers, so this module runs on a stage of its own (its own embedded Redis and PostgreSQL
and two ``prealert serve`` processes), whatever servers the rest of the suite uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from loadtests.chaos.faults import Sizes, Stage, Strike, all_faults, run_fault
from loadtests.chaos.kit import table
from loadtests.chaos.proxy import Faults

SIZES = Sizes(tablets=16, screens=4, seconds=6.0, period_s=0.5, outage_s=3.0)
FAULTS = {name: (strike, proxy, skew) for name, strike, proxy, skew in all_faults(SIZES)}


@pytest.fixture(scope="module")
async def stage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stage]:
    the_stage = Stage(Path(tmp_path_factory.mktemp("chaos")))
    await the_stage.start()
    try:
        yield the_stage
    finally:
        await the_stage.stop()


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_nothing_acked_is_lost_and_every_screen_sees_everything_once_in_order(stage: Stage, fault: str) -> None:
    strike: Strike
    proxy: Faults | None
    skew: Callable[[int], timedelta] | None
    strike, proxy, skew = FAULTS[fault]
    kwargs = {"skew": skew} if skew is not None else {}
    audit = await run_fault(stage, fault, SIZES, strike, proxy=proxy, **kwargs)

    assert audit.clean, table([audit])
    assert audit.sent > SIZES.tablets * 5  # the fleet really streamed through the fault
    assert audit.acked == audit.sent == audit.stored
    assert audit.delivered == audit.expected > 0
    assert audit.recover_s is not None
