"""Simulated patients: real monitor variability over a condition's baseline, and what the crew records and when.

Pure apart from ``load_series``, which reads the real MIMIC-III numerics shipped in ``data/`` (see its PROVENANCE.md).
A patient's vitals at minute t are: the condition's baseline (drifting as a transport would: a sepsis patient's
pressure sags, a treated STEMI settles) plus the real series' deviation from its own mean over a 40-minute window,
clamped to the wire's plausible ranges.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from prealert.sim.city import Condition

WINDOW_MIN: Final = 40
ASSESSED_BY_MIN: Final = 2.0  # scales, findings and treatment are on record this long after first contact
CHANNELS: Final = ("hr", "sbp", "dbp", "rr", "spo2")
_CSV_COLUMNS: Final = {"hr": "HR", "sbp": "NBPSys", "dbp": "NBPDias", "rr": "RESP", "spo2": "SpO2"}
_ABP: Final = {"sbp": "ABPSys", "dbp": "ABPDias"}  # the arterial line, where there is one, else the cuff
RANGES: Final = {"hr": (0, 300), "sbp": (0, 300), "dbp": (0, 250), "rr": (0, 80), "spo2": (0, 100)}

Series = dict[str, npt.NDArray[np.float64]]  # channel -> one value a minute, NaN where not measured


def load_series() -> list[Series]:
    """The two real records, one value a minute per channel (dropouts, 0.0, as NaN)."""
    found = []
    for name in ("mimic_wdb_s00001_numerics_1min.csv", "mimic_wdb_s25047_numerics_1min.csv"):
        text = (resources.files("prealert.sim") / "data" / name).read_text(encoding="utf-8")
        rows = list(csv.DictReader(text.splitlines()))
        series: Series = {}
        for channel in CHANNELS:
            columns = [c for c in (_ABP.get(channel), _CSV_COLUMNS[channel]) if c and c in rows[0]]
            values = []
            for row in rows:
                value = next((float(row[c]) for c in columns if row[c] not in ("", "0.0", "0")), float("nan"))
                values.append(value)
            series[channel] = np.array(values, dtype=np.float64)
        found.append(series)
    return found


@dataclass(frozen=True)
class Profile:
    """A condition's baseline at first contact, and its drift per minute of transport."""

    hr: float
    sbp: float
    dbp: float
    rr: float
    spo2: float
    temp_c: float
    avpu: str = "A"
    gcs: tuple[int, int, int] = (4, 5, 6)
    drift: dict[str, float] = field(default_factory=dict)


PROFILES: Final[dict[Condition, Profile]] = {
    "stemi": Profile(hr=96, sbp=148, dbp=88, rr=20, spo2=95, temp_c=36.8, drift={"hr": -0.4, "sbp": -0.6}),
    "stroke_lvo": Profile(hr=84, sbp=186, dbp=98, rr=17, spo2=96, temp_c=36.9, avpu="V", gcs=(3, 3, 6)),
    "stroke": Profile(hr=78, sbp=172, dbp=94, rr=16, spo2=97, temp_c=36.8, gcs=(4, 4, 6)),
    "trauma_red": Profile(
        hr=128, sbp=84, dbp=52, rr=28, spo2=92, temp_c=36.1, avpu="V", gcs=(3, 4, 5), drift={"hr": 0.5, "sbp": -0.5}
    ),
    "trauma_yellow": Profile(hr=102, sbp=128, dbp=80, rr=20, spo2=97, temp_c=36.6),
    "pediatric": Profile(hr=132, sbp=98, dbp=60, rr=30, spo2=96, temp_c=37.9),
    "sepsis": Profile(hr=118, sbp=96, dbp=56, rr=26, spo2=93, temp_c=39.2, avpu="C", drift={"sbp": -0.5, "hr": 0.3}),
    "cardiac_arrest": Profile(
        hr=112, sbp=88, dbp=50, rr=12, spo2=90, temp_c=35.8, avpu="U", gcs=(1, 1, 1), drift={"sbp": 0.4}
    ),
    "general": Profile(hr=88, sbp=134, dbp=82, rr=18, spo2=97, temp_c=37.1),
}
COMPLAINTS: Final[dict[Condition, tuple[str, str]]] = {  # (chief complaint, dispatch complaint)
    "stemi": ("crushing chest pain, sweating", "chest pain"),
    "stroke_lvo": ("right-sided weakness, cannot speak", "stroke symptoms"),
    "stroke": ("facial droop, slurred speech", "stroke symptoms"),
    "trauma_red": ("motorcyclist, high-speed collision", "road traffic collision"),
    "trauma_yellow": ("fall from a ladder, about 12 ft", "fall"),
    "pediatric": ("child, fever and fast breathing", "sick child"),
    "sepsis": ("fever, confusion, low urine output", "unwell, confused"),
    "cardiac_arrest": ("witnessed collapse, ROSC after two shocks", "cardiac arrest"),
    "general": ("abdominal pain since this morning", "abdominal pain"),
}
PRIORITY: Final[dict[Condition, int]] = {
    "stemi": 1,
    "stroke_lvo": 1,
    "stroke": 1,
    "trauma_red": 1,
    "trauma_yellow": 2,
    "pediatric": 2,
    "sepsis": 2,
    "cardiac_arrest": 1,
    "general": 3,
}
ACK_NOTES: Final[dict[Condition, str]] = {
    "stemi": "Cath lab activated, straight to lab",
    "stroke_lvo": "Resus 2, stroke team paged, CT cleared",
    "stroke": "Stroke team paged, CT on arrival",
    "trauma_red": "Trauma bay 1, trauma team activated",
    "trauma_yellow": "Trauma bay 2, surgeon aware",
    "pediatric": "Paeds resus, paediatrician paged",
    "sepsis": "Resus 3, sepsis pathway",
    "cardiac_arrest": "Resus 1, ICU aware",
    "general": "Majors cubicle 4",
}


