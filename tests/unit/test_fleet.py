"""Which units could answer an incident: available ones first, by driving time, each with the reason shown."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.fleet import available, rank
from dispatch.protocol import Position, Status, UnitStatus, UnitView

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def unit(name: str, lon: float | None, status: UnitStatus | None = None, incident: int | None = None) -> UnitView:
    return UnitView(
        unit=name,
        incident=incident,
        position=Position(seq=1, taken_at=AT, lat=40.44, lon=lon) if lon is not None else None,
        status=Status(seq=2, taken_at=AT, status=status, incident=incident) if status else None,
    )


def eta_by_longitude(lat: float, lon: float) -> float | None:
    """A stand-in road: a minute per 0.01° west of -79.90; east of it, no road."""
    return None if lon > -79.90 else (-79.90 - lon) * 6000


def test_available_units_come_first_then_busy_ones_each_by_eta() -> None:
    units = [
        unit("M1", -80.00, "transporting", incident=7),  # 10 min, busy
        unit("M2", -79.95, "back_in_service", incident=3),  # 5 min
        unit("M3", -80.02),  # 12 min, no status yet: available
        unit("M4", -79.91, "on_scene", incident=9),  # 1 min, busy
    ]
    ranked = rank(units, eta_by_longitude)
    assert [c.unit for c in ranked] == ["M2", "M3", "M4", "M1"]
    assert [c.available for c in ranked] == [True, True, False, False]
    assert ranked[0].eta_s == 300 and ranked[0].reason == "available, 5 min by road"
    assert ranked[2].reason == "busy (on scene, incident #9), 1 min by road"


def test_units_without_a_position_or_a_road_are_left_out_and_ties_go_by_call_sign() -> None:
    units = [unit("M9", -80.0), unit("M5", -80.0), unit("M6", None), unit("M7", -79.80)]
    assert [c.unit for c in rank(units, eta_by_longitude)] == ["M5", "M9"]


def test_limit() -> None:
    units = [unit(f"M{i}", -80.0 - i / 100) for i in range(8)]
    assert [c.unit for c in rank(units, eta_by_longitude, limit=3)] == ["M0", "M1", "M2"]


def test_only_back_in_service_or_no_status_is_available() -> None:
    assert available(unit("A", -80.0))
    assert available(unit("A", -80.0, "back_in_service"))
    for busy in ("en_route", "on_scene", "at_patient", "transporting", "at_destination", "transfer_of_care"):
        assert not available(unit("A", -80.0, busy))
