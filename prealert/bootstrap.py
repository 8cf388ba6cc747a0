"""The one place that wires everything: settings in, a running Starlette app (with its background tasks) out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from dispatch import pg, records_web, redis_client, region, region_map, research_web, roads, security_web, tokens, web
from dispatch.accounts import Accounts
from dispatch.accounts import Limits as AccountLimits
from dispatch.audit_log import AuditLog
from dispatch.capacity import StatusUpdate, TriageCounts
from dispatch.exports import Exports
from dispatch.fleet import Fleet
from dispatch.hospital_status import HospitalStatuses
from dispatch.http_guard import HttpGuard
from dispatch.incidents import Incidents
from dispatch.ingest import Ingest
from dispatch.jwks import JwksKeys
from dispatch.live import Live, dispatch_key, feed_key, region_events_key, units_feed_key
from dispatch.rebuild import Rebuilder
from dispatch.recommend import Recommender
from dispatch.records import Records
from dispatch.revocation import Revocations
from dispatch.roads import TravelTimes
from dispatch.services import Services
from dispatch.settings import Settings
from dispatch.streams import StreamHub
from dispatch.strip_relay import StripRelay
from dispatch.tasks import cancel_and_wait
from dispatch.unit_notify import UnitNotifier
from hospital_gateway import mllp
from hospital_gateway import web as gateway_web
from hospital_gateway.adt import EdCensus
from hospital_gateway.desk import Desk

log = logging.getLogger("prealert")


def utc_now() -> datetime:
    return datetime.now(UTC)


def token_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in the data folder."""
    if settings.token_secret:
        return settings.token_secret
    path = settings.data_dir / "token-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


async def _trim_feeds(services: Services) -> None:
    """Keep each hospital feed and the dispatchers' feed to the retention window, and the units' positions to theirs."""
    while True:
        cutoff_ms = int((utc_now() - services.settings.feed_retention).timestamp() * 1000)
        region = services.region.name
        keys = [feed_key(h) for h in services.region.hospitals] + [dispatch_key(region), region_events_key(region)]
        for key in keys:
            await services.live.trim_stream(key, f"{cutoff_ms}-0")
        units_cutoff_ms = int((utc_now() - services.settings.units_retention).timestamp() * 1000)
        await services.live.trim_stream(units_feed_key(services.region.name), f"{units_cutoff_ms}-0")
        await asyncio.sleep(60)


async def _make_partitions(services: Services) -> None:
    """Keep the event table's monthly partitions made ahead (every process does it; it is idempotent)."""
    while True:
        await asyncio.sleep(3600)
        try:
            made = await pg.ensure_partitions(services.pool, utc_now())
            log.info("event partitions ready", extra={"partitions": made})
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # rows land in the default meanwhile
            log.warning("event partitions not made, retrying in an hour", extra={"error": repr(exc)})


def _travel_times(settings: Settings, the_region: region.Region) -> TravelTimes:
    graph = roads.load(settings.regions_dir / settings.region, settings.roads)
    return TravelTimes(graph, {h.id: (h.lat, h.lon) for h in the_region.hospitals.values()})


async def external_issuer(settings: Settings) -> tuple[tokens.ExternalIssuer, JwksKeys] | None:
    """The identity provider whose tokens are accepted besides ours, when one is configured, with its keys fetched."""
    if not settings.jwks_url or not settings.oidc_issuer:
        return None
    keys = JwksKeys(settings.jwks_url)
    await asyncio.to_thread(keys.fetch)
    issuer = tokens.ExternalIssuer(issuer=settings.oidc_issuer, audience=settings.oidc_audience, key_for=keys.key_for)
    return issuer, keys


