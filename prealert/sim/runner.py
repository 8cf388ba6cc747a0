"""Drives a running service with a simulated city: the dispatcher, the crews' tablets (and their monitors), the EDs.

Everything goes through the public API and the wire protocol, as real clients would: incidents are created and
assigned over HTTP by a dispatcher token, each ambulance's tablet is a ``TabletClient`` (outbox, seq, uid), the EDs
acknowledge and hand over through the gateway, and their status drifts through the status API.

Times: the schedule runs on a simulation clock (``speed`` simulated seconds per wall second); every time on the wire
is the wall clock (the server refuses times far from its own), so at speed 20 a 15-minute scene takes 45 s of wall
time and its messages are stamped with those 45 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from dispatch import tokens
from dispatch.protocol import ECG_LEADS
from dispatch.region import Region
from dispatch.roads import TravelTimes
from prealert.client import TabletClient
from prealert.sim import city, patients, stations
from prealert.sim.city import Condition, Fix, Route
from prealert.sim.summary import PatientRecord, Summary, summarise
from prealert.waveforms import ecg

log = logging.getLogger("prealert.sim")


@dataclass(frozen=True)
class SimConfig:
    units: int = 12
    rate_per_hour: float = city.DEFAULT_RATE_PER_HOUR
    minutes: float = 60.0  # incidents arrive during this many simulated minutes; patients under way then finish
    speed: float = 1.0
    seed: int | None = None
    mix: Mapping[Condition, float] = field(default_factory=lambda: dict(city.DEFAULT_MIX))
    on_scene_min: tuple[float, float] = (10.0, 20.0)
    offload_min: tuple[float, float] = (8.0, 25.0)
    ack_after_min: tuple[float, float] = (0.5, 3.0)
    position_every_s: float = 5.0
    monitor_every_s: float = 3.0
    manual_every_min: float = 4.0
    drift_every_min: float = 5.0
    diversion_chance: float = 0.03  # per hospital per drift step
    drain_max_min: float = 120.0  # after the arrivals stop, the longest the run waits for patients under way
    waveforms: bool = True  # live strips (real time only) and 12-leads


class Clock:
    """Simulation seconds since the start, at ``speed`` per wall second."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    async def until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, (t - self.now()) / self.speed))

    async def wait(self, seconds: float) -> None:
        await self.until(self.now() + seconds)


def wall() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Unit:
    name: str
    station: tuple[float, float]
    tablet: TabletClient  # the crew's tablet; the monitor is paired with it and sends through it
    route: Route
    busy: bool = False
    jobs: asyncio.Queue[PatientRecord] = field(default_factory=asyncio.Queue)

    def fix(self, t: float) -> Fix:
        return self.route.at(t)


