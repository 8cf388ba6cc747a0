"""The audit log's hash chain: every kind of tampering is found, at the entry where it happened."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

from dispatch.audit import GENESIS, Entry, Sealed, digest, seal, verify_chain

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def _entries(n: int) -> list[Entry]:
    return [
        Entry(
            at=T0 + timedelta(seconds=i),
            actor=f"user{i % 3}",
            role="ed",
            action="read",
            resource="GET /v1/hospitals/{hospital}/incidents",
            purpose="treatment",
            source="10.0.0.7",
            outcome=200,
            incident=100 + i,
            hospital="upmc-mercy",
            detail={"path": f"/v1/x/{i}", "ünïcode": "é"},
        )
        for i in range(n)
    ]


def test_an_untouched_chain_verifies() -> None:
    chain = seal(_entries(20), after_seq=0, after_hash=GENESIS)
    assert [s.seq for s in chain] == list(range(1, 21))
    assert chain[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    verdict = verify_chain(chain)
    assert verdict.intact and verdict.checked == 20


def test_a_chain_continues_across_batches() -> None:
    first = seal(_entries(5), after_seq=0, after_hash=GENESIS)
    second = seal(_entries(5), after_seq=first[-1].seq, after_hash=first[-1].hash)
    assert verify_chain(first + second).intact


def test_a_changed_field_is_found_at_its_entry() -> None:
    chain = seal(_entries(10), after_seq=0, after_hash=GENESIS)
    changed = dataclasses.replace(chain[4].entry, actor="someone-else")
    chain[4] = dataclasses.replace(chain[4], entry=changed)
    verdict = verify_chain(chain)
    assert verdict.broken_at == 5 and "changed" in (verdict.reason or "")
    assert verdict.checked == 4


def test_a_changed_detail_is_found() -> None:
    chain = seal(_entries(3), after_seq=0, after_hash=GENESIS)
    chain[1] = dataclasses.replace(chain[1], detail='{"path":"/elsewhere"}')
    assert verify_chain(chain).broken_at == 2


def test_a_removed_entry_is_found() -> None:
    chain = seal(_entries(10), after_seq=0, after_hash=GENESIS)
    del chain[6]
    verdict = verify_chain(chain)
    assert verdict.broken_at == 8 and "missing" in (verdict.reason or "")


def test_a_rehashed_forgery_still_breaks_the_link() -> None:
    # The forger changes an entry and recomputes its hash: the next entry no longer links to it.
    chain = seal(_entries(6), after_seq=0, after_hash=GENESIS)
    forged_entry = dataclasses.replace(chain[2].entry, outcome=403)
    forged_hash = digest(3, forged_entry, chain[2].detail, chain[2].prev_hash)
    chain[2] = Sealed(seq=3, entry=forged_entry, detail=chain[2].detail, prev_hash=chain[2].prev_hash, hash=forged_hash)
    verdict = verify_chain(chain)
    assert verdict.broken_at == 4 and "link" in (verdict.reason or "")


def test_a_truncated_tail_is_not_a_break_but_a_reordered_one_is() -> None:
    chain = seal(_entries(5), after_seq=0, after_hash=GENESIS)
    assert verify_chain(chain[:3]).intact  # the head alone is consistent (the row count is checked elsewhere)
    swapped = [chain[0], chain[2], chain[1], *chain[3:]]
    assert verify_chain(swapped).broken_at == 3


def test_times_hash_in_utc_whatever_their_offset() -> None:
    entry = _entries(1)[0]
    elsewhere = dataclasses.replace(entry, at=entry.at.astimezone(UTC).replace(tzinfo=UTC).astimezone())
    assert digest(1, entry, "{}", GENESIS) == digest(1, elsewhere, "{}", GENESIS)
