"""An emergency department's census kept from its hospital's HL7 v2 ADT feed, and the ACKs that answer it. Pure: no
socket, no clock (``now`` is passed in), no logging; ``hospital_gateway.mllp`` is the listener around it.

Events (MSH-9.2, or EVN-1 when MSH-9 has no trigger):
- ``A01`` admit, ``A04`` register: the patient is at the PV1-3 point of care (required); in the ED if it is
  ``ed_location``. ``A02`` transfer: to the new PV1-3 (required), into or out of the ED; an unknown patient is placed.
- ``A08`` update: the PV1-3 and PV2-25 it carries; an empty field keeps what we had, ``""`` (the HL7 null) deletes it.
  An unknown patient is placed (as discharged if PV1-45, discharge date/time, is valued).
- ``A03`` discharge: out of the count, kept ``keep_discharged`` for an ``A13`` (cancel discharge) to bring back.
  ``A11`` cancel admit/visit: forgets the visit.

Who: PID-3 (first repetition, ID) plus PV1-19 (visit number, ID) when valued. A message without a visit number
matches the patient's only visit; one with a visit number also matches a visit recorded without one.

Acuity: PV2-25 (visit priority code, user-defined table 0217) read as the Emergency Severity Index, as agreed with the
hospital's interface: 1-2 red, 3 yellow, 4-5 green. Absent, ``""`` or anything else: yellow (unknown acuity is neither
the sickest nor the well). No PV1 field is read: none carries acuity (PV1-4 admission type is "E" for nearly every ED
patient). ``black`` never comes from ADT.

The hospital a message names is MSH-6, the receiving facility (HD namespace ID, else universal ID): in every message,
set per feed by the sender's interface engine (the specification's A01 example names MCM there; its PV1-3 names no
facility). It must equal the census's ``facility`` (by default its ``hospital``).

Refusals (``AdtError``: MSA-1 code, table 0357 condition for ERR):
- AR: MSH-10 missing (101); not ADT (200); another trigger (201); MSH-11 other than ``processing_id`` (202: a training
  or debugging message never moves a live census; absent counts as ``P``).
- AE: another facility (103); PID-3 missing (101); PV1-3 missing where required (101); an A03/A11/A13 for a patient
  this census does not know (204).

Idempotent on MSH-10 per sender (MSH-3, MSH-4): applied once, a message is a ``"duplicate"`` the second time and
changes nothing. Refused messages are not remembered, so a sender may retry once the cause is fixed. Descriptions and
reasons carry no patient identifier: the sender correlates by MSA-2. The state is in memory and starts empty: a census
counts only the patients whose arrival (or transfer, or update) it has seen.
"""

from __future__ import annotations

import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Literal, NamedTuple

import hl7

from dispatch.capacity import TriageCounts

AckCode = Literal["AA", "AE", "AR"]
Colour = Literal["red", "yellow", "green"]
EVENTS = ("A01", "A02", "A03", "A04", "A08", "A11", "A13")
CONDITIONS = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}
"""HL7 table 0357 (message error condition codes), the ones this module uses."""
_ESI: dict[str, Colour] = {"1": "red", "2": "red", "3": "yellow", "4": "green", "5": "green"}
_NULL = '""'
_DEFAULT_ENCODING = "^~\\&"
_FALLBACK_VERSION = "2.5.1"


class AdtError(Exception):
    """A message refused: ``code`` AE (application error) or AR (rejected), ``condition`` from table 0357."""

    def __init__(self, reason: str, *, code: Literal["AE", "AR"], condition: str = "207") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code: Literal["AE", "AR"] = code
        self.condition = condition


@dataclass(frozen=True, slots=True)
class Header:
    control_id: str
    trigger: str
    sender: tuple[str, str]
    processing_id: str


class PatientKey(NamedTuple):
    patient: str
    visit: str


@dataclass(slots=True)
class _Visit:
    location: str
    colour: Colour
    discharged_at: datetime | None = None


