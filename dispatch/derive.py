"""Derived state of a patient, recomputed on each event and pushed with it: latest vitals, NEWS2, shock index, ETA.

Pure. The incident's ``latest`` is a flat dict merged from every event so far: the vitals fields and their
``taken_at``, the assessment fields, the unit's last ``lat``/``lon``, ``eta_s`` and ``distance_m`` to the
destination, and ``fmc_at`` (first medical contact: the first vitals or the ``at_patient`` status). Each event
carries the whole derived view, so a dashboard never has to replay to show a patient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import msgspec

from dispatch import atmister, clinical, triage
from dispatch.protocol import (
    VITALS_FIELDS,
    Assessment,
    Derived,
    Ecg12,
    EcgNotice,
    Event,
    News2View,
    Position,
    ShockIndexView,
    Status,
    TabletMessage,
    Vitals,
)
from dispatch.region import Hospital, distance_m
from dispatch.triage import PatientFacts

_ASSESSMENT_FIELDS: Final = (
    "age_years",
    "sex",
    "chief_complaint",
    "suspected",
    "race",
    "lams",
    "last_known_well",
    "stemi",
    "mechanism",
)
_LIST_FIELDS: Final = ("triage_red", "triage_yellow")

# (lat, lon, hospital) -> seconds by road, or None when unreachable
EtaLookup = Callable[[float, float, Hospital], float | None]


def _set(merged: dict[str, Any], message: Vitals | Assessment, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(message, name)
        if value is not None:
            merged[name] = msgspec.to_builtins(value)


def merge(
    latest: dict[str, Any], message: TabletMessage, destination: Hospital | None, eta: EtaLookup, received_at: datetime
) -> dict[str, Any]:
    """The incident's latest state after ``message`` (received by the server at ``received_at``)."""
    merged = dict(latest)
    at = msgspec.to_builtins(message.taken_at)
    if isinstance(message, Vitals):
        _set(merged, message, VITALS_FIELDS)
        merged["taken_at"] = at
        merged.setdefault("fmc_at", at)
    elif isinstance(message, Assessment):
        _set(merged, message, _ASSESSMENT_FIELDS)
        for name in _LIST_FIELDS:
            if getattr(message, name):
                merged[name] = list(getattr(message, name))
        if message.treatments:
            merged["treatments"] = [*merged.get("treatments", []), *msgspec.to_builtins(message.treatments)]
    elif isinstance(message, Status):
        merged["status"] = message.status
        if message.status == "at_patient":
            merged.setdefault("fmc_at", at)
        if message.status == "at_destination":  # offload time counts from here, on the server's clock
            merged.setdefault("arrived_at", msgspec.to_builtins(received_at))
    elif isinstance(message, Ecg12):
        merged["ecg_at"] = at
        if message.interpretation:
            merged["ecg_interpretation"] = message.interpretation
        if message.stemi is not None:  # the crew's reading of this 12-lead is the STEMI finding triage uses
            merged["stemi"] = message.stemi
    elif isinstance(message, Position):
        merged.update(lat=message.lat, lon=message.lon)
        if destination is not None:
            merged.update(to_destination(message.lat, message.lon, destination, eta))
    return merged


def to_destination(lat: float, lon: float, destination: Hospital, eta: EtaLookup) -> dict[str, Any]:
    seconds = eta(lat, lon, destination)
    return {
        "distance_m": round(distance_m(lat, lon, destination.lat, destination.lon)),
        "eta_s": round(seconds) if seconds is not None else None,
    }


def derived(latest: dict[str, Any], now: datetime) -> Derived:
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
        **_prealert(latest, now),
    )


def _prealert(latest: dict[str, Any], now: datetime) -> dict[str, Any]:
    try:
        needs = triage.needs(facts(latest), now=now)
    except ValueError:  # the wire's ranges are triage's too; should they ever drift, the vitals still go through
        return {}
    return {
        "category": needs.category,
        "prealert": atmister.badge(needs.category),
        "atmister": atmister.summary(latest, needs),
    }


def _time(value: Any) -> datetime | None:
    return msgspec.convert(value, datetime) if value is not None else None


def facts(latest: dict[str, Any]) -> PatientFacts:
    """What the triage rules read, from the incident's latest state."""
    return PatientFacts(
        age_years=latest.get("age_years"),
        hr=latest.get("hr"),
        sbp=latest.get("sbp"),
        rr=latest.get("rr"),
        spo2=latest.get("spo2"),
        on_oxygen=latest.get("on_oxygen"),
        temp_c=latest.get("temp_c"),
        avpu=latest.get("avpu"),
        gcs_eye=latest.get("gcs_eye"),
        gcs_verbal=latest.get("gcs_verbal"),
        gcs_motor=latest.get("gcs_motor"),
        suspected=latest.get("suspected"),
        race=latest.get("race"),
        lams=latest.get("lams"),
        last_known_well=_time(latest.get("last_known_well")),
        stemi=latest.get("stemi"),
        triage_red=tuple(latest.get("triage_red", ())),
        triage_yellow=tuple(latest.get("triage_yellow", ())),
    )


def first_medical_contact(latest: dict[str, Any]) -> datetime | None:
    return _time(latest.get("fmc_at"))


def fanned_out(
    unit: str,
    message: TabletMessage,
    latest: dict[str, Any],
    destination: Hospital | None,
    eta: EtaLookup,
    received_at: datetime,
) -> tuple[Event, Derived, dict[str, Any]]:
    """The event as the feeds carry it (a 12-lead as its notice, with the derived view after it) and the incident's
    latest state after it. The ingest makes it as a message arrives; a rebuild of the live state from the record
    makes it again from the stored messages, in order."""
    merged = merge(latest, message, destination, eta, received_at)
    view = derived(merged, received_at)
    event = Event(
        incident=message.incident,
        unit=unit,
        seq=message.seq,
        received_at=received_at,
        body=EcgNotice.of(message) if isinstance(message, Ecg12) else message,
        derived=view,
    )
    return event, view, merged
