"""The one place that wires everything: settings in, a running Starlette app (with its background tasks) out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis
from starlette.applications import Starlette

from dispatch import pg, region, web
from dispatch.incidents import Incidents
from dispatch.ingest import Ingest
from dispatch.live import Live, feed_key
from dispatch.services import Services
from dispatch.settings import Settings
from dispatch.streams import StreamHub
from dispatch.unit_notify import UnitNotifier
from hospital_gateway import web as gateway_web

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
    """Keep each hospital feed to the retention window."""
    while True:
        cutoff_ms = int((utc_now() - services.settings.feed_retention).timestamp() * 1000)
        for hospital in services.region.hospitals:
            await services.live.trim_stream(feed_key(hospital), f"{cutoff_ms}-0")
        await asyncio.sleep(60)


def create_app(settings: Settings, *, redis_url: str, database_url: str) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        the_region = region.load(settings.regions_dir, settings.region)
        pool = await pg.connect(database_url)
        version = await pg.migrate(pool)
        redis = Redis.from_url(redis_url, max_connections=None)
        live = Live(redis)
        writer = pg.EventWriter(pool, batch=settings.write_batch)
        services = Services(
            settings=settings,
            region=the_region,
            secret=token_secret(settings),
            pool=pool,
            redis=redis,
            live=live,
            writer=writer,
            notifier=UnitNotifier(redis),
            clock=utc_now,
            ingest=Ingest(live=live, writer=writer, region=the_region, settings=settings, clock=utc_now),
            incidents=Incidents(pool=pool, live=live, region=the_region, clock=utc_now),
        )
        app.state.services = services
        app.state.streams = StreamHub(live, queue_size=settings.dashboard_queue)
        tasks = [asyncio.create_task(t) for t in (writer.run(), services.notifier.run(), _trim_feeds(services))]
        log.info(
            "service ready",
            extra={
                "schema_version": version,
                "region": the_region.name,
                "hospitals": len(the_region.hospitals),
            },
        )
        try:
            yield
        finally:
            await asyncio.wait_for(writer.drain(), timeout=10)
            await app.state.streams.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await redis.aclose()
            await pool.close()

    return Starlette(
        routes=web.routes() + gateway_web.routes(),
        lifespan=lifespan,
        exception_handlers=web.EXCEPTION_HANDLERS,
    )


def data_path(settings: Settings) -> Path:
    return settings.data_dir.resolve()