async def build_services(settings: Settings, *, redis_url: str, database_url: str) -> Services:
    """Connect, migrate, load the region, and wire every service of one process."""
    the_region = region.load(settings.regions_dir, settings.region)
    travel = await asyncio.to_thread(_travel_times, settings, the_region)
    the_map = await asyncio.to_thread(region_map.load, settings.regions_dir / settings.region, the_region)
    pool = await pg.connect(database_url)
    await pg.migrate(pool)
    await pg.ensure_partitions(pool, utc_now())
    redis = redis_client.connect(redis_url, cluster=settings.redis_cluster, max_connections=settings.redis_connections)
    # Each followed stream (a hospital's feed, the dispatchers' feeds) holds one connection in a blocking read.
    readers = redis_client.connect(redis_url, cluster=settings.redis_cluster, max_connections=10_000)
    live = Live(redis, readers=readers)
    writer = pg.EventWriter(pool, batch=settings.write_batch)
    strips = StripRelay(live)
    secret = token_secret(settings)
    longest = max(settings.token_ttl, settings.access_ttl, settings.refresh_ttl)
    revocations = Revocations(redis, keep_s=int(longest.total_seconds()))
    await revocations.load()
    provider = await external_issuer(settings)
    recommender = Recommender(
        live=live,
        region=the_region,
        travel=travel,
        config=settings.routing,
        lvo_window=settings.lvo_window,
        clock=utc_now,
    )
    rebuilder = Rebuilder(
        pool=pool,
        live=live,
        region=the_region,
        eta=lambda lat, lon, hospital: travel.eta_s(lat, lon, hospital.id),
        clock=utc_now,
        retention=settings.feed_retention,
        units_retention=settings.units_retention,
    )
    await rebuilder.ensure()  # Redis empty (new, or restarted without its data): the live state from the record
    return Services(
        settings=settings,
        region=the_region,
        secret=secret,
        revocations=revocations,
        external=provider[0] if provider else None,
        provider_keys=provider[1] if provider else None,
        audit=AuditLog(pool),
        exports=Exports(pool=pool, region=the_region.name, default_k=settings.export_k, clock=utc_now),
        records=Records(pool=pool, region=the_region),
        accounts=Accounts(
            pool=pool,
            redis=redis,
            secret=secret,
            revocations=revocations,
            limits=AccountLimits(
                access_ttl=settings.access_ttl,
                refresh_ttl=settings.refresh_ttl,
                attempts=settings.login_attempts,
                window=settings.login_window,
            ),
            region=the_region.name,
            hospitals=frozenset(the_region.hospitals),
            clock=utc_now,
        ),
        pool=pool,
        redis=redis,
        live=live,
        writer=writer,
        notifier=UnitNotifier(redis),
        clock=utc_now,
        travel=travel,
        fleet=Fleet(live=live, travel=travel, region=the_region.name),
        region_map=msgspec.json.encode(the_map),
        recommender=recommender,
        strips=strips,
        ingest=Ingest(
            live=live,
            strips=strips,
            pool=pool,
            writer=writer,
            region=the_region,
            settings=settings,
            clock=utc_now,
            travel=travel,
            on_patient_change=recommender.schedule,
            repair=rebuilder.repair,
        ),
        rebuilder=rebuilder,
        incidents=Incidents(pool=pool, live=live, region=the_region, clock=utc_now, recommender=recommender),
        statuses=HospitalStatuses(
            pool=pool, live=live, region=the_region, clock=utc_now, on_change=recommender.schedule_all
        ),
    )


async def _mllp_listener(settings: Settings, services: Services) -> asyncio.AbstractServer | None:
    """HL7 v2 ADT over MLLP: one ED census per hospital (MSH-6 names the hospital by its id), kept in memory."""
    if settings.mllp_port is None:
        return None
    censuses = {h: EdCensus(hospital=h, ed_location=settings.mllp_ed_location) for h in services.region.hospitals}

    async def publish(hospital: str, counts: TriageCounts) -> None:
        await services.statuses.update(hospital, StatusUpdate(census=counts), actor="hl7-adt")

    server = await mllp.serve(
        host=settings.host, port=settings.mllp_port, census_for=censuses.get, on_census=publish, now=utc_now
    )
    log.info("MLLP listener ready", extra={"port": settings.mllp_port})
    return server


def all_routes() -> list[BaseRoute]:
    """Every route of the service: dispatch's, identity and oversight, research, and the hospital gateway's."""
    return web.routes() + security_web.routes() + research_web.routes() + records_web.routes() + gateway_web.routes()


def create_app(settings: Settings, *, redis_url: str, database_url: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings, redis_url=redis_url, database_url=database_url)
        app.state.services = services
        app.state.streams = StreamHub(services.live, queue_size=settings.dashboard_queue)
        app.state.desk = Desk(
            pool=services.pool, live=services.live, region=services.region, statuses=services.statuses, clock=utc_now
        )
        background = (
            services.writer.run(),
            services.audit.run(),
            services.revocations.run(),
            *([services.provider_keys.run()] if services.provider_keys else []),
            services.notifier.run(),
            services.strips.run(),
            _trim_feeds(services),
            _make_partitions(services),
            services.rebuilder.run(),
            services.recommender.run(),
            services.recommender.sweep(),
        )
        tasks = [asyncio.create_task(job) for job in background]
        listener = await _mllp_listener(settings, services)
        log.info(
            "service ready",
            extra={
                "region": services.region.name,
                "hospitals": len(services.region.hospitals),
                "destinations": len(services.travel.destinations),
            },
        )
        try:
            yield
        finally:
            if listener is not None:
                listener.close()
            await asyncio.wait_for(services.writer.drain(), timeout=10)
            await asyncio.wait_for(services.audit.drain(), timeout=10)
            await app.state.streams.close()
            await cancel_and_wait(tasks, ignore=(Exception,))
            await services.redis.aclose()
            if services.live.readers is not services.redis:
                await services.live.readers.aclose()
            await services.pool.close()

    return Starlette(
        routes=all_routes(),
        lifespan=lifespan,
        exception_handlers=web.EXCEPTION_HANDLERS,
        middleware=[Middleware(HttpGuard)],
    )
