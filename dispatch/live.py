"""Redis adapter: the live state every process shares, and the streams that feed the dashboards.

Keys (all prefixed ``pa:``, each with a hash tag in braces: the keys of one unit, one incident, one hospital or one
region live on one Redis Cluster shard, and no command or script spans two tags):
- ``{unit:u}`` hash: ``seq`` (highest seq claimed), ``incident``, ``position``, ``status``;
  ``{unit:u}:uid:{uid}`` the seq a message's idempotency key was claimed under (kept a week);
  ``{unit:u}:incidents`` set: every incident the unit was ever assigned (a tablet may only write to those);
  ``{unit:u}:pending`` hash: seq -> when its fan-out began, until it ends (see ``Live.ingest``);
- ``{incident:n}`` hash: ``state`` (IncidentState JSON), ``destination``, ``latest`` (merged latest vitals JSON),
  ``recommendation`` and its ``top`` and ``fingerprint``; ``{incident:n}:events`` stream: every event of the incident;
- ``{hospital:h}:feed`` stream: every event of every patient inbound to hospital h, in order; its ids are the
  dashboards' resume points; ``{hospital:h}:feed:trimmed`` the id below which the feed was trimmed;
- ``{region:r}:status`` hash: every hospital's ED status (JSON); ``{region:r}:active`` set: open incidents;
  ``{region:r}:units`` set of the units that reported; ``{region:r}:units:feed`` stream of ``unit`` updates
  (position, status) for the dispatchers' map, kept ``units_retention``; ``{region:r}:events`` stream: every tablet
  event of every open incident of the region (the dispatchers' "see everything" feed), capped at about
  REGION_EVENTS_KEPT entries; ``{region:r}:dispatch`` stream: what the dispatchers' consoles follow (hospital status
  changes, recommendation changes), resumable like a hospital feed.
Channels (pub/sub, not keys; a Cluster delivers them on every node):
- ``pa:incident:n:strip``: live waveform chunks of the incident (nothing is kept);
- ``pa:unit:u:notify``: ``assignment:<incident>``, ``recommendation:<incident>``, ``ack:<incident>`` or
  ``patient:<incident>`` (a vitals set or an assessment of the unit's patient was fanned out).

A change that touches several tags is a script per tag, run in a fixed order: the tag that decides (the unit's claim
of a seq, the incident's destination) first, then the streams it feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import msgspec
from redis.asyncio.cluster import RedisCluster

from dispatch.redis_client import RedisClient

PREFIX: Final = "pa:"
MARKER: Final = "pa:{live}:built"  # the live state is there (dispatch.rebuild)
REBUILD_LOCK: Final = "pa:{live}:rebuilding"  # a process is rebuilding it: tablet messages wait
REBUILD_WAIT_S: Final = 60.0
RUNS: Final = "pa:{live}:runs"  # the Redis run ids the live state was last made for
REGION_EVENTS_KEPT: Final = 100_000  # the dispatchers' everything-feed: enough for minutes at a big city's peak
PENDING_KEPT_S: Final = 24 * 3600
# A fan-out on a Cluster takes milliseconds; one whose mark is older than this was cut short (its process died or
# stalled), and a resend takes it over. A resend that finds a younger mark waits for it.
FANOUT_LEASE_MS: Final = 2_000
IN_FLIGHT_POLL_MS: Final = 20

# The unit's claim of a seq (and of a uid), on the unit's shard. The pending mark holds when its fan-out began, by
# Redis's own clock (one clock for every process). A resend that finds the mark finds either a fan-out still running
# (``in_flight``, with the ms left of its lease: wait, then claim again) or one whose process died or gave it up (older
# than the lease, or set to 0): it takes that fan-out over, renewing the mark so that only one resend does, and
# finishes it (``resume``).
_CLAIM: Final = """
local unit_key, incidents_key, uid_key, pending_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seq, incident, unit_field, unit_value, uid, ttl =
    tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local function unfinished(claimed)
    local since = redis.call('HGET', pending_key, claimed)
    if not since then return nil end
    local left = tonumber(since) + @LEASE@ - now
    if left > 0 then return {'in_flight', tostring(left)} end
    redis.call('HSET', pending_key, claimed, now)
    return {'resume', claimed}
