"""Reading the real ECG excerpts into the wire's sample format, and cutting a rhythm strip into live chunks.

Pure apart from the two loaders, which read the CSVs shipped in ``data/``. Samples on the wire are signed 16-bit
little-endian integers in units of ``1/gain_per_mv`` mV; here the gain is 1000, so a sample is a microvolt.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Final

import numpy as np
import numpy.typing as npt

from dispatch.protocol import ECG_LEADS

GAIN_PER_MV: Final = 1000  # samples are microvolts
_CSV_NAMES: Final = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
_CSV_LEADS: Final = dict(zip(_CSV_NAMES, ECG_LEADS, strict=True))


@dataclass(frozen=True)
class Recording:
    sample_rate_hz: int
    leads: dict[str, bytes]  # lead name -> int16 little-endian microvolts

    @property
    def seconds(self) -> float:
        return len(next(iter(self.leads.values()))) / 2 / self.sample_rate_hz

    def microvolts(self, lead: str) -> npt.NDArray[np.int16]:
        return np.frombuffer(self.leads[lead], dtype="<i2")


def pack(millivolts: list[float]) -> bytes:
    """mV (3 decimals) -> int16 LE microvolts, exactly."""
    return np.round(np.asarray(millivolts, dtype=np.float64) * GAIN_PER_MV).astype("<i2").tobytes()


def _read(name: str) -> tuple[list[str], list[list[float]]]:
    text = (resources.files("prealert.waveforms") / "data" / name).read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], rows[1:]
    return header, [[float(v) for v in row] for row in body]


def twelve_lead() -> Recording:
    """The PTB acute inferolateral MI 12-lead: 10 s at 500 /s."""
    header, rows = _read("ptbdb_s0010_re_10s_500hz.csv")
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    leads = {_CSV_LEADS[name]: pack(columns[name]) for name in _CSV_LEADS}
    return Recording(sample_rate_hz=500, leads=leads)


def rhythm_strip() -> Recording:
    """MIT-BIH record 100, lead MLII: 10 s at 360 /s, about 75 /min."""
    header, rows = _read("mitdb_100_10s_360hz.csv")
    column = header.index("MLII")
    return Recording(sample_rate_hz=360, leads={"MLII": pack([row[column] for row in rows])})


@dataclass(frozen=True)
class Chunk:
    start_at: datetime
    samples: bytes


def chunks(recording: Recording, lead: str, *, start_at: datetime, chunk_s: float = 0.5) -> Iterator[Chunk]:
    """The lead as consecutive chunks of ``chunk_s`` seconds, looping the recording for ever (a monitor streams for
    as long as it is on); each chunk is stamped with the moment its first sample was taken."""
    data = recording.leads[lead]
    per_chunk = round(chunk_s * recording.sample_rate_hz) * 2
    offset, at = 0, start_at
    step = timedelta(seconds=per_chunk / 2 / recording.sample_rate_hz)
    while True:
        piece = data[offset : offset + per_chunk]
        if len(piece) < per_chunk:
            piece += data[: per_chunk - len(piece)]
        yield Chunk(start_at=at, samples=piece)
        offset = (offset + per_chunk) % len(data)
        at += step
