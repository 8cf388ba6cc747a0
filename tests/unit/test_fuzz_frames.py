"""The pure core against generated frames of every type, valid and broken: it only ever refuses with a typed
``ProtocolError``, and what it accepts survives a round trip unchanged."""

from __future__ import annotations

from typing import get_args

import msgspec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dispatch import frames
from dispatch.errors import ProtocolError
from dispatch.protocol import ErrorCode, encoder, tablet_decoder
from tests.fuzzing import TYPES, frame, utc_now

NOW = utc_now()
CODES = set(get_args(ErrorCode))
seen: dict[str, set[bool]] = {kind: set() for kind in TYPES}


@settings(
    max_examples=200,
    phases=[Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(st.lists(frame(incident=7, seq=1, now=NOW), min_size=50, max_size=50))
def test_the_core_refuses_only_with_typed_errors(batch: list) -> None:  # type: ignore[type-arg]
    for drawn in batch:
        refusal: ProtocolError | None
        try:
            message = frames.decode(drawn.raw, now=NOW, limits=frames.Limits())
        except ProtocolError as exc:
            refusal = exc
        else:
            refusal = None
        seen[drawn.kind].add(refusal is None)
        if refusal is not None:
            assert refusal.code in CODES and refusal.reason
            continue
        again = tablet_decoder.decode(encoder.encode(message))
        assert again == message
        assert msgspec.structs.asdict(again) == msgspec.structs.asdict(message)


def test_every_type_was_seen_valid_and_broken() -> None:
    assert all(outcomes == {True, False} for outcomes in seen.values()), seen
