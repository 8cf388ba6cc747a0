"""The service's settings: one typed object, read once at the composition root and passed down.

``Settings.from_env`` is the only place that reads the environment. Every limit has a safe default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dispatch.frames import Limits
from dispatch.roads import RoadSettings
from dispatch.routing import RoutingConfig


def _default_regions() -> Path:
    return Path(__file__).parent / "regions"


@dataclass(frozen=True, slots=True)
class Settings:
    # Where
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".prealert")
    region: str = "pittsburgh"
    regions_dir: Path = field(default_factory=_default_regions)
    # Servers: None means "start the embedded ones under data_dir"
    redis_url: str | None = None
    redis_cluster: bool = False  # redis_url names one node of a Redis Cluster (keys are hash-tagged per shard)
    database_url: str | None = None
    # Secrets: None means "generate one under data_dir and keep it"
    token_secret: str | None = None
    # Limits
    max_frame_bytes: int = 64 * 1024
    frame_limits: Limits = field(default_factory=Limits)
    tablet_rate_per_s: float = 50.0
    tablet_burst: int = 200
    dashboard_queue: int = 10_000
    # Live waveform strips: a unit's budget, and how late a chunk may be before it is dropped
    strip_bytes_per_s: int = 4096
    strip_burst_bytes: int = 8192
    strip_max_age_s: float = 3.0
    max_binary_frame_bytes: int = 256 * 1024  # a 12-lead ECG as msgpack (12 leads x 10 s x 500 /s x 2 bytes = 120 KB)
    feed_retention: timedelta = timedelta(hours=24)
    units_retention: timedelta = timedelta(minutes=15)  # the units' position feed: a console resumes within this
    # Durability
    write_batch: int = 500
    ws_compression: bool = False  # websocket permessage-deflate
    drain_grace_s: float = 5.0  # on SIGTERM: not ready, sockets still served this long, then closed with 1001
    redis_connections: int = 64  # per process; more callers wait for one (a pool that raises would drop sockets)
    # Identity and access
    access_ttl: timedelta = timedelta(minutes=15)  # a signed-in person's access token; refreshed before it ends
    refresh_ttl: timedelta = timedelta(hours=12)  # a shift
    login_attempts: int = 5  # failed sign-ins per account (x10 per address) within login_window, then refused
    login_window: timedelta = timedelta(minutes=15)
    max_sockets_per_token: int = 4  # open sockets one access token may hold in one process
    max_body_bytes: int = 512 * 1024  # HTTP request bodies (an EDXL document is a few KB)
    allowed_origins: tuple[str, ...] = ()  # browser origins allowed to open sockets, besides the service's own
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For names the client (audit, sign-in limits)
    ed_recent_handover: timedelta = timedelta(hours=1)  # an ED still sees a patient this long after handover
    # An external identity provider (OpenID Connect): its tokens are verified against its JWKS
    jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str = "prealert"
    # Research exports
    export_k: int = 5  # k-anonymity over the quasi-identifiers
    # NEMSIS exports: who reports (dAgency.01 the state's agency id, .02 the agency number, .04 the state's FIPS code)
    nemsis_agency_id: str = "PA-PREALERT"
    nemsis_agency_number: str = "prealert-demo"
    nemsis_state: str = "42"  # Pennsylvania
    crew_history: timedelta = timedelta(hours=72)  # how far back a crew's tablet lists its patients and outcomes
    # Demo
    print_tokens: bool = True
    token_ttl: timedelta = timedelta(hours=12)
    # Routing
    roads: RoadSettings = field(default_factory=RoadSettings)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    lvo_window: timedelta = timedelta(hours=6)
    log_level: str = "INFO"
    # Hospital intake: HL7 v2 ADT over MLLP (None: no listener)
    mllp_port: int | None = None
    mllp_ed_location: str = "ED"  # the PV1-3 point of care that means "in the emergency department"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            value = env.get(f"PREALERT_{name}")
            return value if value else None

        base = cls()

        def minutes(name: str, default: timedelta) -> timedelta:
            value = get(name)
            return timedelta(minutes=float(value)) if value else default

        routing = RoutingConfig(
            stroke_detour=minutes("STROKE_DETOUR_MIN", base.routing.stroke_detour),
            stale_after=minutes("STATUS_STALE_AFTER_MIN", base.routing.stale_after),
            door_to_device=minutes("DOOR_TO_DEVICE_MIN", base.routing.door_to_device),
        )
        return cls(
            roads=RoadSettings(emergency_factor=float(get("EMERGENCY_FACTOR") or base.roads.emergency_factor)),
            routing=routing,
            lvo_window=minutes("LVO_WINDOW_MIN", base.lvo_window),
            units_retention=minutes("UNITS_RETENTION_MIN", base.units_retention),
            host=get("HOST") or base.host,
            port=int(get("PORT") or base.port),
            data_dir=Path(get("DATA_DIR") or base.data_dir),
            region=get("REGION") or base.region,
            regions_dir=Path(regions) if (regions := get("REGIONS_DIR")) else base.regions_dir,
            redis_url=get("REDIS_URL"),
            redis_cluster=(get("REDIS_CLUSTER") or "0") in ("1", "true", "yes"),
            database_url=get("DATABASE_URL"),
            token_secret=get("TOKEN_SECRET"),
            max_frame_bytes=int(get("MAX_FRAME_BYTES") or base.max_frame_bytes),
            tablet_rate_per_s=float(get("TABLET_RATE_PER_S") or base.tablet_rate_per_s),
            tablet_burst=int(get("TABLET_BURST") or base.tablet_burst),
            redis_connections=int(get("REDIS_CONNECTIONS") or base.redis_connections),
            ws_compression=(get("WS_COMPRESSION") or "0") in ("1", "true", "yes"),
            drain_grace_s=float(get("DRAIN_GRACE_S") or base.drain_grace_s),
            dashboard_queue=int(get("DASHBOARD_QUEUE") or base.dashboard_queue),
            strip_bytes_per_s=int(get("STRIP_BYTES_PER_S") or base.strip_bytes_per_s),
            strip_burst_bytes=int(get("STRIP_BURST_BYTES") or base.strip_burst_bytes),
            strip_max_age_s=float(get("STRIP_MAX_AGE_S") or base.strip_max_age_s),
            max_binary_frame_bytes=int(get("MAX_BINARY_FRAME_BYTES") or base.max_binary_frame_bytes),
            print_tokens=(get("PRINT_TOKENS") or "1") != "0",
            access_ttl=minutes("ACCESS_TTL_MIN", base.access_ttl),
            refresh_ttl=minutes("REFRESH_TTL_MIN", base.refresh_ttl),
            login_attempts=int(get("LOGIN_ATTEMPTS") or base.login_attempts),
            login_window=minutes("LOGIN_WINDOW_MIN", base.login_window),
            max_sockets_per_token=int(get("MAX_SOCKETS_PER_TOKEN") or base.max_sockets_per_token),
            max_body_bytes=int(get("MAX_BODY_BYTES") or base.max_body_bytes),
            forwarded_allow_ips=get("FORWARDED_ALLOW_IPS") or base.forwarded_allow_ips,
            allowed_origins=tuple(o.strip() for o in (get("ALLOWED_ORIGINS") or "").split(",") if o.strip()),
            ed_recent_handover=minutes("ED_RECENT_HANDOVER_MIN", base.ed_recent_handover),
            jwks_url=get("JWKS_URL"),
            oidc_issuer=get("OIDC_ISSUER"),
            oidc_audience=get("OIDC_AUDIENCE") or base.oidc_audience,
            export_k=int(get("EXPORT_K") or base.export_k),
            nemsis_agency_id=get("NEMSIS_AGENCY_ID") or base.nemsis_agency_id,
            nemsis_agency_number=get("NEMSIS_AGENCY_NUMBER") or base.nemsis_agency_number,
            nemsis_state=get("NEMSIS_STATE") or base.nemsis_state,
            log_level=get("LOG_LEVEL") or base.log_level,
            mllp_port=int(port) if (port := get("MLLP_PORT")) else None,
            mllp_ed_location=get("MLLP_ED_LOCATION") or base.mllp_ed_location,
        )
