"""Boundary tests for dispatch.clinical: Every expected value is taken from the rules table, not computed."""

from __future__ import annotations

import pytest

from dispatch.clinical import Acvpu, News2, Rts, ShockIndex, gcs_total, news2, qsofa, rts, shock_index


def _part(result: News2, name: str) -> int:
    return dict(result.parts)[name]


# NEWS2: one parameter at a time, every other parameter normal (0 points) ------------------------------------
@pytest.mark.parametrize(
    ("rr", "points"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_news2_respiration_rate(rr: int, points: int) -> None:
    result = news2(rr=rr, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert _part(result, "rr") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
def test_news2_spo2_scale_1(spo2: int, points: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert _part(result, "spo2") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
def test_news2_spo2_scale_1_does_not_depend_on_oxygen(spo2: int, points: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=True, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert _part(result, "spo2") == points
    assert _part(result, "air_or_oxygen") == 2
    assert result.score == points + 2


@pytest.mark.parametrize(
    ("spo2", "points"),
    [
        (70, 3),
        (83, 3),
        (84, 2),
        (85, 2),
        (86, 1),
        (87, 1),
        (88, 0),
        (92, 0),
        (93, 0),
        (96, 0),
        (97, 0),
        (100, 0),
    ],
)
def test_news2_spo2_scale_2_on_air(spo2: int, points: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0, spo2_scale=2)
    assert _part(result, "spo2") == points
    assert _part(result, "air_or_oxygen") == 0
    assert result.score == points


@pytest.mark.parametrize(
    ("spo2", "points"),
    [
        (70, 3),
        (83, 3),
        (84, 2),
        (85, 2),
        (86, 1),
        (87, 1),
        (88, 0),
        (92, 0),
        (93, 1),
        (94, 1),
        (95, 2),
        (96, 2),
        (97, 3),
        (100, 3),
    ],
)
def test_news2_spo2_scale_2_on_oxygen(spo2: int, points: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=True, sbp=120, hr=70, acvpu="A", temp_c=37.0, spo2_scale=2)
    assert _part(result, "spo2") == points
    assert _part(result, "air_or_oxygen") == 2
    assert result.score == points + 2


@pytest.mark.parametrize(("spo2", "points"), [(83, 3), (84, 2), (87, 1), (88, 0), (92, 0)])
def test_news2_spo2_scale_2_below_93_is_scored_without_knowing_oxygen(spo2: int, points: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=None, sbp=120, hr=70, acvpu="A", temp_c=37.0, spo2_scale=2)
    assert _part(result, "spo2") == points
    assert result.missing == ("air_or_oxygen",)
    assert result.partial is True
    assert result.score == points


@pytest.mark.parametrize("spo2", [93, 94, 95, 96, 97, 100])
def test_news2_spo2_scale_2_from_93_is_missing_without_knowing_oxygen(spo2: int) -> None:
    result = news2(rr=16, spo2=spo2, on_oxygen=None, sbp=120, hr=70, acvpu="A", temp_c=37.0, spo2_scale=2)
    assert result.missing == ("spo2", "air_or_oxygen")
    assert result.partial is True
    assert result.parts == (("rr", 0), ("sbp", 0), ("hr", 0), ("consciousness", 0), ("temp", 0))
    assert result.score == 0


@pytest.mark.parametrize(("on_oxygen", "points"), [(False, 0), (True, 2)])
def test_news2_air_or_oxygen(on_oxygen: bool, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=on_oxygen, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert _part(result, "air_or_oxygen") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("sbp", "points"),
    [(0, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (280, 3)],
)
def test_news2_systolic_bp(sbp: int, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=sbp, hr=70, acvpu="A", temp_c=37.0)
    assert _part(result, "sbp") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("hr", "points"),
    [
        (0, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (220, 3),
    ],
)
def test_news2_pulse(hr: int, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=hr, acvpu="A", temp_c=37.0)
    assert _part(result, "hr") == points
    assert result.score == points


@pytest.mark.parametrize(("acvpu", "points"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_news2_consciousness(acvpu: Acvpu, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu=acvpu, temp_c=37.0)
    assert _part(result, "consciousness") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("temp_c", "points"),
    [
        (30.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (42.0, 2),
    ],
)
def test_news2_temperature(temp_c: float, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=temp_c)
    assert _part(result, "temp") == points
    assert result.score == points


@pytest.mark.parametrize(
    ("temp_c", "points"),
    [
        (35.04, 3),  # 35.0
        (35.05, 1),  # 35.1
        (36.04, 1),  # 36.0
        (36.05, 0),  # 36.1
        (38.04, 0),  # 38.0
        (38.05, 1),  # 38.1
        (39.049, 1),  # 39.0
        (39.05, 2),  # 39.1
        (37, 0),  # an int is a temperature too
    ],
)
def test_news2_temperature_is_compared_on_one_decimal_rounded_half_up(temp_c: float, points: int) -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=temp_c)
    assert _part(result, "temp") == points


# NEWS2 risk bands -------------------------------------------------------------------------------------------
def test_news2_all_normal_is_low_with_every_part_in_order() -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert result == News2(
        score=0,
        band="low",
        partial=False,
        missing=(),
        parts=(
            ("rr", 0),
            ("spo2", 0),
            ("air_or_oxygen", 0),
            ("sbp", 0),
            ("hr", 0),
            ("consciousness", 0),
            ("temp", 0),
        ),
    )


@pytest.mark.parametrize(
    ("rr", "spo2", "on_oxygen", "sbp", "hr", "acvpu", "temp_c", "score", "band"),
    [
        # 4 without any 3: rr 2 + hr 2
        (21, 98, False, 120, 111, "A", 37.0, 4, "low"),
        # 5: rr 2 + hr 2 + temp 1
        (21, 98, False, 120, 111, "A", 38.1, 5, "medium"),
        # 6: rr 2 + hr 2 + sbp 2
        (21, 98, False, 91, 111, "A", 37.0, 6, "medium"),
        # 7: rr 2 + hr 2 + sbp 2 + temp 1
        (21, 98, False, 91, 111, "A", 38.1, 7, "high"),
        # a single 3 alone: new confusion
        (16, 98, False, 120, 70, "C", 37.0, 3, "low-medium"),
        # a single 3 with total 4: rr 3 + hr 1
        (25, 98, False, 120, 91, "A", 37.0, 4, "low-medium"),
        # a single 3 with total 5 is medium: rr 3 + hr 2
        (25, 98, False, 120, 111, "A", 37.0, 5, "medium"),
        # a single 3 with total 7 is high: sbp 3 + oxygen 2 + hr 2
        (16, 98, True, 90, 111, "A", 37.0, 7, "high"),
        # everything at its worst: 3+3+2+3+3+3+3
        (25, 91, True, 90, 131, "U", 35.0, 20, "high"),
    ],
)
def test_news2_risk_band(
    rr: int,
    spo2: int,
    on_oxygen: bool,
    sbp: int,
    hr: int,
    acvpu: Acvpu,
    temp_c: float,
    score: int,
    band: str,
) -> None:
    result = news2(rr=rr, spo2=spo2, on_oxygen=on_oxygen, sbp=sbp, hr=hr, acvpu=acvpu, temp_c=temp_c)
    assert (result.score, result.band, result.partial) == (score, band, False)


# NEWS2 partial scores ---------------------------------------------------------------------------------------
def test_news2_missing_rr_is_partial_not_zero() -> None:
    result = news2(rr=None, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0)
    assert result.partial is True
    assert result.missing == ("rr",)
    assert [name for name, _ in result.parts] == [
        "spo2",
        "air_or_oxygen",
        "sbp",
        "hr",
        "consciousness",
        "temp",
    ]


def test_news2_missing_parameters_are_listed_in_chart_order() -> None:
    result = news2(rr=25, spo2=None, on_oxygen=None, sbp=None, hr=111, acvpu=None, temp_c=None)
    assert result == News2(
        score=5,
        band="medium",
        partial=True,
        missing=("spo2", "air_or_oxygen", "sbp", "consciousness", "temp"),
        parts=(("rr", 3), ("hr", 2)),
    )


def test_news2_partial_band_comes_from_present_parameters() -> None:
    result = news2(rr=None, spo2=None, on_oxygen=True, sbp=90, hr=131, acvpu=None, temp_c=None)
    assert (result.score, result.band, result.missing) == (8, "high", ("rr", "spo2", "consciousness", "temp"))


def test_news2_partial_single_three_is_low_medium() -> None:
    result = news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="P", temp_c=None)
    assert (result.score, result.band, result.partial, result.missing) == (3, "low-medium", True, ("temp",))


def test_news2_everything_missing() -> None:
    result = news2(rr=None, spo2=None, on_oxygen=None, sbp=None, hr=None, acvpu=None, temp_c=None)
    assert result == News2(
        score=0,
        band="low",
        partial=True,
        missing=("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp"),
        parts=(),
    )


@pytest.mark.parametrize(
    ("rr", "spo2", "sbp", "hr", "temp_c", "match"),
    [
        (-1, 98, 120, 70, 37.0, "rr"),
        (16, 101, 120, 70, 37.0, "spo2"),
        (16, -1, 120, 70, 37.0, "spo2"),
        (16, 98, -1, 70, 37.0, "sbp"),
        (16, 98, 120, -1, 37.0, "hr"),
        (16, 98, 120, 70, float("nan"), "temp_c"),
        (16, 98, 120, 70, float("inf"), "temp_c"),
    ],
)
def test_news2_refuses_impossible_values(rr: int, spo2: int, sbp: int, hr: int, temp_c: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        news2(rr=rr, spo2=spo2, on_oxygen=False, sbp=sbp, hr=hr, acvpu="A", temp_c=temp_c)


def test_news2_refuses_unknown_acvpu_letter() -> None:
    with pytest.raises(ValueError, match="acvpu"):
        news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="X", temp_c=37.0)  # type: ignore[arg-type]


def test_news2_refuses_unknown_spo2_scale() -> None:
    with pytest.raises(ValueError, match="spo2_scale"):
        news2(rr=16, spo2=98, on_oxygen=False, sbp=120, hr=70, acvpu="A", temp_c=37.0, spo2_scale=3)  # type: ignore[arg-type]


# Shock index ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hr", "sbp", "expected"),
    [
        (59, 100, ShockIndex(value=0.59, klass="<0.6")),
        (60, 100, ShockIndex(value=0.6, klass="0.6-<1.0")),
        (54, 90, ShockIndex(value=0.6, klass="0.6-<1.0")),
        (99, 100, ShockIndex(value=0.99, klass="0.6-<1.0")),
        (100, 100, ShockIndex(value=1.0, klass="1.0-<1.4")),
        (90, 90, ShockIndex(value=1.0, klass="1.0-<1.4")),
        (139, 100, ShockIndex(value=1.39, klass="1.0-<1.4")),
        (140, 100, ShockIndex(value=1.4, klass=">=1.4")),
        (84, 60, ShockIndex(value=1.4, klass=">=1.4")),
        (0, 120, ShockIndex(value=0.0, klass="<0.6")),
    ],
)
def test_shock_index_class_edges(hr: int, sbp: int, expected: ShockIndex) -> None:
    assert shock_index(hr=hr, sbp=sbp) == expected


@pytest.mark.parametrize(
    ("hr", "sbp", "expected"),
    [
        (90, 151, ShockIndex(value=0.6, klass="<0.6")),  # 0.5960...
        (200, 201, ShockIndex(value=1.0, klass="0.6-<1.0")),  # 0.9950...
        (120, 86, ShockIndex(value=1.4, klass="1.0-<1.4")),  # 1.3953...
        (15, 120, ShockIndex(value=0.13, klass="<0.6")),  # 0.125 exactly, rounded half-up
    ],
)
def test_shock_index_class_comes_from_the_unrounded_ratio(hr: int, sbp: int, expected: ShockIndex) -> None:
    assert shock_index(hr=hr, sbp=sbp) == expected


@pytest.mark.parametrize(("hr", "sbp"), [(None, 120), (80, None), (None, None), (80, 0)])
def test_shock_index_is_none_when_missing_or_sbp_zero(hr: int | None, sbp: int | None) -> None:
    assert shock_index(hr=hr, sbp=sbp) is None


@pytest.mark.parametrize(("hr", "sbp", "match"), [(-1, 120, "hr"), (80, -1, "sbp")])
def test_shock_index_refuses_negative_values(hr: int, sbp: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        shock_index(hr=hr, sbp=sbp)


# Glasgow Coma Scale -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("eye", "verbal", "motor", "total"),
    [(1, 1, 1, 3), (4, 5, 6, 15), (2, 3, 5, 10), (3, 4, 6, 13)],
)
def test_gcs_total(eye: int, verbal: int, motor: int, total: int) -> None:
    assert gcs_total(eye=eye, verbal=verbal, motor=motor) == total


@pytest.mark.parametrize(
    ("eye", "verbal", "motor"),
    [(None, 5, 6), (4, None, 6), (4, 5, None), (None, None, None)],
)
def test_gcs_total_is_none_unless_all_three_present(eye: int | None, verbal: int | None, motor: int | None) -> None:
    assert gcs_total(eye=eye, verbal=verbal, motor=motor) is None


@pytest.mark.parametrize(
    ("eye", "verbal", "motor", "match"),
    [
        (0, 5, 6, "eye"),
        (5, 5, 6, "eye"),
        (4, 0, 6, "verbal"),
        (4, 6, 6, "verbal"),
        (4, 5, 0, "motor"),
        (4, 5, 7, "motor"),
        (5, None, None, "eye"),
    ],
)
def test_gcs_total_refuses_out_of_range_parts(
    eye: int | None, verbal: int | None, motor: int | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        gcs_total(eye=eye, verbal=verbal, motor=motor)


# Revised Trauma Score ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gcs", "code"),
    [(3, 0), (4, 1), (5, 1), (6, 2), (8, 2), (9, 3), (12, 3), (13, 4), (15, 4)],
)
def test_rts_gcs_code(gcs: int, code: int) -> None:
    result = rts(gcs=gcs, sbp=120, rr=16)
    assert result is not None
    assert result.gcs_code == code


@pytest.mark.parametrize(
    ("sbp", "code"),
    [(0, 0), (1, 1), (49, 1), (50, 2), (75, 2), (76, 3), (89, 3), (90, 4), (250, 4)],
)
def test_rts_sbp_code(sbp: int, code: int) -> None:
    result = rts(gcs=15, sbp=sbp, rr=16)
    assert result is not None
    assert result.sbp_code == code


@pytest.mark.parametrize(
    ("rr", "code"),
    [(0, 0), (1, 1), (5, 1), (6, 2), (9, 2), (10, 4), (29, 4), (30, 3), (60, 3)],
)
def test_rts_rr_code(rr: int, code: int) -> None:
    result = rts(gcs=15, sbp=120, rr=rr)
    assert result is not None
    assert result.rr_code == code


@pytest.mark.parametrize(
    ("gcs", "sbp", "rr", "expected"),
    [
        (15, 120, 16, Rts(gcs_code=4, sbp_code=4, rr_code=4, weighted=7.8408)),
        (3, 0, 0, Rts(gcs_code=0, sbp_code=0, rr_code=0, weighted=0.0)),
        (4, 1, 1, Rts(gcs_code=1, sbp_code=1, rr_code=1, weighted=1.9602)),
        (7, 80, 8, Rts(gcs_code=2, sbp_code=3, rr_code=2, weighted=4.653)),
        (10, 60, 30, Rts(gcs_code=3, sbp_code=2, rr_code=3, weighted=5.148)),
    ],
)
def test_rts_weighted(gcs: int, sbp: int, rr: int, expected: Rts) -> None:
    assert rts(gcs=gcs, sbp=sbp, rr=rr) == expected


@pytest.mark.parametrize(("gcs", "sbp", "rr"), [(None, 120, 16), (15, None, 16), (15, 120, None)])
def test_rts_is_none_when_any_input_missing(gcs: int | None, sbp: int | None, rr: int | None) -> None:
    assert rts(gcs=gcs, sbp=sbp, rr=rr) is None


@pytest.mark.parametrize(
    ("gcs", "sbp", "rr", "match"),
    [(2, 120, 16, "gcs"), (16, 120, 16, "gcs"), (15, -1, 16, "sbp"), (15, 120, -1, "rr")],
)
def test_rts_refuses_impossible_values(gcs: int, sbp: int, rr: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rts(gcs=gcs, sbp=sbp, rr=rr)


# qSOFA ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sbp", "rr", "altered", "expected"),
    [
        (100, 16, False, (1, False)),
        (101, 16, False, (0, False)),
        (120, 21, False, (0, False)),
        (120, 22, False, (1, False)),
        (120, 16, True, (1, False)),
        (100, 22, False, (2, True)),
        (101, 22, True, (2, True)),
        (100, 21, True, (2, True)),
        (101, 21, True, (1, False)),
        (100, 22, True, (3, True)),
    ],
)
def test_qsofa_edges(sbp: int, rr: int, altered: bool, expected: tuple[int, bool]) -> None:
    assert qsofa(sbp=sbp, rr=rr, altered_mentation=altered) == expected


@pytest.mark.parametrize(
    ("sbp", "rr", "altered", "expected"),
    [
        (None, None, None, (0, False)),
        (None, 22, True, (2, True)),
        (100, None, None, (1, False)),
        (None, None, True, (1, False)),
    ],
)
def test_qsofa_counts_only_present_criteria(
    sbp: int | None, rr: int | None, altered: bool | None, expected: tuple[int, bool]
) -> None:
    assert qsofa(sbp=sbp, rr=rr, altered_mentation=altered) == expected
