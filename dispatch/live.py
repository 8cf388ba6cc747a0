"""Redis adapter: the live state every process shares, and the streams that feed the dashboards.

Keys (all prefixed ``pa:``):
- ``unit:{u}`` hash: ``seq`` (highest seq fanned out), ``incident``, ``position``, ``status``;
  ``region:{r}:units`` set of the unit hashes' keys; ``region:{r}:units:feed`` stream of ``unit`` updates (position,
  status) for the dispatchers' map, kept ``units_retention``;
  ``unit:{u}:uid:{uid}`` the seq a message's idempotency key was fanned out under (kept a week);
  ``unit:{u}:incidents`` set: every incident the unit was ever assigned (a tablet may only write to those);
- ``incident:{id}`` hash: ``state`` (IncidentState JSON), ``destination``, ``latest`` (merged latest vitals JSON);
  ``incident:{id}:events`` stream: every event of the incident;
- ``hospital:{h}:feed`` stream: every event of every patient inbound to hospital h, in order; its ids are the
  dashboards' resume points; ``hospital:{h}:feed:trimmed`` the id below which the feed was trimmed;
- ``region:{r}:status`` hash: every hospital's ED status (JSON); ``region:{r}:active`` set: open incidents;
  ``region:{r}:events`` stream: every tablet event of every open incident of the region (the dispatchers' "see
  everything" feed), capped at about REGION_EVENTS_KEPT entries;
  ``region:{r}:dispatch`` stream: what the dispatchers' consoles follow (hospital status changes, recommendation
  changes), resumable like a hospital feed; ``incident:{id}`` also holds ``recommendation`` and its ``fingerprint``;
- channel ``incident:{id}:strip``: live waveform chunks of the incident (pub/sub only: nothing is kept);
- channel ``unit:{u}:notify``: ``assignment:<incident>``, ``recommendation:<incident>``, ``ack:<incident>`` or
  ``patient:<incident>`` (a vitals set or an assessment of the unit's patient was fanned out).
Each multi-key change is one Lua script, so a reader never sees half of it. One Redis (not Cluster) for now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import msgspec
from redis.asyncio import Redis

PREFIX: Final = "pa:"
REGION_EVENTS_KEPT: Final = 100_000  # the dispatchers' everything-feed: enough for minutes at a big city's peak

_INGEST_LUA: Final = """
local unit_key, incidents_key, incident_key, events_key, uid_key, units_key, units_feed, region_events =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local seq, incident, event, latest, unit_field, unit_value, uid, ttl, notify, unit_update =
    tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9], ARGV[10]
local last = tonumber(redis.call('HGET', unit_key, 'seq') or '0')
if uid ~= '' and redis.call('EXISTS', uid_key) == 1 then return {'duplicate', '', ''} end
if seq <= last then
    if uid ~= '' then return {'seq_taken', tostring(last), ''} end
    return {'repeat', '', ''}
end
if incident ~= '' and redis.call('SISMEMBER', incidents_key, incident) == 0 then return {'not_assigned', '', ''} end
redis.call('HSET', unit_key, 'seq', seq)
if uid ~= '' then redis.call('SET', uid_key, seq, 'EX', ttl) end
if unit_field ~= '' then
    redis.call('HSET', unit_key, unit_field, unit_value)
    redis.call('SADD', units_key, unit_key)
    redis.call('XADD', units_feed, '*', 'e', unit_update)
end
if incident == '' then return {'ok', '', ''} end
redis.call('XADD', events_key, '*', 'e', event)
redis.call('XADD', region_events, 'MAXLEN', '~', '@KEPT@', '*', 'e', event)
if latest ~= '' then redis.call('HSET', incident_key, 'latest', latest) end
if notify ~= '' then redis.call('PUBLISH', unit_key .. ':notify', notify .. ':' .. incident) end
local dest = redis.call('HGET', incident_key, 'destination')
if dest then
    return {'ok', dest, redis.call('XADD', 'pa:hospital:' .. dest .. ':feed', '*', 'e', event)}
