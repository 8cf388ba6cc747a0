"""Derived state of a patient, recomputed on each event and pushed with it: latest vitals, NEWS2, shock index, ETA.

Pure. The incident's ``latest`` is a flat dict (vitals fields, ``taken_at``, ``eta_s``, ``distance_m``) merged from
every event so far; each event carries the whole derived view, so a dashboard never has to replay to show a patient.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from dispatch import clinical
from dispatch.protocol import Derived, News2View, Position, ShockIndexView, TabletMessage, Vitals
from dispatch.region import Hospital, distance_m

_VITALS_FIELDS: Final = (
    "hr",
    "sbp",
    "dbp",
    "spo2",
    "spo2_scale",
    "rr",
    "temp_c",
    "gcs_eye",
    "gcs_verbal",
    "gcs_motor",
    "glucose_mg_dl",
    "etco2_mmhg",
    "avpu",
    "on_oxygen",
)


def merge(
    latest: dict[str, Any], message: TabletMessage, destination: Hospital | None, speed_mps: float
) -> dict[str, Any]:
    """The incident's latest state after ``message``."""
    merged = dict(latest)
    if isinstance(message, Vitals):
        merged.update({name: getattr(message, name) for name in _VITALS_FIELDS if getattr(message, name) is not None})
        merged["taken_at"] = msgspec.to_builtins(message.taken_at)
    elif isinstance(message, Position) and destination is not None:
        metres = distance_m(message.lat, message.lon, destination.lat, destination.lon)
        merged["distance_m"] = round(metres)
        merged["eta_s"] = round(metres / speed_mps)
    return merged


def derived(latest: dict[str, Any]) -> Derived:
    news = clinical.news2(
        rr=latest.get("rr"),
        spo2=latest.get("spo2"),
        on_oxygen=latest.get("on_oxygen"),
        sbp=latest.get("sbp"),
        hr=latest.get("hr"),
        acvpu=latest.get("avpu"),
        temp_c=latest.get("temp_c"),
        spo2_scale=latest.get("spo2_scale", 1),
    )
    shock = clinical.shock_index(hr=latest.get("hr"), sbp=latest.get("sbp"))
    return Derived(
        latest=latest,
        news2=News2View(score=news.score, band=news.band, partial=news.partial, missing=news.missing),
        shock_index=ShockIndexView(value=shock.value, klass=shock.klass) if shock else None,
        gcs_total=clinical.gcs_total(
            eye=latest.get("gcs_eye"), verbal=latest.get("gcs_verbal"), motor=latest.get("gcs_motor")
        ),
        eta_s=latest.get("eta_s"),
        distance_m=latest.get("distance_m"),
    )
