"""The de-identified research export end to end: request for a named purpose, refusal before approval, approval with
an expiry and a number of runs, CSV and Parquet, and attempts to re-identify what came out."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pyarrow.parquet as pq
import pytest

from dispatch import tokens
from dispatch.deidentify import QUASI_IDENTIFIERS
from prealert.harness import Service
from tests.authkit import admin, call
from tests.conftest import SECRET, Scene, iso, make_scene, token, transfer_care

PURPOSE = "Door-to-balloon times of STEMI pre-alerts, test cohort"
FIELDS = ["age_band", "sex", "scene_cell", "destination", "call_date", "suspected", "first_hr", "door_to_handover_min"]


async def _close(service: Service, scene: Scene, *, age: int, sex: str) -> None:
    """Crew assessment and vitals, arrival, and the ED's transfer of care: a closed incident."""
    tablet = scene.tablet()
    await tablet.connect()
    last = 0
    for message in (
        {
            "type": "assessment",
            "incident": scene.incident,
            "taken_at": iso(),
            "age_years": age,
            "sex": sex,
            "suspected": "stemi",
            "chief_complaint": "Mr Identifiable Person, 1 Secret Lane",
            "notes": "phone 555-0101",
        },
        scene.vitals(hr=104, sbp=128),
        {"type": "status", "incident": scene.incident, "taken_at": iso(), "status": "at_destination"},
    ):
        last = await tablet.send(message)
    await tablet.wait_acked(last)
    await tablet.close()
    await transfer_care(service, scene)


@pytest.fixture(scope="module")
async def cohort(service: Service) -> list[Scene]:
    started = datetime.now(UTC)
    scenes = []
    for i in range(12):
        scene = await make_scene(service, hospital="upmc-mercy")
        # ten alike (one quasi-identifier group), two that stand out (over 90: one band each, suppressed at k=5)
        await _close(service, scene, age=66 if i < 10 else 97, sex="female" if i < 10 else "male")
        scenes.append(scene)
    assert datetime.now(UTC) - started < timedelta(minutes=5)
    return scenes


def _researcher() -> str:
    return token("researcher", "pittsburgh")


async def _request(service: Service, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "purpose": PURPOSE,
        "fields": FIELDS,
        "period_from": iso(now - timedelta(hours=1)),
        "period_to": iso(now + timedelta(hours=1)),
        **changes,
    }
    created = await call(service, "POST", "/v1/research/exports", _researcher(), body)
    assert created.status_code == 201, created.text
    request: dict[str, Any] = created.json()
    assert request["state"] == "requested" and request["k"] == 5
    return request


async def _decide(service: Service, number: int, **body: Any) -> httpx.Response:
    return await call(service, "POST", f"/v1/research/exports/{number}/decision", admin(), body)


async def _run(service: Service, number: int, fmt: str = "csv") -> httpx.Response:
    return await call(service, "POST", f"/v1/research/exports/{number}/run?format={fmt}", _researcher())


