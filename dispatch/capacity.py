"""A hospital's live emergency-department status, after OASIS EDXL-HAVE 1.0 / HAvBED. Pure: types and rules.

- EMS traffic status: ``Normal`` (accepting all EMS traffic), ``Advisory`` (limits may affect some traffic), ``Closed``
  (diversion: asking EMS to re-route), ``NotApplicable``; with a free-text reason and the time it last changed.
- ED census and capacity by triage colour; offload status and average minutes; staffed beds by category; resources
  available now. Every status carries the time it was last updated (server time); an old one is stale and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from dispatch.text import ShortText

TrafficStatus = Literal["Normal", "Advisory", "Closed", "NotApplicable"]
OffloadStatus = Literal["Normal", "Delayed"]
BedCategory = Literal[
    "adult_icu",
    "medical_surgical",
    "burn",
    "pediatric_icu",
    "pediatrics",
    "psychiatric",
    "isolation",
    "operating_rooms",
]
Count = Annotated[int, Meta(ge=0, le=10_000)]


class TriageCounts(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    red: Count = 0
    yellow: Count = 0
    green: Count = 0
    black: Count = 0

    @property
    def total(self) -> int:
        return self.red + self.yellow + self.green + self.black


class Beds(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Staffed beds: a bed counts as available only if it is staffed."""

    available: Count
    baseline: Count


class Resources(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Available now (not merely present in the building)."""

    cath_lab: bool = True
    ct: bool = True
    stroke_team: bool = True
    trauma_surgeon: bool = True
    operating_room: bool = True


class StatusUpdate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partial update: the fields present replace the current ones."""

    ems_traffic: TrafficStatus | None = None
    ems_traffic_reason: ShortText | None = None  # no control characters: it goes into EDXL (XML) too
    census: TriageCounts | None = None
    capacity: TriageCounts | None = None
    offload: OffloadStatus | None = None
    offload_minutes: Annotated[int, Meta(ge=0, le=1440)] | None = None
    beds: dict[BedCategory, Beds] | None = None
    resources: Resources | None = None


class HospitalStatus(Struct, frozen=True, kw_only=True):
    hospital: str
    ems_traffic: TrafficStatus = "Normal"
    ems_traffic_reason: str | None = None
    ems_traffic_since: datetime | None = None
    census: TriageCounts = msgspec.field(default_factory=TriageCounts)
    capacity: TriageCounts = msgspec.field(default_factory=TriageCounts)
    offload: OffloadStatus = "Normal"
    offload_minutes: int = 0
    beds: dict[BedCategory, Beds] = msgspec.field(default_factory=dict)
    resources: Resources = msgspec.field(default_factory=Resources)
    updated_at: datetime | None = None
    updated_by: str | None = None
    version: int = 0  # +1 on every change: the ETag of optimistic concurrency


def apply(current: HospitalStatus, update: StatusUpdate, *, at: datetime, by: str) -> HospitalStatus:
    """The status after a partial ``update``; a change of traffic status restarts ``ems_traffic_since``."""
    changes = {name: getattr(update, name) for name in update.__struct_fields__ if getattr(update, name) is not None}
    traffic_changed = update.ems_traffic is not None and update.ems_traffic != current.ems_traffic
    if traffic_changed:
        changes["ems_traffic_since"] = at
        changes.setdefault("ems_traffic_reason", None)
    return msgspec.structs.replace(current, **changes, updated_at=at, updated_by=by, version=current.version + 1)


def replace(current: HospitalStatus, update: StatusUpdate, *, at: datetime, by: str) -> HospitalStatus:
    """The status after a full ``update``: what it does not name returns to its default (Normal, zero, available)."""
    blank = HospitalStatus(
        hospital=current.hospital,
        ems_traffic=current.ems_traffic,
        ems_traffic_since=current.ems_traffic_since,
        version=current.version,
    )
    full = msgspec.structs.replace(update, ems_traffic=update.ems_traffic or "Normal")
    return apply(blank, full, at=at, by=by)


def age(status: HospitalStatus | None, now: datetime) -> timedelta | None:
    """How old the status is; None if the hospital never reported."""
    if status is None or status.updated_at is None:
        return None
    return now - status.updated_at


def is_stale(status: HospitalStatus | None, now: datetime, stale_after: timedelta) -> bool:
    """A status older than ``stale_after`` (or never reported) is stale. Exactly ``stale_after`` old is not yet."""
    current_age = age(status, now)
    return current_age is None or current_age > stale_after


def load(status: HospitalStatus) -> float | None:
    """ED census over capacity (1.0 = full); None if capacity is not reported."""
    capacity = status.capacity.total
    return status.census.total / capacity if capacity else None


status_decoder = msgspec.json.Decoder(HospitalStatus)
