"""The dispatcher's HTTP API, health, readiness, metrics and the tablet and console pages.

Thin: parse (strictly, with the protocol's Structs), check the caller's role and scope, call a service, encode.
Errors become HTTP statuses here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from dispatch import openapi, pg, tokens
from dispatch.capacity import HospitalStatus, StatusUpdate
from dispatch.errors import AuthError, ConflictError, ForbiddenError, NotFoundError, ProtocolError
from dispatch.frames import error_from
from dispatch.live import dispatch_key, region_events_key, units_feed_key
from dispatch.protocol import AssignUnit, NewIncident, SetDestination, bearer_token, encoder
from dispatch.services import Services
from dispatch.socket_guard import accept_authenticated, guarded
from dispatch.stream_socket import serve_stream
from dispatch.tablet_socket import tablet_endpoint

STATIC = Path(__file__).parent / "static"
T = TypeVar("T")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(encoder.encode(payload), status_code=status, media_type="application/json")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def region_caller(request: Request, roles: tokens.Role | Collection[tokens.Role]) -> tokens.Principal:
    """The caller, who must hold one of ``roles`` for this deployment's region (dispatcher, researcher, admin)."""
    services = services_of(request)
    return tokens.require(services.authenticate(bearer(request)), roles, services.region.name)


async def read_body(request: Request, kind: type[T], *, empty: bytes = b"") -> T:
    """The request body as ``kind``, strictly; an empty body reads as ``empty``."""
    try:
        return msgspec.json.decode(await request.body() or empty, type=kind, strict=True)
    except msgspec.DecodeError as exc:
        raise error_from(exc, None) from None


async def openapi_document(request: Request) -> Response:
    """The HTTP API as OpenAPI 3.1 (built once per process from the Structs the handlers decode with)."""
    if not hasattr(request.app.state, "openapi"):
        request.app.state.openapi = msgspec.json.encode(openapi.document(services_of(request).region.hospitals))
    return Response(request.app.state.openapi, media_type="application/json")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services = services_of(request)
    if not services.drain.ready:  # stopping: send no new clients here (the open sockets are still served)
        return JSONResponse({"ready": False, "draining": True}, status_code=503)
    checks: dict[str, Any] = {}
    try:
        checks["redis"] = await services.live.ping()
    except Exception as exc:  # readiness reports any failure as not ready
        checks["redis"] = False
        checks["redis_error"] = str(exc)
    try:
        version = await pg.schema_version(services.pool)
        checks["postgres"] = True
        checks["migrations"] = version == pg.migrations()[-1][0]
        checks["schema_version"] = version
    except Exception as exc:  # readiness reports any failure as not ready
        checks["postgres"] = False
        checks["postgres_error"] = str(exc)
    ready = bool(checks["redis"] and checks["postgres"] and checks.get("migrations"))
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def list_hospitals(request: Request) -> Response:
    services = services_of(request)
    services.authenticate(bearer(request))
    return json_response(
        [
            {
                "id": h.id,
                "name": h.name,
                "lat": h.lat,
                "lon": h.lon,
                "trauma_level": h.trauma_level,
                "pediatric": h.pediatric,
            }
            for h in services.region.hospitals.values()
        ]
    )


def bearer(request: Request) -> str | None:
    return bearer_token([], request.headers.get("authorization"))


async def create_incident(request: Request) -> Response:
    who = region_caller(request, "dispatcher")
    body = await read_body(request, NewIncident)
    return json_response(await services_of(request).incidents.create(body, actor=who.subject), status=201)


async def list_incidents(request: Request) -> Response:
    region_caller(request, "dispatcher")
    return json_response(await services_of(request).incidents.list())


def incident_number(request: Request) -> int:
    raw = request.path_params["incident"]
    if not raw.isdigit() or not 0 < int(raw) <= 2**53:
        raise ProtocolError("invalid_field", "expected a positive incident number", field="incident")
    return int(raw)


async def get_incident(request: Request) -> Response:
    region_caller(request, "dispatcher")
    return json_response(await services_of(request).incidents.get(incident_number(request)))


async def assign_unit(request: Request) -> Response:
    who = region_caller(request, "dispatcher")
    body = await read_body(request, AssignUnit)
    return json_response(
        await services_of(request).incidents.assign(incident_number(request), body.unit, actor=who.subject)
    )


