"""Reading a tablet's frame: strict decoding, then the plausibility checks a schema cannot express.

Pure: the clock is an argument. Every refusal is a ``ProtocolError`` naming the field and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from dispatch.errors import ProtocolError
from dispatch.protocol import MEASUREMENTS, Assessment, TabletMessage, Vitals, tablet_decoder

_AT_PATH = re.compile(r"^(?P<reason>.*) - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`(?: - at `\$\.?(?P<path>[^`]*)`)?$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`(?: - at `\$\.?(?P<path>[^`]*)`)?$")
_RANGE = re.compile(r"(<=|>=|<|>) ?-?\d")


@dataclass(frozen=True, slots=True)
class Limits:
    """How far a device clock may be from the server's before a time is implausible."""

    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=2)


class _SeqOnly(msgspec.Struct):
    seq: int | None = None


def _seq_of(raw: bytes | str) -> int | None:
    try:
        seq = msgspec.json.decode(raw, type=_SeqOnly).seq
    except msgspec.DecodeError:
        return None
    return seq


def _join(path: str | None, field: str) -> str:
    return f"{path}.{field}" if path else field


def error_from(exc: msgspec.DecodeError, seq: int | None) -> ProtocolError:
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return ProtocolError("malformed", f"not valid JSON: {message}", seq=seq)
    if m := _MISSING.match(message):
        return ProtocolError("invalid_field", "is required", field=_join(m["path"], m["field"]), seq=seq)
    if m := _UNKNOWN.match(message):
        return ProtocolError(
            "invalid_field", "is not a field of this message", field=_join(m["path"], m["field"]), seq=seq
        )
    if m := _AT_PATH.match(message):
        path, reason = m["path"], m["reason"]
        if path == "type":
            return ProtocolError("unknown_type", reason, field="type", seq=seq)
        if _RANGE.search(reason):
            return ProtocolError("implausible", reason, field=path, seq=seq)
        return ProtocolError("invalid_field", reason, field=path, seq=seq)
    return ProtocolError("invalid_field", message, seq=seq)


def decode(raw: bytes | str, *, now: datetime, limits: Limits) -> TabletMessage:
    """Decode and check one tablet frame, or raise ``ProtocolError``."""
    try:
        message: TabletMessage = tablet_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise error_from(exc, _seq_of(raw)) from None
    check(message, now=now, limits=limits)
    return message


def check(message: TabletMessage, *, now: datetime, limits: Limits) -> None:
    """The checks that span fields or need the clock."""
    _check_time("taken_at", message.taken_at, message.seq, now, limits)
    if isinstance(message, Vitals):
        _check_vitals(message)
    elif isinstance(message, Assessment):
        _check_assessment(message, now, limits)


def _check_time(field: str, at: datetime, seq: int, now: datetime, limits: Limits) -> None:
    if at > now + limits.max_future:
        minutes = (at - now).total_seconds() / 60
        raise ProtocolError("implausible", f"is {minutes:.0f} min in the future", field=field, seq=seq)
    if at < now - limits.max_past:
        hours = (now - at).total_seconds() / 3600
        raise ProtocolError("implausible", f"is {hours:.0f} h in the past", field=field, seq=seq)


def _check_vitals(v: Vitals) -> None:
    if all(getattr(v, name) is None for name in MEASUREMENTS):
        raise ProtocolError("invalid_field", "a vitals set needs at least one measurement", seq=v.seq)
    if v.sbp is not None and v.dbp is not None and v.dbp >= v.sbp:
        raise ProtocolError(
            "implausible",
            f"diastolic {v.dbp} mmHg is not below systolic {v.sbp} mmHg",
            field="dbp",
            seq=v.seq,
        )


def _check_assessment(a: Assessment, now: datetime, limits: Limits) -> None:
    if a.last_known_well is not None:
        _check_time("last_known_well", a.last_known_well, a.seq, now, limits)
    for i, treatment in enumerate(a.treatments):
        _check_time(f"treatments[{i}].given_at", treatment.given_at, a.seq, now, limits)
