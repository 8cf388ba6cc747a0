"""The per-unit sequence and acknowledgement state: which seqs are new, which are repeats, what may be acked.

Pure. One ``UnitSequence`` per open tablet socket. The rule: a seq above every seq accepted so far is new; any
other seq is a repeat and is not stored again. ``upto`` is the highest seq such that it and every accepted seq
below it are durable in PostgreSQL; that is what the tablet is told in ``ack``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    NEW = "new"  # store it, fan it out, ack it once durable
    REPEAT_DURABLE = "repeat_durable"  # already durable: ack at once, nothing else
    REPEAT_PENDING = "repeat_pending"  # already accepted on this socket and on its way to PostgreSQL: ack will follow


@dataclass
class UnitSequence:
    """Start from the highest seq PostgreSQL holds for the unit (the ``last_seq`` of ``hello``)."""

    durable_upto: int
    accepted_upto: int = field(init=False)
    _pending: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.accepted_upto = self.durable_upto

    def receive(self, seq: int) -> Verdict:
        if seq > self.accepted_upto:
            self.accepted_upto = seq
            self._pending.add(seq)
            return Verdict.NEW
        if seq in self._pending:
            return Verdict.REPEAT_PENDING
        return Verdict.REPEAT_DURABLE

    def durable(self, seq: int) -> int | None:
        """Record that ``seq`` is durable (or was refused: settled either way); return the new ack level if it
        moved, else None."""
        self._pending.discard(seq)
        upto = min(self._pending) - 1 if self._pending else self.accepted_upto
        if upto > self.durable_upto:
            self.durable_upto = upto
            return upto
        return None

    @property
    def pending(self) -> int:
        return len(self._pending)
