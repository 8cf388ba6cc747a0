"""Errors of the dispatch package. They carry fields; the edges turn them into HTTP statuses and close codes.

PrealertError
├── ProtocolError       a frame or request body was refused (code, field, reason, seq); nothing changed
├── AuthError           no, bad or expired credential                       -> HTTP 401, close 4401
│   └── ForbiddenError  a valid credential outside its scope (unit, hospital) -> HTTP 403, close 4403
├── NotFoundError       no such incident, unit or hospital                    -> HTTP 404
└── ConflictError       the request contradicts the current state             -> HTTP 409
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.protocol import ErrorCode


class PrealertError(Exception):
    """Base of every error the service raises on purpose."""


@dataclass(eq=False)
class ProtocolError(PrealertError):
    code: ErrorCode
    reason: str
    field: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = f" at {self.field}" if self.field else ""
        return f"{self.code}{where}: {self.reason}"


@dataclass(eq=False)
class AuthError(PrealertError):
    reason: str

    def __str__(self) -> str:
        return self.reason


class ForbiddenError(AuthError):
    pass


@dataclass(eq=False)
class NotFoundError(PrealertError):
    what: str
    key: str

    def __str__(self) -> str:
        return f"no {self.what} {self.key!r}"


@dataclass(eq=False)
class ConflictError(PrealertError):
    reason: str
    current: object = None  # what the caller should have started from (e.g. the current status and its version)

    def __str__(self) -> str:
        return self.reason
