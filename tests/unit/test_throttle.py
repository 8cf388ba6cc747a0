from __future__ import annotations

import pytest

from dispatch.throttle import TokenBucket


def test_burst_passes_then_waits_at_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=3)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) > 0.0