async def test_an_export_runs_only_once_approved_and_only_as_often_as_approved(
    service: Service, cohort: list[Scene], db: asyncpg.Pool
) -> None:
    request = await _request(service)
    number = request["id"]
    early = await _run(service, number)
    assert early.status_code == 403 and "requested, not approved" in early.json()["reason"]
    expires = iso(datetime.now(UTC) + timedelta(hours=1))
    approved = await _decide(service, number, approve=True, expires_at=expires, max_runs=2, note="IRB 2026-114")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    again = await _decide(service, number, approve=False)
    assert again.status_code == 409

    as_csv = await _run(service, number, "csv")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    report = msgspec.json.decode(as_csv.headers["x-suppression-report"])
    as_parquet = await _run(service, number, "parquet")
    assert as_parquet.status_code == 200
    table = pq.read_table(io.BytesIO(as_parquet.content)).to_pylist()
    third = await _run(service, number)
    assert third.status_code == 403 and "2 times approved" in third.json()["reason"]

    # What came out: the requested fields under a pseudonym, nothing else.
    assert list(rows[0]) == ["pseudonym", *FIELDS]
    assert report["k"] == 5 and report["records_out"] == len(rows)
    assert report["records_in"] >= 12 and report["suppressed_records"] >= 2
    # Every quasi-identifier combination occurs at least k times, in both files.
    for found in (rows, table):
        combos = Counter(tuple(str(r[q]) for q in QUASI_IDENTIFIERS) for r in found)
        assert combos and min(combos.values()) >= 5
    # The two over-90s (each alone in their group) were suppressed; the ten alike were kept, banded.
    ours = [r for r in rows if r["age_band"] == "65-69" and r["sex"] == "female" and r["destination"] == "upmc-mercy"]
    assert len(ours) >= 10 and not [r for r in rows if r["age_band"] == "90+" and r["sex"] == "male"]
    # No direct identifier survives: ids, units, free text, exact coordinates or exact dates.
    text = as_csv.text + repr(table)
    for scene in cohort:
        assert scene.unit not in text
        assert not [r for r in rows if str(scene.incident) in r.values()]
    assert "Identifiable" not in text and "Secret Lane" not in text and "555-0101" not in text
    assert "40.44" not in text and "-79.99" not in text  # the scene was at 40.44, -79.99; its cell is 40.40,-80.00
    assert {r["scene_cell"] for r in ours} == {"40.40,-80.00"}
    # The same patients have different pseudonyms in the two exports (CSV and Parquet ran separately).
    assert not {r["pseudonym"] for r in rows} & {r["pseudonym"] for r in table}
    # Every run was audited with the approved purpose.
    entries = (await call(service, "GET", "/v1/admin/audit?action=export&limit=1000", admin())).json()
    runs = [e for e in entries if e["detail"].get("export") == number]
    assert len(runs) == 2 and {e["purpose"] for e in runs} == {PURPOSE}
    assert all(e["detail"]["report"]["k"] == 5 for e in runs)


async def test_a_refused_or_expired_export_does_not_run(service: Service, cohort: list[Scene]) -> None:
    refused = await _request(service, purpose="Fishing for anything")
    assert (await _decide(service, refused["id"], approve=False, note="no ethics approval")).status_code == 200
    assert (await _run(service, refused["id"])).status_code == 403
    short = await _request(service)
    no_expiry = await _decide(service, short["id"], approve=True)
    assert no_expiry.status_code == 422 and no_expiry.json()["field"] == "expires_at"
    soon = iso(datetime.now(UTC) + timedelta(seconds=1.5))
    assert (await _decide(service, short["id"], approve=True, expires_at=soon)).status_code == 200
    await asyncio.sleep(2)
    expired = await _run(service, short["id"])
    assert expired.status_code == 403 and "expired" in expired.json()["reason"]


async def test_a_researcher_runs_only_their_own_exports_and_asks_at_least_k(service: Service) -> None:
    mine = await _request(service)
    expires = iso(datetime.now(UTC) + timedelta(hours=1))
    assert (await _decide(service, mine["id"], approve=True, expires_at=expires)).status_code == 200
    someone_else = tokens.issue(
        SECRET, role="researcher", scope="pittsburgh", subject="another-researcher", now=int(time.time()), ttl_s=600
    )
    theirs = await call(service, "POST", f"/v1/research/exports/{mine['id']}/run", someone_else)
    assert theirs.status_code == 403 and "someone else" in theirs.json()["reason"]
    low_k = await call(service, "POST", "/v1/research/exports", _researcher(), {**_body(), "k": 2})
    assert low_k.status_code == 422 and low_k.json()["field"] == "k"
    unknown = await call(service, "POST", "/v1/research/exports", _researcher(), {**_body(), "fields": ["name"]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "fields"
    mine_only = (await call(service, "GET", "/v1/research/exports", someone_else)).json()
    assert mine_only == []


def _body() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"purpose": PURPOSE, "fields": FIELDS, "period_from": iso(now - timedelta(hours=1)), "period_to": iso(now)}