def header(message: hl7.Message) -> Header:
    """What every ADT message must carry before anything else is read; raises AdtError (AR)."""
    control_id = _get(message, "MSH", 10)
    if not control_id:
        raise AdtError("MSH-10 (message control id) is missing", code="AR", condition="101")
    kind = _get(message, "MSH", 9)
    if kind != "ADT":
        raise AdtError(f"message type {kind or '(empty)'} is not ADT", code="AR", condition="200")
    trigger = _get(message, "MSH", 9, 2) or _get(message, "EVN", 1)
    if trigger not in EVENTS:
        supported = ", ".join(EVENTS)
        raise AdtError(f"ADT^{trigger or '(empty)'} is not supported ({supported})", code="AR", condition="201")
    sender = (_get(message, "MSH", 3), _get(message, "MSH", 4))
    return Header(control_id, trigger, sender, _get(message, "MSH", 11) or "P")


def facility(message: hl7.Message) -> str:
    """The hospital the message names: MSH-6, receiving facility (namespace ID, else universal ID)."""
    return _get(message, "MSH", 6) or _get(message, "MSH", 6, 2)


@dataclass
class EdCensus:
    hospital: str
    ed_location: str
    facility: str = ""
    processing_id: str = "P"
    keep_discharged: timedelta = timedelta(hours=72)
    remember_messages: int = 10_000
    _visits: dict[PatientKey, _Visit] = field(default_factory=dict, init=False, repr=False)
    _seen: OrderedDict[tuple[str, str, str], None] = field(default_factory=OrderedDict, init=False, repr=False)
    _pruned_at: datetime | None = field(default=None, init=False, repr=False)
    _here: Counter[Colour] = field(default_factory=Counter, init=False, repr=False)

    def apply(self, message: hl7.Message, *, now: datetime) -> str:
        """Apply one ADT message; a one-line description of what changed. Raises AdtError."""
        head = header(message)
        seen = (*head.sender, head.control_id)
        if seen in self._seen:
            return "duplicate"
        self._check_addressee(message, head)
        key = _patient(message)
        known = self._find(key)
        target = known or key
        before = self._counted(target)
        changed = self._event(head.trigger, message, target, now, known=known is not None)
        after = self._counted(target)
        if before != after:
            self._here.update({colour: n for colour, n in ((before, -1), (after, 1)) if colour})
        self._remember(seen)
        self._prune(now)
        return f"{head.trigger}: {changed}"

    def counts(self) -> TriageCounts:
        """Patients in the ED now, by triage colour (kept as events apply: O(1))."""
        return TriageCounts(red=self._here["red"], yellow=self._here["yellow"], green=self._here["green"])

    def _event(self, trigger: str, message: hl7.Message, key: PatientKey, now: datetime, *, known: bool) -> str:
        if trigger in ("A01", "A04"):
            return self._arrive(message, key)
        if trigger == "A02":
            return self._transfer(message, key)
        if trigger == "A08":
            return self._update(message, key, now, known=known)
        if not known:
            why = f"{trigger} for a patient this census does not know (no arrival seen, or cancelled or forgotten)"
            raise AdtError(why, code="AE", condition="204")
        if trigger == "A03":
            return self._discharge(key, now)
        if trigger == "A11":
            return f"admission cancelled, {self._where(self._visits.pop(key))}"
        return self._cancel_discharge(message, key)

    def _arrive(self, message: hl7.Message, key: PatientKey) -> str:
        visit = _Visit(_required_location(message), _colour(message) or "yellow")
        self._visits[key] = visit
        return f"patient {self._where(visit)}"

    def _transfer(self, message: hl7.Message, key: PatientKey) -> str:
        location, colour = _required_location(message), _colour(message)
        visit = self._visits.get(key)
        if visit is None:
            self._visits[key] = visit = _Visit(location, colour or "yellow")
            return f"patient not known before, placed {self._where(visit)}"
        before = self._where(visit)
        visit.location, visit.colour = location, colour or visit.colour
        return f"patient moved from {before} to {self._where(visit)}"

    def _update(self, message: hl7.Message, key: PatientKey, now: datetime, *, known: bool) -> str:
        location, colour = _location(message), _colour(message)
        if not known:
            if not location:
                return "no change (patient not known and no location given)"
            discharged = now if _value(_get(message, "PV1", 45)) else None
            visit = _Visit(location, colour or "yellow", discharged)
            self._visits[key] = visit
            return f"patient not known before, placed {self._where(visit)}"
        visit = self._visits[key]
        visit.location = visit.location if location is None else location
        visit.colour = colour or visit.colour
        return f"patient updated, {self._where(visit)}"

    def _discharge(self, key: PatientKey, now: datetime) -> str:
        visit = self._visits[key]
        if visit.discharged_at is not None:
            return "no change (already discharged)"
        where = self._where(visit)
        visit.discharged_at = now
        return f"patient discharged, was {where}"

    def _cancel_discharge(self, message: hl7.Message, key: PatientKey) -> str:
        visit = self._visits[key]
        if visit.discharged_at is None:
            return "no change (not discharged)"
        visit.discharged_at = None
        visit.location, visit.colour = _location(message) or visit.location, _colour(message) or visit.colour
        return f"discharge cancelled, patient {self._where(visit)}"

    def _check_addressee(self, message: hl7.Message, head: Header) -> None:
        if head.processing_id != self.processing_id:
            why = f"processing id {head.processing_id} is not applied to this census (expects {self.processing_id})"
            raise AdtError(why, code="AR", condition="202")
        named, expected = facility(message), self.facility or self.hospital
        if named != expected:
            why = f"message is for facility {named or '(empty)'!r}, not {expected!r}"
            raise AdtError(why, code="AE", condition="103")

    def _find(self, key: PatientKey) -> PatientKey | None:
        if key in self._visits:
            return key
        if key.visit:
            bare = PatientKey(key.patient, "")
            return bare if bare in self._visits else None
        same = [k for k in self._visits if k.patient == key.patient]
        return same[0] if len(same) == 1 else None

    def _in_ed(self, visit: _Visit) -> bool:
        return visit.location == self.ed_location

    def _counted(self, key: PatientKey) -> Colour | None:
        """The colour this visit adds to the ED count, None if it is not counted."""
        visit = self._visits.get(key)
        return visit.colour if visit and visit.discharged_at is None and self._in_ed(visit) else None

    def _where(self, visit: _Visit) -> str:
        place = "in the ED" if self._in_ed(visit) else f"at {visit.location or '(no location)'}, outside the ED"
        state = ", discharged" if visit.discharged_at is not None else ""
        return f"{place} ({visit.colour}{state})"

    def _remember(self, seen: tuple[str, str, str]) -> None:
        self._seen[seen] = None
        while len(self._seen) > self.remember_messages:
            self._seen.popitem(last=False)

    def _prune(self, now: datetime) -> None:
        """Forget discharged visits older than ``keep_discharged``; at most every tenth of that period."""
        if self._pruned_at is not None and now - self._pruned_at < self.keep_discharged / 10:
            return
        self._pruned_at = now
        for key, visit in list(self._visits.items()):
            if visit.discharged_at is not None and now - visit.discharged_at > self.keep_discharged:
                del self._visits[key]


