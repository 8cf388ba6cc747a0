"""Waveform frames: a 12-lead ECG and live strip chunks decode from msgpack (and JSON), and every structural rule a
schema cannot state is checked; the real recordings load exactly; a strip loops seamlessly."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import pytest

from dispatch.errors import ProtocolError
from dispatch.frames import Limits, decode
from dispatch.protocol import ECG_LEADS, Ecg12, Strip
from dispatch.throttle import ByteBudget
from prealert.waveforms import ecg

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LIMITS = Limits()


def twelve(**changes: Any) -> dict[str, Any]:
    recording = ecg.twelve_lead()
    frame: dict[str, Any] = {
        "type": "ecg12",
        "seq": 3,
        "uid": "ecg-0000000001",
        "incident": 9,
        "taken_at": "2026-11-24T11:58:00Z",
        "sample_rate_hz": 500,
        "gain_per_mv": 1000,
        "leads": [{"name": name, "samples": recording.leads[name]} for name in ECG_LEADS],
        "interpretation": "STEMI inferolateral",
        "stemi": True,
    }
    frame.update(changes)
    return frame


def refusal(raw: bytes | str) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode(raw, now=NOW, limits=LIMITS)
    return caught.value


def test_the_real_12_lead_decodes_from_msgpack_byte_identical() -> None:
    recording = ecg.twelve_lead()
    raw = msgspec.msgpack.encode(twelve())
    assert len(raw) < 130_000  # 12 leads x 5000 samples x 2 bytes, plus a little
    message = decode(raw, now=NOW, limits=LIMITS)
    assert isinstance(message, Ecg12)
    assert {lead.name: lead.samples for lead in message.leads} == recording.leads
    assert message.stemi is True and message.interpretation == "STEMI inferolateral"


def test_the_same_12_lead_as_json_carries_base64_samples() -> None:
    frame = twelve()
    frame["leads"] = [{"name": x["name"], "samples": base64.b64encode(x["samples"]).decode()} for x in frame["leads"]]
    message = decode(msgspec.json.encode(frame).decode(), now=NOW, limits=LIMITS)
    assert isinstance(message, Ecg12) and message.leads[1].samples == ecg.twelve_lead().leads["II"]


def test_a_missing_lead_is_named() -> None:
    frame = twelve()
    frame["leads"] = [x for x in frame["leads"] if x["name"] != "V4"] + [frame["leads"][0]]
    error = refusal(msgspec.msgpack.encode(frame))
    assert (error.code, error.field, error.seq) == ("invalid_field", "leads", 3)
    assert "missing V4" in error.reason


def test_twelve_leads_are_required() -> None:
    frame = twelve()
    frame["leads"] = frame["leads"][:11]
    error = refusal(msgspec.msgpack.encode(frame))
    assert error.code == "invalid_field" and error.field == "leads"


def test_leads_of_different_lengths_are_refused() -> None:
    frame = twelve()
    frame["leads"][5] = {"name": "aVF", "samples": frame["leads"][5]["samples"][:-2]}
    assert refusal(msgspec.msgpack.encode(frame)).reason == "every lead needs the same number of samples"


def test_an_odd_number_of_bytes_is_refused() -> None:
    frame = twelve()
    frame["leads"] = [{"name": x["name"], "samples": x["samples"][:-1]} for x in frame["leads"]]
    assert refusal(msgspec.msgpack.encode(frame)).field == "leads[0].samples"


@pytest.mark.parametrize(("seconds", "ok"), [(2.4, False), (2.5, True), (12.0, True)])
def test_duration_boundaries(seconds: float, ok: bool) -> None:
    samples = b"\x00\x00" * round(seconds * 500)
    frame = twelve(leads=[{"name": name, "samples": samples} for name in ECG_LEADS])
    if ok:
        assert isinstance(decode(msgspec.msgpack.encode(frame), now=NOW, limits=LIMITS), Ecg12)
    else:
        error = refusal(msgspec.msgpack.encode(frame))
        assert error.code == "implausible" and "2.4 s of signal" in error.reason


def test_a_sample_rate_out_of_range_is_implausible() -> None:
    assert refusal(msgspec.msgpack.encode(twelve(sample_rate_hz=5000))).code == "implausible"


def test_binary_garbage_is_malformed_msgpack() -> None:
    error = refusal(b"\xc1\x00")
    assert error.code == "malformed" and error.reason.startswith("not valid msgpack")


def test_a_strip_chunk_decodes_and_a_far_future_one_is_refused() -> None:
    chunk = {
        "type": "strip",
        "incident": 9,
        "lead": "MLII",
        "start_at": "2026-11-24T11:59:59.500Z",
        "sample_rate_hz": 360,
        "gain_per_mv": 1000,
        "samples": b"\x01\x00" * 180,
        "hr": 75,
    }
    message = decode(msgspec.msgpack.encode(chunk), now=NOW, limits=LIMITS)
    assert isinstance(message, Strip) and len(message.samples) == 360
    error = refusal(msgspec.msgpack.encode({**chunk, "start_at": "2026-11-24T13:00:00Z"}))
    assert (error.code, error.field, error.seq) == ("implausible", "start_at", None)


def test_recordings_load_exactly_in_microvolts() -> None:
    twelve_lead = ecg.twelve_lead()
    assert twelve_lead.seconds == 10.0 and set(twelve_lead.leads) == set(ECG_LEADS)
    # the CSV's first row: ii = -0.042 mV, v4 = 0.129 mV
    assert twelve_lead.microvolts("II")[0] == -42 and twelve_lead.microvolts("V4")[0] == 129
    # Einthoven: lead III = II - I, to the rounding of the source's 3 decimals
    i, ii, iii = (twelve_lead.microvolts(x).astype(np.int32) for x in ("I", "II", "III"))
    assert np.abs(iii - (ii - i)).max() <= 2
    strip = ecg.rhythm_strip()
    assert strip.sample_rate_hz == 360 and strip.seconds == 10.0


def test_strip_chunks_loop_seamlessly_with_their_times() -> None:
    strip = ecg.rhythm_strip()
    pieces = ecg.chunks(strip, "MLII", start_at=NOW, chunk_s=0.5)
    first = [next(pieces) for _ in range(21)]  # 10.5 s: past the end of the 10 s recording
    assert all(len(c.samples) == 360 for c in first)
    assert first[20].start_at - NOW == timedelta(seconds=10)
    assert first[20].samples == strip.leads["MLII"][:360]  # looped back to the start
    assert b"".join(c.samples for c in first[:20]) == strip.leads["MLII"]


def test_byte_budget_drops_what_does_not_fit_and_refills() -> None:
    budget = ByteBudget(bytes_per_s=1000, burst_bytes=1500)
    assert budget.spend(1000, now=0.0) and not budget.spend(1000, now=0.0)  # 500 left
    assert not budget.spend(1000, now=0.4)  # 900
    assert budget.spend(1000, now=0.6)  # 1100 -> 100
    assert not budget.spend(200, now=0.6)
