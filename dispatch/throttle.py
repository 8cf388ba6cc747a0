"""Token buckets. Pure; the clock is passed in.

``TokenBucket``: how long a flooding client must wait before its next frame is read. The socket edge sleeps for
that long instead of dropping the frame, so TCP pushes back on the client and nothing is lost (a dropped frame
followed by an accepted higher seq would be acknowledged by the cumulative ack).

``ByteBudget``: whether a droppable frame (a live waveform chunk) fits a unit's bandwidth budget; one that does not
is dropped, never queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def take(self, now: float) -> float:
        """Take one token; return the seconds to wait first (0.0 when within the rate)."""
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate_per_s


@dataclass
class ByteBudget:
    bytes_per_s: float
    burst_bytes: int
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst_bytes)

    def spend(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes if the budget has them (True); otherwise spend nothing (False: drop the frame)."""
        if self._at is not None:
            self._tokens = min(float(self.burst_bytes), self._tokens + (now - self._at) * self.bytes_per_s)
        self._at = now
        if size > self._tokens:
            return False
        self._tokens -= size
        return True
