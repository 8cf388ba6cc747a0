"""The ED's outcome report: checked against the patient's arrival (the door) and the clock, to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from dispatch.errors import ProtocolError
from dispatch.outcome import CLOCK_SKEW, OutcomeReport, check, frame

DOOR = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
NOW = DOOR + timedelta(hours=2)


def _check(**fields: object) -> object:
    report = msgspec.convert({"disposition": "cath_lab", "diagnosis": "STEMI", **fields}, OutcomeReport)
    return check(report, incident=3, hospital="upmc-mercy", arrived_at=DOOR, now=NOW, by="dr")


def test_door_to_balloon_is_computed_from_the_door() -> None:
    outcome = _check(balloon_at=(DOOR + timedelta(minutes=47, seconds=30)).isoformat())
    assert outcome.door_to_balloon_min == 47.5  # type: ignore[attr-defined]
    assert frame(outcome).disposition == "to the cath lab"  # type: ignore[arg-type]


def test_balloon_at_the_door_is_accepted_and_a_second_before_is_not() -> None:
    assert _check(balloon_at=DOOR.isoformat()).door_to_balloon_min == 0.0  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError) as refused:
        _check(balloon_at=(DOOR - timedelta(seconds=1)).isoformat())
    assert (refused.value.code, refused.value.field) == ("implausible", "balloon_at")


def test_a_time_beyond_the_clock_skew_is_refused() -> None:
    _check(balloon_at=(NOW + CLOCK_SKEW).isoformat())
    with pytest.raises(ProtocolError) as refused:
        _check(balloon_at=(NOW + CLOCK_SKEW + timedelta(seconds=1)).isoformat())
    assert "future" in refused.value.reason


def test_needle_time_goes_with_thrombolysis_only() -> None:
    with pytest.raises(ProtocolError) as refused:
        _check(needle_at=(DOOR + timedelta(minutes=30)).isoformat())
    assert refused.value.field == "needle_at"
    report = OutcomeReport(disposition="thrombolysed", diagnosis="stroke", needle_at=DOOR + timedelta(minutes=30))
    outcome = check(report, incident=3, hospital="h", arrived_at=DOOR, now=NOW, by="dr")
    assert outcome.door_to_needle_min == 30.0


def test_blank_diagnosis_is_refused() -> None:
    with pytest.raises(ProtocolError) as refused:
        _check(diagnosis="   ")
    assert refused.value.field == "diagnosis"


@pytest.mark.parametrize(
    "body",
    [
        {"disposition": "home", "diagnosis": "x"},  # not one of ours
        {"disposition": "admitted"},  # no diagnosis
        {"disposition": "admitted", "diagnosis": "x", "diagnosis_icd10": "not-a-code"},
        {"disposition": "admitted", "diagnosis": "x", "diagnosis_icd10": "U07.1"},  # U is reserved
        {"disposition": "admitted", "diagnosis": "x", "balloon_at": "2026-12-06T09:00:00"},  # no offset
        {"disposition": "admitted", "diagnosis": "x", "surprise": 1},
        {"disposition": "admitted", "diagnosis": "a\x00b"},
    ],
)
def test_malformed_reports_are_refused_by_the_type(body: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(body, OutcomeReport, strict=True)


@pytest.mark.parametrize("code", ["I21.19", "S01.00XA", "R69", "I63.512", "A41.9"])
def test_icd10_codes_are_accepted(code: str) -> None:
    msgspec.convert({"disposition": "admitted", "diagnosis": "x", "diagnosis_icd10": code}, OutcomeReport)