def ack(
    message_text: str,
    *,
    code: AckCode,
    reason: str | None,
    now: datetime,
    condition: str = "207",
    control_id: str | None = None,
) -> str:
    """An original-mode ACK for ``message_text``, read from its raw MSH so that unparseable messages get one too.

    MSH: the sender's delimiters, sending and receiving application/facility swapped, MSH-7 ``now``, MSH-9
    ``ACK^<trigger>^ACK`` (no structure component before v2.3.1), a new MSH-10, the same MSH-11 and MSH-12. MSA: the
    code, the original MSH-10 and, before v2.7 (where it is withdrawn), the reason as MSA-3. ERR when not AA: before
    v2.5, ERR-1 ``^^^<condition>&<text>&HL70357&&<reason>``; from v2.5, ERR-3 ``<condition>^<text>^HL70357``, ERR-4
    ``E`` and ERR-8 the reason. Without a readable MSH: default delimiters, empty MSA-2, version 2.5.1.
    """
    msh = _raw_msh(message_text)
    fs, enc = msh[1], msh[2]
    comp, sub = enc[0], enc[3]
    version = _version(msh[12].split(comp)[0]) or _version(_FALLBACK_VERSION)
    trigger = msh[9].split(comp)[1] if comp in msh[9] else ""
    kind = comp.join(["ACK", trigger, "ACK"] if version >= (2, 3, 1) else ["ACK", trigger]) if trigger else "ACK"
    new_id = control_id or uuid.uuid4().hex[:20].upper()
    header_fields = [msh[5], msh[6], msh[3], msh[4], now.strftime("%Y%m%d%H%M%S%z"), "", kind, new_id]
    segments = [["MSH", enc, *header_fields, msh[11] or "P", msh[12] or _FALLBACK_VERSION]]
    text = _escape(reason or "", fs, enc)
    segments.append(["MSA", code, msh[10], text] if text and version < (2, 7) else ["MSA", code, msh[10]])
    if code != "AA":
        label = CONDITIONS.get(condition, "")
        if version < (2, 5):
            segments.append(["ERR", comp * 3 + sub.join([condition, label, "HL70357", "", text]).rstrip(sub)])
        else:
            segments.append(["ERR", "", "", comp.join([condition, label, "HL70357"]), "E", "", "", "", text])
    return "".join(fs.join(s).rstrip(fs) + "\r" for s in segments)


