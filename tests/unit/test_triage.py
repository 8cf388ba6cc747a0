"""Boundary tests for dispatch.triage. Every threshold and every word is written out from clinical-rules.md."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest

from dispatch.triage import (
    RED_INJURY_CODES,
    RED_PHYSIOLOGY_CODES,
    YELLOW_CODES,
    Category,
    FieldTriage,
    Needs,
    PatientFacts,
    StrokeScreen,
    TriageColour,
    field_triage,
    needs,
    stroke_screen,
)
from tests.unit.patients import STABLE, facts

NOW: Final = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def hours_ago(hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    return NOW - timedelta(hours=hours, minutes=minutes, seconds=seconds)


# Field triage: red physiology, both sides of every boundary -----------------------------------------------------
def test_stable_adult_is_not_triaged() -> None:
    assert field_triage(STABLE) == FieldTriage(colour="none", reasons=())


@pytest.mark.parametrize(
    ("motor", "colour", "reasons"),
    [(1, "red", ("motor GCS 1 < 6",)), (5, "red", ("motor GCS 5 < 6",)), (6, "none", ())],
)
def test_motor_gcs_below_6_is_red(motor: int, colour: TriageColour, reasons: tuple[str, ...]) -> None:
    assert field_triage(facts(gcs_motor=motor)) == FieldTriage(colour=colour, reasons=reasons)


@pytest.mark.parametrize(
    ("rr", "colour", "reasons"),
    [
        (0, "red", ("RR 0 /min < 10",)),
        (9, "red", ("RR 9 /min < 10",)),
        (10, "none", ()),
        (29, "none", ()),
        (30, "red", ("RR 30 /min > 29",)),
    ],
)
def test_rr_below_10_or_above_29_is_red(rr: int, colour: TriageColour, reasons: tuple[str, ...]) -> None:
    assert field_triage(facts(rr=rr)) == FieldTriage(colour=colour, reasons=reasons)


def test_respiratory_support_is_red() -> None:
    result = field_triage(facts(respiratory_support=True))
    assert result == FieldTriage(colour="red", reasons=("respiratory distress or support needed",))


@pytest.mark.parametrize(
    ("spo2", "on_oxygen", "colour", "reasons"),
    [
        (89, False, "red", ("SpO2 89 % < 90 on room air",)),
        (90, False, "none", ()),
        (85, True, "none", ()),  # on oxygen: not a room-air saturation
        (85, None, "none", ()),  # air or oxygen not recorded: not red (needs() lists it as missing)
    ],
)
def test_room_air_spo2_below_90_is_red(
    spo2: int, on_oxygen: bool | None, colour: TriageColour, reasons: tuple[str, ...]
) -> None:
    assert field_triage(facts(spo2=spo2, on_oxygen=on_oxygen)) == FieldTriage(colour=colour, reasons=reasons)


@pytest.mark.parametrize(
    ("age", "sbp", "colour", "reasons"),
    [
        (0, 69, "red", ("SBP 69 mmHg < 70 (70 + 2×age, age 0)",)),
        (0, 70, "none", ()),
        (5, 79, "red", ("SBP 79 mmHg < 80 (70 + 2×age, age 5)",)),
        (5, 80, "none", ()),
        (9, 87, "red", ("SBP 87 mmHg < 88 (70 + 2×age, age 9)",)),
        (9, 88, "none", ()),
        (10, 89, "red", ("SBP 89 mmHg < 90 (age 10–64)",)),
        (10, 90, "none", ()),
        (40, 84, "red", ("SBP 84 mmHg < 90 (age 10–64)",)),
        (64, 89, "red", ("SBP 89 mmHg < 90 (age 10–64)",)),
        (64, 90, "none", ()),
        (65, 109, "red", ("SBP 109 mmHg < 110 (age ≥ 65)",)),
        (65, 110, "none", ()),
        (None, 89, "red", ("SBP 89 mmHg < 90 (age unknown: adult threshold)",)),
        (None, 90, "none", ()),
    ],
)
def test_sbp_below_the_threshold_for_age_is_red(
    age: int | None, sbp: int, colour: TriageColour, reasons: tuple[str, ...]
) -> None:
    result = field_triage(facts(age_years=age, sbp=sbp, hr=60))  # HR below SBP: only the SBP rule can fire
    assert result == FieldTriage(colour=colour, reasons=reasons)


@pytest.mark.parametrize(
    ("age", "hr", "sbp", "colour", "reasons"),
    [
        (10, 101, 100, "red", ("HR 101 > SBP 100",)),
        (9, 101, 100, "none", ()),  # the rule starts at age 10
        (10, 100, 100, "none", ()),  # HR == SBP is not HR > SBP
        (40, 120, 110, "red", ("HR 120 > SBP 110",)),
        (65, 121, 120, "red", ("HR 121 > SBP 120",)),
        (None, 101, 100, "red", ("HR 101 > SBP 100 (age unknown)",)),
        (None, 100, 100, "none", ()),
    ],
)
def test_hr_above_sbp_from_age_10_is_red(
    age: int | None, hr: int, sbp: int, colour: TriageColour, reasons: tuple[str, ...]
) -> None:
    assert field_triage(facts(age_years=age, hr=hr, sbp=sbp)) == FieldTriage(colour=colour, reasons=reasons)


def test_every_physiology_criterion_is_given_in_order() -> None:
    result = field_triage(facts(age_years=70, gcs_motor=4, rr=32, respiratory_support=True, spo2=82, hr=130, sbp=100))
    assert result == FieldTriage(
        colour="red",
        reasons=(
            "motor GCS 4 < 6",
            "RR 32 /min > 29",
            "respiratory distress or support needed",
            "SpO2 82 % < 90 on room air",
            "SBP 100 mmHg < 110 (age ≥ 65)",
            "HR 130 > SBP 100",
        ),
    )


def test_nothing_recorded_is_not_triaged() -> None:
    assert field_triage(PatientFacts()) == FieldTriage(colour="none", reasons=())


# Field triage: codes ---------------------------------------------------------------------------------------------
RED_INJURIES: Final = [
    ("penetrating_injury", "penetrating injury to head, neck, torso or proximal limbs"),
    ("skull_deformity", "skull deformity or suspected skull fracture"),
    ("spinal_injury_motor_sensory_loss", "suspected spinal injury with new motor or sensory loss"),
    ("chest_wall_instability", "chest wall instability or deformity (flail chest)"),
    ("pelvic_fracture", "suspected pelvic fracture"),
    ("two_proximal_long_bone_fractures", "suspected fracture of two or more proximal long bones"),
    ("crushed_degloved_mangled_pulseless_limb", "crushed, degloved, mangled or pulseless limb"),
    ("amputation_proximal", "amputation proximal to wrist or ankle"),
    ("active_bleeding_tourniquet_packing", "active bleeding needing a tourniquet or wound packing"),
]
RED_PHYSIOLOGY: Final = [
    ("unable_to_follow_commands", "unable to follow commands (motor GCS < 6)"),
    ("rr_below_10_or_above_29", "RR < 10 or > 29"),
    ("respiratory_support", "respiratory distress or need for respiratory support"),
    ("room_air_spo2_below_90", "room-air SpO2 < 90 %"),
    ("sbp_low_for_age", "SBP low for age"),
    ("hr_above_sbp", "HR > SBP (age ≥ 10)"),
]
YELLOWS: Final = [
    ("ejection", "partial or complete ejection"),
    ("intrusion", "intrusion > 12 in at an occupant site or > 18 in anywhere"),
    ("extrication", "need for extrication"),
    ("death_same_compartment", "death in the same passenger compartment"),
    ("child_unrestrained", "child 0–9 unrestrained"),
    ("vehicle_telemetry", "vehicle telemetry consistent with severe injury"),
    ("rider_separated", "rider separated from motorcycle, ATV or horse with significant impact"),
    ("pedestrian_cyclist_struck", "pedestrian or cyclist thrown, run over or hit with significant impact"),
    ("fall_over_10ft", "fall from height > 10 ft"),
    ("low_fall_head_impact_young_or_old", "low-level fall with significant head impact, age ≤ 5 or ≥ 65"),
    ("anticoagulants", "anticoagulant use"),
    ("suspected_child_abuse", "suspected child abuse"),
    ("special_health_care_needs", "special high-resource health-care needs"),
    ("pregnancy_over_20_weeks", "pregnancy > 20 weeks"),
    ("burns_with_trauma", "burns with trauma"),
    ("ems_judgment", "other EMS judgment"),
]


def test_the_code_tables_hold_exactly_the_rules_file_criteria() -> None:
    assert list(RED_INJURY_CODES.items()) == RED_INJURIES
    assert list(RED_PHYSIOLOGY_CODES.items()) == RED_PHYSIOLOGY
    assert list(YELLOW_CODES.items()) == YELLOWS


@pytest.mark.parametrize(("code", "words"), RED_INJURIES + RED_PHYSIOLOGY)
def test_every_red_code_is_red(code: str, words: str) -> None:
    assert field_triage(facts(triage_red=(code,))) == FieldTriage(colour="red", reasons=(words,))


@pytest.mark.parametrize(("code", "words"), YELLOWS)
def test_every_yellow_code_is_yellow(code: str, words: str) -> None:
    assert field_triage(facts(triage_yellow=(code,))) == FieldTriage(colour="yellow", reasons=(words,))


def test_red_wins_over_yellow_and_every_criterion_is_listed_red_first() -> None:
    result = field_triage(facts(triage_yellow=("ejection",), triage_red=("pelvic_fracture",), gcs_motor=5))
    assert result == FieldTriage(
        colour="red", reasons=("suspected pelvic fracture", "motor GCS 5 < 6", "partial or complete ejection")
    )


def test_red_physiology_with_a_yellow_code_is_red() -> None:
    result = field_triage(facts(triage_yellow=("anticoagulants",), sbp=84))
    assert result == FieldTriage(colour="red", reasons=("SBP 84 mmHg < 90 (age 10–64)", "anticoagulant use"))


def test_unrecognised_codes_count_at_their_colour_and_duplicates_once() -> None:
    assert field_triage(facts(triage_red=("new_code", "new_code"))) == FieldTriage(
        colour="red", reasons=("unrecognised code 'new_code'",)
    )
    assert field_triage(facts(triage_yellow=("ejection", "other", "ejection"))) == FieldTriage(
        colour="yellow", reasons=("partial or complete ejection", "unrecognised code 'other'")
    )


# Stroke screen ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("race", "lams", "lvo", "reasons"),
    [
        (4, None, False, ("RACE 4 < 5",)),
        (5, None, True, ("RACE 5 ≥ 5: LVO likely",)),
        (None, 3, False, ("LAMS 3 < 4",)),
        (None, 4, True, ("LAMS 4 ≥ 4: LVO likely",)),
        (4, 4, True, ("RACE 4 < 5", "LAMS 4 ≥ 4: LVO likely")),
        (5, 3, True, ("RACE 5 ≥ 5: LVO likely", "LAMS 3 < 4")),
        (0, 0, False, ("RACE 0 < 5", "LAMS 0 < 4")),
    ],
)
def test_lvo_is_race_5_or_more_or_lams_4_or_more(
    race: int | None, lams: int | None, lvo: bool, reasons: tuple[str, ...]
) -> None:
    screen = stroke_screen(facts(race=race, lams=lams, last_known_well=hours_ago(1)), now=NOW)
    assert screen == StrokeScreen(
        suspected=True,
        lvo=lvo,
        minutes_since_lkw=60,
        within_window=True,
        reasons=(*reasons, "last known well 1 h ago (within 6 h)"),
    )


@pytest.mark.parametrize(
    ("ago", "minutes", "within", "said"),
    [
        (timedelta(hours=5, minutes=59), 359, True, "last known well 5 h 59 min ago (within 6 h)"),
        (timedelta(hours=6), 360, True, "last known well 6 h ago (within 6 h)"),
        (timedelta(hours=6, seconds=59), 360, True, "last known well 6 h ago (within 6 h)"),
        (timedelta(hours=6, minutes=1), 361, False, "last known well 6 h 01 min ago (beyond 6 h)"),
        (timedelta(minutes=5), 5, True, "last known well 5 min ago (within 6 h)"),
        (timedelta(days=1), 1440, False, "last known well 24 h ago (beyond 6 h)"),
    ],
)
def test_within_6_h_is_at_most_360_whole_minutes(ago: timedelta, minutes: int, within: bool, said: str) -> None:
    screen = stroke_screen(facts(suspected="stroke", race=6, last_known_well=NOW - ago), now=NOW)
    assert (screen.minutes_since_lkw, screen.within_window, screen.reasons) == (
        minutes,
        within,
        ("RACE 6 ≥ 5: LVO likely", said),
    )


@pytest.mark.parametrize(("minutes", "within"), [(270, True), (271, False)])
def test_the_lvo_window_is_a_parameter(minutes: int, within: bool) -> None:
    f = facts(suspected="stroke", lams=5, last_known_well=NOW - timedelta(minutes=minutes))
    screen = stroke_screen(f, now=NOW, lvo_window=timedelta(hours=4, minutes=30))
    assert screen.within_window is within
    assert screen.reasons[-1].endswith("within 4 h 30 min)" if within else "beyond 4 h 30 min)")


def test_last_known_well_after_now_counts_as_0_minutes_and_says_so() -> None:
    screen = stroke_screen(facts(suspected="stroke", last_known_well=NOW + timedelta(minutes=2)), now=NOW)
    assert (screen.minutes_since_lkw, screen.within_window) == (0, True)
    assert screen.reasons == ("last known well 0 min ago (within 6 h)", "last known well is after now: check the clock")


@pytest.mark.parametrize(
    ("f", "suspected", "lvo", "reasons"),
    [
        (PatientFacts(), False, False, ()),
        (PatientFacts(suspected="stroke"), True, False, ("last known well not recorded",)),
        (
            PatientFacts(suspected="stroke", race=7),
            True,
            True,
            ("RACE 7 ≥ 5: LVO likely", "last known well not recorded: treated as within 6 h"),
        ),
        (PatientFacts(lams=2), True, False, ("LAMS 2 < 4", "last known well not recorded")),
    ],
)
def test_suspected_is_a_suspected_stroke_or_a_recorded_scale(
    f: PatientFacts, suspected: bool, lvo: bool, reasons: tuple[str, ...]
) -> None:
    assert stroke_screen(f, now=NOW) == StrokeScreen(
        suspected=suspected, lvo=lvo, minutes_since_lkw=None, within_window=None, reasons=reasons
    )


def test_lvo_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lvo_window"):
        stroke_screen(STABLE, now=NOW, lvo_window=timedelta(0))


# Needs: category precedence ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "category"),
    [
        # cardiac arrest beats a STEMI finding, red trauma and LVO
        (
            facts(suspected="cardiac_arrest", stemi=True, triage_red=("penetrating_injury",), race=7),
            "cardiac_arrest",
        ),
        # a STEMI finding beats red trauma and LVO, whatever the crew suspected
        (facts(suspected="stroke", stemi=True, race=7, triage_red=("penetrating_injury",)), "stemi"),
        (facts(suspected="stemi"), "stemi"),
        (facts(suspected="stemi", stemi=False), "stemi"),
        # red trauma beats LVO
        (
            facts(suspected="stroke", race=7, last_known_well=hours_ago(1), triage_red=("skull_deformity",)),
            "trauma_red",
        ),
        (facts(suspected="trauma", gcs_motor=5), "trauma_red"),
        # LVO within the window (or LKW unknown) beats yellow trauma
        (
            facts(suspected="stroke", race=5, last_known_well=hours_ago(1), triage_yellow=("anticoagulants",)),
            "stroke_lvo",
        ),
        (facts(suspected="stroke", lams=4), "stroke_lvo"),
        (facts(race=5, last_known_well=hours_ago(6)), "stroke_lvo"),
        # stroke without LVO, or LVO beyond the window
        (facts(race=5, last_known_well=hours_ago(6, 1)), "stroke"),
        (facts(suspected="stroke", race=4, triage_yellow=("fall_over_10ft",)), "stroke"),
        (facts(suspected="stroke"), "stroke"),
        # yellow trauma
        (facts(suspected="trauma", triage_yellow=("ejection",)), "trauma_yellow"),
        (facts(triage_yellow=("fall_over_10ft",)), "trauma_yellow"),
        (facts(suspected="obstetric", triage_yellow=("pregnancy_over_20_weeks", "ejection")), "trauma_yellow"),
        (facts(suspected="trauma", triage_yellow=("pregnancy_over_20_weeks",)), "trauma_yellow"),
        # suspected trauma with nothing met stays general, even when the sepsis criteria are met
        (facts(suspected="trauma"), "general"),
        (facts(suspected="trauma", sbp=95, rr=24), "general"),
        # sepsis: criteria met, or suspected
        (facts(sbp=100, rr=22), "sepsis"),
        (facts(suspected="general", lactate_mmol_l=4.0), "sepsis"),
        (facts(suspected="sepsis"), "sepsis"),
        (facts(suspected="obstetric", sbp=100, avpu="V"), "sepsis"),
        # obstetric: suspected, or pregnancy > 20 weeks with no trauma
        (facts(suspected="obstetric"), "obstetric"),
        (facts(triage_yellow=("pregnancy_over_20_weeks",)), "obstetric"),
        # general; red physiology outside trauma context is not trauma
        (facts(), "general"),
        (facts(suspected="general", rr=35), "general"),
        (PatientFacts(), "general"),
    ],
)
def test_category_precedence(f: PatientFacts, category: Category) -> None:
    assert needs(f, now=NOW).category == category


# Needs: capabilities ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "trauma_centre"),
    [
        (facts(triage_red=("pelvic_fracture",)), "highest"),
        (facts(suspected="trauma", hr=120, sbp=110), "highest"),
        (facts(suspected="trauma", triage_yellow=("extrication",)), "any"),
        (facts(suspected="trauma"), None),
        (facts(triage_yellow=("pregnancy_over_20_weeks",)), None),
        (facts(suspected="general", sbp=80), None),  # red physiology, but not injured
        # the trauma centre follows the category: a higher one leads, a stroke beats yellow trauma
        (facts(suspected="cardiac_arrest", triage_red=("penetrating_injury",)), None),
        (facts(suspected="stemi", triage_red=("penetrating_injury",)), None),
        (facts(suspected="stroke", triage_yellow=("anticoagulants",)), None),
        (facts(suspected="stroke", lams=4, triage_red=("penetrating_injury",)), "highest"),
    ],
)
def test_trauma_centre(f: PatientFacts, trauma_centre: str | None) -> None:
    assert needs(f, now=NOW).trauma_centre == trauma_centre


@pytest.mark.parametrize(
    ("age", "red", "yellow", "pediatric"),
    [
        (0, (), ("ejection",), True),
        (14, (), ("ejection",), True),
        (15, (), ("ejection",), False),
        (None, (), ("ejection",), False),
        (8, ("pelvic_fracture",), (), True),
    ],
)
def test_pediatric_is_age_below_15_with_a_trauma_centre(
    age: int | None, red: tuple[str, ...], yellow: tuple[str, ...], pediatric: bool
) -> None:
    f = facts(age_years=age, hr=70, sbp=110, triage_red=red, triage_yellow=yellow)
    assert needs(f, now=NOW).pediatric is pediatric


def test_a_child_without_trauma_is_not_pediatric_trauma() -> None:
    assert needs(facts(age_years=8, hr=90, sbp=100, suspected="general"), now=NOW).pediatric is False
    # a stroke leads a yellow trauma: no trauma centre, so no pediatric trauma centre
    assert needs(facts(age_years=8, hr=90, sbp=100, race=6, triage_yellow=("ejection",)), now=NOW).pediatric is False


def test_a_trauma_colour_that_does_not_lead_is_given_without_a_destination() -> None:
    f = facts(suspected="stroke", lams=2, last_known_well=hours_ago(1), triage_yellow=("anticoagulants",))
    assert needs(f, now=NOW).reasons == (
        "suspected stroke: nearest stroke-capable centre",
        "LAMS 2 < 4",
        "last known well 1 h ago (within 6 h)",
        "field triage YELLOW",
        "anticoagulant use",
    )


@pytest.mark.parametrize(
    ("f", "stroke"),
    [
        (facts(race=5, last_known_well=hours_ago(6)), "thrombectomy"),
        (facts(race=5), "thrombectomy"),  # LKW unknown: treated as within
        (facts(race=5, last_known_well=hours_ago(6, 1)), "any"),
        (facts(race=4, last_known_well=hours_ago(1)), "any"),
        (facts(suspected="stroke"), "any"),
        (facts(), None),
        (facts(suspected="stroke", lams=4, triage_red=("skull_deformity",)), "thrombectomy"),  # trauma_red leads
    ],
)
def test_stroke_need(f: PatientFacts, stroke: str | None) -> None:
    assert needs(f, now=NOW).stroke == stroke


@pytest.mark.parametrize(
    ("f", "pci"),
    [
        (facts(stemi=True), True),
        (facts(suspected="stemi"), True),
        (facts(suspected="cardiac_arrest", stemi=True), True),
        (facts(stemi=False), False),
        (facts(suspected="stroke"), False),
    ],
)
def test_pci(f: PatientFacts, pci: bool) -> None:
    assert needs(f, now=NOW).pci is pci


@pytest.mark.parametrize(
    ("f", "obstetric"),
    [
        (facts(suspected="obstetric"), True),
        (facts(triage_yellow=("pregnancy_over_20_weeks",)), True),
        (facts(suspected="trauma", triage_yellow=("pregnancy_over_20_weeks", "ejection")), True),
        (facts(suspected="trauma", triage_yellow=("ejection",)), False),
    ],
)
def test_obstetric(f: PatientFacts, obstetric: bool) -> None:
    assert needs(f, now=NOW).obstetric is obstetric


# Needs: too unstable to divert ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "unstable", "said"),
    [
        (facts(sbp=89), True, "SBP 89 mmHg < 90"),
        (facts(sbp=90), False, None),
        (facts(spo2=89), True, "SpO2 89 % < 90"),
        (facts(spo2=89, on_oxygen=True), True, "SpO2 89 % < 90"),
        (facts(spo2=90), False, None),
        (facts(rr=9), True, "RR 9 /min < 10"),
        (facts(rr=10), False, None),
        (facts(rr=29), False, None),
        (facts(rr=30), True, "RR 30 /min > 29"),
        (facts(gcs_eye=2, gcs_verbal=2, gcs_motor=4), True, "GCS 8 ≤ 8"),
        (facts(gcs_eye=2, gcs_verbal=3, gcs_motor=4), False, None),
        (facts(gcs_eye=None, gcs_verbal=1, gcs_motor=1), False, None),  # no total without all three parts
        (facts(suspected="cardiac_arrest"), True, "cardiac arrest"),
    ],
)
def test_unstable(f: PatientFacts, unstable: bool, said: str | None) -> None:
    result = needs(f, now=NOW)
    assert result.unstable is unstable
    said_unstable = tuple(reason for reason in result.reasons if reason.startswith("too unstable to divert"))
    assert said_unstable == ((f"too unstable to divert: {said}",) if unstable else ())


def test_every_unstable_criterion_is_in_one_reason() -> None:
    result = needs(facts(sbp=70, spo2=80, rr=6, gcs_eye=1, gcs_verbal=1, gcs_motor=1), now=NOW)
    assert "too unstable to divert: SBP 70 mmHg < 90, SpO2 80 % < 90, RR 6 /min < 10, GCS 3 ≤ 8" in result.reasons


# Needs: sepsis ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "sepsis", "said"),
    [
        (facts(sbp=100, rr=21), False, "qSOFA 1 < 2 (SBP 100 ≤ 100)"),
        (facts(sbp=100, rr=22), True, "qSOFA 2 ≥ 2 (SBP 100 ≤ 100, RR 22 ≥ 22)"),
        (facts(sbp=101, rr=22, avpu="V"), True, "qSOFA 2 ≥ 2 (RR 22 ≥ 22, altered mentation)"),
        (facts(sbp=101, rr=22, avpu="C"), True, "qSOFA 2 ≥ 2 (RR 22 ≥ 22, altered mentation)"),
        (facts(sbp=100, gcs_verbal=4), True, "qSOFA 2 ≥ 2 (SBP 100 ≤ 100, altered mentation)"),  # GCS 14, alert
        (facts(sbp=101, rr=21, avpu="U"), False, "qSOFA 1 < 2 (altered mentation)"),
        (facts(sbp=101, rr=21), False, "qSOFA 0 < 2"),
        (facts(sbp=100, rr=22, avpu="A"), True, "qSOFA 2 ≥ 2 (SBP 100 ≤ 100, RR 22 ≥ 22)"),
        (
            facts(sbp=100, rr=22, avpu="P", gcs_eye=2),
            True,
            "qSOFA 3 ≥ 2 (SBP 100 ≤ 100, RR 22 ≥ 22, altered mentation)",
        ),
    ],
)
def test_sepsis_by_qsofa(f: PatientFacts, sepsis: bool, said: str) -> None:
    result = needs(replace(f, suspected="sepsis"), now=NOW)
    assert (result.category, result.sepsis) == ("sepsis", sepsis)
    assert result.reasons[:2] == (
        "sepsis alert criteria met" if sepsis else "suspected sepsis, alert criteria not met",
        said,
    )


@pytest.mark.parametrize(
    ("f", "category", "sepsis"),
    [
        (facts(sbp=100, rr=21), "general", False),
        (facts(sbp=100, rr=22), "sepsis", True),
        (facts(sbp=100, avpu="V"), "sepsis", True),
        (facts(lactate_mmol_l=3.9), "general", False),
        (facts(lactate_mmol_l=4.0), "sepsis", True),
    ],
)
def test_sepsis_criteria_make_the_category_without_suspicion(f: PatientFacts, category: Category, sepsis: bool) -> None:
    result = needs(f, now=NOW)
    assert (result.category, result.sepsis) == (category, sepsis)


@pytest.mark.parametrize(
    ("lactate", "sepsis", "said"), [(3.9, False, "lactate 3.9 mmol/L < 4"), (4.0, True, "lactate 4 mmol/L ≥ 4")]
)
def test_sepsis_by_lactate(lactate: float, sepsis: bool, said: str) -> None:
    result = needs(facts(suspected="sepsis", lactate_mmol_l=lactate), now=NOW)
    assert result.sepsis is sepsis
    assert result.category == "sepsis"
    assert result.reasons == (
        "sepsis alert criteria met" if sepsis else "suspected sepsis, alert criteria not met",
        "qSOFA 0 < 2",
        said,
    )


# Needs: whole answers, reasons most important first ---------------------------------------------------------------
def test_red_trauma_child() -> None:
    f = facts(suspected="trauma", age_years=8, sbp=85, hr=130, rr=24, triage_yellow=("ejection",))
    assert needs(f, now=NOW) == Needs(
        category="trauma_red",
        trauma_centre="highest",
        pediatric=True,
        pci=False,
        stroke=None,
        obstetric=False,
        unstable=True,
        sepsis=True,
        reasons=(
            "trauma RED: highest-level trauma centre",
            "child, age 8: pediatric-capable trauma centre preferred",
            "SBP 85 mmHg < 86 (70 + 2×age, age 8)",
            "partial or complete ejection",
            "too unstable to divert: SBP 85 mmHg < 90",
            "sepsis alert criteria met",
            "qSOFA 2 ≥ 2 (SBP 85 ≤ 100, RR 24 ≥ 22)",
        ),
        missing=(),
    )


def test_lvo_with_unknown_last_known_well() -> None:
    assert needs(facts(suspected="stroke", race=6), now=NOW) == Needs(
        category="stroke_lvo",
        trauma_centre=None,
        pediatric=False,
        pci=False,
        stroke="thrombectomy",
        obstetric=False,
        unstable=False,
        sepsis=False,
        reasons=(
            "stroke with suspected LVO: thrombectomy-capable centre preferred",
            "RACE 6 ≥ 5: LVO likely",
            "last known well not recorded: treated as within 6 h",
        ),
        missing=("last known well",),
    )


def test_lvo_beyond_the_window() -> None:
    result = needs(facts(suspected="stroke", lams=4, last_known_well=hours_ago(6, 1)), now=NOW)
    assert (result.category, result.stroke, result.missing) == ("stroke", "any", ())
    assert result.reasons == (
        "stroke with suspected LVO, beyond the window: nearest stroke-capable centre",
        "LAMS 4 ≥ 4: LVO likely",
        "last known well 6 h 01 min ago (beyond 6 h)",
    )


def test_traumatic_cardiac_arrest_with_stemi() -> None:
    result = needs(
        PatientFacts(suspected="cardiac_arrest", stemi=True, triage_red=("penetrating_injury",), age_years=50),
        now=NOW,
    )
    assert (result.category, result.trauma_centre, result.pci, result.unstable) == (
        "cardiac_arrest",
        None,
        True,
        True,
    )
    assert result.reasons == (
        "cardiac arrest",
        "too unstable to divert: cardiac arrest",
        "STEMI on 12-lead: PCI-capable centre",
        "field triage RED",
        "penetrating injury to head, neck, torso or proximal limbs",
    )
    assert result.missing == ()


@pytest.mark.parametrize(
    ("f", "said"),
    [
        (facts(stemi=True), "STEMI on 12-lead: PCI-capable centre"),
        (facts(suspected="stemi"), "suspected STEMI (12-lead not recorded): PCI-capable centre"),
        (facts(suspected="stemi", stemi=False), "suspected STEMI (12-lead shows no STEMI): PCI-capable centre"),
    ],
)
def test_stemi_reason(f: PatientFacts, said: str) -> None:
    assert needs(f, now=NOW).reasons == (said,)


@pytest.mark.parametrize(
    ("f", "reasons"),
    [
        (facts(), ("no time-critical pathway",)),
        (facts(suspected="trauma"), ("suspected trauma, no field-triage criterion met",)),
        (facts(suspected="obstetric"), ("obstetric care needed",)),
        (
            facts(suspected="trauma", triage_yellow=("extrication",)),
            ("trauma YELLOW: trauma centre", "need for extrication"),
        ),
    ],
)
def test_short_reasons(f: PatientFacts, reasons: tuple[str, ...]) -> None:
    assert needs(f, now=NOW).reasons == reasons


# Needs: missing inputs --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("f", "missing"),
    [
        (STABLE, ()),
        (PatientFacts(), ("suspected condition", "SBP", "SpO2", "RR", "GCS", "AVPU or GCS")),
        (PatientFacts(suspected="general"), ("SBP", "SpO2", "RR", "GCS", "AVPU or GCS")),
        (PatientFacts(suspected="trauma"), ("age", "motor GCS", "RR", "SpO2", "SBP", "HR", "GCS")),
        # red already: only what changes the thresholds, pediatric and "unstable"
        (PatientFacts(triage_red=("pelvic_fracture",)), ("age", "SBP", "SpO2", "RR", "GCS")),
        (facts(suspected="trauma", age_years=None), ("age",)),
        (facts(suspected="trauma", age_years=5, hr=None), ()),  # no HR rule under 10
        (facts(suspected="trauma", age_years=40, hr=None), ("HR",)),
        (facts(suspected="trauma", spo2=88, on_oxygen=None), ("air or oxygen",)),
        (facts(suspected="trauma", spo2=None, on_oxygen=True), ("SpO2",)),  # not for triage; for "unstable"
        (facts(suspected="stemi"), ("12-lead ECG",)),
        (facts(suspected="stroke"), ("RACE or LAMS", "last known well")),
        (facts(suspected="stroke", race=6), ("last known well",)),
        (facts(suspected="stroke", race=3), ()),  # no LVO: LKW does not change the answer
        (facts(suspected="sepsis"), ("lactate",)),
        (facts(suspected="sepsis", sbp=None, rr=None), ("SBP", "RR", "lactate")),
        (facts(sbp=95, rr=None), ("RR",)),  # one qSOFA point: RR could make two
        (facts(sbp=120, rr=None), ("RR",)),  # for "unstable" only
        (
            facts(avpu=None, gcs_eye=None, gcs_verbal=None, gcs_motor=None),
            ("GCS",),
        ),  # no qSOFA point: one more cannot make two
        (facts(avpu=None, gcs_eye=None, gcs_verbal=None, gcs_motor=None, sbp=95), ("GCS", "AVPU or GCS")),
        (facts(avpu="A", gcs_eye=None, sbp=95), ("GCS",)),  # AVPU answers mentation; GCS <= 8 still open
        (facts(suspected=None), ("suspected condition",)),
        (facts(suspected="cardiac_arrest", sbp=None), ()),  # already unstable
    ],
)
def test_missing(f: PatientFacts, missing: tuple[str, ...]) -> None:
    assert needs(f, now=NOW).missing == missing


# Inputs -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"age_years": -1},
        {"age_years": 121},
        {"hr": -1},
        {"sbp": 301},
        {"rr": 81},
        {"spo2": 101},
        {"gcs_eye": 5},
        {"gcs_verbal": 0},
        {"gcs_motor": 7},
        {"race": 10},
        {"lams": 6},
        {"lactate_mmol_l": -0.1},
        {"lactate_mmol_l": math.nan},
        {"temp_c": math.inf},
    ],
)
def test_impossible_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        facts(**changes)


def test_the_clock_is_an_argument() -> None:
    f = facts(suspected="stroke", race=6, last_known_well=datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    assert needs(f, now=datetime(2026, 11, 24, 12, 0, tzinfo=UTC)).category == "stroke_lvo"
    assert needs(f, now=datetime(2026, 11, 24, 12, 1, tzinfo=UTC)).category == "stroke"
