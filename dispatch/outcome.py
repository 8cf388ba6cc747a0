"""The receiving ED's outcome for a patient it took over: what the crew learns of how their patient did.

Pure: the ED's report is checked against the patient's arrival ("door") and the clock, and becomes the stored
``Outcome`` with its key intervals (door-to-balloon, door-to-needle) computed here, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from dispatch.errors import ProtocolError
from dispatch.protocol import EdOutcome
from dispatch.text import ShortText

Disposition = Literal["admitted", "cath_lab", "thrombolysed", "transferred", "discharged", "died"]
DISPOSITION_WORDS: Final[dict[str, str]] = {
    "admitted": "admitted",
    "cath_lab": "to the cath lab",
    "thrombolysed": "thrombolysed",
    "transferred": "transferred to another hospital",
    "discharged": "discharged",
    "died": "died",
}
# ICD-10-CM: a letter, two characters, then optionally a dot and up to four more (e.g. I21.09, S01.00XA)
Icd10 = Annotated[str, Meta(pattern=r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$", description="ICD-10-CM code")]
CLOCK_SKEW: Final = timedelta(minutes=2)  # a time this far ahead of the server's clock is taken as a typo


class OutcomeReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the ED posts (``POST /v1/hospitals/{h}/incidents/{n}/outcome``); a later post corrects an earlier one.

    ``balloon_at``: first device (balloon) time in the cath lab; ``needle_at``: thrombolytic given. Both UTC, at or
    after the patient's arrival at the ED."""

    disposition: Disposition
    diagnosis: ShortText
    diagnosis_icd10: Icd10 | None = None
    balloon_at: Annotated[datetime, Meta(tz=True)] | None = None
    needle_at: Annotated[datetime, Meta(tz=True)] | None = None
    note: ShortText | None = None


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """An ED outcome as stored and shown: the report, who gave it, when, and the intervals from the door."""

    incident: int | None  # None when read from another system's record
    hospital: str
    disposition: Disposition
    diagnosis: str
    diagnosis_icd10: str | None
    arrived_at: datetime
    balloon_at: datetime | None
    needle_at: datetime | None
    door_to_balloon_min: float | None
    door_to_needle_min: float | None
    note: str | None
    at: datetime
    by: str


def _minutes(door: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((then - door).total_seconds() / 60, 1)


def check(
    report: OutcomeReport, *, incident: int, hospital: str, arrived_at: datetime, now: datetime, by: str
) -> Outcome:
    """The stored outcome, or ProtocolError naming the field: a time before the patient's arrival (the door) or
    ahead of the clock, a balloon time without the cath lab, a needle time without thrombolysis."""
    if not report.diagnosis.strip():
        raise ProtocolError("invalid_field", "give the ED diagnosis in words", field="diagnosis")
    for name, disposition in (("balloon_at", "cath_lab"), ("needle_at", "thrombolysed")):
        value: datetime | None = getattr(report, name)
        if value is None:
            continue
        if report.disposition != disposition:
            raise ProtocolError(
                "invalid_field", f"{name} goes with the disposition {disposition!r}, not {report.disposition!r}", name
            )
        if value < arrived_at:
            raise ProtocolError(
                "implausible",
                f"{name} {value.isoformat()} is before the patient arrived at the ED ({arrived_at.isoformat()})",
                name,
            )
        if value > now + CLOCK_SKEW:
            raise ProtocolError("implausible", f"{name} {value.isoformat()} is in the future", name)
    return Outcome(
        incident=incident,
        hospital=hospital,
        disposition=report.disposition,
        diagnosis=report.diagnosis.strip(),
        diagnosis_icd10=report.diagnosis_icd10,
        arrived_at=arrived_at,
        balloon_at=report.balloon_at,
        needle_at=report.needle_at,
        door_to_balloon_min=_minutes(arrived_at, report.balloon_at),
        door_to_needle_min=_minutes(arrived_at, report.needle_at),
        note=report.note,
        at=now,
        by=by,
    )


def frame(outcome: Outcome) -> EdOutcome:
    """The outcome as pushed to the crew's tablet."""
    assert outcome.incident is not None
    return EdOutcome(
        incident=outcome.incident,
        hospital=outcome.hospital,
        disposition=DISPOSITION_WORDS[outcome.disposition],
        diagnosis=outcome.diagnosis,
        diagnosis_icd10=outcome.diagnosis_icd10,
        door_to_balloon_min=outcome.door_to_balloon_min,
        door_to_needle_min=outcome.door_to_needle_min,
        at=outcome.at,
    )
