"""The region's streets drawn from the pack: classes, projection, and the real Pittsburgh map's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch import region, region_map

REGIONS = Path(__file__).resolve().parents[2] / "dispatch" / "regions"


@pytest.mark.parametrize(
    ("highway", "expected"),
    [
        ("motorway", "major"),
        ("primary_link", "major"),
        ("secondary", "minor"),
        ("tertiary", "minor"),
        ("residential", "local"),
        ("['residential', 'service']", "local"),
        ("service", None),
        ("bus_stop", None),
    ],
)
def test_road_class(highway: str, expected: str | None) -> None:
    assert region_map.road_class(highway) == expected


def test_pittsburgh_map_puts_every_hospital_inside_and_draws_every_class() -> None:
    pack = region.load(REGIONS, "pittsburgh")
    drawn = region_map.load(REGIONS / "pittsburgh", pack)
    assert 5_000 < drawn.width < 30_000 and 5_000 < drawn.height < 30_000  # metres: a city, not a continent
    assert {h.id for h in drawn.hospitals} == set(pack.hospitals)
    for h in drawn.hospitals:
        assert 0 <= h.x <= drawn.width and 0 <= h.y <= drawn.height
    assert all(drawn.roads[name].startswith("M") for name in ("major", "minor", "local"))
    mercy = pack.hospitals["upmc-mercy"]
    x = round((mercy.lon - drawn.west) * drawn.kx)
    y = round((drawn.north - mercy.lat) * drawn.ky)
    assert next(h for h in drawn.hospitals if h.id == "upmc-mercy") == region_map.MapHospital(
        id="upmc-mercy", name=mercy.name, x=x, y=y
    )
