"""The HTTP API as an OpenAPI 3.1 document, built from the same Structs the handlers decode with (so the document
cannot drift from what is accepted), served at ``/openapi.json``. Pure.

Each operation says which roles may call it; the sockets are described in ``docs/protocol.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from dispatch.capacity import StatusUpdate
from dispatch.exports import Decision, ExportRequest
from dispatch.outcome import OutcomeReport
from dispatch.protocol import Acknowledge, AssignUnit, NewIncident, SetDestination
from dispatch.security_types import Crew, NewAccount, Refresh, Revocation, SignIn


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...] = ()  # empty: no token needed
    body: type | str | None = None  # a Struct (JSON), or a media type (e.g. application/xml)
    query: dict[str, dict[str, Any]] = field(default_factory=dict)


_INT: Final = {"type": "integer", "minimum": 1, "maximum": 2**53}
_TIME: Final = {"type": "string", "format": "date-time"}
DISPATCH: Final = ("dispatcher",)
ED: Final = ("ed", "ed_charge")
RECORDS: Final = ("dispatcher", "admin")
OPERATIONS: Final[tuple[Op, ...]] = (
    Op("GET", "/healthz", "Liveness"),
    Op("GET", "/openapi.json", "This document"),
    Op("GET", "/readyz", "Readiness: Redis, PostgreSQL, migrations"),
    Op("POST", "/v1/auth/sign-in", "Sign in (argon2id password); a paramedic names the unit", body=SignIn),
    Op("POST", "/v1/auth/refresh", "Swap a refresh token for a new pair (rotation; reuse revokes)", body=Refresh),
    Op("GET", "/v1/auth/me", "The caller's principal", roles=("any",)),
    Op("POST", "/v1/auth/sign-out", "End this sign-in (open sockets close with 4401)", roles=("any",)),
    Op("GET", "/v1/hospitals", "The region's hospitals", roles=("any",)),
    Op("POST", "/v1/incidents", "Create an incident", DISPATCH, NewIncident),
    Op("GET", "/v1/incidents", "Active incidents", DISPATCH),
    Op("GET", "/v1/incidents/{incident}", "One incident", DISPATCH),
    Op("POST", "/v1/incidents/{incident}/assign", "Assign a unit", DISPATCH, AssignUnit),
    Op("POST", "/v1/incidents/{incident}/destination", "Choose the destination", DISPATCH, SetDestination),
    Op("GET", "/v1/incidents/{incident}/recommendation", "Ranked, explained destinations", DISPATCH),
    Op(
        "GET",
        "/v1/incidents/{incident}/candidates",
        "Units that could answer soonest",
        DISPATCH,
        query={"limit": {"type": "integer", "minimum": 1, "maximum": 50}},
    ),
    Op("GET", "/v1/units", "Every unit's position and status", DISPATCH),
    Op("GET", "/v1/units/{unit}/route", "A unit's road route to its destination", DISPATCH),
    Op("GET", "/v1/units/{unit}/crew", "A unit's crew", ("dispatcher", "admin")),
    Op("PUT", "/v1/units/{unit}/crew", "Crew change (those taken off are signed out)", ("dispatcher", "admin"), Crew),
    Op("GET", "/v1/region/map", "The region's streets for the console map", DISPATCH),
    Op("GET", "/v1/hospitals/status", "Every hospital's live status", DISPATCH),
    Op("GET", "/v1/hospitals/{hospital}/status", "A hospital's live status", (*DISPATCH, *ED, "hospital_system")),
    Op("PATCH", "/v1/hospitals/{hospital}/status", "Change the ED's status", ("ed_charge",), StatusUpdate),
    Op("PUT", "/v1/hospitals/{hospital}/status", "Replace the ED's status", ("ed_charge",), StatusUpdate),
    Op("GET", "/v1/hospitals/{hospital}/incidents", "Patients sent to this ED that it may see", ED),
    Op(
        "GET",
        "/v1/hospitals/{hospital}/incidents/{incident}/ecgs",
        "A patient's 12-lead ECGs",
        ED,
        query={"unit": {"type": "string"}, "seq": {"type": "integer", "minimum": 1}},
    ),
    Op("POST", "/v1/hospitals/{hospital}/incidents/{incident}/ack", "Acknowledge the pre-alert", ED, Acknowledge),
    Op("POST", "/v1/hospitals/{hospital}/incidents/{incident}/transfer", "Transfer of care", ED),
    Op("GET", "/v1/hospitals/{hospital}/status.edxl", "Status as EDXL-HAVE", (*ED, "hospital_system")),
    Op(
        "PUT",
        "/v1/hospitals/{hospital}/status.edxl",
        "Status from EDXL-HAVE",
        ("ed_charge", "hospital_system"),
        "application/xml",
    ),
    Op(
        "POST",
        "/v1/hospitals/{hospital}/status.edxl",
        "Status from EDXL-HAVE",
        ("ed_charge", "hospital_system"),
        "application/xml",
    ),
    Op("POST", "/v1/admin/accounts", "Create an account", ("admin",), NewAccount),
    Op("POST", "/v1/admin/accounts/{username}/disable", "Disable an account (its sessions end)", ("admin",)),
    Op("POST", "/v1/admin/revocations", "Revoke a token, a session or a person's tokens", ("admin",), Revocation),
    Op(
        "GET",
        "/v1/admin/audit",
        "Query the audit log",
        ("admin",),
        query={
            "actor": {"type": "string"},
            "incident": _INT,
            "unit": {"type": "string"},
            "hospital": {"type": "string"},
            "action": {"type": "string"},
            "since": _TIME,
            "until": _TIME,
            "after": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    ),
    Op("GET", "/v1/research/fields", "The fields an export may hold", ("researcher", "admin")),
    Op("POST", "/v1/research/exports", "Request an export for a named purpose", ("researcher",), ExportRequest),
    Op("GET", "/v1/research/exports", "Export requests (a researcher's own)", ("researcher", "admin")),
    Op("POST", "/v1/research/exports/{export}/decision", "Approve or refuse", ("admin",), Decision),
    Op(
        "POST",
        "/v1/research/exports/{export}/run",
        "Run an approved export (CSV or Parquet)",
        ("researcher",),
        query={"format": {"type": "string", "enum": ["csv", "parquet"]}},
    ),
    Op(
        "POST",
        "/v1/hospitals/{hospital}/incidents/{incident}/outcome",
        "The ED's outcome for a patient it took over (pushed to the crew)",
        (*ED, "hospital_system"),
        OutcomeReport,
    ),
    Op(
        "GET",
        "/v1/hospitals/{hospital}/incidents/{incident}/fhir",
        "The patient as a FHIR R4 Bundle",
        (*ED, "hospital_system"),
    ),
    Op(
        "GET",
        "/v1/hospitals/{hospital}/incidents/{incident}/prealert.fhir",
        "The pre-alert as a FHIR message",
        (*ED, "hospital_system"),
    ),
    Op("GET", "/v1/incidents/{incident}/nemsis.xml", "A closed incident as NEMSIS v3.5.1", RECORDS),
    Op("GET", "/v1/incidents/{incident}/fhir", "An incident as a FHIR R4 Bundle", RECORDS),
    Op(
        "GET",
        "/v1/records/nemsis.xml",
        "Every incident closed in a period, as one NEMSIS document",
        RECORDS,
        query={"from": _TIME, "to": _TIME},
    ),
    Op("POST", "/v1/records/nemsis", "Import a NEMSIS v3.5.1 EMSDataSet (validated)", RECORDS, "application/xml"),
    Op("GET", "/v1/records/{record}/nemsis.xml", "An imported record as NEMSIS", RECORDS),
    Op("GET", "/v1/records/{record}/fhir", "An imported record as a FHIR R4 Bundle", RECORDS),
    Op("GET", "/v1/units/{unit}/history", "The crew's recent patients and their ED outcomes", ("paramedic",)),
)


def _parameters(op: Op, hospitals: list[str]) -> list[dict[str, Any]]:
    shapes: dict[str, dict[str, Any]] = {
        "incident": _INT,
        "export": _INT,
        "record": _INT,
        "unit": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
        "hospital": {"type": "string", "enum": hospitals},
        "username": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"},
    }
    found = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    params = [{"name": name, "in": "path", "required": True, "schema": shapes[name]} for name in found]
    params += [{"name": name, "in": "query", "required": False, "schema": shape} for name, shape in op.query.items()]
    return params


def document(hospitals: Iterable[str]) -> dict[str, Any]:
    hospital_ids = sorted(hospitals)
    structs = sorted({op.body for op in OPERATIONS if isinstance(op.body, type)}, key=lambda t: t.__name__)
    schemas, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    paths: dict[str, dict[str, Any]] = {}
    error = {"$ref": "#/components/schemas/Error"}
    for op in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}{op.path.replace('/', '_').replace('{', '').replace('}', '')}",
            "parameters": _parameters(op, hospital_ids),
            "responses": {
                "200": {"description": "done"},
                "default": {"description": "a typed error", "content": {"application/json": {"schema": error}}},
            },
        }
        if op.roles:
            operation["security"] = [{"bearer": []}]
            operation["x-roles"] = list(op.roles)
        if isinstance(op.body, type):
            schema = schemas[structs.index(op.body)]
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
        elif isinstance(op.body, str):
            operation["requestBody"] = {"required": True, "content": {op.body: {"schema": {"type": "string"}}}}
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    components["Error"] = {
        "type": "object",
        "required": ["type", "code", "reason"],
        "properties": {
            "type": {"const": "error"},
            "code": {"type": "string"},
            "field": {"type": ["string", "null"]},
            "reason": {"type": "string"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prealert HTTP API",
            "version": "1",
            "description": "Pre-hospital coordination. Every call is audited; roles per operation in x-roles.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