end
return {'ok', '', ''}
"""
_INGEST: Final = _INGEST_LUA.replace("@KEPT@", str(REGION_EVENTS_KEPT))

_PUT_INCIDENT: Final = """
local incident_key, events_key = KEYS[1], KEYS[2]
local state, event, unit, destination, incident = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local old = redis.call('HGET', incident_key, 'destination') or ''
redis.call('HSET', incident_key, 'state', state)
redis.call('XADD', events_key, '*', 'e', event)
if unit ~= '' then
    redis.call('SADD', 'pa:unit:' .. unit .. ':incidents', incident)
    redis.call('HSET', 'pa:unit:' .. unit, 'incident', incident)
end
if old ~= '' and old ~= destination then
    redis.call('XADD', 'pa:hospital:' .. old .. ':feed', '*', 'e', event)
end
if destination ~= '' then
    redis.call('HSET', incident_key, 'destination', destination)
    local feed = 'pa:hospital:' .. destination .. ':feed'
    if old ~= destination then
        for _, entry in ipairs(redis.call('XRANGE', events_key, '-', '+')) do
            redis.call('XADD', feed, '*', 'e', entry[2][2])
        end
    else
        redis.call('XADD', feed, '*', 'e', event)
    end
end
if unit ~= '' then redis.call('PUBLISH', 'pa:unit:' .. unit .. ':notify', 'assignment:' .. incident) end
return old
"""


_SWAP_RECOMMENDATION: Final = """
local incident_key, stream = KEYS[1], KEYS[2]
local recommendation, top, fingerprint, update = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local previous = redis.call('HMGET', incident_key, 'top', 'fingerprint')
redis.call('HSET', incident_key, 'recommendation', recommendation, 'top', top, 'fingerprint', fingerprint)
if previous[2] ~= fingerprint then redis.call('XADD', stream, '*', 'e', update) end
return {previous[1] or '', previous[2] or ''}
"""


_ED_EVENT: Final = """
local incident_key, events_key = KEYS[1], KEYS[2]
local hospital, event, field, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', incident_key, 'destination') ~= hospital then return 0 end
redis.call('XADD', events_key, '*', 'e', event)
redis.call('XADD', 'pa:hospital:' .. hospital .. ':feed', '*', 'e', event)
if field ~= '' then redis.call('HSET', incident_key, field, value) end
return 1
"""


_STRIP: Final = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('PUBLISH', KEYS[2], ARGV[2]) + 1
"""

Verdict = Literal["ok", "repeat", "duplicate", "seq_taken", "not_assigned"]
_VERDICTS: Final = frozenset(("ok", "repeat", "duplicate", "seq_taken", "not_assigned"))
UID_TTL_S: Final = 7 * 24 * 3600  # a tablet's outbox is resent within this; PostgreSQL's unique index holds beyond


@dataclass(frozen=True, slots=True)
class Fanout:
    """``repeat``: this seq was fanned out already; ``duplicate``: this uid was; ``seq_taken``: the seq is used by
    another message of the unit (``last_seq`` is the unit's highest)."""

    verdict: Verdict
    hospital: str | None = None
    feed_id: str | None = None
    last_seq: int | None = None


FeedEntry = tuple[str, bytes]  # (stream id, event JSON)


def _bytes(value: object) -> bytes:
    """A Redis reply that must be bytes (the client is not decoding)."""
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes from Redis, got {type(value).__name__}")
    return value


def _optional(value: object) -> bytes | None:
    return None if value is None else _bytes(value)


def entries_of(reply: Any) -> list[FeedEntry]:
    """Stream entries from an XRANGE or XREAD reply, as (id, event JSON)."""
    return [(_bytes(entry_id).decode(), _bytes(fields[b"e"])) for entry_id, fields in reply]


def _key(*parts: object) -> str:
    return PREFIX + ":".join(str(p) for p in parts)


def feed_key(hospital: str) -> str:
    return _key("hospital", hospital, "feed")


def dispatch_key(region: str) -> str:
    return _key("region", region, "dispatch")


def strip_channel(incident: int) -> str:
    return _key("incident", incident, "strip")


def region_events_key(region: str) -> str:
    return _key("region", region, "events")


def units_feed_key(region: str) -> str:
    return _key("region", region, "units", "feed")


