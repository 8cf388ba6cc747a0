"""The gateway's routes: the ED feed socket, the ED's actions on inbound patients, and the ED dashboard page.

Every route is scoped to one hospital: the caller's token must be an ED token for that hospital.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from dispatch import derive, fhir, tokens
from dispatch.errors import ForbiddenError, ProtocolError
from dispatch.http_guard import audit_note
from dispatch.outcome import OutcomeReport
from dispatch.outcome import check as check_outcome
from dispatch.protocol import Acknowledge, incident_decoder
from dispatch.records_web import fhir_response
from dispatch.services import Services
from dispatch.web import bearer, incident_number, json_response, read_body
from hospital_gateway import edxl
from hospital_gateway.desk import Desk
from hospital_gateway.feed import feed_endpoint
from hospital_gateway.strip import strip_endpoint

STATIC = Path(__file__).parent / "static"


def _desk(
    request: Request, roles: tokens.Role | frozenset[tokens.Role] = tokens.ED_STAFF
) -> tuple[Desk, str, tokens.Principal]:
    services: Services = request.app.state.services
    hospital: str = request.path_params["hospital"]
    who = tokens.require(services.authenticate(bearer(request)), roles, hospital)
    desk: Desk = request.app.state.desk
    return desk, hospital, who


async def _patient(request: Request, hospital: str) -> int:
    """The path's incident, which this ED may see (inbound to it, or recently handed over to it)."""
    services: Services = request.app.state.services
    incident = incident_number(request)
    if not await services.ed_may_see(incident, hospital):
        raise ForbiddenError(f"incident {incident} is not inbound to {hospital}")
    return incident


async def acknowledge(request: Request) -> Response:
    desk, hospital, who = _desk(request)
    body = await read_body(request, Acknowledge, empty=b"{}")
    return json_response(
        await desk.acknowledge(hospital, await _patient(request, hospital), body.note, actor=who.subject)
    )


async def transfer(request: Request) -> Response:
    desk, hospital, who = _desk(request)
    return json_response(await desk.transfer(hospital, await _patient(request, hospital), actor=who.subject))


async def outcome(request: Request) -> Response:
    """The ED's outcome for a patient it took over (any time after the handover: outcomes come later). Stored (a
    later post corrects an earlier one), pushed to the crew's tablet, and part of the exported record."""
    services: Services = request.app.state.services
    _, hospital, who = _desk(request, tokens.ED_STAFF | {"hospital_system"})
    incident = incident_number(request)
    report = await read_body(request, OutcomeReport)
    arrived = await services.records.handed_over_to(incident, hospital)
    stored = check_outcome(
        report, incident=incident, hospital=hospital, arrived_at=arrived, now=services.clock(), by=who.subject
    )
    await services.records.save_outcome(stored)
    state, _ = await services.live.incident_inputs(incident)
    unit = incident_decoder.decode(state).unit if state else None
    if unit is not None:
        await services.live.notify_unit(unit, "outcome", incident)
    audit_note(request, incident=incident, hospital=hospital)
    return json_response(stored, 201)


async def patient_fhir(request: Request) -> Response:
    """The inbound patient's record as a FHIR R4 Bundle, while this ED may see the patient."""
    services: Services = request.app.state.services
    _, hospital, _ = _desk(request, tokens.ED_STAFF | {"hospital_system"})
    incident = await _patient(request, hospital)
    record = await services.records.of_incident(incident, now=services.clock())
    return fhir_response(fhir.bundle(record))


async def prealert_fhir(request: Request) -> Response:
    """The pre-alert as a FHIR message (MessageHeader event ``prealert``) for this ED's EHR, while the patient is
    inbound (or recently handed over): the same mapping as the record, with the ATMISTER handover and the ETA."""
    services: Services = request.app.state.services
    _, hospital, _ = _desk(request, tokens.ED_STAFF | {"hospital_system"})
    incident = await _patient(request, hospital)
    now = services.clock()
    record = await services.records.of_incident(incident, now=now)
    _, raw_latest = await services.live.incident_inputs(incident)
    latest = msgspec.json.decode(raw_latest) if raw_latest else {}
    view = derive.derived(latest, now)
    return fhir_response(fhir.prealert_message(record, atmister=view.atmister, eta_s=view.eta_s, now=now))


