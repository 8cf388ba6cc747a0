from __future__ import annotations

from pathlib import Path

from prealert.cli import SCHEMA_PATH, schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_schema_is_generated_from_the_structs() -> None:
    checked_in = (ROOT / SCHEMA_PATH).read_text()
    assert checked_in == schema_text(), "run `prealert schema --write` and commit docs/protocol.schema.json"


def test_schema_names_every_frame() -> None:
    text = schema_text()
    for name in ("Vitals", "Assessment", "Position", "Status", "Hello", "Ack", "Error", "FeedEvent", "Reset"):
        assert f'"{name}"' in text