class Live:
    def __init__(self, redis: Redis, *, readers: Redis | None = None) -> None:
        """``readers``: the connections the feeds' blocking reads hold, one per followed stream, kept apart so that
        they never starve the pool the tablets' writes share."""
        self.redis = redis
        self.readers = readers or redis
        self._ingest = redis.register_script(_INGEST)
        self._put_incident = redis.register_script(_PUT_INCIDENT)
        self._swap_recommendation = redis.register_script(_SWAP_RECOMMENDATION)
        self._ed_event = redis.register_script(_ED_EVENT)
        self._strip = redis.register_script(_STRIP)

    # Tablet events ----------
    async def incident_context(self, incident: int) -> tuple[bytes | None, str | None]:
        """The incident's merged latest vitals (JSON) and its destination."""
        latest, destination = await self.redis.hmget(_key("incident", incident), ["latest", "destination"])
        return _optional(latest), _bytes(destination).decode() if destination else None

    async def ed_view(self, incident: int) -> tuple[str | None, datetime | None]:
        """The incident's destination, and when the ED took the patient over (None: not yet)."""
        destination, handover = await self.redis.hmget(_key("incident", incident), ["destination", "handover"])
        taken = msgspec.json.decode(handover, type=_HandedOver).transferred_at if handover else None
        return (_bytes(destination).decode() if destination else None), taken

    async def ingest(
        self,
        *,
        unit: str,
        seq: int,
        incident: int | None,
        event: bytes,
        latest: bytes | None,
        unit_field: str,
        unit_value: bytes,
        region: str,
        unit_update: bytes = b"",
        uid: str | None = None,
        notify: str = "",
    ) -> Fanout:
        """Dedupe by uid and by (unit, seq) across every process, then append to the incident's and hospital's
        streams; ``notify`` (e.g. ``patient``) is published to the unit's tablets with the incident number."""
        inc = "" if incident is None else str(incident)
        keys = [
            _key("unit", unit),
            _key("unit", unit, "incidents"),
            _key("incident", inc),
            _key("incident", inc, "events"),
            _key("unit", unit, "uid", uid or ""),
            _key("region", region, "units"),
            units_feed_key(region),
            region_events_key(region),
        ]
        args: list[bytes | str | int] = [
            seq,
            inc,
            event,
            latest or b"",
            unit_field,
            unit_value,
            uid or "",
            UID_TTL_S,
            notify,
            unit_update,
        ]
        verdict, second, feed_id = (_bytes(v).decode() for v in await self._ingest(keys=keys, args=args))
        if verdict not in _VERDICTS:
            raise ValueError(f"unexpected ingest verdict {verdict!r}")
        if verdict == "seq_taken":
            return Fanout(verdict="seq_taken", last_seq=int(second))
        return Fanout(verdict=verdict, hospital=second or None, feed_id=feed_id or None)  # type: ignore[arg-type]

    async def publish_strips(self, chunks: list[tuple[str, int, bytes]]) -> list[str]:
        """Publish live waveform chunks (unit, incident, encoded chunk) to whoever watches each incident now, in one
        pipeline; nothing is kept. Per chunk: ``watched``, ``unwatched`` or ``not_assigned`` (not the unit's)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for unit, incident, chunk in chunks:
                keys = [_key("unit", unit, "incidents"), strip_channel(incident)]
                await self._strip(keys=keys, args=[incident, chunk], client=pipe)
            results = await pipe.execute()
        return ["not_assigned" if int(r) == 0 else "watched" if int(r) > 1 else "unwatched" for r in results]

    # Incidents ----------
    async def put_incident(
        self, *, incident: int, state: bytes, event: bytes, unit: str | None, destination: str | None
    ) -> str | None:
        """Store the incident's state and push it to the unit and to the feeds it concerns.

        A new destination receives the incident's whole history first; a former destination receives this last
        state (so its dashboard knows the patient is no longer coming) and nothing after it.
        """
        keys = [_key("incident", incident), _key("incident", incident, "events")]
        args: list[bytes | str | int] = [state, event, unit or "", destination or "", incident]
        return _bytes(await self._put_incident(keys=keys, args=args)).decode() or None

    async def incident_state(self, incident: int) -> bytes | None:
        return _optional(await self.redis.hget(_key("incident", incident), "state"))

    async def units(self, region: str) -> list[tuple[str, bytes | None, bytes | None, bytes | None]]:
        """Every unit of the region that has reported: (unit, incident, position JSON, status JSON)."""
        keys = sorted(_bytes(k).decode() for k in await self.redis.smembers(_key("region", region, "units")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, ["incident", "position", "status"])
            rows = await pipe.execute()
        return [
            (key.removeprefix(_key("unit", "")), _optional(incident), _optional(position), _optional(status))
            for key, (incident, position, status) in zip(keys, rows, strict=True)
        ]

    async def unit_incident(self, unit: str) -> int | None:
        value = await self.redis.hget(_key("unit", unit), "incident")
        return int(value) if value else None

    async def activate(self, region: str, incident: int, active: bool) -> None:
        key = _key("region", region, "active")
        await (self.redis.sadd(key, incident) if active else self.redis.srem(key, incident))

    async def active_incidents(self, region: str) -> list[int]:
        members = await self.redis.smembers(_key("region", region, "active"))
        return sorted(int(m) for m in members)

    async def incident_inputs(self, incident: int) -> tuple[bytes | None, bytes | None]:
        """The incident's state and merged latest state (JSON), for recomputing its recommendation."""
        state, latest = await self.redis.hmget(_key("incident", incident), ["state", "latest"])
        return _optional(state), _optional(latest)

    async def swap_recommendation(
        self, region: str, incident: int, *, recommendation: bytes, top: str, fingerprint: str, update: bytes
    ) -> str | None:
        """Store the incident's recommendation; publish ``update`` to the dispatchers if it changed. Returns the
        previous top choice. Atomic, so two processes recomputing at once publish a change once."""
        keys = [_key("incident", incident), dispatch_key(region)]
        args: list[bytes | str | int] = [recommendation, top, fingerprint, update]
        previous_top, _ = (_bytes(v).decode() for v in await self._swap_recommendation(keys=keys, args=args))
        return previous_top or None

    async def put_ed_event(
        self, *, incident: int, hospital: str, event: bytes, field: str = "", value: bytes = b""
    ) -> bool:
        """Append an event of the receiving ED (acknowledgement, handover) to the incident's stream and the hospital's
        feed, and keep ``field`` on the incident; False (nothing done) if the incident is not inbound to it."""
        keys = [_key("incident", incident), _key("incident", incident, "events")]
        args: list[bytes | str | int] = [hospital, event, field, value]
        return bool(await self._ed_event(keys=keys, args=args))

    async def incident_field(self, incident: int, field: str) -> bytes | None:
        return _optional(await self.redis.hget(_key("incident", incident), field))

    async def recommendation_top(self, incident: int) -> str | None:
        top = _optional(await self.redis.hget(_key("incident", incident), "top"))
        return top.decode() or None if top is not None else None

    async def recommendation(self, incident: int) -> bytes | None:
        return _optional(await self.redis.hget(_key("incident", incident), "recommendation"))

    async def notify_unit(self, unit: str, kind: str, incident: int) -> None:
        await self.redis.publish(_key("unit", unit, "notify"), f"{kind}:{incident}")

    # Hospital status ----------
    async def statuses(self, region: str) -> dict[str, bytes]:
        raw = await self.redis.hgetall(_key("region", region, "status"))
        return {_bytes(k).decode(): _bytes(v) for k, v in raw.items()}

    async def put_status(self, region: str, hospital: str, status: bytes, update: bytes) -> None:
        """Store a hospital's status and tell the dispatchers, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key("region", region, "status"), hospital, status)
            pipe.xadd(dispatch_key(region), {"e": update})
            await pipe.execute()

    # Feeds ----------
    async def stream_tail(self, key: str) -> str:
        """The id of the newest entry of the stream, or 0-0."""
        newest = await self.redis.xrevrange(key, count=1)
        return entries_of(newest)[0][0] if newest else "0-0"

    async def stream_after(self, key: str, after: str, count: int = 1000) -> list[FeedEntry]:
        """Entries strictly after ``after``, oldest first."""
        return entries_of(await self.redis.xrange(key, min=f"({after}", count=count))

    async def stream_trimmed(self, key: str) -> str:
        """The id below which the stream was trimmed (a resume from before it would have a gap)."""
        value = _optional(await self.redis.get(f"{key}:trimmed"))
        return value.decode() if value else "0-0"

    async def trim_stream(self, key: str, min_id: str) -> None:
        """Forget entries older than ``min_id`` and remember that we did, so a resume from before it is refused."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xtrim(key, minid=min_id)
            pipe.set(f"{key}:trimmed", min_id)
            await pipe.execute()

    async def ping(self) -> bool:
        return bool(await self.redis.ping())


class _HandedOver(msgspec.Struct):
    transferred_at: datetime
