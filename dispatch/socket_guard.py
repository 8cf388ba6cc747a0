"""Every socket's gate and guard: origin, token, role and scope at the door, a limit of sockets per token, an audit
entry for each opening and refusal, and, while it is open, a close with 4401 within seconds of the token's
revocation (or at its expiry).

Close codes: 4401 no, bad, expired or revoked token; 4403 valid token outside its role or scope, or a browser page
of a foreign origin; 4429 too many sockets on one token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from dispatch import access, tokens
from dispatch.audit import Entry
from dispatch.errors import AuthError, ForbiddenError
from dispatch.protocol import SUBPROTOCOL, CloseCode, bearer_token
from dispatch.services import Services
from dispatch.tasks import cancel_and_wait

log = logging.getLogger("prealert.socket")
_open: dict[str, int] = {}  # open sockets per token id, in this process


def source_of(ws: WebSocket) -> str:
    return ws.client.host if ws.client else "unknown"


def socket_entry(
    ws: WebSocket, services: Services, who: tokens.Principal | None, *, action: str, outcome: int, **fields: Any
) -> Entry:
    return Entry(
        at=services.clock(),
        actor=who.subject if who else "anonymous",
        role=who.role if who else "none",
        action=action,
        resource="socket " + ws.scope.get("path", ""),
        purpose=access.purpose_of(who.role if who else None),
        source=source_of(ws),
        outcome=outcome,
        **fields,
    )


async def refuse(ws: WebSocket, services: Services, who: tokens.Principal | None, code: int, reason: str) -> None:
    await ws.close(code, reason=reason[:120])
    services.audit.record(socket_entry(ws, services, who, action="refuse", outcome=code, detail={"reason": reason}))
    log.info("socket refused", extra={"path": ws.scope.get("path"), "code": code, "reason": reason})


async def accept_authenticated(
    ws: WebSocket, services: Services, roles: tokens.Role | Collection[tokens.Role], scope: str | None, **audit: Any
) -> tokens.Principal | None:
    """Accept the socket, then check it may be here; close it (and return None) when it may not."""
    offered = list(ws.scope.get("subprotocols", []))
    token = bearer_token(offered, ws.headers.get("authorization"))
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    settings = services.settings
    origin = ws.headers.get("origin")
    if not access.origin_allowed(origin, ws.headers.get("host"), settings.allowed_origins):
        await refuse(ws, services, None, CloseCode.FORBIDDEN, f"origin {origin} is not allowed")
        return None
    try:
        who = tokens.require(services.authenticate(token), roles, scope)
    except ForbiddenError as exc:
        await refuse(ws, services, None, CloseCode.FORBIDDEN, str(exc))
        return None
    except AuthError as exc:
        await refuse(ws, services, None, CloseCode.UNAUTHENTICATED, str(exc))
        return None
    if _open.get(who.token_id, 0) >= settings.max_sockets_per_token:
        limit = settings.max_sockets_per_token
        await refuse(ws, services, who, CloseCode.TOO_MANY, f"this token has {limit} sockets open already")
        return None
    services.audit.record(socket_entry(ws, services, who, action="read", outcome=101, detail={"opened": True}, **audit))
    return who


async def guarded(ws: WebSocket, services: Services, who: tokens.Principal, body: Coroutine[Any, Any, None]) -> None:
    """Run an accepted socket's ``body`` until it ends, or until the token is revoked or expires (then 4401), or
    the process drains (then 1001: reconnect elsewhere)."""
    _open[who.token_id] = _open.get(who.token_id, 0) + 1
    revoked = services.revocations.watch(who)
    task = asyncio.create_task(body)
    watcher = asyncio.create_task(revoked.wait())
    closing = asyncio.create_task(services.drain.closing.wait())
    try:
        lifetime = who.expires_at - time.time() if who.expires_at else None
        await asyncio.wait({task, watcher, closing}, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and closing.done():
            await cancel_and_wait([task], ignore=(WebSocketDisconnect, RuntimeError, OSError))
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await ws.close(CloseCode.GOING_AWAY, reason="this server is stopping: reconnect")
            return
        if not task.done():
            reason = services.revocations.revoked(who) or "token expired"
            await cancel_and_wait([task], ignore=(WebSocketDisconnect, RuntimeError, OSError))
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await ws.close(CloseCode.UNAUTHENTICATED, reason=reason)
            services.audit.record(
                socket_entry(
                    ws, services, who, action="refuse", outcome=CloseCode.UNAUTHENTICATED, detail={"reason": reason}
                )
            )
            return
        with contextlib.suppress(WebSocketDisconnect):
            await task
    finally:
        watcher.cancel()
        closing.cancel()
        if not task.done():
            task.cancel()
        services.revocations.unwatch(who, revoked)
        _open[who.token_id] -= 1
        if not _open[who.token_id]:
            del _open[who.token_id]


def still_valid(services: Services, who: tokens.Principal) -> None:
    """The per-message check: the token has not expired or been revoked since the socket opened."""
    if who.expires_at and who.expires_at <= time.time():
        raise AuthError("token expired")
    services.revocations.check(who)
