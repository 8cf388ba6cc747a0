"""The HTTP edge every request passes: a body size limit, security headers on every response, and an audit entry for
every API request, committed before the response leaves (a read that cannot be audited is not served).

Pure ASGI (no buffering of responses). Handlers may add to their request's audit entry through
``audit_note(request, ...)``: a sign-in names who tried, an export run names its approved purpose.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch import access, tokens
from dispatch.audit import Entry
from dispatch.errors import AuthError
from dispatch.protocol import bearer_token, encoder
from dispatch.services import Services

log = logging.getLogger("prealert.http")
AUDIT_WAIT_S: Final = 5.0
_NOTE: Final = "prealert.audit"
UNAUDITED: Final = ("/healthz", "/readyz", "/metrics")
# No inline script anywhere: every page loads its scripts from the service. Styles may be inline (attributes).
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
    (b"strict-transport-security", b"max-age=31536000"),
]


def audit_note(request: Request, **fields: Any) -> None:
    """Add to (or override) this request's audit entry: actor, action, purpose, incident, unit, hospital, detail."""
    note: dict[str, Any] = request.scope.setdefault(_NOTE, {})
    detail = {**note.get("detail", {}), **fields.pop("detail", {})}
    note.update(fields, detail=detail)


def _identify(services: Services, scope: Scope) -> tokens.Principal | None:
    headers = dict(scope.get("headers", []))
    raw = headers.get(b"authorization")
    try:
        return services.authenticate(bearer_token([], raw.decode("latin-1") if raw else None))
    except AuthError:
        return None


def _entry(services: Services, scope: Scope, status: int) -> Entry:
    who = _identify(services, scope)
    params: dict[str, Any] = scope.get("path_params", {})
    route = scope.get("route")
    note: dict[str, Any] = dict(scope.get(_NOTE, {}))
    incident = params.get("incident")
    method = scope["method"]
    action = "refuse" if status in (401, 403, 429) else ("read" if method in ("GET", "HEAD") else "write")
    client = scope.get("client")
    fields: dict[str, Any] = {
        "at": services.clock(),
        "actor": who.subject if who else "anonymous",
        "role": who.role if who else "none",
        "action": action,
        "resource": f"{method} {getattr(route, 'path', scope['path'])}",
        "purpose": access.purpose_of(who.role if who else None),
        "source": client[0] if client else "unknown",
        "outcome": status,
        "incident": int(incident) if isinstance(incident, str) and incident.isdigit() and len(incident) < 16 else None,
        "unit": params.get("unit"),
        "hospital": params.get("hospital"),
        "detail": {
            "path": scope["path"],
            **({"query": scope["query_string"].decode()} if scope["query_string"] else {}),
        },
    }
    fields.update({k: v for k, v in note.items() if k != "detail"})  # what the handler said (audit_note)
    fields["detail"] = {**fields["detail"], **note.get("detail", {})}
    return Entry(**fields)


class HttpGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services | None = getattr(scope["app"].state, "services", None)
        if services is None:  # still starting
            await self.app(scope, receive, send)
            return
        if _control_characters(scope):
            await _plain(send, 400, "invalid_field", "control characters in the path or query")
            return
        limit = services.settings.max_body_bytes
        body, too_big = await _read_body(receive, limit)
        if too_big:
            await _plain(send, 413, "payload_too_large", f"request bodies are limited to {limit} bytes")
            return
        audited = scope["path"].startswith("/v1/")
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + SECURITY_HEADERS
                if audited:
                    headers.append((b"cache-control", b"no-store"))
                    headers = [h for h in headers if h[0] != b"cache-control" or h[1] == b"no-store"]
                    if not await _audit(services, scope, message["status"]):
                        await _plain(send, 503, "audit_unavailable", "the access could not be audited; try again")
                        raise _Withheld
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, replay, guarded_send)
        except _Withheld:
            return


class _Withheld(Exception):
    """The response was replaced (its audit failed): the rest of it is not sent."""


async def _audit(services: Services, scope: Scope, status: int) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(services.audit.record(_entry(services, scope, status))), AUDIT_WAIT_S)
    except TimeoutError:
        log.error("audit not written in time", extra={"path": scope["path"]})
        return scope["method"] not in ("GET", "HEAD")  # a change was made: say so; a read is withheld
    return True


def _control_characters(scope: Scope) -> bool:
    """A NUL or other control character in the path or query (decoded or percent-encoded): refused before any
    handler or query sees it."""
    query = unquote_to_bytes(scope.get("query_string", b""))
    return any(ch < 0x20 or ch == 0x7F for ch in query) or any(
        ord(ch) < 0x20 or ord(ch) == 0x7F for ch in scope["path"]
    )


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def _plain(send: Send, status: int, code: str, reason: str) -> None:
    body = encoder.encode({"type": "error", "code": code, "field": None, "reason": reason})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
