"""Hypothesis strategies for tablet frames of every type, valid and broken, and the oracle that says which is which.

A frame is drawn as a plausible message of one type (``vitals``, ``assessment``, ``position``, ``status``,
``ecg12``, ``strip``), then perhaps broken by one mutation: a field dropped, retyped, pushed out of range or added,
the type tag changed, the text truncated or flipped, bytes that are not UTF-8 or not JSON, msgpack of the wrong
shape. It is sent as JSON text or msgpack binary. Whether it is valid is decided by ``dispatch.frames.decode``
itself (the pure core), so the socket tests check that the server answers exactly the frames the core refuses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
from hypothesis import strategies as st

from dispatch import frames
from dispatch.errors import ProtocolError
from dispatch.protocol import TabletFrame

TYPES: Final = ("vitals", "assessment", "position", "status", "ecg12", "strip")
MUTATIONS: Final = (
    "none",
    "none",
    "none",
    "none",
    "none",
    "none",
    "drop",
    "retype",
    "out_of_range",
    "unknown_field",
    "bad_tag",
    "truncate",
    "flip",
    "not_utf8",
    "not_json",
    "null_everything",
    "future",
    "no_zone",
    "empty",
    "deep",
    "msgpack_junk",
)
LEADS: Final = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
STATUSES: Final = ("en_route", "on_scene", "at_patient", "transporting")  # none that ends the assignment


PLACEHOLDER: Final = 900_000_001  # the seq frames are drawn with; ``with_seq`` puts the real one in its place


def _iso(at: datetime) -> str:
    """Always the same width, so that what is drawn never depends on the clock (Hypothesis replays choices)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _samples(seed: int, count: int) -> str:
    """``count`` int16 samples of noise, made from ``seed`` (drawing each one would make Hypothesis slow)."""
    return base64.b64encode(hashlib.shake_128(seed.to_bytes(8, "big")).digest(count * 2)).decode()


def _body(kind: str, draw: st.DrawFn, incident: int, now: datetime) -> dict[str, Any]:
    seed = draw(st.integers(0, 2**32))
    taken = _iso(now - timedelta(seconds=draw(st.integers(0, 3600))))
    if kind == "vitals":
        optional = {
            "hr": st.integers(20, 250),
            "sbp": st.integers(50, 260),
            "dbp": st.integers(20, 160),
            "spo2": st.integers(50, 100),
            "rr": st.integers(0, 70),
            "temp_c": st.floats(28, 44, allow_nan=False).map(lambda t: round(t, 1)),
            "gcs_eye": st.integers(1, 4),
            "gcs_verbal": st.integers(1, 5),
            "gcs_motor": st.integers(1, 6),
            "glucose_mg_dl": st.integers(10, 900),
            "avpu": st.sampled_from("ACVPU"),
            "on_oxygen": st.booleans(),
            "source": st.sampled_from(["manual", "monitor"]),
        }
        body = {"incident": incident, "taken_at": taken}
        body.update(draw(st.fixed_dictionaries({}, optional=optional)))
        return body
    if kind == "assessment":
        return {
            "incident": incident,
            "taken_at": taken,
            "age_years": draw(st.integers(0, 120)),
            "sex": draw(st.sampled_from(["female", "male", "unknown"])),
            "suspected": draw(st.sampled_from(["stemi", "stroke", "trauma", "sepsis", "general"])),
            "lams": draw(st.integers(0, 5)),
            "notes": draw(st.text(max_size=40)),
        }
    if kind == "position":
        return {
            "incident": incident,
            "taken_at": taken,
            "lat": draw(st.floats(40.3, 40.6, allow_nan=False)),
            "lon": draw(st.floats(-80.2, -79.8, allow_nan=False)),
            "speed_mps": draw(st.floats(0, 40, allow_nan=False)),
        }
    if kind == "status":
        return {"incident": incident, "taken_at": taken, "status": draw(st.sampled_from(STATUSES))}
    if kind == "ecg12":
        count = draw(st.sampled_from([250, 260, 240]))  # 2.5 s at 100 /s, or a little more or less
        return {
            "incident": incident,
            "taken_at": taken,
            "sample_rate_hz": 100,
            "gain_per_mv": 200,
            "leads": [{"name": name, "samples": _samples(seed + index, count)} for index, name in enumerate(LEADS)],
            "interpretation": "sinus rhythm",
            "stemi": False,
        }
    return {
        "incident": incident,
        "lead": draw(st.sampled_from(["II", "MLII", "Pleth"])),
        "start_at": _iso(now - timedelta(milliseconds=draw(st.integers(0, 1500)))),
        "sample_rate_hz": 250,
        "gain_per_mv": 200,
        "samples": _samples(seed, draw(st.integers(1, 125))),
        "hr": draw(st.integers(30, 200)),
    }


