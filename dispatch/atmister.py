"""The pre-alert a receiving ED reads in thirty seconds: its type (a badge) and the ATMISTER handover summary.

Pure. ATMISTER: Age and sex; Time of incident (here: first medical contact); Mechanism or medical complaint;
Injuries or findings; Signs (vitals, GCS); Treatment given; ETA; Requirements on arrival. Every line says what is
not recorded rather than leaving it out, so an empty line is never mistaken for a normal one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from dispatch import clinical
from dispatch.triage import Needs

PREALERT_BADGES: Final[dict[str, str]] = {
    "cardiac_arrest": "Cardiac arrest",
    "stemi": "STEMI",
    "stroke_lvo": "Stroke (LVO)",
    "stroke": "Stroke",
    "trauma_red": "Trauma RED",
    "trauma_yellow": "Trauma YELLOW",
    "sepsis": "Sepsis",
    "obstetric": "Obstetric",
    "general": "General",
}
_UNKNOWN: Final = "not recorded"


def badge(category: str) -> str:
    return PREALERT_BADGES.get(category, category)


def _clock(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%H:%MZ")


def _age_sex(latest: dict[str, Any]) -> str:
    age, sex = latest.get("age_years"), latest.get("sex")
    parts = [f"{age} y" if age is not None else "age ?", sex if sex and sex != "unknown" else "sex ?"]
    return " ".join(parts)


def _signs(latest: dict[str, Any]) -> str:
    signs = []
    for name, label, unit in (("hr", "HR", "/min"), ("rr", "RR", "/min"), ("spo2", "SpO2", "%")):
        if latest.get(name) is not None:
            signs.append(f"{label} {latest[name]}{unit}")
    if latest.get("sbp") is not None:
        dbp = latest.get("dbp")
        signs.append(f"BP {latest['sbp']}/{dbp if dbp is not None else '?'} mmHg")
    if latest.get("temp_c") is not None:
        signs.append(f"T {latest['temp_c']} °C")
    gcs = clinical.gcs_total(eye=latest.get("gcs_eye"), verbal=latest.get("gcs_verbal"), motor=latest.get("gcs_motor"))
    if gcs is not None:
        signs.append(f"GCS {gcs}")
    elif latest.get("avpu"):
        signs.append(f"ACVPU {latest['avpu']}")
    return ", ".join(signs) or _UNKNOWN


def _treatment(latest: dict[str, Any]) -> str:
    given = []
    for t in latest.get("treatments", []):
        dose = f" {t['dose']}" if t.get("dose") else ""
        at = _clock(t.get("given_at"))
        given.append(f"{t['name']}{dose}" + (f" {at}" if at else ""))
    return "; ".join(given) or "none recorded"


def summary(latest: dict[str, Any], needs: Needs) -> dict[str, str]:
    """The eight ATMISTER lines, keyed by their letters' meaning."""
    eta = latest.get("eta_s")
    return {
        "age_sex": _age_sex(latest),
        "time": f"first contact {_clock(latest.get('fmc_at')) or '?'}",
        "mechanism": latest.get("mechanism") or latest.get("chief_complaint") or _UNKNOWN,
        "injuries": "; ".join(needs.reasons[:3]) or _UNKNOWN,
        "signs": _signs(latest),
        "treatment": _treatment(latest),
        "eta": f"{round(eta / 60)} min" if isinstance(eta, int | float) else "unknown",
        "requirements": badge(needs.category) + (": too unstable to divert" if needs.unstable else ""),
    }
