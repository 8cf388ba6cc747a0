"""The request bodies of identity and oversight (sign-in, refresh, accounts, revocations, crews). Every string is
bounded and shaped, so that nothing odd (a NUL, a megabyte password for argon2 to chew) reaches a query."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from dispatch import tokens
from dispatch.protocol import HospitalId, UnitId

Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
# <session>.<secret>, both base64url
RefreshToken = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{16,128}$")]
# a jti, a session id or a subject (an identity provider's subjects may hold more than our usernames do)
RevocableId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._@:|-]{1,255}$")]


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    unit: UnitId | None = None  # a paramedic binds the tablet to their unit


class Refresh(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: RefreshToken


class NewAccount(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    role: tokens.Role
    password: Password
    scope: HospitalId | None = None


class Revocation(msgspec.Struct, forbid_unknown_fields=True):
    """Revoke one token (its ``jti``), one sign-in session, or every token of a person issued until now."""

    kind: Literal["token", "session", "subject"]
    id: RevocableId


class Crew(msgspec.Struct, forbid_unknown_fields=True):
    members: Annotated[list[Username], Meta(max_length=12)]