def _mutate(body: dict[str, Any], mutation: str, draw: st.DrawFn, now: datetime) -> dict[str, Any] | bytes | str:
    keys = sorted(body)
    if mutation == "drop":
        body.pop(draw(st.sampled_from(keys)))
    elif mutation == "retype":
        body[draw(st.sampled_from(keys))] = draw(
            st.sampled_from(["ninety", [], {}, True, -1.5, None, "", 1e300, 2**64 - 1])
        )
    elif mutation == "out_of_range":
        numeric = [k for k in keys if isinstance(body[k], int | float) and not isinstance(body[k], bool)]
        body[draw(st.sampled_from(numeric or ["seq"]))] = draw(st.sampled_from([-1, 10**6, 2**63, -(2**63)]))
    elif mutation == "unknown_field":
        body[draw(st.sampled_from(["mood", "x", "__proto__", "TYPE", "seq2"]))] = 1
    elif mutation == "bad_tag":
        body["type"] = draw(st.sampled_from(["teleport", "VITALS", "", 7, None, "strip2"]))
    elif mutation == "null_everything":
        body = dict.fromkeys(body)
    elif mutation == "future":
        body["taken_at" if "taken_at" in body else "start_at"] = _iso(now + timedelta(hours=2))
    elif mutation == "no_zone":
        body["taken_at" if "taken_at" in body else "start_at"] = "2026-12-06T10:00:00"
    elif mutation == "deep":
        nested: Any = 1
        for _ in range(draw(st.integers(10, 300))):
            nested = [nested]
        body[draw(st.sampled_from(keys))] = nested
    elif mutation == "truncate":
        text = msgspec.json.encode(body)
        return text[: draw(st.integers(0, max(0, len(text) - 1)))].decode("utf-8", "replace")
    elif mutation == "flip":
        flipped = bytearray(msgspec.json.encode(body))
        at = draw(st.integers(0, len(flipped) - 1))
        flipped[at] = draw(st.sampled_from(b'{}[]:,"\\x0'))
        return bytes(flipped).decode("utf-8", "replace")
    elif mutation == "not_utf8":
        return b"{" + draw(st.binary(min_size=1, max_size=40)) + b"\xff\xfe}"
    elif mutation == "not_json":
        return draw(st.sampled_from(["", " ", "null", "[]", "1", '"vitals"', "{", "}{", "{'type': 'vitals'}"]))
    elif mutation == "empty":
        return "{}"
    elif mutation == "msgpack_junk":
        return msgspec.msgpack.encode(draw(st.sampled_from([[1, 2], "vitals", {"type": 1}, None, {"seq": "x"}])))
    return body


@dataclass(frozen=True)
class Drawn:
    raw: str | bytes
    kind: str
    mutation: str
    seq: int | None  # the seq the frame was made with (None: a strip)


def with_seq(drawn: Drawn, seq: int) -> Drawn:
    """The frame with the placeholder seq replaced by ``seq`` (nine digits, like the placeholder, so that JSON and
    msgpack keep their shape); a frame whose seq was mangled keeps what it has."""
    assert 100_000_000 <= seq < 1_000_000_000
    if isinstance(drawn.raw, str):
        raw: str | bytes = drawn.raw.replace(f'"seq":{PLACEHOLDER}', f'"seq":{seq}', 1)
    else:
        raw = drawn.raw.replace(b"\xce" + PLACEHOLDER.to_bytes(4, "big"), b"\xce" + seq.to_bytes(4, "big"), 1)
    return Drawn(raw=raw, kind=drawn.kind, mutation=drawn.mutation, seq=None if drawn.seq is None else seq)


@st.composite
def frame(draw: st.DrawFn, *, incident: int, now: datetime, seq: int = PLACEHOLDER) -> Drawn:
    kind = draw(st.sampled_from(TYPES[:4] + ("strip",) * 2 + ("ecg12",)))
    mutation = draw(st.sampled_from(MUTATIONS))
    body = {"type": kind, **({} if kind == "strip" else {"seq": seq}), **_body(kind, draw, incident, now)}
    shaped = _mutate(body, mutation, draw, now)
    if isinstance(shaped, dict):
        binary = draw(st.integers(0, 4)) == 0
        raw: str | bytes = (
            msgspec.msgpack.encode(_for_msgpack(shaped)) if binary else msgspec.json.encode(shaped).decode()
        )
    else:
        raw = shaped
    return Drawn(raw=raw, kind=kind, mutation=mutation, seq=None if kind == "strip" else seq)


def _bytes(value: Any) -> Any:
    """Base64 text as the bytes it stands for (binary frames carry samples raw); anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        return value


def _for_msgpack(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    if "samples" in out:
        out["samples"] = _bytes(out["samples"])
    if isinstance(out.get("leads"), list):
        out["leads"] = [
            {**lead, "samples": _bytes(lead.get("samples"))} if isinstance(lead, dict) else lead
            for lead in out["leads"]
        ]
    return out


def verdict(raw: str | bytes, now: datetime) -> tuple[str | None, TabletFrame | None]:
    """(None, the message) if the core accepts the frame, else (its error code, None); anything but ProtocolError
    is a bug."""
    try:
        return None, frames.decode(raw, now=now, limits=frames.Limits())
    except ProtocolError as exc:
        return exc.code, None


def utc_now() -> datetime:
    return datetime.now(UTC)
