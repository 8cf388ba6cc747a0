from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.errors import ProtocolError
from dispatch.frames import Limits, decode, device_offset
from dispatch.protocol import Assessment, Position, Status, Vitals

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = Limits(max_future=timedelta(minutes=5), max_past=timedelta(days=2))


def vitals(extra: str = ', "hr": 80', at: str = "2026-11-24T11:59:00Z") -> str:
    return f'{{"type":"vitals","seq":3,"incident":9,"taken_at":"{at}"{extra}}}'


def refusal(raw: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(raw, now=NOW, limits=LIMITS)
    return caught.value


def test_each_tablet_message_decodes() -> None:
    assert isinstance(decode(vitals(), now=NOW, limits=LIMITS), Vitals)
    at = '"taken_at":"2026-11-24T11:59:00Z"'
    assert isinstance(decode(f'{{"type":"status","seq":1,{at},"status":"on_scene"}}', now=NOW, limits=LIMITS), Status)
    assert isinstance(
        decode(f'{{"type":"position","seq":1,{at},"lat":40.4,"lon":-80.0}}', now=NOW, limits=LIMITS), Position
    )
    assessment = decode(
        f'{{"type":"assessment","seq":1,"incident":2,{at},"suspected":"stroke","lams":4}}',
        now=NOW,
        limits=LIMITS,
    )
    assert isinstance(assessment, Assessment) and assessment.lams == 4


@pytest.mark.parametrize(
    ("at", "ok"),
    [
        ("2026-11-24T12:05:00Z", True),  # exactly the allowed skew
        ("2026-11-24T12:05:00.001Z", False),  # just past it
        ("2026-11-22T12:00:00Z", True),  # exactly the oldest allowed
        ("2026-11-22T11:59:59Z", False),
    ],
)
def test_time_limits_at_their_boundaries(at: str, ok: bool) -> None:
    if ok:
        decode(vitals(at=at), now=NOW, limits=LIMITS)
    else:
        assert refusal(vitals(at=at)).field == "taken_at"


def test_a_tablet_clock_minutes_off_is_measured_from_what_it_said() -> None:
    assert device_offset(None, NOW) == timedelta()
    assert device_offset("2026-11-24T12:10:00Z", NOW) == timedelta(minutes=10)
    assert device_offset("2026-11-24T07:50:00-04:00", NOW) == timedelta(minutes=-10)
    assert device_offset("2026-11-24T12:00:00.250+00:00", NOW) == timedelta(milliseconds=250)


@pytest.mark.parametrize("clock", ["yesterday", "2026-11-24T12:10:00", "", "2026-13-01T00:00:00Z"])
def test_a_malformed_or_zoneless_clock_is_refused(clock: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        device_offset(clock, NOW)
    assert (caught.value.code, caught.value.field) == ("malformed", "clock")


def test_times_are_judged_against_the_tablets_own_clock() -> None:
    """A tablet 10 minutes ahead stamps a reading 10 minutes ahead of the server: plausible on its clock, and kept
    as stamped; a time 5 minutes past its own clock is still refused."""
    ahead = NOW + device_offset("2026-11-24T12:10:00Z", NOW)
    stamped = decode(vitals(at="2026-11-24T12:10:00Z"), now=ahead, limits=LIMITS)
    assert isinstance(stamped, Vitals) and stamped.taken_at == datetime(2026, 11, 24, 12, 10, tzinfo=UTC)
    decode(vitals(at="2026-11-24T12:15:00Z"), now=ahead, limits=LIMITS)
    with pytest.raises(ProtocolError):
        decode(vitals(at="2026-11-24T12:15:00.001Z"), now=ahead, limits=LIMITS)
    assert refusal(vitals(at="2026-11-24T12:10:00Z")).field == "taken_at"  # judged on the server's clock: refused


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("hr", 0, 300),
        ("sbp", 0, 300),
        ("spo2", 0, 100),
        ("rr", 0, 80),
        ("gcs_eye", 1, 4),
        ("gcs_verbal", 1, 5),
        ("gcs_motor", 1, 6),
        ("etco2_mmhg", 0, 150),
        ("glucose_mg_dl", 10, 2000),
    ],
)
def test_plausible_range_boundaries(field: str, low: int, high: int) -> None:
    for value in (low, high):
        decode(vitals(f', "{field}": {value}'), now=NOW, limits=LIMITS)
    for value in (low - 1, high + 1):
        error = refusal(vitals(f', "{field}": {value}'))
        assert (error.code, error.field, error.seq) == ("implausible", field, 3)


def test_assessment_times_are_checked_too() -> None:
    raw = (
        '{"type":"assessment","seq":4,"incident":2,"taken_at":"2026-11-24T11:59:00Z",'
        '"treatments":[{"kind":"drug","name":"aspirin","dose":"300 mg","given_at":"2026-11-24T13:00:00Z"}]}'
    )
    error = refusal(raw)
    assert (error.code, error.field) == ("implausible", "treatments[0].given_at")


def test_nested_missing_field_is_named_with_its_path() -> None:
    raw = (
        '{"type":"assessment","seq":4,"incident":2,"taken_at":"2026-11-24T11:59:00Z",'
        '"treatments":[{"kind":"drug","given_at":"2026-11-24T11:00:00Z"}]}'
    )
    assert refusal(raw).field == "treatments[0].name"


def test_binary_garbage_is_malformed() -> None:
    error = refusal(b"\xff\xfe")  # type: ignore[arg-type]
    assert error.code == "malformed" and error.seq is None
