"""Patients shared by the triage and routing tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from dispatch.triage import PatientFacts

# A stable adult with everything recorded: no field-triage criterion, not unstable, nothing missing.
STABLE: Final = PatientFacts(
    suspected="general",
    age_years=40,
    hr=80,
    sbp=120,
    rr=16,
    spo2=98,
    on_oxygen=False,
    avpu="A",
    gcs_eye=4,
    gcs_verbal=5,
    gcs_motor=6,
)


def facts(**changes: Any) -> PatientFacts:
    return replace(STABLE, **changes)