end
if uid ~= '' then
    local claimed = redis.call('GET', uid_key)
    if claimed then return unfinished(claimed) or {'duplicate', claimed} end
end
local last = tonumber(redis.call('HGET', unit_key, 'seq') or '0')
if seq <= last then
    if uid ~= '' then return {'seq_taken', tostring(last)} end
    return unfinished(tostring(seq)) or {'repeat', ''}
end
if incident ~= '' and redis.call('SISMEMBER', incidents_key, incident) == 0 then return {'not_assigned', ''} end
redis.call('HSET', unit_key, 'seq', seq)
if uid ~= '' then redis.call('SET', uid_key, seq, 'EX', ttl) end
if unit_field ~= '' then redis.call('HSET', unit_key, unit_field, unit_value) end
if incident ~= '' or unit_field ~= '' then
    redis.call('HSET', pending_key, seq, now)
    redis.call('EXPIRE', pending_key, @KEPT@)
end
return {'ok', tostring(seq)}
""".replace("@KEPT@", str(PENDING_KEPT_S)).replace("@LEASE@", str(FANOUT_LEASE_MS))

# The event on the incident's shard, and the notice to the unit's tablets (a channel is no key: a script may publish
# to any); returns where the incident is going.
_APPEND: Final = """
redis.call('XADD', KEYS[2], '*', 'e', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'latest', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return redis.call('HGET', KEYS[1], 'destination') or ''
"""

# On a single Redis the same steps are one script (atomic: no pending mark needed, one round trip). It names the
# destination's feed itself, which only a single Redis allows.
_INGEST_ONE: Final = """
local unit_key, incidents_key, uid_key, incident_key, events_key, region_events, units_key, units_feed, rebuilding =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local seq, incident, unit_field, unit_value, uid, ttl, event, latest, channel, notice, unit, unit_update =
    tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9], ARGV[10],
    ARGV[11], ARGV[12]
if redis.call('EXISTS', rebuilding) == 1 then return {'rebuilding', '', '', ''} end
if uid ~= '' then
    local claimed = redis.call('GET', uid_key)
    if claimed then return {'duplicate', claimed, '', ''} end
end
local last = tonumber(redis.call('HGET', unit_key, 'seq') or '0')
if seq <= last then
    if uid ~= '' then return {'seq_taken', tostring(last), '', ''} end
    return {'repeat', '', '', ''}
end
if incident ~= '' and redis.call('SISMEMBER', incidents_key, incident) == 0 then return {'not_assigned', '', '', ''} end
redis.call('HSET', unit_key, 'seq', seq)
if uid ~= '' then redis.call('SET', uid_key, seq, 'EX', ttl) end
if unit_field ~= '' then
    redis.call('HSET', unit_key, unit_field, unit_value)
    redis.call('SADD', units_key, unit)
    redis.call('XADD', units_feed, '*', 'e', unit_update)
end
if incident == '' then return {'ok', tostring(seq), '', ''} end
redis.call('XADD', events_key, '*', 'e', event)
if latest ~= '' then redis.call('HSET', incident_key, 'latest', latest) end
if channel ~= '' then redis.call('PUBLISH', channel, notice) end
redis.call('XADD', region_events, 'MAXLEN', '~', @KEPT@, '*', 'e', event)
local dest = redis.call('HGET', incident_key, 'destination')
if not dest then return {'ok', tostring(seq), '', ''} end
return {'ok', tostring(seq), dest, redis.call('XADD', 'pa:{hospital:' .. dest .. '}:feed', '*', 'e', event)}
""".replace("@KEPT@", str(REGION_EVENTS_KEPT))

# The incident's new state on its shard; returns the former destination and, for a new one, the whole history.
_PUT_INCIDENT: Final = """
local incident_key, events_key = KEYS[1], KEYS[2]
local state, event, destination = ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', incident_key, 'destination') or ''
redis.call('HSET', incident_key, 'state', state)
redis.call('XADD', events_key, '*', 'e', event)
local history = {}
if destination ~= '' then
    redis.call('HSET', incident_key, 'destination', destination)
    if old ~= destination then
        for _, entry in ipairs(redis.call('XRANGE', events_key, '-', '+')) do table.insert(history, entry[2][2]) end
    end
