"""Field triage, stroke screen and destination needs of one patient. Pure: no I/O, no configuration, no clock
(``now`` is an argument); stdlib only plus ``dispatch.clinical``. Each rule is from ``clinical-rules.md``:

- ``field_triage``   ACS 2021 field triage of injured patients: red, yellow or none, with every criterion met.
- ``stroke_screen``  RACE >= 5 or LAMS >= 4 suggests a large-vessel occlusion (LVO); last known well (LKW) within
                     the LVO window (6 h, Mission: Lifeline 2017; a parameter).
- ``needs``          one category by precedence, every destination capability needed, reasons, missing inputs.

Interpretations beyond the rules file:

- Trauma context: suspected trauma, a red code, or a yellow code other than ``pregnancy_over_20_weeks`` (pregnancy
  alone is obstetric). ``field_triage`` itself evaluates whoever it is given.
- A code not in the tables still counts at the colour it was recorded under, as "unrecognised code"; duplicates once.
- Room-air SpO2 < 90 is red only when ``on_oxygen`` is False; unknown is not red, and ``needs`` lists "air or oxygen".
- LKW age is in whole minutes, rounded down: "within 6 h" is ``minutes_since_lkw <= 360``, so up to 6 h 00 min 59 s.
  A LKW after ``now`` (clock skew) counts as 0 min and says so.
- ``needs``: the trauma centre (and so pediatric) follows the category: only trauma_red and trauma_yellow set it, so a
  stroke with a yellow code goes to a stroke centre. PCI, stroke, obstetric and sepsis are set whenever their own
  condition holds (post-arrest STEMI needs PCI, a pregnant trauma patient obstetric care); the router reads them in
  its own order. A field-triage colour that does not lead is still given in the reasons, without a destination.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from dispatch.clinical import Acvpu, gcs_total, qsofa

Suspected = Literal["stemi", "stroke", "trauma", "sepsis", "cardiac_arrest", "obstetric", "general"]
TriageColour = Literal["red", "yellow", "none"]
Category = Literal[
    "cardiac_arrest", "stemi", "stroke_lvo", "stroke", "trauma_red", "trauma_yellow", "sepsis", "obstetric", "general"
]

# ACS 2021 field triage: code -> words --------------------------------------------------------------------------------
RED_INJURY_CODES: Final[dict[str, str]] = {
    "penetrating_injury": "penetrating injury to head, neck, torso or proximal limbs",
    "skull_deformity": "skull deformity or suspected skull fracture",
    "spinal_injury_motor_sensory_loss": "suspected spinal injury with new motor or sensory loss",
    "chest_wall_instability": "chest wall instability or deformity (flail chest)",
    "pelvic_fracture": "suspected pelvic fracture",
    "two_proximal_long_bone_fractures": "suspected fracture of two or more proximal long bones",
    "crushed_degloved_mangled_pulseless_limb": "crushed, degloved, mangled or pulseless limb",
    "amputation_proximal": "amputation proximal to wrist or ankle",
    "active_bleeding_tourniquet_packing": "active bleeding needing a tourniquet or wound packing",
}
RED_PHYSIOLOGY_CODES: Final[dict[str, str]] = {  # the crew's own finding, when no number backs it
    "unable_to_follow_commands": "unable to follow commands (motor GCS < 6)",
    "rr_below_10_or_above_29": "RR < 10 or > 29",
    "respiratory_support": "respiratory distress or need for respiratory support",
    "room_air_spo2_below_90": "room-air SpO2 < 90 %",
    "sbp_low_for_age": "SBP low for age",
    "hr_above_sbp": "HR > SBP (age ≥ 10)",
}
YELLOW_CODES: Final[dict[str, str]] = {
    "ejection": "partial or complete ejection",
    "intrusion": "intrusion > 12 in at an occupant site or > 18 in anywhere",
    "extrication": "need for extrication",
    "death_same_compartment": "death in the same passenger compartment",
    "child_unrestrained": "child 0–9 unrestrained",
    "vehicle_telemetry": "vehicle telemetry consistent with severe injury",
    "rider_separated": "rider separated from motorcycle, ATV or horse with significant impact",
    "pedestrian_cyclist_struck": "pedestrian or cyclist thrown, run over or hit with significant impact",
    "fall_over_10ft": "fall from height > 10 ft",
    "low_fall_head_impact_young_or_old": "low-level fall with significant head impact, age ≤ 5 or ≥ 65",
    "anticoagulants": "anticoagulant use",
    "suspected_child_abuse": "suspected child abuse",
    "special_health_care_needs": "special high-resource health-care needs",
    "pregnancy_over_20_weeks": "pregnancy > 20 weeks",
    "burns_with_trauma": "burns with trauma",
    "ems_judgment": "other EMS judgment",
}
_PREGNANCY: Final = "pregnancy_over_20_weeks"
_TRAUMA_CENTRE: Final[dict[str, Literal["highest", "any"]]] = {"trauma_red": "highest", "trauma_yellow": "any"}
PEDIATRIC_BELOW_AGE: Final = 15  # "children" in the ACS guideline; the rules file names no age
_LIMITS: Final = (  # impossible beyond these: the wire's ranges (protocol.py), and the scales' own
    *(("age_years", 0, 120), ("hr", 0, 300), ("sbp", 0, 300), ("rr", 0, 80), ("spo2", 0, 100), ("temp_c", 25, 45)),
    *(("gcs_eye", 1, 4), ("gcs_verbal", 1, 5), ("gcs_motor", 1, 6), ("race", 0, 9), ("lams", 0, 5)),
    ("lactate_mmol_l", 0, 100),
)


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """The latest of everything recorded for one patient (None = not recorded). Units as on the wire.

    A value outside its range raises ``ValueError``: the wire's ranges (age 0-120, HR and SBP 0-300, RR 0-80, SpO2
    0-100, temperature 25-45 °C, GCS parts), RACE 0-9, LAMS 0-5, lactate 0-100 mmol/L; NaN and infinity too.
    """

    age_years: int | None = None
    hr: int | None = None
    sbp: int | None = None
    rr: int | None = None
    spo2: int | None = None
    on_oxygen: bool | None = None
    temp_c: float | None = None
    avpu: Acvpu | None = None
    gcs_eye: int | None = None
    gcs_verbal: int | None = None
    gcs_motor: int | None = None
    suspected: Suspected | None = None
    race: int | None = None
    lams: int | None = None
    last_known_well: datetime | None = None
    stemi: bool | None = None  # 12-lead STEMI finding
    triage_red: tuple[str, ...] = ()  # codes from RED_INJURY_CODES / RED_PHYSIOLOGY_CODES recorded by the crew
    triage_yellow: tuple[str, ...] = ()  # codes from YELLOW_CODES
    respiratory_support: bool = False  # respiratory distress or need for respiratory support (a red criterion)
    lactate_mmol_l: float | None = None

    def __post_init__(self) -> None:
        for name, low, high in _LIMITS:
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name} must be between {low} and {high}, got {value}")


# Field triage (ACS 2021) ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldTriage:
    colour: TriageColour
    reasons: tuple[str, ...]  # every criterion met, red first, in words with the value


def field_triage(f: PatientFacts) -> FieldTriage:
    """RED on any red injury code or physiology criterion; else YELLOW on any yellow code; else "none".

    Physiology: motor GCS < 6; RR < 10 or > 29; respiratory distress or support; room-air SpO2 < 90; SBP < 70 + 2×age
    at age 0-9, < 90 at 10-64, < 110 at >= 65; HR > SBP at age >= 10. Age unknown: the 10-64 SBP threshold and the
    HR > SBP rule apply, and the reason says "age unknown".
    """
    red = (*_code_reasons(f.triage_red, RED_INJURY_CODES | RED_PHYSIOLOGY_CODES), *_red_physiology(f))
    yellow = _code_reasons(f.triage_yellow, YELLOW_CODES)
    colour: TriageColour = "red" if red else "yellow" if yellow else "none"
    return FieldTriage(colour=colour, reasons=(*red, *yellow))


def _code_reasons(codes: tuple[str, ...], words: dict[str, str]) -> tuple[str, ...]:
    return tuple(words.get(code, f"unrecognised code {code!r}") for code in dict.fromkeys(codes))


def _red_physiology(f: PatientFacts) -> tuple[str, ...]:
    limit, why = _sbp_limit(f.age_years)
    hr_rule = f.age_years is None or f.age_years >= 10
    unknown = " (age unknown)" if f.age_years is None else ""
    return _present(
        f"motor GCS {f.gcs_motor} < 6" if f.gcs_motor is not None and f.gcs_motor < 6 else None,
        _rr_out_of_range(f),
        "respiratory distress or support needed" if f.respiratory_support else None,
        f"SpO2 {f.spo2} % < 90 on room air" if f.spo2 is not None and f.spo2 < 90 and f.on_oxygen is False else None,
        f"SBP {f.sbp} mmHg < {limit} ({why})" if f.sbp is not None and f.sbp < limit else None,
        f"HR {f.hr} > SBP {f.sbp}{unknown}" if hr_rule and _hr_above_sbp(f) else None,
    )


def _present(*reasons: str | None) -> tuple[str, ...]:
    return tuple(reason for reason in reasons if reason is not None)


def _hr_above_sbp(f: PatientFacts) -> bool:
    return f.hr is not None and f.sbp is not None and f.hr > f.sbp


def _rr_out_of_range(f: PatientFacts) -> str | None:
    if f.rr is not None and f.rr < 10:
        return f"RR {f.rr} /min < 10"
    if f.rr is not None and f.rr > 29:
        return f"RR {f.rr} /min > 29"
    return None


def _sbp_limit(age: int | None) -> tuple[int, str]:
    if age is None:
        return 90, "age unknown: adult threshold"
    if age <= 9:
        return 70 + 2 * age, f"70 + 2×age, age {age}"
    if age <= 64:
        return 90, "age 10–64"
    return 110, "age ≥ 65"


# Stroke screen -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StrokeScreen:
    suspected: bool  # suspected stroke, or a RACE or LAMS was recorded
    lvo: bool  # RACE >= 5 or LAMS >= 4
    minutes_since_lkw: int | None  # whole minutes, rounded down; 0 if LKW is after now
    within_window: bool | None  # minutes_since_lkw <= the window in whole minutes; None if LKW unknown
    reasons: tuple[str, ...]


def stroke_screen(f: PatientFacts, *, now: datetime, lvo_window: timedelta = timedelta(hours=6)) -> StrokeScreen:
    """LVO screen and time since last known well; "within 6 h" includes exactly 6 h (and up to 6 h 00 min 59 s)."""
    if lvo_window <= timedelta(0):
        raise ValueError(f"lvo_window must be positive, got {lvo_window}")
    suspected = f.suspected == "stroke" or f.race is not None or f.lams is not None
    lvo = (f.race is not None and f.race >= 5) or (f.lams is not None and f.lams >= 4)
    minutes = _minutes_since(f.last_known_well, now)
    limit = lvo_window // timedelta(minutes=1)
    within = None if minutes is None else minutes <= limit
    lkw = _lkw_reasons(f.last_known_well, now, minutes, limit) if suspected else ()
    if suspected and lvo and minutes is None:
        lkw = (f"last known well not recorded: treated as within {_duration(limit)}",)
    return StrokeScreen(
        suspected=suspected,
        lvo=lvo,
        minutes_since_lkw=minutes,
        within_window=within,
        reasons=(*_scale_reasons(f), *lkw),
    )


def _minutes_since(lkw: datetime | None, now: datetime) -> int | None:
    return None if lkw is None else max(0, (now - lkw) // timedelta(minutes=1))


def _scale_reasons(f: PatientFacts) -> tuple[str, ...]:
    race = None if f.race is None else f"RACE {f.race} ≥ 5: LVO likely" if f.race >= 5 else f"RACE {f.race} < 5"
    lams = None if f.lams is None else f"LAMS {f.lams} ≥ 4: LVO likely" if f.lams >= 4 else f"LAMS {f.lams} < 4"
    return _present(race, lams)


def _lkw_reasons(lkw: datetime | None, now: datetime, minutes: int | None, limit: int) -> tuple[str, ...]:
    if lkw is None or minutes is None:
        return ("last known well not recorded",)
    where = f"within {_duration(limit)}" if minutes <= limit else f"beyond {_duration(limit)}"
    said = f"last known well {_duration(minutes)} ago ({where})"
    return (said, "last known well is after now: check the clock") if lkw > now else (said,)


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest:02d} min"


# Needs ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Needs:
    """The category (one, by precedence) and every destination capability the patient needs.

    - ``trauma_centre``: "highest" (highest level available in the region) for trauma_red, "any" trauma centre for
      trauma_yellow, else None.
    - ``pediatric``: age < 15 and a trauma centre is needed: prefer a pediatric-capable trauma centre.
    - ``stroke``: "thrombectomy" (thrombectomy-capable or comprehensive centre preferred; the router applies the
      detour limit) for LVO with LKW within the window or unknown; "any" stroke-capable centre otherwise.
    - ``unstable``: too unstable to divert (the diversion override). The rules file names the override but no
      threshold; chosen: cardiac arrest, SBP < 90, SpO2 < 90 (on air or oxygen), RR < 10 or > 29, or GCS total <= 8
      (only when all three GCS parts are recorded).
    - ``sepsis``: qSOFA >= 2 or lactate >= 4 mmol/L (the sepsis alert), whatever the category.
    """

    category: Category
    trauma_centre: Literal["highest", "any"] | None
    pediatric: bool
    pci: bool
    stroke: Literal["thrombectomy", "any"] | None
    obstetric: bool
    unstable: bool
    sepsis: bool
    reasons: tuple[str, ...]  # why this category and these needs, most important first
    missing: tuple[str, ...]  # inputs not recorded that would change the answer, most important first


@dataclass(frozen=True, slots=True)
class _Findings:
    triage: FieldTriage
    screen: StrokeScreen
    trauma: bool  # suspected trauma, a red code, or a yellow code other than pregnancy
    gcs: int | None
    unstable: tuple[str, ...]
    qsofa_points: int
    sepsis: bool


def needs(f: PatientFacts, *, now: datetime, lvo_window: timedelta = timedelta(hours=6)) -> Needs:
    """Category by precedence: cardiac_arrest; stemi; trauma_red; stroke_lvo; stroke; trauma_yellow; suspected trauma
    with no criterion met -> general; sepsis (alert criteria met, or suspected sepsis); obstetric; general."""
    x = _findings(f, now=now, lvo_window=lvo_window)
    category = _category(f, x)
    trauma_centre = _TRAUMA_CENTRE.get(category)
    return Needs(
        category=category,
        trauma_centre=trauma_centre,
        pediatric=trauma_centre is not None and f.age_years is not None and f.age_years < PEDIATRIC_BELOW_AGE,
        pci=f.stemi is True or f.suspected == "stemi",
        stroke=_stroke_need(x.screen),
        obstetric=f.suspected == "obstetric" or _PREGNANCY in f.triage_yellow,
        unstable=bool(x.unstable),
        sepsis=x.sepsis,
        reasons=_reasons(category, f, x),
        missing=_missing(category, f, x),
    )


def _findings(f: PatientFacts, *, now: datetime, lvo_window: timedelta) -> _Findings:
    gcs = gcs_total(eye=f.gcs_eye, verbal=f.gcs_verbal, motor=f.gcs_motor)
    points, positive = qsofa(sbp=f.sbp, rr=f.rr, altered_mentation=_altered_mentation(f, gcs))
    return _Findings(
        triage=field_triage(f),
        screen=stroke_screen(f, now=now, lvo_window=lvo_window),
        trauma=f.suspected == "trauma" or bool(f.triage_red) or any(c != _PREGNANCY for c in f.triage_yellow),
        gcs=gcs,
        unstable=_unstable(f, gcs),
        qsofa_points=points,
        sepsis=positive or (f.lactate_mmol_l is not None and f.lactate_mmol_l >= 4),
    )


def _altered_mentation(f: PatientFacts, gcs: int | None) -> bool | None:
    signs = ([f.avpu != "A"] if f.avpu is not None else []) + ([gcs < 15] if gcs is not None else [])
    return any(signs) if signs else None


def _unstable(f: PatientFacts, gcs: int | None) -> tuple[str, ...]:
    return _present(
        "cardiac arrest" if f.suspected == "cardiac_arrest" else None,
        f"SBP {f.sbp} mmHg < 90" if f.sbp is not None and f.sbp < 90 else None,
        f"SpO2 {f.spo2} % < 90" if f.spo2 is not None and f.spo2 < 90 else None,
        _rr_out_of_range(f),
        f"GCS {gcs} ≤ 8" if gcs is not None and gcs <= 8 else None,
    )


def _category(f: PatientFacts, x: _Findings) -> Category:
    if f.suspected == "cardiac_arrest":
        return "cardiac_arrest"
    if f.stemi is True or f.suspected == "stemi":
        return "stemi"
    if x.trauma and x.triage.colour == "red":
        return "trauma_red"
    if x.screen.suspected:
        return "stroke_lvo" if _stroke_need(x.screen) == "thrombectomy" else "stroke"
    if x.trauma:  # a code makes the colour at least yellow, so "none" is suspected trauma with nothing met
        return "trauma_yellow" if x.triage.colour == "yellow" else "general"
    if x.sepsis or f.suspected == "sepsis":
        return "sepsis"
    return "obstetric" if f.suspected == "obstetric" or _PREGNANCY in f.triage_yellow else "general"


def _stroke_need(screen: StrokeScreen) -> Literal["thrombectomy", "any"] | None:
    if not screen.suspected:
        return None
    return "thrombectomy" if screen.lvo and screen.within_window is not False else "any"


# Reasons: the category's own first, then "too unstable to divert", then every other need --------------------------
def _reasons(category: Category, f: PatientFacts, x: _Findings) -> tuple[str, ...]:
    blocks = _blocks(category, f, x)
    lead_key = "trauma" if category == "general" else category.split("_")[0]  # general: suspected trauma, or none
    lead = blocks.pop(lead_key, ("no time-critical pathway",))
    unstable = (f"too unstable to divert: {', '.join(x.unstable)}",) if x.unstable else ()
    return tuple(dict.fromkeys((*lead, *unstable, *(reason for block in blocks.values() for reason in block))))


def _blocks(category: Category, f: PatientFacts, x: _Findings) -> dict[str, tuple[str, ...]]:
    blocks: dict[str, tuple[str, ...]] = {}
    if f.suspected == "cardiac_arrest":
        blocks["cardiac"] = ("cardiac arrest",)
    if f.stemi is True or f.suspected == "stemi":
        blocks["stemi"] = (_stemi_reason(f),)
    if x.trauma:
        blocks["trauma"] = _trauma_reasons(f, x, leads=category.startswith("trauma"))
    if x.screen.suspected:
        blocks["stroke"] = (_stroke_headline(x.screen), *x.screen.reasons)
    if x.sepsis or f.suspected == "sepsis":
        headline = "sepsis alert criteria met" if x.sepsis else "suspected sepsis, alert criteria not met"
        blocks["sepsis"] = (headline, *_sepsis_reasons(f, x))
    if f.suspected == "obstetric" or _PREGNANCY in f.triage_yellow:
        blocks["obstetric"] = ("obstetric care needed",)
    return blocks


def _stemi_reason(f: PatientFacts) -> str:
    if f.stemi is True:
        return "STEMI on 12-lead: PCI-capable centre"
    finding = "12-lead not recorded" if f.stemi is None else "12-lead shows no STEMI"
    return f"suspected STEMI ({finding}): PCI-capable centre"


def _trauma_reasons(f: PatientFacts, x: _Findings, *, leads: bool) -> tuple[str, ...]:
    colour = x.triage.colour
    if colour == "none":
        return ("suspected trauma, no field-triage criterion met",)
    if not leads:
        return (f"field triage {colour.upper()}", *x.triage.reasons)
    headline = "trauma RED: highest-level trauma centre" if colour == "red" else "trauma YELLOW: trauma centre"
    child = f.age_years is not None and f.age_years < PEDIATRIC_BELOW_AGE
    pediatric = f"child, age {f.age_years}: pediatric-capable trauma centre preferred" if child else None
    return (headline, *_present(pediatric), *x.triage.reasons)


def _stroke_headline(screen: StrokeScreen) -> str:
    if _stroke_need(screen) == "thrombectomy":
        return "stroke with suspected LVO: thrombectomy-capable centre preferred"
    if screen.lvo:
        return "stroke with suspected LVO, beyond the window: nearest stroke-capable centre"
    return "suspected stroke: nearest stroke-capable centre"


def _sepsis_reasons(f: PatientFacts, x: _Findings) -> tuple[str, ...]:
    points = x.qsofa_points
    met = _present(
        f"SBP {f.sbp} ≤ 100" if f.sbp is not None and f.sbp <= 100 else None,
        f"RR {f.rr} ≥ 22" if f.rr is not None and f.rr >= 22 else None,
        "altered mentation" if _altered_mentation(f, x.gcs) else None,
    )
    qsofa_said = f"qSOFA {points} {'≥' if points >= 2 else '<'} 2" + (f" ({', '.join(met)})" if met else "")
    lactate = f.lactate_mmol_l
    lactate_said = None if lactate is None else f"lactate {lactate:g} mmol/L {'≥' if lactate >= 4 else '<'} 4"
    return _present(qsofa_said, lactate_said)


# Missing inputs: those not recorded that could change the category or a need -------------------------------------
def _missing(category: Category, f: PatientFacts, x: _Findings) -> tuple[str, ...]:
    found = ["suspected condition"] if category == "general" and f.suspected is None else []
    found += ["12-lead ECG"] if f.suspected == "stemi" and f.stemi is None else []
    found += _trauma_missing(f, x.triage) if x.trauma else []
    found += _stroke_missing(f, x.screen) if x.screen.suspected else []
    if not x.unstable:
        found += [
            name for name, value in (("SBP", f.sbp), ("SpO2", f.spo2), ("RR", f.rr), ("GCS", x.gcs)) if value is None
        ]
    if not x.sepsis and category in ("sepsis", "obstetric", "general") and f.suspected != "trauma":
        found += _sepsis_missing(f, x)
    return tuple(dict.fromkeys(found))


def _trauma_missing(f: PatientFacts, triage: FieldTriage) -> list[str]:
    found = ["age"] if f.age_years is None else []  # the SBP threshold, the HR rule, and pediatric
    if triage.colour == "red":
        return found
    unknown = (
        ("motor GCS", f.gcs_motor is None),
        ("RR", f.rr is None),
        ("SpO2", f.spo2 is None and f.on_oxygen is not True),
        ("air or oxygen", f.spo2 is not None and f.spo2 < 90 and f.on_oxygen is None),
        ("SBP", f.sbp is None),
        ("HR", f.hr is None and (f.age_years is None or f.age_years >= 10)),
    )
    return found + [name for name, missing in unknown if missing]


def _stroke_missing(f: PatientFacts, screen: StrokeScreen) -> list[str]:
    no_scale = f.race is None and f.lams is None
    lkw = f.last_known_well is None and (screen.lvo or no_scale)
    return (["RACE or LAMS"] if no_scale else []) + (["last known well"] if lkw else [])


def _sepsis_missing(f: PatientFacts, x: _Findings) -> list[str]:
    mentation = _altered_mentation(f, x.gcs)
    unknown = [name for name, value in (("SBP", f.sbp), ("RR", f.rr), ("AVPU or GCS", mentation)) if value is None]
    found = unknown if x.qsofa_points + len(unknown) >= 2 else []
    return found + (["lactate"] if f.lactate_mmol_l is None and f.suspected == "sepsis" else [])
