"""De-identification of closed incidents for research. Pure: the records and the run's secret key come in, rows and
a suppression report go out.

- Direct identifiers never leave: incident and unit ids, crew, free text (complaint, notes, mechanism), exact
  places and exact times. The record's id becomes a pseudonym, an HMAC of it under a key made for this run only, so
  the same patient has unrelated pseudonyms in two exports.
- Dates are shifted per patient by a whole number of days in [-MAX_SHIFT_DAYS, +MAX_SHIFT_DAYS], drawn from the
  run's key: intervals within one patient's record are kept exactly, calendar dates are not.
- Age becomes a five-year band, and 90 or more one band ("90+"); the scene becomes a coarse grid cell.
- k-anonymity: every combination of the quasi-identifiers requested (age band, sex, grid cell, destination) must
  occur at least k times; the rows of rarer combinations are suppressed, and the report says how many (never which).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

MAX_SHIFT_DAYS: Final = 30
GRID_DEGREES: Final = 0.05  # about 5.5 km north-south by 4.2 km east-west at Pittsburgh's latitude
QUASI_IDENTIFIERS: Final = ("age_band", "sex", "scene_cell", "destination")


@dataclass(frozen=True, slots=True)
class ClosedIncident:
    """What is known of one closed incident (handed over at the ED), identifiers included: the input."""

    incident: int
    unit: str | None
    call_at: datetime
    lat: float
    lon: float
    priority: int
    destination: str | None
    age_years: int | None
    sex: str | None
    suspected: str | None
    stemi: bool | None
    acked_at: datetime | None
    arrived_at: datetime | None
    transferred_at: datetime | None
    first_vitals: dict[str, Any]
    followed_recommendation: bool | None
    complaint: str = ""  # free text: never exported
    outcome: dict[str, Any] | None = None  # the ED's latest outcome report (dispatch.outcome.Outcome as JSON)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds() / 60, 1)


# The fields a researcher may ask for, each computed from a record and the patient's date shift.
FIELDS: Final[dict[str, str]] = {
    "call_date": "date of the call, shifted per patient",
    "age_band": "age in five-year bands, 90+ together",
    "sex": "female, male or unknown",
    "scene_cell": f"the scene's {GRID_DEGREES} degree grid cell (its south-west corner)",
    "priority": "dispatch priority, 1-4",
    "suspected": "the crew's suspected condition (coded)",
    "stemi": "12-lead read as STEMI",
    "destination": "receiving hospital",
    "followed_recommendation": "the dispatcher took the ranked first choice",
    "call_to_door_min": "minutes from the call to arrival at the ED",
    "prealert_lead_min": "minutes from the ED's acknowledgement to the patient's arrival",
    "door_to_handover_min": "minutes from arrival to transfer of care (offload)",
    "ed_disposition": "the ED's outcome: admitted, cath_lab, thrombolysed, transferred, discharged or died",
    "door_to_balloon_min": "minutes from arrival at the ED to the balloon (cath lab)",
    "door_to_needle_min": "minutes from arrival at the ED to the thrombolytic",
    "first_hr": "first heart rate, /min",
    "first_sbp": "first systolic blood pressure, mmHg",
    "first_spo2": "first SpO2, %",
    "first_rr": "first respiratory rate, /min",
    "first_gcs": "first GCS total, 3-15",
}


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    if age >= 90:
        return "90+"
    low = age // 5 * 5
    return f"{low}-{low + 4}"


def scene_cell(lat: float, lon: float) -> str:
    south = math.floor(lat / GRID_DEGREES) * GRID_DEGREES
    west = math.floor(lon / GRID_DEGREES) * GRID_DEGREES
    return f"{south:.2f},{west:.2f}"


def pseudonym(key: bytes, incident: int) -> str:
    return hmac.new(key, f"incident:{incident}".encode(), hashlib.sha256).hexdigest()[:20]


def date_shift(key: bytes, incident: int) -> timedelta:
    draw = int.from_bytes(hmac.new(key, f"shift:{incident}".encode(), hashlib.sha256).digest()[:4], "big")
    return timedelta(days=draw % (2 * MAX_SHIFT_DAYS + 1) - MAX_SHIFT_DAYS)


def _gcs(vitals: dict[str, Any]) -> int | None:
    parts = [vitals.get(k) for k in ("gcs_eye", "gcs_verbal", "gcs_motor")]
    return sum(p for p in parts if isinstance(p, int)) if all(isinstance(p, int) for p in parts) else None


def _value(name: str, r: ClosedIncident, shift: timedelta) -> Any:
    v = r.first_vitals
    match name:
        case "call_date":
            shifted: date = (r.call_at + shift).date()
            return shifted.isoformat()
        case "age_band":
            return age_band(r.age_years)
        case "sex":
            return r.sex or "unknown"
        case "scene_cell":
            return scene_cell(r.lat, r.lon)
        case "priority":
            return r.priority
        case "suspected":
            return r.suspected
        case "stemi":
            return r.stemi
        case "destination":
            return r.destination
        case "followed_recommendation":
            return r.followed_recommendation
        case "call_to_door_min":
            return _minutes(r.call_at, r.arrived_at)
        case "prealert_lead_min":
            return _minutes(r.acked_at, r.arrived_at)
        case "door_to_handover_min":
            return _minutes(r.arrived_at, r.transferred_at)
        case "first_gcs":
            return _gcs(v)
        case "ed_disposition" | "door_to_balloon_min" | "door_to_needle_min":
            return (r.outcome or {}).get(name.removeprefix("ed_"))
        case _:
            return v.get(name.removeprefix("first_"))


@dataclass(frozen=True, slots=True)
class Report:
    k: int
    quasi_identifiers: tuple[str, ...]
    records_in: int
    records_out: int
    suppressed_records: int
    suppressed_groups: int  # how many quasi-identifier combinations were rarer than k
    smallest_group_out: int | None


@dataclass(frozen=True, slots=True)
class Export:
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    report: Report


def deidentify(records: Sequence[ClosedIncident], fields: Sequence[str], *, key: bytes, k: int) -> Export:
    """The requested ``fields`` of every record, de-identified, with every quasi-identifier combination k-anonymous."""
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(unknown)}")
    if k < 2:
        raise ValueError("k must be at least 2")
    wanted = tuple(dict.fromkeys(fields))
    columns = ("pseudonym", *wanted)
    quasi = tuple(q for q in QUASI_IDENTIFIERS if q in wanted)
    rows = []
    for record in records:
        shift = date_shift(key, record.incident)
        row = {"pseudonym": pseudonym(key, record.incident)}
        row.update({name: _value(name, record, shift) for name in wanted})
        rows.append(row)
    groups = Counter(tuple(row[q] for q in quasi) for row in rows)
    rare = {combination for combination, n in groups.items() if n < k}
    kept = [row for row in rows if tuple(row[q] for q in quasi) not in rare]
    remaining = [n for combination, n in groups.items() if combination not in rare]
    report = Report(
        k=k,
        quasi_identifiers=quasi,
        records_in=len(rows),
        records_out=len(kept),
        suppressed_records=len(rows) - len(kept),
        suppressed_groups=len(rare),
        smallest_group_out=min(remaining) if remaining else None,
    )
    return Export(columns=columns, rows=kept, report=report)