end
return {old, history}
"""

_SWAP_RECOMMENDATION: Final = """
local incident_key = KEYS[1]
local recommendation, top, fingerprint = ARGV[1], ARGV[2], ARGV[3]
local previous = redis.call('HMGET', incident_key, 'top', 'fingerprint')
redis.call('HSET', incident_key, 'recommendation', recommendation, 'top', top, 'fingerprint', fingerprint)
return {previous[1] or '', previous[2] or ''}
"""

# An ED's event on the incident's shard, only if the incident is going to that ED.
_ED_EVENT: Final = """
local incident_key, events_key = KEYS[1], KEYS[2]
local hospital, event, field, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', incident_key, 'destination') ~= hospital then return 0 end
redis.call('XADD', events_key, '*', 'e', event)
if field ~= '' then redis.call('HSET', incident_key, field, value) end
return 1
"""

# A history made again from the record, appended to a feed in one step with the feed's ``trimmed`` mark moved to its
# last entry: a screen that resumes from anything before it (it saw the old history, or live events that came
# between) is told ``reset``, and no follower can read the entries before the mark is there. Each entry carries the
# rebuild's mark (``REBUILT``) so that followers restart their subscribers once.
_RESTORE_FEED: Final = """
local feed, trimmed = KEYS[1], KEYS[2]
local mark = ARGV[1]
local last = nil
for i = 2, #ARGV do last = redis.call('XADD', feed, '*', 'e', ARGV[i], 'm', mark) end
if last then redis.call('SET', trimmed, last) end
return last
"""

Verdict = Literal["ok", "repeat", "duplicate", "seq_taken", "not_assigned"]
_CLAIMS: Final = frozenset(("ok", "repeat", "duplicate", "seq_taken", "not_assigned", "resume"))
UID_TTL_S: Final = 7 * 24 * 3600  # a tablet's outbox is resent within this; PostgreSQL's unique index holds beyond


@dataclass(frozen=True, slots=True)
class Fanout:
    """``repeat``: this seq was fanned out already; ``duplicate``: this uid was; ``seq_taken``: the seq is used by
    another message of the unit (``last_seq`` is the unit's highest); ``resumed``: a fan-out whose process died
    midway was finished by this resend."""

    verdict: Verdict
    hospital: str | None = None
    feed_id: str | None = None
    last_seq: int | None = None
    resumed: bool = False


FeedEntry = tuple[str, bytes]  # (stream id, event JSON)
# The field of a feed entry that a rebuild wrote, naming that rebuild: a follower that meets a new one is reading a
# history made again, not new events, and restarts its subscribers once (``streams.StreamFollower``).
REBUILT: Final = "m"


def _bytes(value: object) -> bytes:
    """A Redis reply that must be bytes (the client is not decoding)."""
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes from Redis, got {type(value).__name__}")
    return value


def _optional(value: object) -> bytes | None:
    return None if value is None else _bytes(value)


def rebuilt_mark(fields: dict[bytes, Any]) -> str | None:
    """The rebuild mark of a feed entry's fields, if a rebuild wrote it."""
    mark = fields.get(REBUILT.encode())
    return None if mark is None else _bytes(mark).decode()


def entry_of(entry_id: object, fields: dict[bytes, Any]) -> FeedEntry:
    """One stream entry of an XRANGE or XREAD reply, as (id, event JSON)."""
    return _bytes(entry_id).decode(), _bytes(fields[b"e"])


def entries_of(reply: Any) -> list[FeedEntry]:
    """Stream entries from an XRANGE or XREAD reply, as (id, event JSON)."""
    return [entry_of(entry_id, fields) for entry_id, fields in reply]


def _key(kind: str, name: object, *rest: object) -> str:
    """``pa:{kind:name}:rest...``: the braces are the Cluster hash tag."""
    return PREFIX + "{" + f"{kind}:{name}" + "}" + "".join(f":{part}" for part in rest)


def unit_key(unit: str, *rest: object) -> str:
    return _key("unit", unit, *rest)


def incident_key(incident: int | str, *rest: object) -> str:
    return _key("incident", incident, *rest)


def feed_key(hospital: str) -> str:
    return _key("hospital", hospital, "feed")


def region_key(region: str, *rest: object) -> str:
    return _key("region", region, *rest)


def dispatch_key(region: str) -> str:
    return region_key(region, "dispatch")


def region_events_key(region: str) -> str:
    return region_key(region, "events")


def units_feed_key(region: str) -> str:
    return region_key(region, "units", "feed")


def strip_channel(incident: int) -> str:
    return f"{PREFIX}incident:{incident}:strip"


def notify_channel(unit: str) -> str:
    return f"{PREFIX}unit:{unit}:notify"


NOTIFY_PATTERN: Final = f"{PREFIX}unit:*:notify"


class Live:
    def __init__(self, redis: RedisClient, *, readers: RedisClient | None = None) -> None:
        """``readers``: the connections the feeds' blocking reads hold, one per followed stream, kept apart so that
        they never starve the pool the tablets' writes share."""
        self.redis = redis
        self.readers = readers or redis
        self._claim = redis.register_script(_CLAIM)
        self._append = redis.register_script(_APPEND)
        self._ingest_one = redis.register_script(_INGEST_ONE)
        self.cluster = isinstance(redis, RedisCluster)
        self._put_incident = redis.register_script(_PUT_INCIDENT)
        self._swap_recommendation = redis.register_script(_SWAP_RECOMMENDATION)
        self._ed_event = redis.register_script(_ED_EVENT)
        self._restore_feed = redis.register_script(_RESTORE_FEED)

    # Tablet events ----------
    async def incident_context(self, incident: int) -> tuple[bytes | None, str | None]:
        """The incident's merged latest vitals (JSON) and its destination."""
        latest, destination = await self.redis.hmget(incident_key(incident), ["latest", "destination"])
        return _optional(latest), _bytes(destination).decode() if destination else None

    async def ed_view(self, incident: int) -> tuple[str | None, datetime | None]:
        """The incident's destination, and when the ED took the patient over (None: not yet)."""
        destination, handover = await self.redis.hmget(incident_key(incident), ["destination", "handover"])
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
        streams; ``notify`` (e.g. ``patient``) is published to the unit's tablets with the incident number.

        On a single Redis this is one atomic script. On a Cluster it is three steps, one per shard: the unit's claim
        of the seq (which marks the fan-out pending), the incident's stream (which says where the incident is going),
        then the region's and the destination's streams and the end of the pending mark, in one pipeline. A process
        killed between the claim and the end leaves the mark: the tablet, unacked, resends, and a resend that finds
        the mark waits while the fan-out may still run (``FANOUT_LEASE_MS`` from its start, or until its process
        gives it up after a failed Redis call), then takes it over and finishes it. A resend on a new socket while the
        first socket's fan-out runs (a link cut mid-message) therefore waits for it and adds nothing. Only a fan-out
        cut short after it reached some streams, or stalled past its lease, can leave an event twice in a stream; the
        dashboards drop a (unit, seq) they have. Nothing claimed is left out of the feeds.
        """
        inc = "" if incident is None else str(incident)
        channel, notice = (
            (notify_channel(unit), f"{notify}:{incident}") if notify and incident is not None else ("", "")
        )
        if not self.cluster:
            keys = [unit_key(unit), unit_key(unit, "incidents"), unit_key(unit, "uid", uid or ""), incident_key(inc),
                    incident_key(inc, "events"), region_events_key(region), region_key(region, "units"),
                    units_feed_key(region), REBUILD_LOCK]  # fmt: skip
            args: list[bytes | str | int] = [seq, inc, unit_field, unit_value, uid or "", UID_TTL_S, event,
                                             latest or b"", channel, notice, unit, unit_update]  # fmt: skip
            waited = 0.0
            while True:  # a rebuild of the live state is under way: wait for it (the socket waits; nothing is lost)
                reply = await self._ingest_one(keys=keys, args=args)
                verdict, second, hospital, feed_id = (_bytes(v).decode() for v in reply)
                if verdict != "rebuilding" or waited > REBUILD_WAIT_S:
                    break
                await asyncio.sleep(0.05)
                waited += 0.05
            if verdict == "seq_taken":
                return Fanout(verdict="seq_taken", last_seq=int(second))
            if verdict not in _CLAIMS:
                raise ValueError(f"unexpected ingest verdict {verdict!r}")
            return Fanout(verdict=verdict, hospital=hospital or None, feed_id=feed_id or None)  # type: ignore[arg-type]
        claim_keys = [unit_key(unit), unit_key(unit, "incidents"), unit_key(unit, "uid", uid or ""),
                      unit_key(unit, "pending")]  # fmt: skip
        claim_args: list[bytes | str | int] = [seq, inc, unit_field, unit_value, uid or "", UID_TTL_S]
        while True:  # a fan-out of this message still running (another socket of the tablet): wait for its end
            verdict, claimed = (_bytes(v).decode() for v in await self._claim(keys=claim_keys, args=claim_args))
            if verdict != "in_flight":
                break
            await asyncio.sleep(min(int(claimed), IN_FLIGHT_POLL_MS) / 1000)
        if verdict not in _CLAIMS:
            raise ValueError(f"unexpected claim verdict {verdict!r}")
        if verdict == "seq_taken":
            return Fanout(verdict="seq_taken", last_seq=int(claimed))
        if verdict not in ("ok", "resume"):
            return Fanout(verdict=verdict)  # type: ignore[arg-type]
        try:
            going_to, added = await self._fan_out(unit, incident, region, event, latest, channel, notice, unit_field,
                                                   unit_update, claimed)  # fmt: skip
        except Exception:
            # give the fan-out up at once, so that the tablet's resend takes it over without waiting for the lease
            with contextlib.suppress(Exception):
                await self.redis.hset(unit_key(unit, "pending"), claimed, 0)
            raise
        return Fanout(verdict="ok", hospital=going_to, feed_id=added, resumed=verdict == "resume")

    async def _fan_out(
        self,
        unit: str,
        incident: int | None,
        region: str,
        event: bytes,
        latest: bytes | None,
        channel: str,
        notice: str,
        unit_field: str,
        unit_update: bytes,
        claimed: str,
    ) -> tuple[str | None, str | None]:
        """A Cluster's second and third steps (``ingest``): the destination and the feed id the event got there."""
        destination = ""
        if incident is not None:
            keys = [incident_key(incident), incident_key(incident, "events")]
            reply = await self._append(keys=keys, args=[event, latest or b"", channel, notice])
            destination = _bytes(reply).decode()
        async with self.redis.pipeline(transaction=False) as pipe:
            feed_at: int | None = None
            if incident is not None:
                pipe.xadd(region_events_key(region), {"e": event}, maxlen=REGION_EVENTS_KEPT, approximate=True)
                if destination:
                    feed_at = len(pipe)
                    pipe.xadd(feed_key(destination), {"e": event})
            if unit_field:
                pipe.sadd(region_key(region, "units"), unit)
                pipe.xadd(units_feed_key(region), {"e": unit_update})
            if incident is not None or unit_field:
                pipe.hdel(unit_key(unit, "pending"), claimed)
            results = await pipe.execute() if len(pipe) else []
        return destination or None, (_bytes(results[feed_at]).decode() if feed_at is not None else None)

    async def publish_strips(self, chunks: list[tuple[str, int, bytes]]) -> list[str]:
        """Publish live waveform chunks (unit, incident, encoded chunk) to whoever watches each incident now; nothing
        is kept. Per chunk: ``watched``, ``unwatched`` or ``not_assigned`` (not the unit's): one pipeline asks whether
        each incident is its unit's, then the chunks that are go out together. In a Cluster ``watched`` counts this
        node's subscribers only."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for unit, incident, _ in chunks:
                pipe.sismember(unit_key(unit, "incidents"), str(incident))
            assigned = [bool(r) for r in await pipe.execute()]
        mine = [(incident, chunk) for (_, incident, chunk), ok in zip(chunks, assigned, strict=True) if ok]
        if isinstance(self.redis, RedisCluster):  # a Cluster pipeline cannot carry PUBLISH: one call each, together
            counts = await asyncio.gather(*(self.redis.publish(strip_channel(i), c) for i, c in mine))
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                for incident, chunk in mine:
                    pipe.publish(strip_channel(incident), chunk)
                counts = await pipe.execute() if mine else []
        receivers = iter(counts)
        return [("watched" if int(next(receivers)) > 0 else "unwatched") if ok else "not_assigned" for ok in assigned]

    # Incidents ----------
    async def put_incident(
        self, *, incident: int, state: bytes, event: bytes, unit: str | None, destination: str | None
    ) -> str | None:
        """Store the incident's state and push it to the unit and to the feeds it concerns.

        A new destination receives the incident's whole history first; a former destination receives this last
        state (so its dashboard knows the patient is no longer coming) and nothing after it. The caller holds the
        incident's row lock, so two changes of one incident reach Redis in order.
        """
        if unit:
            async with self.redis.pipeline(transaction=True) as pipe:  # the unit's shard: it may write to it now
                pipe.sadd(unit_key(unit, "incidents"), str(incident))
                pipe.hset(unit_key(unit), "incident", str(incident))
                await pipe.execute()
        keys = [incident_key(incident), incident_key(incident, "events")]
        raw_old, history = await self._put_incident(keys=keys, args=[state, event, destination or ""])
        old = _bytes(raw_old).decode()
        async with self.redis.pipeline(transaction=False) as pipe:
            if old and old != destination:
                pipe.xadd(feed_key(old), {"e": event})
            if destination:
                for entry in history if old != destination else [event]:
                    pipe.xadd(feed_key(destination), {"e": entry})
            if len(pipe):
                await pipe.execute()
        if unit:
            await self.notify_unit(unit, "assignment", incident)
        return old or None

    async def incident_state(self, incident: int) -> bytes | None:
        return _optional(await self.redis.hget(incident_key(incident), "state"))

    async def units(self, region: str) -> list[tuple[str, bytes | None, bytes | None, bytes | None]]:
        """Every unit of the region that has reported: (unit, incident, position JSON, status JSON)."""
        units = sorted(_bytes(u).decode() for u in await self.redis.smembers(region_key(region, "units")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for unit in units:
                pipe.hmget(unit_key(unit), ["incident", "position", "status"])
            rows = await pipe.execute() if units else []
        return [
            (unit, _optional(incident), _optional(position), _optional(status))
            for unit, (incident, position, status) in zip(units, rows, strict=True)
        ]

    async def unit_incident(self, unit: str) -> int | None:
        value = await self.redis.hget(unit_key(unit), "incident")
        return int(value) if value else None

    async def activate(self, region: str, incident: int, active: bool) -> None:
        key = region_key(region, "active")
        await (self.redis.sadd(key, incident) if active else self.redis.srem(key, incident))

    async def active_incidents(self, region: str) -> list[int]:
        members = await self.redis.smembers(region_key(region, "active"))
        return sorted(int(m) for m in members)

    async def incident_inputs(self, incident: int) -> tuple[bytes | None, bytes | None]:
        """The incident's state and merged latest state (JSON), for recomputing its recommendation."""
        state, latest = await self.redis.hmget(incident_key(incident), ["state", "latest"])
        return _optional(state), _optional(latest)

    async def swap_recommendation(
        self, region: str, incident: int, *, recommendation: bytes, top: str, fingerprint: str, update: bytes
    ) -> str | None:
        """Store the incident's recommendation; publish ``update`` to the dispatchers if it changed. Returns the
        previous top choice. The swap is atomic, so two processes recomputing at once publish a change once."""
        args: list[bytes | str | int] = [recommendation, top, fingerprint]
        reply = await self._swap_recommendation(keys=[incident_key(incident)], args=args)
        previous_top, previous_fingerprint = (_bytes(v).decode() for v in reply)
        if previous_fingerprint != fingerprint:
            await self.redis.xadd(dispatch_key(region), {"e": update})
        return previous_top or None

    async def put_ed_event(
        self, *, incident: int, hospital: str, event: bytes, field: str = "", value: bytes = b""
    ) -> bool:
        """Append an event of the receiving ED (acknowledgement, handover) to the incident's stream and the hospital's
        feed, and keep ``field`` on the incident; False (nothing done) if the incident is not inbound to it."""
        keys = [incident_key(incident), incident_key(incident, "events")]
        args: list[bytes | str | int] = [hospital, event, field, value]
        if not await self._ed_event(keys=keys, args=args):
            return False
        await self.redis.xadd(feed_key(hospital), {"e": event})
        return True

    async def incident_field(self, incident: int, field: str) -> bytes | None:
        return _optional(await self.redis.hget(incident_key(incident), field))

    async def recommendation_top(self, incident: int) -> str | None:
        top = _optional(await self.redis.hget(incident_key(incident), "top"))
        return top.decode() or None if top is not None else None

    async def recommendation(self, incident: int) -> bytes | None:
        return _optional(await self.redis.hget(incident_key(incident), "recommendation"))

    async def notify_unit(self, unit: str, kind: str, incident: int) -> None:
        await self.redis.publish(notify_channel(unit), f"{kind}:{incident}")

    # Rebuilt from the record (dispatch.rebuild) ----------
    async def mark_trimmed(self, key: str, min_id: str, *, drop: bool = False) -> None:
        """Record that the stream holds nothing before ``min_id`` (a resume from before it is told ``reset``), and
        with ``drop`` forget what it held before it."""
        if drop:
            await self.trim_stream(key, min_id)
        else:
            await self.redis.set(f"{key}:trimmed", min_id)

    async def runs(self) -> str:
        """The Redis run ids the live state was last made (or its streams remade) for."""
        return (_optional(await self.redis.get(RUNS)) or b"").decode()

    async def set_runs(self, runs: str) -> None:
        await self.redis.set(RUNS, runs)

    async def server_ids(self) -> frozenset[str]:
        """The run ids of the Redis servers: a new one means a server restarted."""
        info: dict[str, Any] = await self.redis.info("server")
        if "run_id" in info:
            return frozenset([str(info["run_id"])])
        return frozenset(str(node["run_id"]) for node in info.values() if isinstance(node, dict))

    async def restore_statuses(self, region: str, statuses: dict[str, bytes]) -> None:
        """Each hospital's status, unless a newer one was set meanwhile."""
        for hospital, status in statuses.items():
            await self.redis.hsetnx(region_key(region, "status"), hospital, status)

    async def restore_unit(
        self, region: str, unit: str, *, seq: int, position: bytes | None, status: bytes | None
    ) -> None:
        """The unit's highest stored seq (raised, never lowered) and its last position and status (unless newer)."""
        async with self.redis.pipeline(transaction=True) as pipe:  # the unit's shard
            pipe.hsetnx(unit_key(unit), "seq", seq)
            for field, value in (("position", position), ("status", status)):
                if value is not None:
                    pipe.hsetnx(unit_key(unit), field, value)
            await pipe.execute()
        if int(await self.redis.hget(unit_key(unit), "seq") or 0) < seq:
            await self.redis.hset(unit_key(unit), "seq", seq)
        if position is not None or status is not None:
            await self.redis.sadd(region_key(region, "units"), unit)

    async def restore_incident(
        self,
        region: str,
        *,
        incident: int,
        state: bytes,
        destination: str | None,
        unit: str | None,
        latest: bytes | None,
        entries: list[bytes],
        mark: str,
        force: bool = False,
    ) -> bool:
        """An open incident as the record has it, unless Redis has it already: its state and events stream, the
        destination's feed with its whole history, its unit's right to write to it, and the active set. The feed is
        marked trimmed at the history's last entry, in the same step (``_RESTORE_FEED``): its screens were shown what
        came before, and start over rather than receive the history again as if it were new; ``mark`` names this
        rebuild in each entry. ``force``: even if Redis has it (its streams are made again)."""
        if unit:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(unit_key(unit, "incidents"), str(incident))
                pipe.hsetnx(unit_key(unit), "incident", str(incident))
                await pipe.execute()
        if not await self.redis.hsetnx(incident_key(incident), "state", state) and not force:
            return False  # there already (another process restored it, or it was never lost)
        async with self.redis.pipeline(transaction=True) as pipe:
            if force:
                pipe.delete(incident_key(incident, "events"))
            if destination:
                pipe.hset(incident_key(incident), "destination", destination)
            if latest:
                pipe.hset(incident_key(incident), "latest", latest)
            for entry in entries:
                pipe.xadd(incident_key(incident, "events"), {"e": entry})
            await pipe.execute()
        if destination:
            feed = feed_key(destination)
            await self._restore_feed(keys=[feed, f"{feed}:trimmed"], args=[mark, *entries])
        await self.activate(region, incident, True)
        return True

    # Hospital status ----------
    async def statuses(self, region: str) -> dict[str, bytes]:
        raw = await self.redis.hgetall(region_key(region, "status"))
        return {_bytes(k).decode(): _bytes(v) for k, v in raw.items()}

    async def put_status(self, region: str, hospital: str, status: bytes, update: bytes) -> None:
        """Store a hospital's status and tell the dispatchers, atomically."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(region_key(region, "status"), hospital, status)
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
