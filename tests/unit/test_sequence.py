from __future__ import annotations

from dispatch.sequence import UnitSequence, Verdict


def test_new_seqs_are_acked_once_durable_in_order() -> None:
    s = UnitSequence(durable_upto=0)
    assert [s.receive(n) for n in (1, 2, 3)] == [Verdict.NEW] * 3
    assert s.durable(2) is None  # 1 is still on its way
    assert s.durable(1) == 2
    assert s.durable(3) == 3
    assert s.pending == 0


def test_repeats_of_durable_seqs_are_acked_at_once() -> None:
    s = UnitSequence(durable_upto=10)
    assert s.receive(10) is Verdict.REPEAT_DURABLE
    assert s.receive(3) is Verdict.REPEAT_DURABLE
    assert s.durable_upto == 10


def test_repeat_of_a_pending_seq_waits_for_its_ack() -> None:
    s = UnitSequence(durable_upto=0)
    assert s.receive(1) is Verdict.NEW
    assert s.receive(1) is Verdict.REPEAT_PENDING
    assert s.durable(1) == 1
    assert s.receive(1) is Verdict.REPEAT_DURABLE


def test_gaps_are_allowed_and_a_lower_seq_after_a_higher_one_is_a_repeat() -> None:
    s = UnitSequence(durable_upto=0)
    assert s.receive(5) is Verdict.NEW
    # The contract: seqs only increase. A lower seq than one already accepted is taken for a repeat.
    assert s.receive(4) is Verdict.REPEAT_DURABLE
    assert s.durable(5) == 5


def test_settling_never_moves_the_ack_backwards() -> None:
    s = UnitSequence(durable_upto=7)
    assert s.durable(3) is None
    assert s.durable_upto == 7
