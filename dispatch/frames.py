"""Reading a tablet's frame: strict decoding, then the plausibility checks a schema cannot express.

Pure: the clock is an argument. Every refusal is a ``ProtocolError`` naming the field and the reason. Text frames
are JSON; binary frames are msgpack (a binary frame that starts with ``{`` is taken for JSON, as older clients send:
no msgpack frame can start so, since a frame is a map).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from dispatch.errors import ProtocolError
from dispatch.protocol import (
    ECG_LEADS,
    MEASUREMENTS,
    Assessment,
    Ecg12,
    Strip,
    TabletFrame,
    Vitals,
    tablet_binary_decoder,
    tablet_decoder,
)

ECG_MIN_S = 2.5
ECG_MAX_S = 12.0

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


def _is_json(raw: bytes | str) -> bool:
    return isinstance(raw, str) or raw.lstrip()[:1] == b"{"


def _seq_of(raw: bytes | str) -> int | None:
    try:
        if isinstance(raw, bytes) and not _is_json(raw):
            return msgspec.msgpack.decode(raw, type=_SeqOnly).seq
        return msgspec.json.decode(raw, type=_SeqOnly).seq
    except msgspec.DecodeError:
        return None


def _join(path: str | None, field: str) -> str:
    return f"{path}.{field}" if path else field


def error_from(exc: msgspec.DecodeError, seq: int | None, encoding: str = "JSON") -> ProtocolError:
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return ProtocolError("malformed", f"not valid {encoding}: {message}", seq=seq)
    if m := _MISSING.match(message):
        return ProtocolError("invalid_field", "is required", field=_join(m["path"], m["field"]), seq=seq)
    if m := _UNKNOWN.match(message):
        return ProtocolError(
            "invalid_field", "is not a field of this message", field=_join(m["path"], m["field"]), seq=seq
        )
    if message.startswith("Expected `object`") and " - at `" not in message:
        return ProtocolError("malformed", f"not a frame: {message}", seq=seq)
    if m := _AT_PATH.match(message):
        path, reason = m["path"], m["reason"]
        if path == "type":
            return ProtocolError("unknown_type", reason, field="type", seq=seq)
        if _RANGE.search(reason) and " of length " not in reason:  # a value out of range; a wrong size is structure
            return ProtocolError("implausible", reason, field=path, seq=seq)
        return ProtocolError("invalid_field", reason, field=path, seq=seq)
    return ProtocolError("invalid_field", message, seq=seq)


def device_offset(clock: str | None, now: datetime) -> timedelta:
    """The tablet's clock minus the server's, from the ``clock`` it gave when it connected (ISO 8601 with a zone);
    none given is taken as no offset. A tablet's times are judged against its own clock: one that runs minutes off
    still has its readings kept (as it stamped them), and a time ahead of its own clock is still a typo."""
    if clock is None:
        return timedelta()
    try:
        at = datetime.fromisoformat(clock.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError("malformed", f"clock {clock[:40]!r} is not an ISO 8601 time", field="clock") from None
    if at.tzinfo is None:
        raise ProtocolError("malformed", "clock needs a zone (Z or an offset)", field="clock")
    return at - now


def decode(raw: bytes | str, *, now: datetime, limits: Limits) -> TabletFrame:
    """Decode and check one tablet frame, or raise ``ProtocolError``. ``now`` is the tablet's clock, as far as the
    server knows it (the server's plus ``device_offset``)."""
    binary = isinstance(raw, bytes) and not _is_json(raw)
    try:
        if isinstance(raw, bytes) and binary:
            message: TabletFrame = tablet_binary_decoder.decode(raw)
        else:
            message = tablet_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise error_from(exc, _seq_of(raw), "msgpack" if binary else "JSON") from None
    check(message, now=now, limits=limits)
    return message


def check(message: TabletFrame, *, now: datetime, limits: Limits) -> None:
    """The checks that span fields or need the clock."""
    if isinstance(message, Strip):
        _check_time("start_at", message.start_at, None, now, limits)
        _check_samples("samples", message.samples, None)
        return
    _check_time("taken_at", message.taken_at, message.seq, now, limits)
    if isinstance(message, Vitals):
        _check_vitals(message)
    elif isinstance(message, Assessment):
        _check_assessment(message, now, limits)
    elif isinstance(message, Ecg12):
        _check_ecg(message)


def _check_samples(field: str, samples: bytes, seq: int | None) -> None:
    if len(samples) % 2:
        raise ProtocolError("invalid_field", "16-bit samples need an even number of bytes", field=field, seq=seq)


def _check_ecg(ecg: Ecg12) -> None:
    names = [lead.name for lead in ecg.leads]
    if sorted(names) != sorted(ECG_LEADS):
        missing = sorted(set(ECG_LEADS) - set(names))
        reason = f"needs each of the 12 standard leads once (missing {', '.join(missing) or 'none'})"
        raise ProtocolError("invalid_field", reason, field="leads", seq=ecg.seq)
    lengths = {len(lead.samples) for lead in ecg.leads}
    for i, lead in enumerate(ecg.leads):
        _check_samples(f"leads[{i}].samples", lead.samples, ecg.seq)
    if len(lengths) != 1:
        raise ProtocolError("invalid_field", "every lead needs the same number of samples", field="leads", seq=ecg.seq)
    seconds = lengths.pop() / 2 / ecg.sample_rate_hz
    if not ECG_MIN_S <= seconds <= ECG_MAX_S:
        reason = f"{seconds:.1f} s of signal; a 12-lead is {ECG_MIN_S}-{ECG_MAX_S} s"
        raise ProtocolError("implausible", reason, field="leads", seq=ecg.seq)


def _check_time(field: str, at: datetime, seq: int | None, now: datetime, limits: Limits) -> None:
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