def control_id(message_text: str) -> str:
    """MSH-10 as written (escaped), read without parsing; "" if there is no readable MSH."""
    return _raw_msh(message_text)[10]


def _raw_msh(text: str) -> list[str]:
    """The first MSH segment's fields as written, ``[n]`` being MSH-n (at least MSH-12); defaults if there is none."""
    for segment in text.replace("\n", "\r").split("\r"):
        segment = segment.strip("\x0b\x1c\ufeff \t")
        if segment.startswith("MSH") and len(segment) >= 8 and not segment[3].isalnum():
            fs, (_, enc, *rest) = segment[3], segment.split(segment[3])
            if len(enc) >= 4 and len(set(enc[:4] + fs)) == 5:
                return ["MSH", fs, enc[:4], *rest, *[""] * 11]
    return ["MSH", "|", _DEFAULT_ENCODING, *[""] * 11]


def _escape(text: str, fs: str, enc: str) -> str:
    comp, rep, esc, sub = enc[0], enc[1], enc[2], enc[3]
    text = " ".join(text.split())
    text = text.replace(esc, f"{esc}E{esc}")
    for char, code in ((fs, "F"), (comp, "S"), (rep, "R"), (sub, "T")):
        text = text.replace(char, f"{esc}{code}{esc}")
    return text


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in takewhile(str.isdigit, text.strip().split(".")))


def _get(message: hl7.Message, segment: str, field: int, component: int = 1) -> str:
    """The first repetition's component of a field of the first such segment, unescaped; "" when absent."""
    try:
        return str(message.extract_field(segment, 1, field, 1, component, 1)).strip()
    except (KeyError, IndexError):
        return ""


def _value(text: str) -> str:
    return "" if text == _NULL else text


def _patient(message: hl7.Message) -> PatientKey:
    patient = _value(_get(message, "PID", 3))
    if not patient:
        raise AdtError("PID-3 (patient identifier list) is missing", code="AE", condition="101")
    return PatientKey(patient, _value(_get(message, "PV1", 19)))


def _location(message: hl7.Message) -> str | None:
    """PV1-3's point of care; None when not sent (keep), "" when sent as the HL7 null (delete)."""
    value = _get(message, "PV1", 3)
    return None if not value else _value(value)


def _required_location(message: hl7.Message) -> str:
    location = _location(message)
    if not location:
        raise AdtError("PV1-3 (assigned patient location) is missing", code="AE", condition="101")
    return location


def _colour(message: hl7.Message) -> Colour | None:
    """The triage colour from PV2-25; None when not sent (keep), yellow for the null or an unknown value."""
    value = _get(message, "PV2", 25)
    return _ESI.get(value, "yellow") if value else None
