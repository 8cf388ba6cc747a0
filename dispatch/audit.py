"""The audit record and its hash chain. Pure: no I/O.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical form (its fields in a fixed
order, JSON with sorted keys, times in UTC ISO 8601 to the microsecond). Changing, removing or inserting any entry
changes every hash after it, so ``verify_chain`` names the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

GENESIS: Final = "0" * 64
Action = Literal["read", "write", "refuse", "sign-in", "sign-out", "revoke", "approve", "refuse-export", "export"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One look at or change to patient data (or a refusal): who, in which role, what, when, from where, and why."""

    at: datetime
    actor: str
    role: str
    action: str
    resource: str
    purpose: str
    source: str
    outcome: int
    incident: int | None = None
    unit: str | None = None
    hospital: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sealed:
    """An entry with its place in the chain."""

    seq: int
    entry: Entry
    detail: str  # the canonical JSON of entry.detail, stored as text so that it reads back byte for byte
    prev_hash: str
    hash: str


def canonical_detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def digest(seq: int, entry: Entry, detail: str, prev_hash: str) -> str:
    body = json.dumps(
        [
            seq,
            _stamp(entry.at),
            entry.actor,
            entry.role,
            entry.action,
            entry.resource,
            entry.incident,
            entry.unit,
            entry.hospital,
            entry.purpose,
            entry.source,
            entry.outcome,
            detail,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def seal(entries: Iterable[Entry], *, after_seq: int, after_hash: str) -> list[Sealed]:
    """Chain ``entries`` onto the entry ``after_seq`` whose hash is ``after_hash``."""
    sealed = []
    seq, prev = after_seq, after_hash
    for entry in entries:
        seq += 1
        detail = canonical_detail(entry.detail)
        current = digest(seq, entry, detail, prev)
        sealed.append(Sealed(seq=seq, entry=entry, detail=detail, prev_hash=prev, hash=current))
        prev = current
    return sealed


@dataclass(frozen=True, slots=True)
class Verdict:
    checked: int
    broken_at: int | None  # the first seq that does not fit the chain
    reason: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_chain(rows: Iterable[Sealed], *, after_seq: int = 0, after_hash: str = GENESIS) -> Verdict:
    """Check rows in seq order: consecutive seqs, each linked to the one before, each hash recomputed."""
    expected_seq, prev = after_seq + 1, after_hash
    checked = 0
    for row in rows:
        if row.seq != expected_seq:
            return Verdict(checked, row.seq, f"expected entry {expected_seq}, found {row.seq} (an entry is missing)")
        if row.prev_hash != prev:
            return Verdict(checked, row.seq, "does not link to the entry before it")
        if digest(row.seq, row.entry, row.detail, row.prev_hash) != row.hash:
            return Verdict(checked, row.seq, "its contents do not match its hash (changed after it was written)")
        checked += 1
        expected_seq, prev = row.seq + 1, row.hash
    return Verdict(checked, None, None)