class Simulation:
    def __init__(
        self,
        *,
        http: str,
        ws: str,
        secret: str,
        region: Region,
        travel: TravelTimes,
        config: SimConfig,
        prefix: str = "M",
    ) -> None:
        self.config = config
        self.region = region
        self.travel = travel
        self.rng = random.Random(config.seed)  # noqa: S311 - a simulation's dice, seeded for repeatable runs
        self.clock = Clock(config.speed)
        self.http = httpx.AsyncClient(base_url=http, timeout=30)
        self.ws = ws
        self.secret = secret
        self.prefix = prefix
        self.series = patients.load_series()
        self.records: list[PatientRecord] = []
        self.units: list[Unit] = []
        self.stopping = False
        self.drifts = 0
        self.diversions = 0
        self.errors: list[str] = []
        self._assignments: set[asyncio.Task[None]] = set()
        self.interrupted = False

    # Credentials -----------------------------------------------------------------------------------------------
    def _token(self, role: tokens.Role, scope: str) -> str:
        return tokens.issue(
            self.secret, role=role, scope=scope, subject=f"sim-{role}", now=int(time.time()), ttl_s=12 * 3600
        )

    async def _call(self, method: str, path: str, token: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body, headers={"authorization": f"Bearer {token}"})
        if not response.is_success:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response.json()

    async def dispatcher(self, method: str, path: str, body: Any = None) -> Any:
        return await self._call(method, path, self._token("dispatcher", self.region.name), body)

    async def ed(self, hospital: str, method: str, path: str, body: Any = None) -> Any:
        return await self._call(method, f"/v1/hospitals/{hospital}{path}", self._token("ed_charge", hospital), body)

    # The run ---------------------------------------------------------------------------------------------------
    async def run(self) -> Summary:
        graph = self.travel.graph
        sites = stations.place(graph, max(1, (self.config.units + 1) // 2), self.rng)
        stamp = f"{self.prefix}{self.rng.randrange(10_000):04d}"
        for i in range(self.config.units):
            name = f"{stamp}-{i + 1:02d}"
            site = sites[i % len(sites)]
            token = self._token("paramedic", name)
            unit = Unit(
                name=name,
                station=site,
                tablet=TabletClient(self.ws, name, token),
                route=Route(points=[(*site, 0.0)], start_s=0.0),
            )
            await unit.tablet.connect()
            self.units.append(unit)
        background = [asyncio.create_task(self._report_positions(u)) for u in self.units]
        background.append(asyncio.create_task(self._drift()))
        crews = [asyncio.create_task(self._crew(u)) for u in self.units]
        try:
            await self._dispatch()
            await self._drain()
        except asyncio.CancelledError:  # Ctrl-C: stop, drain the outboxes, and say what was done
            self.interrupted = True
        finally:
            self.stopping = True
            for task in [*background, *crews]:
                task.cancel()
            for task in [*background, *crews]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._flush_outboxes()
            for unit in self.units:
                await unit.tablet.close()
            await self.http.aclose()
        return summarise(self.records, [u.tablet for u in self.units], self.region)

    async def _dispatch(self) -> None:
        horizon = self.config.minutes * 60
        for at in city.arrivals(self.rng, self.config.rate_per_hour, horizon):
            await self.clock.until(at)
            condition = city.draw_condition(self.rng, self.config.mix)
            lat, lon = city.random_location(self.travel.graph, self.rng)
            patient = patients.make(condition, self.rng, self.series)
            created = await self.dispatcher(
                "POST",
                "/v1/incidents",
                {
                    "location": {"lat": lat, "lon": lon},
                    "complaint": patients.COMPLAINTS[condition][1],
                    "priority": patients.PRIORITY[condition],
                },
            )
            record = PatientRecord(
                incident=int(created["id"]), condition=condition, patient=patient, created_s=self.clock.now()
            )
            self.records.append(record)
            self._assignments.add(task := asyncio.create_task(self._assign(record, lat, lon)))
            task.add_done_callback(self._assignments.discard)

    async def _assign(self, record: PatientRecord, lat: float, lon: float) -> None:
        """The nearest free unit by road (the server's suggestion), waiting for one if all are busy."""
        while not self.stopping:
            candidates = await self.dispatcher("GET", f"/v1/incidents/{record.incident}/candidates")
            ours = {u.name: u for u in self.units if not u.busy}
            chosen = next((ours[c["unit"]] for c in candidates if c["available"] and c["unit"] in ours), None)
            if chosen is None and ours:  # units that have not reported a position yet
                chosen = next(iter(ours.values()))
            if chosen is not None:
                chosen.busy = True
                await self.dispatcher("POST", f"/v1/incidents/{record.incident}/assign", {"unit": chosen.name})
                record.unit = chosen.name
                record.assigned_s = self.clock.now()
                record.location = (lat, lon)
                await chosen.jobs.put(record)
                return
            await self.clock.wait(30)

    async def _drain(self) -> None:
        deadline = self.clock.now() + self.config.drain_max_min * 60
        while any(r.cleared_s is None for r in self.records) and self.clock.now() < deadline:
            await self.clock.wait(15)

    async def _flush_outboxes(self) -> None:
        for unit in self.units:
            if unit.tablet.outbox and unit.tablet.ws is None:
                with contextlib.suppress(OSError, RuntimeError):
                    await unit.tablet.connect()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                for unit in self.units:
                    await unit.tablet.wait(lambda tablet=unit.tablet: not tablet.outbox)  # type: ignore[misc]

    # A crew ----------------------------------------------------------------------------------------------------
    async def _send(self, unit: Unit, message: dict[str, Any], *, binary: bool = False) -> None:
        client = unit.tablet
        if client.ws is None:  # the signal came back: reconnect (the outbox is resent)
            with contextlib.suppress(OSError, RuntimeError):
                await client.connect()
        await client.send(message, binary=binary)

    async def _status(self, unit: Unit, record: PatientRecord | None, status: str) -> None:
        message: dict[str, Any] = {"type": "status", "taken_at": wall(), "status": status}
        if record is not None:
            message["incident"] = record.incident
        await self._send(unit, message)

    async def _report_positions(self, unit: Unit) -> None:
        while True:
            fix = unit.fix(self.clock.now())
            await self._send(
                unit,
                {
                    "type": "position",
                    "taken_at": wall(),
                    "lat": round(fix.lat, 6),
                    "lon": round(fix.lon, 6),
                    "heading_deg": fix.heading_deg,
                    "speed_mps": fix.speed_mps,
                },
            )
            await self.clock.wait(self.config.position_every_s)

    async def _drive(self, unit: Unit, points: list[tuple[float, float, float]]) -> None:
        """Drive along ``points`` from now (staying put if there is no road)."""
        now = self.clock.now()
        if not points:
            here = unit.fix(now)
            points = [(here.lat, here.lon, 0.0)]
        unit.route = Route(points=points, start_s=now)
        await self.clock.until(unit.route.end_s)

    async def _crew(self, unit: Unit) -> None:
        while True:
            record = await unit.jobs.get()
            try:
                await self._answer(unit, record)
            except (RuntimeError, httpx.HTTPError, OSError) as exc:
                self.errors.append(f"{unit.name} #{record.incident}: {exc}")
                log.warning("simulated crew failed", extra={"unit": unit.name, "error": str(exc)})
            finally:
                record.cleared_s = record.cleared_s or self.clock.now()
                unit.busy = False

    async def _answer(self, unit: Unit, record: PatientRecord) -> None:
        cfg, rng, clock = self.config, self.rng, self.clock
        assert record.location is not None
        await self._status(unit, record, "en_route")
        here = unit.fix(clock.now())
        to_scene = await asyncio.to_thread(self.travel.times_to, *record.location)
        await self._drive(unit, to_scene.timed_route(here.lat, here.lon))
        await self._status(unit, record, "on_scene")
        await clock.wait(60)
        await self._status(unit, record, "at_patient")
        record.contact_s = clock.now()
        contact = datetime.now(UTC)
        care = asyncio.create_task(self._care(unit, record, contact))
        try:
            # On scene as long as drawn, and at least until the assessment is on record (the crew decides with it).
            await clock.wait(max(rng.uniform(*cfg.on_scene_min) * 60 - 60, (patients.ASSESSED_BY_MIN + 0.5) * 60))
            await self._status(unit, record, "transporting")
            here = unit.fix(clock.now())
            record.transport_etas = self.travel.etas(here.lat, here.lon)
            hospital = await self._choose_destination(record)
            ed_ack = asyncio.create_task(self._ed_acknowledges(record))
            await self._drive(unit, self.travel.timed_route(here.lat, here.lon, hospital))
            await self._status(unit, record, "at_destination")
            record.arrived_s = clock.now()
            await clock.wait(rng.uniform(*cfg.offload_min) * 60)
            await ed_ack
        finally:
            care.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await care
        await self._wait_acked(unit)  # the ED's transfer needs the crew's arrival on record
        await self.ed(hospital, "POST", f"/incidents/{record.incident}/transfer")
        await self._status(unit, record, "transfer_of_care")
        record.handed_s = clock.now()
        await self._status(unit, record, "back_in_service")
        record.cleared_s = clock.now()
        unit.busy = False
        here = unit.fix(clock.now())
        to_station = await asyncio.to_thread(self.travel.times_to, *unit.station)
        home = to_station.timed_route(here.lat, here.lon) or [(*unit.station, 0.0)]
        unit.route = Route(points=home, start_s=clock.now())

    async def _wait_acked(self, unit: Unit) -> None:
        with contextlib.suppress(TimeoutError):
            await unit.tablet.wait(lambda: not unit.tablet.outbox, timeout=10)

    async def _choose_destination(self, record: PatientRecord) -> str:
        """The dispatcher takes the recommendation (re-reading it once the latest vitals are in)."""
        ranked = await self.dispatcher("GET", f"/v1/incidents/{record.incident}/recommendation")
        top = ranked["ranked"][0]["hospital"]
        await self.dispatcher("POST", f"/v1/incidents/{record.incident}/destination", {"hospital": top})
        record.hospital = top
        record.prealert_s = self.clock.now()
        return str(top)

    async def _ed_acknowledges(self, record: PatientRecord) -> None:
        await self.clock.wait(self.rng.uniform(*self.config.ack_after_min) * 60)
        assert record.hospital is not None
        note = patients.ACK_NOTES[record.condition]
        await self.ed(record.hospital, "POST", f"/incidents/{record.incident}/ack", {"note": note})
        record.ack_s = self.clock.now()

    async def _care(self, unit: Unit, record: PatientRecord, contact: datetime) -> None:
        """Everything the crew and the monitor send while the patient is in their care."""
        jobs: list[Awaitable[None]] = [
            self._assess(unit, record, contact),
            self._manual_sets(unit, record),
            self._monitor(unit, record),
        ]
        if self.config.waveforms and record.condition in ("stemi", "cardiac_arrest", "general"):
            jobs.append(self._twelve_lead(unit, record))
        if self.config.waveforms and self.config.speed == 1:
            jobs.append(self._strip(unit, record))
        await asyncio.gather(*jobs)

    async def _assess(self, unit: Unit, record: PatientRecord, contact: datetime) -> None:
        start = self.clock.now()
        for minute, fields in record.patient.assessments(contact):
            await self.clock.until(start + minute * 60)
            await self._send(unit, {"type": "assessment", "incident": record.incident, "taken_at": wall(), **fields})

    def _minute(self, record: PatientRecord) -> float:
        return (self.clock.now() - (record.contact_s or 0.0)) / 60

    async def _manual_sets(self, unit: Unit, record: PatientRecord) -> None:
        await self.clock.wait(90)
        while True:
            values = record.patient.manual_set(self._minute(record), on_oxygen=record.condition != "general")
            await self._send(unit, {"type": "vitals", "incident": record.incident, "taken_at": wall(), **values})
            await self.clock.wait(self.config.manual_every_min * 60)

    async def _monitor(self, unit: Unit, record: PatientRecord) -> None:
        every = self.config.monitor_every_s
        while True:
            await self.clock.wait(self.rng.uniform(every * 0.5, every * 1.5))
            values = {k: v for k, v in record.patient.vitals(self._minute(record)).items() if k in ("hr", "spo2", "rr")}
            message = {"type": "vitals", "incident": record.incident, "taken_at": wall(), "source": "monitor"}
            await self._send(unit, {**message, **values})

    async def _twelve_lead(self, unit: Unit, record: PatientRecord) -> None:
        """The monitor's 12-lead, a few minutes after contact: the real acute-MI ECG for a STEMI, read as such."""
        await self.clock.wait(300)
        recording = ecg.twelve_lead()
        stemi = record.condition == "stemi"
        message = {
            "type": "ecg12",
            "incident": record.incident,
            "taken_at": wall(),
            "sample_rate_hz": recording.sample_rate_hz,
            "gain_per_mv": ecg.GAIN_PER_MV,
            "leads": [{"name": name, "samples": recording.leads[name]} for name in ECG_LEADS],
            "interpretation": "STEMI inferolateral" if stemi else "no acute ST changes (crew's reading)",
            "stemi": stemi,
        }
        await self._send(unit, message, binary=True)

    async def _strip(self, unit: Unit, record: PatientRecord) -> None:
        """The live monitor strip in real time: the real MIT-BIH rhythm, in 0.5 s chunks."""
        strip = ecg.rhythm_strip()
        start = datetime.now(UTC)
        for piece in ecg.chunks(strip, "MLII", start_at=start, chunk_s=0.5):
            await asyncio.sleep(max(0.0, (piece.start_at + timedelta(seconds=0.5) - datetime.now(UTC)).total_seconds()))
            hr = record.patient.vitals(self._minute(record))["hr"]
            await unit.tablet.send_strip(
                {
                    "incident": record.incident,
                    "lead": "MLII",
                    "start_at": piece.start_at.isoformat(),
                    "sample_rate_hz": strip.sample_rate_hz,
                    "gain_per_mv": ecg.GAIN_PER_MV,
                    "samples": piece.samples,
                    "hr": hr,
                },
                max_buffered=2048,
            )

    # The EDs' status drifts --------------------------------------------------------------------------------------
    async def _drift(self) -> None:
        census = {h: self.rng.randint(8, 30) for h in self.region.hospitals}
        diverted: dict[str, float] = {}
        while True:
            await self.clock.wait(self.config.drift_every_min * 60)
            now = self.clock.now()
            for hospital in self.region.hospitals:
                census[hospital] = max(0, census[hospital] + self.rng.randint(-3, 4))
                n = census[hospital]
                update: dict[str, Any] = {"census": {"red": n // 6, "yellow": n // 2, "green": n // 3}}
                if hospital in diverted and now >= diverted[hospital]:
                    del diverted[hospital]
                    update |= {"ems_traffic": "Normal", "ems_traffic_reason": "reopened (simulated)"}
                elif hospital not in diverted and not diverted and self.rng.random() < self.config.diversion_chance:
                    diverted[hospital] = now + self.rng.uniform(10, 30) * 60
                    update |= {"ems_traffic": "Closed", "ems_traffic_reason": "ED saturated (simulated)"}
                    self.diversions += 1
                try:
                    await self.ed(hospital, "PATCH", "/status", update)
                    self.drifts += 1
                except (RuntimeError, httpx.HTTPError) as exc:
                    self.errors.append(f"status of {hospital}: {exc}")
