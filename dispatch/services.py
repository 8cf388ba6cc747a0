"""The wired-up services one process shares; built by the composition root (``prealert.bootstrap``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dispatch import access, tokens
from dispatch.accounts import Accounts
from dispatch.audit_log import AuditLog
from dispatch.drain import Drain
from dispatch.exports import Exports
from dispatch.fleet import Fleet
from dispatch.hospital_status import HospitalStatuses
from dispatch.incidents import Incidents
from dispatch.ingest import Ingest
from dispatch.jwks import JwksKeys
from dispatch.live import Live
from dispatch.pg import EventWriter, Pool
from dispatch.rebuild import Rebuilder
from dispatch.recommend import Recommender
from dispatch.records import Records
from dispatch.redis_client import RedisClient
from dispatch.region import Region
from dispatch.revocation import Revocations
from dispatch.roads import TravelTimes
from dispatch.settings import Settings
from dispatch.strip_relay import StripRelay
from dispatch.unit_notify import UnitNotifier


@dataclass(frozen=True)
class Services:
    settings: Settings
    region: Region
    secret: str
    pool: Pool
    redis: RedisClient
    live: Live
    writer: EventWriter
    ingest: Ingest
    rebuilder: Rebuilder
    strips: StripRelay
    incidents: Incidents
    notifier: UnitNotifier
    travel: TravelTimes
    fleet: Fleet
    region_map: bytes  # the region's streets as JSON (dispatch.region_map.RegionMap), built once at start
    recommender: Recommender
    statuses: HospitalStatuses
    clock: Callable[[], datetime]
    revocations: Revocations
    accounts: Accounts
    audit: AuditLog
    exports: Exports
    records: Records
    drain: Drain = field(default_factory=Drain)
    external: tokens.ExternalIssuer | None = None  # an identity provider whose tokens are accepted too
    provider_keys: JwksKeys | None = None  # its signing keys, refreshed in the background

    def authenticate(self, token: str | None) -> tokens.Principal:
        """The token's principal; ``AuthError`` if it is missing, bad, expired or revoked."""
        who = tokens.verify(self.secret, token, now=int(time.time()), external=self.external)
        self.revocations.check(who)
        return who

    async def ed_may_see(self, incident: int, hospital: str) -> bool:
        destination, handed_over_at = await self.live.ed_view(incident)
        return access.ed_may_see(
            hospital=hospital,
            destination=destination,
            handed_over_at=handed_over_at,
            now=self.clock(),
            recent=self.settings.ed_recent_handover,
        )