async def set_destination(request: Request) -> Response:
    who = region_caller(request, "dispatcher")
    body = await read_body(request, SetDestination)
    incidents = services_of(request).incidents
    return json_response(await incidents.decide_destination(incident_number(request), body, actor=who.subject))


async def get_recommendation(request: Request) -> Response:
    region_caller(request, "dispatcher")
    recommendation = await services_of(request).recommender.update(incident_number(request))
    if recommendation is None:
        raise NotFoundError("incident", request.path_params["incident"])
    return json_response(recommendation)


def _hospital_reader(request: Request) -> str:
    """A dispatcher of the region, or the hospital's own ED staff or system, may read its status."""
    services = services_of(request)
    who = services.authenticate(bearer(request))
    hospital: str = request.path_params["hospital"]
    if who.role == "dispatcher":
        tokens.require(who, "dispatcher", services.region.name)
    else:
        tokens.require(who, {*tokens.ED_STAFF, "hospital_system"}, hospital)
    return hospital


def _tagged(status: HospitalStatus, code: int = 200) -> Response:
    """A status with its version as the ETag, for optimistic concurrency (``If-Match``)."""
    response = json_response(status, code)
    response.headers["etag"] = f'"{status.version}"'
    return response


def _if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    digits = raw.strip().removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise ProtocolError("invalid_field", 'expected an ETag like "12"', field="If-Match")
    return int(digits)


async def get_hospital_status(request: Request) -> Response:
    return _tagged(await services_of(request).statuses.get(_hospital_reader(request)))


async def update_hospital_status(request: Request) -> Response:
    """PATCH: the fields given replace the current ones. PUT: the whole status. ``If-Match`` makes it conditional.
    Only the ED's charge clinician may change it."""
    hospital: str = request.path_params["hospital"]
    services = services_of(request)
    who = tokens.require(services.authenticate(bearer(request)), "ed_charge", hospital)
    body = await read_body(request, StatusUpdate)
    status = await services.statuses.update(
        hospital, body, actor=who.subject, if_match=_if_match(request), full=request.method == "PUT"
    )
    return _tagged(status)


async def list_hospital_statuses(request: Request) -> Response:
    region_caller(request, "dispatcher")
    return json_response(await services_of(request).statuses.all())


async def _region_stream(ws: WebSocket, key: str, feed: str, kind: str) -> None:
    """Serve one of the region's resumable streams to a dispatcher of the region."""
    services: Services = ws.app.state.services
    region = services.region.name
    who = await accept_authenticated(ws, services, "dispatcher", region)
    if who is None:
        return
    hub = ws.app.state.streams
    await guarded(
        ws,
        services,
        who,
        serve_stream(ws, live=services.live, hub=hub, key=key, feed=feed, kind=kind, now=services.clock()),
    )


async def dispatch_socket(ws: WebSocket) -> None:
    """The dispatchers' feed of a region: hospital status changes and recommendation changes, resumable."""
    region = ws.app.state.services.region.name
    await _region_stream(ws, dispatch_key(region), f"region:{region}", "dispatcher")


async def events_socket(ws: WebSocket) -> None:
    """The dispatchers' everything-feed: every tablet event (vitals, assessments, statuses, 12-lead notices) of every
    open incident of the region, in order, resumable while it is kept (about the last 100,000 events)."""
    region = ws.app.state.services.region.name
    await _region_stream(ws, region_events_key(region), f"events:{region}", "dispatcher_events")


async def units_socket(ws: WebSocket) -> None:
    """The dispatchers' map feed: every unit's positions and statuses. ``?after=now`` starts at the present (after
    ``GET /v1/units``); a reconnect gives its last id and resumes with no gap within ``units_retention``."""
    region = ws.app.state.services.region.name
    await _region_stream(ws, units_feed_key(region), f"units:{region}", "dispatcher_units")


async def list_units(request: Request) -> Response:
    region_caller(request, "dispatcher")
    return json_response(await services_of(request).fleet.units())


