"""Clinical scores for pre-hospital triage. Pure: no I/O, no clock, no configuration; stdlib only.

Each function implements, to the boundary value, a rule of ``clinical-rules.md`` from a published guideline:

- ``news2``        National Early Warning Score 2 (Royal College of Physicians, 2017).
- ``shock_index``  heart rate / systolic blood pressure, classes < 0.6, 0.6–< 1.0, 1.0–< 1.4, ≥ 1.4.
- ``gcs_total``    Glasgow Coma Scale, eye 1–4 + verbal 1–5 + motor 1–6 (Teasdale and Jennett, 1974).
- ``rts``          Revised Trauma Score, coded and weighted (Champion et al., J Trauma 1989).
- ``qsofa``        quick SOFA, Sepsis-3 (Singer et al., JAMA 2016): SBP ≤ 100, RR ≥ 22, altered mentation.

A missing measurement is ``None`` and is never counted as normal: NEWS2 reports it as missing and the score as
partial; the other scores return ``None`` (or, for qSOFA, count only the criteria present). A measurement that
cannot be real (negative rate or pressure, SpO2 outside 0–100, GCS parts out of range, non-finite temperature)
raises ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal

__all__ = [
    "Acvpu",
    "News2",
    "RiskBand",
    "Rts",
    "ShockClass",
    "ShockIndex",
    "gcs_total",
    "news2",
    "qsofa",
    "rts",
    "shock_index",
]

Acvpu = Literal["A", "C", "V", "P", "U"]  # alert, new confusion, voice, pain, unresponsive
RiskBand = Literal["low", "low-medium", "medium", "high"]
ShockClass = Literal["<0.6", "0.6-<1.0", "1.0-<1.4", ">=1.4"]

# A band table is ((highest value in the band, points), ...) in rising order; above the last band: `above`.
_Bands = tuple[tuple[int, int], ...]

# NEWS2 (RCP 2017), chart rows -------------------------------------------------------------------------------
_RR: Final[_Bands] = ((8, 3), (11, 1), (20, 0), (24, 2))  # >= 25: 3
_SPO2_SCALE_1: Final[_Bands] = ((91, 3), (93, 2), (95, 1))  # >= 96: 0
_SPO2_SCALE_2: Final[_Bands] = ((83, 3), (85, 2), (87, 1), (92, 0))  # >= 93: depends on air or oxygen
_SPO2_SCALE_2_ON_OXYGEN: Final[_Bands] = ((94, 1), (96, 2))  # >= 97 on oxygen: 3
_SBP: Final[_Bands] = ((90, 3), (100, 2), (110, 1), (219, 0))  # >= 220: 3
_HR: Final[_Bands] = ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2))  # >= 131: 3
_TEMP_TENTHS: Final[_Bands] = ((350, 3), (360, 1), (380, 0), (390, 1))  # >= 39.1 °C: 2
_NEWS2_ORDER: Final = ("rr", "spo2", "air_or_oxygen", "sbp", "hr", "consciousness", "temp")

# Revised Trauma Score codes ---------------------------------------------------------------------------------
_RTS_GCS: Final[_Bands] = ((3, 0), (5, 1), (8, 2), (12, 3))  # 13-15: 4
_RTS_SBP: Final[_Bands] = ((0, 0), (49, 1), (75, 2), (89, 3))  # > 89: 4
_RTS_RR: Final[_Bands] = ((0, 0), (5, 1), (9, 2), (29, 4))  # > 29: 3


@dataclass(frozen=True, slots=True)
class News2:
    score: int  # sum of the parameters that are present
    band: RiskBand  # computed from the present parameters
    partial: bool  # True when any of the 7 parameters is missing
    missing: tuple[str, ...]  # in the order rr, spo2, air_or_oxygen, sbp, hr, consciousness, temp
    parts: tuple[tuple[str, int], ...]  # (parameter, points) for each present parameter, same order


@dataclass(frozen=True, slots=True)
class ShockIndex:
    value: float  # HR / SBP, rounded half-up to 2 decimals
    klass: ShockClass  # from the exact, unrounded ratio


@dataclass(frozen=True, slots=True)
class Rts:
    gcs_code: int
    sbp_code: int
    rr_code: int
    weighted: float  # 0.9368*gcs_code + 0.7326*sbp_code + 0.2908*rr_code, rounded to 4 decimals


# Shared helpers ---------------------------------------------------------------------------------------------
def _lookup(value: int, bands: _Bands, *, above: int) -> int:
    for highest, points in bands:
        if value <= highest:
            return points
    return above


def _check(name: str, value: int | None, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if value < low or (high is not None and value > high):
        allowed = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {allowed}, got {value}")


def _half_up(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


# NEWS2 ------------------------------------------------------------------------------------------------------
def news2(
    *,
    rr: int | None,
    spo2: int | None,
    on_oxygen: bool | None,
    sbp: int | None,
    hr: int | None,
    acvpu: Acvpu | None,
    temp_c: float | None,
    spo2_scale: Literal[1, 2] = 1,
) -> News2:
    """NEWS2 (RCP 2017) from the parameters present; a missing one makes the score partial, never 0.

    Interpretations, beyond the chart:

    - SpO2 scale 2 at 93 % or more scores 0 on air and 1-3 on oxygen. When ``on_oxygen`` is unknown there, it
      is not safe to assume air (that could hide up to 3 points), so "spo2" is reported missing, together
      with "air_or_oxygen". Below 93 % scale 2 does not depend on oxygen and is scored; scale 1 never does.
    - The temperature bands are on one decimal. A value with more decimals is first rounded half-up to one
      decimal as written (35.04 -> 35.0 scores 3; 35.05 -> 35.1 scores 1), so no value falls between bands.
    - The band is computed from the present parameters: >= 7 high; 5-6 medium; otherwise low-medium when any
      single parameter scored 3; otherwise low.
    """
    _check_news2_inputs(rr=rr, spo2=spo2, sbp=sbp, hr=hr, acvpu=acvpu, temp_c=temp_c, spo2_scale=spo2_scale)
    scored = (
        None if rr is None else _lookup(rr, _RR, above=3),
        None if spo2 is None else _spo2_points(spo2, on_oxygen, spo2_scale),
        None if on_oxygen is None else (2 if on_oxygen else 0),
        None if sbp is None else _lookup(sbp, _SBP, above=3),
        None if hr is None else _lookup(hr, _HR, above=3),
        None if acvpu is None else (0 if acvpu == "A" else 3),
        None if temp_c is None else _lookup(_tenths(temp_c), _TEMP_TENTHS, above=2),
    )
    parts = tuple((name, points) for name, points in zip(_NEWS2_ORDER, scored, strict=True) if points is not None)
    missing = tuple(name for name, points in zip(_NEWS2_ORDER, scored, strict=True) if points is None)
    score = sum(points for _, points in parts)
    band = _risk_band(score, any_three=any(points == 3 for _, points in parts))
    return News2(score=score, band=band, partial=bool(missing), missing=missing, parts=parts)


def _check_news2_inputs(
    *,
    rr: int | None,
    spo2: int | None,
    sbp: int | None,
    hr: int | None,
    acvpu: str | None,
    temp_c: float | None,
    spo2_scale: int,
) -> None:
    _check("rr", rr, 0)
    _check("spo2", spo2, 0, 100)
    _check("sbp", sbp, 0)
    _check("hr", hr, 0)
    if acvpu is not None and acvpu not in ("A", "C", "V", "P", "U"):
        raise ValueError(f"acvpu must be one of A, C, V, P, U, got {acvpu!r}")
    if temp_c is not None and not math.isfinite(temp_c):
        raise ValueError(f"temp_c must be a finite number, got {temp_c}")
    if spo2_scale not in (1, 2):
        raise ValueError(f"spo2_scale must be 1 or 2, got {spo2_scale}")


def _spo2_points(spo2: int, on_oxygen: bool | None, scale: Literal[1, 2]) -> int | None:
    if scale == 1:
        return _lookup(spo2, _SPO2_SCALE_1, above=0)
    if spo2 <= 92:
        return _lookup(spo2, _SPO2_SCALE_2, above=0)
    if on_oxygen is None:
        return None  # >= 93 on scale 2 cannot be scored without knowing air or oxygen
    if not on_oxygen:
        return 0
    return _lookup(spo2, _SPO2_SCALE_2_ON_OXYGEN, above=3)


def _tenths(temp_c: float) -> int:
    """Temperature in tenths of a degree, rounded half-up as written: 35.05 -> 351."""
    return int(_half_up(Decimal(str(temp_c)) * 10, "1"))


def _risk_band(score: int, *, any_three: bool) -> RiskBand:
    if score >= 7:
        return "high"
    if score >= 5:
        return "medium"
    if any_three:
        return "low-medium"
    return "low"


# Shock index ------------------------------------------------------------------------------------------------
def shock_index(*, hr: int | None, sbp: int | None) -> ShockIndex | None:
    """HR / SBP; ``None`` when either is missing or SBP is 0.

    The class is decided on the exact ratio with integer arithmetic (60/100 is 0.6, not 0.59999...), and the
    value is that ratio rounded half-up to 2 decimals, so 90/151 = 0.596 shows 0.6 but is still class "<0.6".
    """
    _check("hr", hr, 0)
    _check("sbp", sbp, 0)
    if hr is None or sbp is None or sbp == 0:
        return None
    value = float(_half_up(Decimal(hr) / Decimal(sbp), "0.01"))
    return ShockIndex(value=value, klass=_shock_class(hr, sbp))


def _shock_class(hr: int, sbp: int) -> ShockClass:
    # hr / sbp < k / 10  <=>  10 * hr < k * sbp, because sbp > 0.
    if 10 * hr < 6 * sbp:
        return "<0.6"
    if hr < sbp:
        return "0.6-<1.0"
    if 10 * hr < 14 * sbp:
        return "1.0-<1.4"
    return ">=1.4"


# Glasgow Coma Scale -----------------------------------------------------------------------------------------
def gcs_total(*, eye: int | None, verbal: int | None, motor: int | None) -> int | None:
    """Eye + verbal + motor (3-15); ``None`` unless all three are present.

    Every part present is range-checked (eye 1-4, verbal 1-5, motor 1-6) and raises ``ValueError`` when out of
    range, even if another part is missing.
    """
    _check("eye", eye, 1, 4)
    _check("verbal", verbal, 1, 5)
    _check("motor", motor, 1, 6)
    if eye is None or verbal is None or motor is None:
        return None
    return eye + verbal + motor


# Revised Trauma Score ---------------------------------------------------------------------------------------
def rts(*, gcs: int | None, sbp: int | None, rr: int | None) -> Rts | None:
    """Revised Trauma Score codes and weighted sum (0-7.8408); ``None`` if any input is missing.

    GCS must be 3-15 and SBP and RR at least 0 (checked when present), else ``ValueError``.
    """
    _check("gcs", gcs, 3, 15)
    _check("sbp", sbp, 0)
    _check("rr", rr, 0)
    if gcs is None or sbp is None or rr is None:
        return None
    gcs_code = _lookup(gcs, _RTS_GCS, above=4)
    sbp_code = _lookup(sbp, _RTS_SBP, above=4)
    rr_code = _lookup(rr, _RTS_RR, above=3)
    weighted = round(0.9368 * gcs_code + 0.7326 * sbp_code + 0.2908 * rr_code, 4)
    return Rts(gcs_code=gcs_code, sbp_code=sbp_code, rr_code=rr_code, weighted=weighted)


# qSOFA ------------------------------------------------------------------------------------------------------
def qsofa(*, sbp: int | None, rr: int | None, altered_mentation: bool | None) -> tuple[int, bool]:
    """(points from the criteria present, positive at >= 2): SBP <= 100, RR >= 22, altered mentation.

    A missing criterion adds no point, so a negative result with a missing criterion may still turn positive.
    """
    _check("sbp", sbp, 0)
    _check("rr", rr, 0)
    met = (sbp is not None and sbp <= 100, rr is not None and rr >= 22, altered_mentation is True)
    points = sum(met)
    return points, points >= 2
