"""De-identification: bands and cells at their boundaries, pseudonyms and date shifts, k-anonymity by suppression,
and attempts to find an identifier in the output."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.deidentify import (
    FIELDS,
    MAX_SHIFT_DAYS,
    QUASI_IDENTIFIERS,
    ClosedIncident,
    age_band,
    date_shift,
    deidentify,
    pseudonym,
    scene_cell,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "0-4"),
        (4, "0-4"),
        (5, "5-9"),
        (17, "15-19"),
        (84, "80-84"),
        (85, "85-89"),
        (89, "85-89"),
        (90, "90+"),
        (104, "90+"),
        (120, "90+"),
        (None, "unknown"),
    ],
)
def test_age_bands(age: int | None, band: str) -> None:
    assert age_band(age) == band


def test_grid_cells_are_the_south_west_corner() -> None:
    assert scene_cell(40.4406, -79.9959) == "40.40,-80.00"
    assert scene_cell(40.45, -79.95) == "40.45,-79.95"
    assert scene_cell(40.4499, -79.9501) == "40.40,-80.00"


def test_pseudonyms_depend_on_the_run_key() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert pseudonym(a, 7) == pseudonym(a, 7)
    assert pseudonym(a, 7) != pseudonym(b, 7)
    assert pseudonym(a, 7) != pseudonym(a, 8)


def test_date_shifts_stay_in_range_and_vary() -> None:
    key = bytes(range(32))
    shifts = {date_shift(key, n) for n in range(2000)}
    assert all(abs(s.days) <= MAX_SHIFT_DAYS and s.seconds == 0 for s in shifts)
    assert len(shifts) > 40


def _records(n: int, seed: int = 1) -> list[ClosedIncident]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        call = T0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        arrived = call + timedelta(minutes=rng.randrange(10, 60))
        out.append(
            ClosedIncident(
                incident=1000 + i,
                unit=f"M{rng.randrange(1, 20)}",
                call_at=call,
                lat=40.42 + rng.random() * 0.06,  # four grid cells
                lon=-80.02 + rng.random() * 0.06,
                priority=rng.randrange(1, 5),
                destination=rng.choice(["upmc-mercy", "upmc-presbyterian"]),
                # most patients in their 60s and 70s, some of any age (the rare ones k-anonymity must suppress)
                age_years=rng.randrange(60, 80) if rng.random() < 0.85 else rng.choice([None, *range(0, 101)]),
                sex=rng.choice(["female", "male"]),
                suspected=rng.choice(["stemi", "stroke", "general"]),
                stemi=rng.choice([True, False, None]),
                acked_at=arrived - timedelta(minutes=rng.randrange(1, 9)),
                arrived_at=arrived,
                transferred_at=arrived + timedelta(minutes=rng.randrange(5, 40)),
                first_vitals={"hr": rng.randrange(40, 160), "sbp": 120, "gcs_eye": 4, "gcs_verbal": 5, "gcs_motor": 6},
                followed_recommendation=rng.random() < 0.8,
                complaint=f"Mrs Jane Doe-{i}, 12 Example Street, chest pain",
            )
        )
    return out


ALL = list(FIELDS)


def test_every_quasi_identifier_combination_occurs_at_least_k_times() -> None:
    for k in (2, 5, 10):
        export = deidentify(_records(2000), ALL, key=b"k" * 32, k=k)
        combos = Counter(tuple(row[q] for q in QUASI_IDENTIFIERS) for row in export.rows)
        assert combos and min(combos.values()) >= k
        report = export.report
        assert report.records_in == 2000
        assert report.records_out + report.suppressed_records == 2000
        assert report.suppressed_records > 0  # the rare ages were there, and went
        assert report.records_out == len(export.rows)
        assert report.smallest_group_out == min(combos.values())
        assert report.quasi_identifiers == QUASI_IDENTIFIERS


def test_suppression_counts_the_rare_groups() -> None:
    records = _records(6)
    export = deidentify(records, ["age_band", "sex"], key=b"k" * 32, k=5)
    groups = Counter((age_band(r.age_years), r.sex) for r in records)
    rare = [g for g, n in groups.items() if n < 5]
    assert export.report.suppressed_groups == len(rare)
    assert export.report.suppressed_records == sum(groups[g] for g in rare)


def test_too_few_records_for_k_are_all_suppressed() -> None:
    export = deidentify(_records(4), ["priority"], key=b"k" * 32, k=5)  # no quasi-identifier: one group of 4
    assert export.rows == [] and export.report.suppressed_records == 4


def test_no_direct_identifier_survives() -> None:
    records = _records(300)
    export = deidentify(records, ALL, key=b"z" * 32, k=2)
    text = repr(export.rows)
    assert "incident" not in export.columns and "unit" not in export.columns
    for r in records:
        assert f"Doe-{r.incident - 1000}," not in text and "Example Street" not in text
        assert f"'{r.incident}'" not in text and f": {r.incident}," not in text
    exact_times = {r.call_at.isoformat() for r in records} | {r.call_at.date().isoformat() for r in records}
    coordinates = {f"{r.lat}" for r in records} | {f"{r.lon}" for r in records}
    values = {str(v) for row in export.rows for v in row.values()}
    assert not values & coordinates
    assert not values & {t for t in exact_times if "T" in t}


def test_dates_are_shifted_per_patient_and_intervals_kept() -> None:
    records = _records(200)
    key = b"q" * 32
    export = deidentify(records, ["call_date", "call_to_door_min"], key=key, k=2)
    by_pseudonym = {pseudonym(key, r.incident): r for r in records}
    moved = 0
    for row in export.rows:
        record = by_pseudonym[row["pseudonym"]]
        shifted = datetime.fromisoformat(row["call_date"]).date()
        assert abs((shifted - record.call_at.date()).days) <= MAX_SHIFT_DAYS
        moved += shifted != record.call_at.date()
        assert row["call_to_door_min"] == round((record.arrived_at - record.call_at).total_seconds() / 60, 1)  # type: ignore[operator]
    assert moved > len(export.rows) * 0.9


def test_the_same_patient_gets_different_pseudonyms_in_two_exports() -> None:
    records = _records(100)
    one = deidentify(records, ["priority"], key=b"1" * 32, k=2)
    two = deidentify(records, ["priority"], key=b"2" * 32, k=2)
    assert not {r["pseudonym"] for r in one.rows} & {r["pseudonym"] for r in two.rows}


def test_unknown_fields_and_small_k_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        deidentify(_records(3), ["name"], key=b"k" * 32, k=5)
    with pytest.raises(ValueError, match="at least 2"):
        deidentify(_records(3), ["sex"], key=b"k" * 32, k=1)


def test_ed_outcomes_are_usable_in_research_exports() -> None:
    import dataclasses

    records = [
        dataclasses.replace(
            r,
            age_years=50,
            sex="male",
            lat=40.44,
            lon=-79.99,
            destination="upmc-mercy",
            outcome={"disposition": "cath_lab", "door_to_balloon_min": 40.0 + i, "door_to_needle_min": None}
            if i % 2 == 0
            else None,
        )
        for i, r in enumerate(_records(10))
    ]
    export = deidentify(
        records, ["age_band", "ed_disposition", "door_to_balloon_min", "door_to_needle_min"], key=b"k" * 32, k=5
    )
    given = sorted(row["door_to_balloon_min"] for row in export.rows if row["ed_disposition"] == "cath_lab")
    assert given == [40.0, 42.0, 44.0, 46.0, 48.0]
    assert [row["door_to_balloon_min"] for row in export.rows if row["ed_disposition"] is None] == [None] * 5
    assert all(row["door_to_needle_min"] is None for row in export.rows)