@dataclass(frozen=True)
class Patient:
    condition: Condition
    age_years: int
    sex: str
    profile: Profile
    variation: Series  # the real series' deviation from its window mean, one value a minute
    temp_noise: float

    def vitals(self, minute: float) -> dict[str, Any]:
        """The measurements at ``minute`` after first contact (monitor channels and temperature), in range."""
        found: dict[str, Any] = {}
        p = self.profile
        for channel in CHANNELS:
            base = float(getattr(p, channel)) + p.drift.get(channel, 0.0) * minute
            swing = _interpolate(self.variation[channel], minute)
            value = round(base + swing)
            low, high = RANGES[channel]
            found[channel] = max(low, min(high, value))
        if found["dbp"] >= found["sbp"]:
            found["dbp"] = max(0, found["sbp"] - 10)
        found["spo2"] = min(found["spo2"], 100)
        found["temp_c"] = round(max(25.0, min(45.0, p.temp_c + self.temp_noise)), 1)
        return found

    def manual_set(self, minute: float, *, on_oxygen: bool) -> dict[str, Any]:
        """A crew's full set: the monitor channels, temperature, ACVPU and GCS."""
        eye, verbal, motor = self.profile.gcs
        return {
            **self.vitals(minute),
            "avpu": self.profile.avpu,
            "on_oxygen": on_oxygen,
            "gcs_eye": eye,
            "gcs_verbal": verbal,
            "gcs_motor": motor,
        }

    def assessments(self, first_contact: datetime) -> list[tuple[float, dict[str, Any]]]:
        """What the crew records, and at which minute after first contact: who and what at once; scales, findings
        and treatment a few minutes later."""
        complaint = COMPLAINTS[self.condition][0]
        suspected = {
            "stemi": "stemi",
            "stroke_lvo": "stroke",
            "stroke": "stroke",
            "trauma_red": "trauma",
            "trauma_yellow": "trauma",
            "sepsis": "sepsis",
            "cardiac_arrest": "cardiac_arrest",
        }.get(self.condition, "general")
        first: dict[str, Any] = {
            "age_years": self.age_years,
            "sex": self.sex,
            "chief_complaint": complaint,
            "suspected": suspected,
        }
        later: dict[str, Any] = {}
        treatments: list[dict[str, Any]] = []
        given = (first_contact + timedelta(minutes=4)).isoformat()
        if self.condition == "stemi":
            later = {"stemi": True}
            treatments = [{"kind": "drug", "name": "aspirin", "dose": "324 mg PO", "given_at": given}]
        elif self.condition in ("stroke_lvo", "stroke"):
            lvo = self.condition == "stroke_lvo"
            later = {
                "race": 7 if lvo else 3,
                "lams": 5 if lvo else 2,
                "last_known_well": (first_contact - timedelta(minutes=50)).isoformat(),
            }
        elif self.condition == "trauma_red":
            later = {"mechanism": "motorcycle collision", "triage_red": ["pelvic_fracture"]}
            treatments = [{"kind": "tourniquet", "name": "tourniquet left thigh", "given_at": given}]
        elif self.condition == "trauma_yellow":
            later = {"mechanism": "fall from height", "triage_yellow": ["fall_over_10ft"]}
        elif self.condition == "sepsis":
            treatments = [{"kind": "iv", "name": "IV 18G, 500 mL crystalloid", "given_at": given}]
        elif self.condition == "cardiac_arrest":
            treatments = [{"kind": "airway", "name": "i-gel", "given_at": given}]
        if treatments:
            later["treatments"] = treatments
        return [(0.5, first), (ASSESSED_BY_MIN, later)] if later else [(0.5, first)]


def _interpolate(values: npt.NDArray[np.float64], minute: float) -> float:
    if len(values) == 0:
        return 0.0
    x = min(max(minute, 0.0), len(values) - 1)
    return float(np.interp(x, np.arange(len(values)), values))


def variation(series: Series, start: int, minutes: int = WINDOW_MIN) -> Series:
    """Each channel's deviation from its own mean over the window; dropouts interpolated over (0 where a channel
    has no value at all in the window)."""
    found: Series = {}
    for channel, values in series.items():
        window = values[start : start + minutes]
        known = ~np.isnan(window)
        if not known.any():
            found[channel] = np.zeros(len(window))
            continue
        filled = np.interp(np.arange(len(window)), np.flatnonzero(known), window[known])
        found[channel] = filled - float(np.mean(filled))
    return found


def make(condition: Condition, rng: random.Random, series: list[Series]) -> Patient:
    record = series[rng.randrange(len(series))]
    length = len(next(iter(record.values())))
    start = rng.randrange(max(1, length - WINDOW_MIN))
    age = rng.randint(1, 12) if condition == "pediatric" else rng.randint(35, 88)
    return Patient(
        condition=condition,
        age_years=age,
        sex=rng.choice(("female", "male")),
        profile=PROFILES[condition],
        variation=variation(record, start),
        temp_noise=rng.uniform(-0.3, 0.3),
    )
