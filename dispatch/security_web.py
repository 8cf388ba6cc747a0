"""Routes of identity and oversight: sign-in, refresh and sign-out; administrators' accounts, revocations and audit
query; the crews of units."""

from __future__ import annotations

from datetime import datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit_log
from dispatch.accounts import TooManyAttempts
from dispatch.errors import ProtocolError
from dispatch.http_guard import audit_note
from dispatch.security_types import Crew, NewAccount, Refresh, Revocation, SignIn
from dispatch.web import bearer, json_response, read_body, region_caller, services_of


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def sign_in(request: Request) -> Response:
    body = await read_body(request, SignIn)
    audit_note(request, actor=body.username, action="sign-in", unit=body.unit)
    try:
        pair = await services_of(request).accounts.sign_in(
            body.username, body.password, unit=body.unit, source=_source(request)
        )
    except TooManyAttempts as exc:
        response = json_response({"type": "error", "code": "too_many_attempts", "field": None, "reason": str(exc)}, 429)
        response.headers["retry-after"] = str(exc.retry_after_s)
        return response
    audit_note(request, role=pair.role)
    return json_response(pair)


async def refresh(request: Request) -> Response:
    body = await read_body(request, Refresh)
    pair = await services_of(request).accounts.refresh(body.refresh_token)
    audit_note(request, actor=pair.username, role=pair.role, action="sign-in", detail={"refreshed": True})
    return json_response(pair)


async def sign_out(request: Request) -> Response:
    services = services_of(request)
    who = services.authenticate(bearer(request))
    if who.session is not None:
        await services.accounts.sign_out(who.session)
    else:
        await services.revocations.revoke(f"jti:{who.token_id}")
    audit_note(request, action="sign-out")
    return Response(status_code=204)


async def me(request: Request) -> Response:
    who = services_of(request).authenticate(bearer(request))
    return json_response({"subject": who.subject, "role": who.role, "scope": who.scope, "expires_at": who.expires_at})


async def create_account(request: Request) -> Response:
    region_caller(request, "admin")
    body = await read_body(request, NewAccount)
    await services_of(request).accounts.create(body.username, body.role, body.password, body.scope)
    audit_note(request, detail={"account": body.username, "role": body.role})
    return json_response({"username": body.username, "role": body.role}, 201)


async def disable_account(request: Request) -> Response:
    region_caller(request, "admin")
    username: str = request.path_params["username"]
    await services_of(request).accounts.disable(username)
    audit_note(request, action="revoke", detail={"account": username})
    return Response(status_code=204)


async def revoke(request: Request) -> Response:
    region_caller(request, "admin")
    body = await read_body(request, Revocation)
    services = services_of(request)
    if body.kind == "session":  # ends it in PostgreSQL (no refresh) and publishes the revocation
        await services.accounts.sign_out(body.id, reason="revoked by an administrator")
    else:
        await services.revocations.revoke(f"{'jti' if body.kind == 'token' else 'sub'}:{body.id}")
    audit_note(request, action="revoke", detail={"kind": body.kind, "id": body.id})
    return Response(status_code=204)


async def get_crew(request: Request) -> Response:
    region_caller(request, {"dispatcher", "admin"})
    unit: str = request.path_params["unit"]
    return json_response({"unit": unit, "members": await services_of(request).accounts.crew(unit)})


async def set_crew(request: Request) -> Response:
    """A crew change: the members now on the unit; anyone taken off it is signed out of it (sockets close)."""
    region_caller(request, {"dispatcher", "admin"})
    unit: str = request.path_params["unit"]
    body = await read_body(request, Crew)
    members = await services_of(request).accounts.set_crew(unit, body.members)
    return json_response({"unit": unit, "members": members})


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, datetime, strict=False)
    except msgspec.ValidationError:
        raise ProtocolError("invalid_field", "expected an ISO 8601 time with its offset", field=name) from None


def _number(request: Request, name: str, default: int | None, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise ProtocolError("invalid_field", f"expected a number up to {high}", field=name)
    return int(raw)


async def query_audit(request: Request) -> Response:
    """The audit log, filtered: ``actor``, ``incident``, ``unit``, ``hospital``, ``action``, ``since``, ``until``
    (ISO 8601), ``after`` (a seq, to page), ``limit`` (at most 1000)."""
    region_caller(request, "admin")
    q = request.query_params
    found = await audit_log.query(
        services_of(request).pool,
        audit_log.AuditQuery(
            actor=q.get("actor"),
            incident=_number(request, "incident", None, 2**53),
            unit=q.get("unit"),
            hospital=q.get("hospital"),
            action=q.get("action"),
            since=_time(request, "since"),
            until=_time(request, "until"),
            after_seq=_number(request, "after", 0, 2**62) or 0,
            limit=_number(request, "limit", 100, 1000) or 100,
        ),
    )
    return json_response(found)


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/auth/sign-in", sign_in, methods=["POST"]),
        Route("/v1/auth/refresh", refresh, methods=["POST"]),
        Route("/v1/auth/sign-out", sign_out, methods=["POST"]),
        Route("/v1/auth/me", me),
        Route("/v1/admin/accounts", create_account, methods=["POST"]),
        Route("/v1/admin/accounts/{username}/disable", disable_account, methods=["POST"]),
        Route("/v1/admin/revocations", revoke, methods=["POST"]),
        Route("/v1/admin/audit", query_audit),
        Route("/v1/units/{unit}/crew", get_crew, methods=["GET"]),
        Route("/v1/units/{unit}/crew", set_crew, methods=["PUT"]),
    ]
