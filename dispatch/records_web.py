"""Routes of the standards' records: NEMSIS v3.5.1 and FHIR R4 exports of incidents, NEMSIS import, and the crew's
history with the ED's outcomes.

- Dispatchers and administrators of the region export an incident (NEMSIS once it is closed; FHIR at any time),
  every incident closed in a period as one NEMSIS document, and import NEMSIS documents (validated first).
- A crew sees its own unit's recent patients with what became of them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import fhir, nemsis, nemsis_import, tokens
from dispatch.care_record import CareRecord
from dispatch.errors import NotFoundError, ProtocolError
from dispatch.http_guard import audit_note
from dispatch.services import Services
from dispatch.web import bearer, incident_number, json_response, region_caller, services_of

NEMSIS_XML: Final = "application/xml"
RECORD_ROLES: Final[frozenset[tokens.Role]] = frozenset({"dispatcher", "admin"})
MAX_PERIOD: Final = timedelta(days=31)


def agency(services: Services) -> nemsis.Agency:
    s = services.settings
    return nemsis.Agency(state_id=s.nemsis_agency_id, number=s.nemsis_agency_number, state=s.nemsis_state)


def nemsis_response(records: list[CareRecord], services: Services, name: str) -> Response:
    return Response(
        nemsis.render_many(records, agency(services)),
        media_type=NEMSIS_XML,
        headers={"content-disposition": f'attachment; filename="{name}.xml"'},
    )


def fhir_response(resource: dict[str, object]) -> Response:
    return Response(msgspec.json.encode(resource), media_type=fhir.FHIR_JSON)


async def incident_nemsis(request: Request) -> Response:
    """A closed incident as a NEMSIS EMSDataSet document (409 until care has been transferred)."""
    region_caller(request, RECORD_ROLES)
    services = services_of(request)
    incident = incident_number(request)
    record = await services.records.of_incident(incident, now=services.clock(), closed=True)
    audit_note(request, incident=incident)
    return nemsis_response([record], services, f"prealert-{incident}")


async def incident_fhir(request: Request) -> Response:
    """An incident as a FHIR R4 Bundle (collection), as it stands."""
    region_caller(request, RECORD_ROLES)
    services = services_of(request)
    incident = incident_number(request)
    record = await services.records.of_incident(incident, now=services.clock())
    audit_note(request, incident=incident)
    return fhir_response(fhir.bundle(record))


def _period(request: Request) -> tuple[datetime, datetime]:
    try:
        start = msgspec.convert(request.query_params.get("from", ""), datetime)
        end = msgspec.convert(request.query_params.get("to", ""), datetime)
    except msgspec.ValidationError:
        raise ProtocolError(
            "invalid_field", "give from and to as ISO 8601 times with their offset", field="from"
        ) from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ProtocolError("invalid_field", "from and to need an offset (UTC: Z)", field="from")
    if not start < end <= start + MAX_PERIOD:
        raise ProtocolError("invalid_field", "from must be before to, at most 31 days apart", field="to")
    return start, end


async def closed_nemsis(request: Request) -> Response:
    """Every incident closed (handed over) in ``[from, to)`` as one EMSDataSet document; 404 when there is none."""
    region_caller(request, RECORD_ROLES)
    services = services_of(request)
    start, end = _period(request)
    numbers = await services.records.closed_between(start, end)
    if not numbers:
        raise NotFoundError("closed incident between", f"{start.isoformat()} and {end.isoformat()}")
    now = services.clock()
    records = [await services.records.of_incident(n, now=now, closed=True) for n in numbers]
    audit_note(request, detail={"incidents": numbers})
    return nemsis_response(records, services, "prealert-closed")


async def import_nemsis(request: Request) -> Response:
    """A NEMSIS v3.5.1 EMSDataSet document: validated against the XSD and the national Schematron; refused (422)
    with their messages if it fails either, else each report is kept (once per UUID) and numbered."""
    who = region_caller(request, RECORD_ROLES)
    services = services_of(request)
    document = await request.body()
    try:
        # validation takes milliseconds to a few hundred for a large document: off the event loop, so that the
        # tablets' messages are not held up behind it
        records = await asyncio.to_thread(nemsis_import.read, document, region=services.region.name)
    except nemsis_import.ImportRefused as refused:
        shown = refused.messages[:10]
        more = f" (and {len(refused.messages) - 10} more)" if len(refused.messages) > 10 else ""
        raise ProtocolError(
            "invalid_field", "the document fails NEMSIS v3.5.1 validation: " + " | ".join(shown) + more, "document"
        ) from None
    kept = await services.records.keep_imported(records, document, by=who.subject)
    audit_note(request, detail={"records": [k["id"] for k in kept]})
    return json_response({"records": kept}, 201)


def _record_number(request: Request) -> int:
    raw = request.path_params["record"]
    if not raw.isdigit() or len(raw) > 15:
        raise ProtocolError("invalid_field", "expected a record number", field="record")
    return int(raw)


async def record_nemsis(request: Request) -> Response:
    """An imported record exported again as NEMSIS."""
    region_caller(request, RECORD_ROLES)
    services = services_of(request)
    number = _record_number(request)
    record = await services.records.imported(number)
    return nemsis_response([record], services, f"record-{number}")


async def record_fhir(request: Request) -> Response:
    region_caller(request, RECORD_ROLES)
    return fhir_response(fhir.bundle(await services_of(request).records.imported(_record_number(request))))


async def unit_history(request: Request) -> Response:
    """The crew's own recent patients (``crew_history``, 72 h): destination, ED acknowledgement, handover and the
    ED's outcome. Only the unit's own crew (a paramedic of this unit) may read it."""
    services = services_of(request)
    unit: str = request.path_params["unit"]
    tokens.require(services.authenticate(bearer(request)), "paramedic", unit)
    history = await services.records.unit_history(unit, now=services.clock(), within=services.settings.crew_history)
    audit_note(request, unit=unit)
    return json_response(history)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/incidents/{incident}/nemsis.xml", incident_nemsis),
        Route("/v1/incidents/{incident}/fhir", incident_fhir),
        Route("/v1/records/nemsis.xml", closed_nemsis),
        Route("/v1/records/nemsis", import_nemsis, methods=["POST"]),
        Route("/v1/records/{record}/nemsis.xml", record_nemsis),
        Route("/v1/records/{record}/fhir", record_fhir),
        Route("/v1/units/{unit}/history", unit_history),
    ]
