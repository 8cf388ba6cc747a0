"""Research exports, one authorisation per purpose: a researcher asks (purpose, fields, period), an administrator
approves (until an expiry, for a number of runs) or refuses, and only then may the researcher run it. Each run reads
the closed incidents of the period, de-identifies them under a key made for that run (``dispatch.deidentify``), and
writes CSV or Parquet.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from msgspec import Meta

from dispatch.deidentify import FIELDS, ClosedIncident, Export, deidentify
from dispatch.errors import ConflictError, ForbiddenError, NotFoundError, ProtocolError
from dispatch.pg import Pool
from dispatch.text import LongText, ShortText

Format = Literal["csv", "parquet"]


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    purpose: LongText
    fields: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=64)]
    period_from: datetime
    period_to: datetime
    k: Annotated[int, Meta(ge=2, le=1000)] | None = (
        None  # at least the deployment's k; a researcher may ask for more, never less
    )


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    approve: bool
    note: ShortText | None = None
    expires_at: datetime | None = None  # required to approve
    max_runs: Annotated[int, Meta(ge=1, le=10_000)] | None = None  # None: any number of runs until the expiry


_CLOSED = """
SELECT i.id, i.unit, i.created_at, i.lat, i.lon, i.priority, i.destination, i.complaint, i.decision,
       h.arrived_at, h.transferred_at,
       (SELECT min(a.at) FROM acknowledgements a WHERE a.incident_id = i.id) AS acked_at,
       (SELECT e.body FROM events e WHERE e.incident_id = i.id AND e.type = 'assessment'
        ORDER BY e.id DESC LIMIT 1) AS assessment,
       (SELECT e.body FROM events e WHERE e.incident_id = i.id AND e.type = 'vitals'
        ORDER BY e.taken_at, e.id LIMIT 1) AS first_vitals,
       (SELECT o.body FROM ed_outcomes o WHERE o.incident_id = i.id ORDER BY o.id DESC LIMIT 1) AS outcome
FROM incidents i
JOIN LATERAL (SELECT * FROM handovers h WHERE h.incident_id = i.id ORDER BY h.id DESC LIMIT 1) h ON true
WHERE i.region = $1 AND i.created_at >= $2 AND i.created_at < $3
ORDER BY i.id
"""


def _closed(row: Any) -> ClosedIncident:
    assessment = msgspec.json.decode(row["assessment"]) if row["assessment"] else {}
    decision = msgspec.json.decode(row["decision"]) if row["decision"] else None
    return ClosedIncident(
        incident=row["id"],
        unit=row["unit"],
        call_at=row["created_at"],
        lat=row["lat"],
        lon=row["lon"],
        priority=row["priority"],
        destination=row["destination"],
        age_years=assessment.get("age_years"),
        sex=assessment.get("sex"),
        suspected=assessment.get("suspected"),
        stemi=assessment.get("stemi"),
        acked_at=row["acked_at"],
        arrived_at=row["arrived_at"],
        transferred_at=row["transferred_at"],
        first_vitals=msgspec.json.decode(row["first_vitals"]) if row["first_vitals"] else {},
        followed_recommendation=(not decision["override"]) if decision else None,
        complaint=row["complaint"],
        outcome=msgspec.json.decode(row["outcome"]) if row["outcome"] else None,
    )


def render(export: Export, fmt: Format) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(export.columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(export.rows)
        return out.getvalue().encode()
    table = pa.Table.from_pylist(export.rows) if export.rows else _empty(export)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _empty(export: Export) -> pa.Table:
    return pa.table({name: pa.array([], type=pa.string()) for name in export.columns})


@dataclass(frozen=True)
class Exports:
    pool: Pool
    region: str
    default_k: int
    clock: Callable[[], datetime]

    async def request(self, researcher: str, body: ExportRequest) -> dict[str, Any]:
        unknown = [f for f in body.fields if f not in FIELDS]
        if unknown or not body.fields:
            raise ProtocolError("invalid_field", f"unknown or no fields: {', '.join(unknown)}", field="fields")
        if not body.purpose.strip() or len(body.purpose) > 500:
            raise ProtocolError("invalid_field", "name the purpose (up to 500 characters)", field="purpose")
        if body.period_to <= body.period_from:
            raise ProtocolError("invalid_field", "the period ends before it starts", field="period_to")
        k = body.k if body.k is not None else self.default_k
        if k < self.default_k:
            raise ProtocolError("invalid_field", f"k may not be below {self.default_k}", field="k")
        row = await self.pool.fetchrow(
            "INSERT INTO export_requests (researcher, purpose, fields, period_from, period_to, k) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            researcher,
            body.purpose.strip(),
            body.fields,
            body.period_from,
            body.period_to,
            k,
        )
        return _public(row)

    async def list(self, researcher: str | None) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM export_requests WHERE $1::text IS NULL OR researcher = $1 ORDER BY id", researcher
        )
        return [_public(r) for r in rows]

    async def decide(self, number: int, body: Decision, *, admin: str) -> dict[str, Any]:
        now = self.clock()
        if body.approve and (body.expires_at is None or body.expires_at <= now):
            raise ProtocolError("invalid_field", "an approval needs an expiry in the future", field="expires_at")
        if body.max_runs is not None and body.max_runs < 1:
            raise ProtocolError("invalid_field", "at least one run", field="max_runs")
        row = await self.pool.fetchrow(
            "UPDATE export_requests SET state = $2, decided_by = $3, decided_at = $4, decision_note = $5, "
            "expires_at = $6, max_runs = $7 WHERE id = $1 AND state = 'requested' RETURNING *",
            number,
            "approved" if body.approve else "refused",
            admin,
            now,
            body.note,
            body.expires_at if body.approve else None,
            body.max_runs if body.approve else None,
        )
        if row is None:
            await self._get(number)
            raise ConflictError(f"export {number} has been decided already")
        return _public(row)

    async def run(self, number: int, *, researcher: str, fmt: Format) -> tuple[dict[str, Any], Export, bytes]:
        """Run an approved export (counting the run), and return the request, the export and its file."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM export_requests WHERE id = $1 FOR UPDATE", number)
            if row is None:
                raise NotFoundError("export", str(number))
            if row["researcher"] != researcher:
                raise ForbiddenError(f"export {number} was requested by someone else")
            if row["state"] != "approved":
                raise ForbiddenError(f"export {number} is {row['state']}, not approved")
            if row["expires_at"] <= now:
                raise ForbiddenError(f"the approval of export {number} expired")
            if row["max_runs"] is not None and row["runs"] >= row["max_runs"]:
                raise ForbiddenError(f"export {number} has been run the {row['max_runs']} times approved")
            await conn.execute("UPDATE export_requests SET runs = runs + 1 WHERE id = $1", number)
            records = [_closed(r) for r in await conn.fetch(_CLOSED, self.region, row["period_from"], row["period_to"])]
        export = deidentify(records, row["fields"], key=secrets.token_bytes(32), k=row["k"])
        return _public(row), export, render(export, fmt)

    async def _get(self, number: int) -> None:
        if await self.pool.fetchval("SELECT id FROM export_requests WHERE id = $1", number) is None:
            raise NotFoundError("export", str(number))


def _public(row: Any) -> dict[str, Any]:
    public: dict[str, Any] = msgspec.to_builtins(dict(row))
    return public