async def incident_candidates(request: Request) -> Response:
    """The units that could answer the incident soonest: available first, by driving time, each with why."""
    region_caller(request, "dispatcher")
    services = services_of(request)
    incident = await services.incidents.get(incident_number(request))
    raw = request.query_params.get("limit", "5")
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise ProtocolError("invalid_field", "expected a number of units, 1-50", field="limit")
    return json_response(await services.fleet.candidates(incident, limit=int(raw)))


async def unit_route(request: Request) -> Response:
    """The unit's road route from its last position to its incident's destination (for the console's map)."""
    region_caller(request, "dispatcher")
    services = services_of(request)
    unit: str = request.path_params["unit"]
    found = next((u for u in await services.fleet.units() if u.unit == unit), None)
    if found is None or found.position is None or found.incident is None:
        raise NotFoundError("unit position", unit)
    destination = (await services.incidents.get(found.incident)).destination
    if destination is None:
        raise NotFoundError("destination of the unit's incident", unit)
    points = services.travel.route(found.position.lat, found.position.lon, destination)
    return json_response({"unit": unit, "incident": found.incident, "destination": destination, "points": points})


async def region_map(request: Request) -> Response:
    region_caller(request, "dispatcher")
    return Response(
        services_of(request).region_map,
        media_type="application/json",
        headers={"cache-control": "private, max-age=3600"},
    )


async def tablet_service_worker(request: Request) -> Response:
    """The tablet page's service worker (offline reloads), at the root so that it may control ``/tablet``."""
    return FileResponse(
        STATIC / "tablet-sw.js",
        media_type="text/javascript",
        headers={"cache-control": "no-cache", "service-worker-allowed": "/"},
    )


def page(name: str) -> Route:
    async def serve(request: Request) -> Response:
        return FileResponse(STATIC / f"{name}.html", headers={"cache-control": "no-cache"})

    return Route(f"/{name}", serve)


def _error(status: int, code: str, reason: str, field: str | None = None) -> Response:
    return json_response({"type": "error", "code": code, "field": field, "reason": reason}, status)


async def on_protocol_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProtocolError)
    return _error(422, exc.code, exc.reason, exc.field)


async def on_auth_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ForbiddenError):
        return _error(403, "forbidden", str(exc))
    return _error(401, "unauthenticated", str(exc))


async def on_not_found(request: Request, exc: Exception) -> Response:
    return _error(404, "not_found", str(exc))


async def on_conflict(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConflictError)
    response = json_response(
        {"type": "error", "code": "conflict", "field": None, "reason": str(exc), "current": exc.current}, 409
    )
    if isinstance(exc.current, HospitalStatus):
        response.headers["etag"] = f'"{exc.current.version}"'
    return response


EXCEPTION_HANDLERS = {
    ProtocolError: on_protocol_error,
    AuthError: on_auth_error,
    NotFoundError: on_not_found,
    ConflictError: on_conflict,
}


def routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz),
        Route("/openapi.json", openapi_document),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/v1/hospitals", list_hospitals),
        Route("/v1/incidents", create_incident, methods=["POST"]),
        Route("/v1/incidents", list_incidents, methods=["GET"]),
        Route("/v1/incidents/{incident}", get_incident),
        Route("/v1/incidents/{incident}/assign", assign_unit, methods=["POST"]),
        Route("/v1/incidents/{incident}/destination", set_destination, methods=["POST"]),
        Route("/v1/incidents/{incident}/recommendation", get_recommendation),
        Route("/v1/incidents/{incident}/candidates", incident_candidates),
        Route("/v1/units", list_units),
        Route("/v1/units/{unit}/route", unit_route),
        Route("/v1/region/map", region_map),
        Route("/v1/hospitals/status", list_hospital_statuses),
        Route("/v1/hospitals/{hospital}/status", get_hospital_status, methods=["GET"]),
        Route("/v1/hospitals/{hospital}/status", update_hospital_status, methods=["PATCH", "PUT"]),
        WebSocketRoute("/v1/dispatch/socket", dispatch_socket),
        WebSocketRoute("/v1/dispatch/units", units_socket),
        WebSocketRoute("/v1/dispatch/events", events_socket),
        Route("/tablet-sw.js", tablet_service_worker),
        WebSocketRoute("/v1/units/{unit}/socket", tablet_endpoint),
        page("tablet"),
        page("console"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
