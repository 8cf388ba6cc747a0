"""Routes of the de-identified research export: researchers request and run, administrators decide."""

from __future__ import annotations

from typing import cast

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.deidentify import FIELDS
from dispatch.errors import ProtocolError
from dispatch.exports import Decision, ExportRequest, Format
from dispatch.http_guard import audit_note
from dispatch.web import json_response, read_body, region_caller, services_of


def _number(request: Request) -> int:
    raw = request.path_params["export"]
    if not raw.isdigit() or len(raw) > 15:
        raise ProtocolError("invalid_field", "expected an export number", field="export")
    return int(raw)


async def fields(request: Request) -> Response:
    """The fields an export may contain, each with what it holds."""
    region_caller(request, {"researcher", "admin"})
    return json_response(FIELDS)


async def request_export(request: Request) -> Response:
    who = region_caller(request, "researcher")
    body = await read_body(request, ExportRequest)
    created = await services_of(request).exports.request(who.subject, body)
    audit_note(request, purpose=body.purpose, detail={"export": created["id"], "fields": body.fields})
    return json_response(created, 201)


async def list_exports(request: Request) -> Response:
    who = region_caller(request, {"researcher", "admin"})
    return json_response(await services_of(request).exports.list(who.subject if who.role == "researcher" else None))


async def decide(request: Request) -> Response:
    who = region_caller(request, "admin")
    body = await read_body(request, Decision)
    decided = await services_of(request).exports.decide(_number(request), body, admin=who.subject)
    action = "approve" if body.approve else "refuse-export"
    audit_note(request, action=action, purpose=decided["purpose"], detail={"export": decided["id"]})
    return json_response(decided)


async def run(request: Request) -> Response:
    """Run an approved export: ``?format=csv`` (default) or ``parquet``. The suppression report comes in the
    ``x-suppression-report`` header (JSON)."""
    who = region_caller(request, "researcher")
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "parquet"):
        raise ProtocolError("invalid_field", "format is csv or parquet", field="format")
    number = _number(request)
    audit_note(request, detail={"export": number})
    approved, export, data = await services_of(request).exports.run(
        number, researcher=who.subject, fmt=cast(Format, fmt)
    )
    report = msgspec.json.encode(export.report).decode()
    audit_note(
        request, action="export", purpose=approved["purpose"], detail={"report": msgspec.to_builtins(export.report)}
    )
    media = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    return Response(
        data,
        media_type=media,
        headers={
            "content-disposition": f'attachment; filename="export-{number}.{fmt}"',
            "x-suppression-report": report,
        },
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/research/fields", fields),
        Route("/v1/research/exports", request_export, methods=["POST"]),
        Route("/v1/research/exports", list_exports, methods=["GET"]),
        Route("/v1/research/exports/{export}/decision", decide, methods=["POST"]),
        Route("/v1/research/exports/{export}/run", run, methods=["POST"]),
    ]