async def today(request: Request) -> Response:
    desk, hospital, _ = _desk(request)
    services: Services = request.app.state.services
    return json_response(await desk.today(hospital, recent=services.settings.ed_recent_handover))


async def ecgs(request: Request) -> Response:
    """The patient's 12-lead ECGs (earlier ones stay viewable), while the patient is inbound to this ED."""
    desk, hospital, _ = _desk(request)
    unit, seq = request.query_params.get("unit"), request.query_params.get("seq")
    if (unit is None) != (seq is None) or (seq is not None and not seq.isdigit()):
        raise ProtocolError("invalid_field", "give both unit and seq (a number), or neither", field="seq")
    found = await desk.ecgs(hospital, await _patient(request, hospital), unit=unit, seq=int(seq) if seq else None)
    return Response(found, media_type="application/json")


async def import_edxl(request: Request) -> Response:
    """An EDXL-HAVE 1.0 HospitalStatus document for this hospital: its contents update the live status (partial)."""
    services: Services = request.app.state.services
    _, hospital, who = _desk(request, frozenset({"ed_charge", "hospital_system"}))
    try:
        updates = edxl.parse(await request.body(), hospitals=[hospital])
    except edxl.EdxlError as exc:
        raise ProtocolError("invalid_field", exc.reason, field=exc.path) from None
    status = await services.statuses.update(hospital, updates[hospital], actor=who.subject)
    return json_response(status)


async def export_edxl(request: Request) -> Response:
    """The hospital's live status as an EDXL-HAVE 1.0 HospitalStatus document."""
    services: Services = request.app.state.services
    _, hospital, _ = _desk(request, tokens.ED_STAFF | {"hospital_system"})
    status = await services.statuses.get(hospital)
    names = {h.id: h.name for h in services.region.hospitals.values()}
    return Response(edxl.render([status], names=names), media_type="application/xml")


async def dashboard(request: Request) -> Response:
    return FileResponse(STATIC / "dashboard.html", headers={"cache-control": "no-cache"})


async def ecg_script(request: Request) -> Response:
    """The dashboard's ECG renderer (12-lead on ECG paper, live strip)."""
    return FileResponse(STATIC / "ecg.js", media_type="text/javascript", headers={"cache-control": "no-cache"})


async def dashboard_script(request: Request) -> Response:
    """The dashboard's own script (no inline script: the pages' Content-Security-Policy forbids it)."""
    return FileResponse(STATIC / "dashboard.js", media_type="text/javascript", headers={"cache-control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        WebSocketRoute("/v1/hospitals/{hospital}/feed", feed_endpoint),
        WebSocketRoute("/v1/hospitals/{hospital}/incidents/{incident}/strip", strip_endpoint),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/ecgs", ecgs),
        Route("/v1/hospitals/{hospital}/incidents", today),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/ack", acknowledge, methods=["POST"]),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/transfer", transfer, methods=["POST"]),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/outcome", outcome, methods=["POST"]),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/fhir", patient_fhir),
        Route("/v1/hospitals/{hospital}/incidents/{incident}/prealert.fhir", prealert_fhir),
        Route("/v1/hospitals/{hospital}/status.edxl", import_edxl, methods=["PUT", "POST"]),
        Route("/v1/hospitals/{hospital}/status.edxl", export_edxl, methods=["GET"]),
        Route("/dashboard", dashboard),
        Route("/dashboard/ecg.js", ecg_script),
        Route("/dashboard/dashboard.js", dashboard_script),
    ]
