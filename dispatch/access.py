"""Who may see what, as pure rules: an ED's view of a patient, the purpose an access is recorded under, and which
browser origins may open a socket. The edges (HTTP routes, sockets) apply them; ``tokens.require`` checks role and
scope.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from dispatch.tokens import Role

# The purpose of use each role's accesses are recorded under (HL7 PurposeOfUse names, spelled out); a research
# export records its own approved purpose instead.
PURPOSE: Final[dict[Role, str]] = {
    "paramedic": "treatment",
    "ed": "treatment",
    "ed_charge": "treatment",
    "dispatcher": "emergency dispatch",
    "hospital_system": "healthcare operations",
    "researcher": "research",
    "admin": "system administration",
}


def purpose_of(role: str | None) -> str:
    return PURPOSE.get(role, "none") if role else "none"  # type: ignore[call-overload]


def ed_may_see(
    *, hospital: str, destination: str | None, handed_over_at: datetime | None, now: datetime, recent: timedelta
) -> bool:
    """An ED sees a patient while the patient is inbound to it, and for ``recent`` after it took them over."""
    if destination != hospital:
        return False
    return handed_over_at is None or now - handed_over_at <= recent


def origin_allowed(origin: str | None, host: str | None, allowed: Collection[str]) -> bool:
    """A socket from a browser page must come from the service's own pages or a configured origin. A client that
    sends no Origin is not a browser (a tablet app, a test): its token alone decides."""
    if origin is None:
        return True
    if origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host
