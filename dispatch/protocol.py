"""The wire protocol, version 1: every frame a tablet, dashboard or server sends.

Pure: no I/O. Messages are frozen msgspec Structs decoded strictly (unknown fields, wrong types and out-of-range
values are refused). JSON on the wire; every time is an ISO 8601 string in UTC (``2026-11-24T12:00:00.250Z``);
units are in the field's description and, where a field could be read two ways, in its name (``temp_c``).

Tablet -> server: ``vitals``, ``assessment``, ``position``, ``status``, ``ecg12`` (each with the unit's own ``seq``)
and ``strip`` (live waveform chunks: unsequenced, droppable). Text frames are JSON; binary frames are msgpack of the
same structures.
Server -> tablet: ``hello``, ``ack``, ``error``, ``assignment``, ``patient``, ``recommendation``, ``ed_ack``,
``ed_outcome``.
Server -> dashboard: ``feed_hello``, ``event``, ``reset``, ``error``.
The generated JSON Schema lives in ``docs/protocol.schema.json`` (``prealert schema``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import Meta, Struct

from dispatch.capacity import HospitalStatus, StatusUpdate
from dispatch.routing import Recommendation
from dispatch.text import LongText, ShortText

PROTOCOL_VERSION: Final = 1

# Identifiers ----------
UnitId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="ambulance unit call sign")]
HospitalId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$", description="hospital id in the region pack")]
IncidentId = Annotated[int, Meta(ge=1, le=2**53, description="incident number given by dispatch")]
Seq = Annotated[int, Meta(ge=1, le=2**53, description="the unit's own increasing message counter")]
Uid = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="the message's idempotency key, made once when it is entered: a unit's message is stored once "
        "per uid, whatever seq it is sent under",
    ),
]
UtcTime = Annotated[datetime, Meta(tz=True, description="ISO 8601, UTC")]
# ShortText and LongText (free text, no control characters) live in dispatch.text: capacity uses them too.

# Measurements, with their plausible ranges ----------
HeartRate = Annotated[int, Meta(ge=0, le=300, description="heart rate, /min")]
SystolicBp = Annotated[int, Meta(ge=0, le=300, description="systolic blood pressure, mmHg")]
DiastolicBp = Annotated[int, Meta(ge=0, le=250, description="diastolic blood pressure, mmHg")]
SpO2 = Annotated[int, Meta(ge=0, le=100, description="peripheral oxygen saturation, %")]
RespRate = Annotated[int, Meta(ge=0, le=80, description="respiratory rate, /min")]
TempC = Annotated[float, Meta(ge=25.0, le=45.0, description="body temperature, °C")]
GlucoseMgDl = Annotated[int, Meta(ge=10, le=2000, description="blood glucose, mg/dL")]
Etco2MmHg = Annotated[int, Meta(ge=0, le=150, description="end-tidal CO2, mmHg")]
GcsEye = Annotated[int, Meta(ge=1, le=4, description="GCS eye opening, 1-4")]
GcsVerbal = Annotated[int, Meta(ge=1, le=5, description="GCS verbal response, 1-5")]
GcsMotor = Annotated[int, Meta(ge=1, le=6, description="GCS motor response, 1-6")]
Latitude = Annotated[float, Meta(ge=-90.0, le=90.0, description="WGS84 latitude, degrees")]
Longitude = Annotated[float, Meta(ge=-180.0, le=180.0, description="WGS84 longitude, degrees")]

Acvpu = Literal["A", "C", "V", "P", "U"]
UnitStatus = Literal[
    "en_route",
    "on_scene",
    "at_patient",
    "transporting",
    "at_destination",
    "transfer_of_care",
    "back_in_service",
]
Suspected = Literal["stemi", "stroke", "trauma", "sepsis", "cardiac_arrest", "obstetric", "general"]
Sex = Literal["female", "male", "unknown"]
TreatmentKind = Literal["drug", "airway", "iv", "tourniquet", "oxygen", "other"]
Priority = Literal[1, 2, 3, 4]
VitalsSource = Literal["manual", "monitor"]


class Frame(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    """Base of every frame: ``type`` names it."""


# Tablet -> server ---------------------------------------------------------------------------------------------------
class Vitals(Frame, frozen=True, kw_only=True, tag="vitals"):
    """One set of vital signs; any subset of the measurements, at least one."""

    seq: Seq
    uid: Uid | None = None
    incident: IncidentId
    taken_at: UtcTime
    source: Annotated[VitalsSource, Meta(description="entered by the crew, or numerics streamed by a monitor")] = (
        "manual"
    )
    hr: HeartRate | None = None
    sbp: SystolicBp | None = None
    dbp: DiastolicBp | None = None
    spo2: SpO2 | None = None
    spo2_scale: Literal[1, 2] = 1
    rr: RespRate | None = None
    temp_c: TempC | None = None
    gcs_eye: GcsEye | None = None
    gcs_verbal: GcsVerbal | None = None
    gcs_motor: GcsMotor | None = None
    glucose_mg_dl: GlucoseMgDl | None = None
    etco2_mmhg: Etco2MmHg | None = None
    avpu: Acvpu | None = None
    on_oxygen: bool | None = None


VITALS_FIELDS: Final = tuple(
    name for name in Vitals.__struct_fields__ if name not in ("seq", "uid", "incident", "taken_at")
)
# at least one per vitals set
MEASUREMENTS: Final = tuple(name for name in VITALS_FIELDS if name not in ("spo2_scale", "source"))


class Treatment(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: TreatmentKind
    name: ShortText
    dose: ShortText | None = None
    given_at: UtcTime


class Assessment(Frame, frozen=True, kw_only=True, tag="assessment"):
    """The crew's assessment; each message states the fields it sets."""

    seq: Seq
    uid: Uid | None = None
    incident: IncidentId
    taken_at: UtcTime
    age_years: Annotated[int, Meta(ge=0, le=120)] | None = None
    sex: Sex | None = None
    chief_complaint: ShortText | None = None
    suspected: Suspected | None = None
    race: Annotated[int, Meta(ge=0, le=9, description="RACE stroke scale, 0-9")] | None = None
    lams: Annotated[int, Meta(ge=0, le=5, description="LAMS stroke scale, 0-5")] | None = None
    last_known_well: UtcTime | None = None
    stemi: bool | None = None
    mechanism: ShortText | None = None
    triage_red: tuple[ShortText, ...] = ()
    triage_yellow: tuple[ShortText, ...] = ()
    treatments: tuple[Treatment, ...] = ()
    notes: LongText | None = None


class Position(Frame, frozen=True, kw_only=True, tag="position"):
    seq: Seq
    uid: Uid | None = None
    incident: IncidentId | None = None
    taken_at: UtcTime
    lat: Latitude
    lon: Longitude
    heading_deg: Annotated[float, Meta(ge=0.0, lt=360.0)] | None = None
    speed_mps: Annotated[float, Meta(ge=0.0, le=100.0, description="ground speed, m/s")] | None = None


class Status(Frame, frozen=True, kw_only=True, tag="status"):
    """A NEMSIS eTimes moment."""

    seq: Seq
    uid: Uid | None = None
    incident: IncidentId | None = None
    taken_at: UtcTime
    status: UnitStatus


EcgLeadName = Literal["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
ECG_LEADS: Final[tuple[str, ...]] = get_args(EcgLeadName)
StripLeadName = Literal["I", "II", "III", "MLII", "V1", "V5", "Pleth"]
MAX_ECG_SAMPLES: Final = 12 * 1000  # per lead: 12 s at 1000 /s
SampleRate = Annotated[int, Meta(ge=100, le=1000, description="samples per second")]
GainPerMv = Annotated[
    int, Meta(ge=1, le=10_000, description="sample units per millivolt: 1000 means the samples are microvolts")
]
Samples = Annotated[
    bytes,
    Meta(
        max_length=2 * MAX_ECG_SAMPLES,
        description="the samples as signed 16-bit little-endian integers, in units of 1/gain_per_mv mV (msgpack "
        "bin in binary frames, base64 in JSON)",
    ),
]


class EcgLead(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: EcgLeadName
    samples: Samples


class Ecg12(Frame, frozen=True, kw_only=True, tag="ecg12"):
    """A 12-lead ECG as acquired (``taken_at``): the twelve standard leads, each the same length (2.5-12 s), with the
    crew's interpretation. Sequenced, acked and stored like every other message; best sent as a binary frame."""

    seq: Seq
    uid: Uid | None = None
    incident: IncidentId
    taken_at: UtcTime
    sample_rate_hz: SampleRate
    gain_per_mv: GainPerMv
    leads: Annotated[tuple[EcgLead, ...], Meta(min_length=12, max_length=12)]
    interpretation: ShortText | None = None
    stemi: bool | None = None  # the crew reads a STEMI: raises the STEMI pre-alert


class Strip(Frame, frozen=True, kw_only=True, tag="strip"):
    """A short chunk (up to 2 s) of the live monitor strip. Not sequenced, not acked, not stored: a chunk that is
    late or over the unit's bandwidth budget is dropped, so it never waits in front of vitals."""

    incident: IncidentId
    lead: StripLeadName
    start_at: UtcTime
    sample_rate_hz: SampleRate
    gain_per_mv: GainPerMv
    samples: Annotated[bytes, Meta(max_length=2 * 2 * 1000, description="int16 little-endian, up to 2 s")]
    hr: HeartRate | None = None


TabletMessage = Vitals | Assessment | Position | Status | Ecg12
TABLET_TYPES: Final = ("vitals", "assessment", "position", "status", "ecg12", "strip")
TabletFrame = TabletMessage | Strip


# Incidents (dispatcher HTTP API and the state pushed to tablets and dashboards) ----------
class Location(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lat: Latitude
    lon: Longitude


class NewIncident(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    location: Location
    complaint: ShortText
    priority: Priority


class AssignUnit(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    unit: UnitId


DestinationReason = Literal[
    "4220001",
    "4220003",
    "4220005",
    "4220007",
    "4220009",
    "4220011",
    "4220013",
    "4220015",
    "4220017",
    "4220019",
    "4220021",
]
DESTINATION_REASONS: Final[dict[str, str]] = {  # NEMSIS v3.5.1 eDisposition.20, reason for choosing destination
    "4220001": "Closest Facility",
    "4220003": "Diversion",
    "4220005": "Family Choice",
    "4220007": "Insurance Status/Requirement",
    "4220009": "Law Enforcement Choice",
    "4220011": "On-Line/On-Scene Medical Direction",
    "4220013": "Other",
    "4220015": "Patient's Choice",
    "4220017": "Patient's Physician's Choice",
    "4220019": "Protocol",
    "4220021": "Regional Specialty Center",
}


class SetDestination(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The dispatcher's decision: the recommendation, or an override, which needs a ``reason_code``."""

    hospital: HospitalId
    reason_code: DestinationReason | None = None
    note: ShortText | None = None


class DecisionSummary(Struct, frozen=True, kw_only=True):
    """The dispatcher's destination decision, as the crew and the receiving ED are shown it."""

    hospital: HospitalId
    recommended: str | None
    override: bool
    reason_code: DestinationReason
    reason: str  # the eDisposition.20 words
    note: str | None = None
    reasons: tuple[str, ...] = ()  # the recommendation's reasons for the chosen hospital, when it was followed


class IncidentState(Frame, frozen=True, kw_only=True, tag="incident"):
    """An incident as it stands; pushed whenever it changes."""

    id: IncidentId
    region: str
    created_at: UtcTime
    location: Location
    complaint: str
    priority: Priority
    unit: UnitId | None = None
    destination: HospitalId | None = None
    decision: DecisionSummary | None = None


class Acknowledge(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ED's acknowledgement of a pre-alert, e.g. ``{"note": "Resus 2, stroke team paged"}``."""

    note: ShortText | None = None


class EdAck(Frame, frozen=True, kw_only=True, tag="ed_ack"):
    incident: IncidentId
    hospital: HospitalId
    note: str | None
    at: UtcTime
    by: str


class Handover(Frame, frozen=True, kw_only=True, tag="handover"):
    """Transfer of care at the ED: offload time is from the crew's arrival to this moment."""

    incident: IncidentId
    hospital: HospitalId
    arrived_at: UtcTime
    transferred_at: UtcTime
    offload_minutes: float
    by: str


class EdOutcome(Frame, frozen=True, kw_only=True, tag="ed_outcome"):
    """What became of the crew's patient, as the receiving ED reported it (``GET /v1/units/{unit}/history`` has
    the whole list): disposition, ED diagnosis, and the intervals from the door."""

    incident: IncidentId
    hospital: HospitalId
    disposition: str
    diagnosis: str
    diagnosis_icd10: str | None = None
    door_to_balloon_min: float | None = None
    door_to_needle_min: float | None = None
    at: UtcTime


# Derived state pushed with each event ----------
class News2View(Struct, frozen=True, kw_only=True):
    score: int
    band: str
    partial: bool
    missing: tuple[str, ...]


class ShockIndexView(Struct, frozen=True, kw_only=True):
    value: float
    klass: str


class Derived(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the server computed from the incident's latest vitals and position."""

    latest: dict[str, Any] = msgspec.field(default_factory=dict)
    news2: News2View | None = None
    shock_index: ShockIndexView | None = None
    gcs_total: int | None = None
    eta_s: int | None = None
    distance_m: int | None = None
    category: str | None = None  # the triage category (stemi, stroke_lvo, trauma_red, ...)
    prealert: str | None = None  # the pre-alert type as a badge: "STEMI", "Trauma RED", "Stroke (LVO)", ...
    atmister: dict[str, str] = msgspec.field(default_factory=dict)  # age/sex, time, mechanism, injuries, signs, ...


class EcgNotice(Frame, frozen=True, kw_only=True, tag="ecg12_notice"):
    """What the feeds carry of a 12-lead: everything but the samples (about 120 KB), which the ED reads when it draws
    it (``GET /v1/hospitals/{h}/incidents/{n}/ecgs``). A feed frame that large would hold up the vitals behind it."""

    seq: Seq
    incident: IncidentId
    taken_at: UtcTime
    sample_rate_hz: int
    gain_per_mv: int
    leads: tuple[EcgLeadName, ...]
    seconds: float
    interpretation: str | None = None
    stemi: bool | None = None

    @classmethod
    def of(cls, ecg: Ecg12) -> EcgNotice:
        return cls(
            seq=ecg.seq,
            incident=ecg.incident,
            taken_at=ecg.taken_at,
            sample_rate_hz=ecg.sample_rate_hz,
            gain_per_mv=ecg.gain_per_mv,
            leads=tuple(lead.name for lead in ecg.leads),
            seconds=len(ecg.leads[0].samples) / 2 / ecg.sample_rate_hz,
            interpretation=ecg.interpretation,
            stemi=ecg.stemi,
        )


EventBody = Vitals | Assessment | Position | Status | EcgNotice | IncidentState | EdAck | Handover


class Event(Struct, frozen=True, kw_only=True):
    """One stored event as it is fanned out: who sent it, when the server got it, what it was."""

    incident: IncidentId | None
    unit: UnitId | None
    seq: Seq | None
    received_at: UtcTime
    body: EventBody
    derived: Derived | None = None


# Server -> tablet ---------------------------------------------------------------------------------------------------
class Hello(Frame, frozen=True, kw_only=True, tag="hello"):
    protocol: int = PROTOCOL_VERSION
    unit: UnitId
    last_seq: int
    server_time: UtcTime
    incident: IncidentState | None = None


class Ack(Frame, frozen=True, kw_only=True, tag="ack"):
    """Every seq up to ``upto`` is durable in PostgreSQL."""

    upto: int


ErrorCode = Literal[
    "malformed", "unknown_type", "invalid_field", "implausible", "not_assigned", "unavailable", "seq_taken"
]


class Error(Frame, frozen=True, kw_only=True, tag="error"):
    """A refused frame: nothing was stored. ``seq`` is the refused frame's, when it could be read.

    ``seq_taken`` is not a refusal of the content: another device of the unit already used that seq for another
    message (a tablet switch, cleared storage). The tablet sends the message again under a seq above ``last_seq``.
    """

    code: ErrorCode
    field: str | None = None
    reason: str
    seq: int | None = None
    last_seq: int | None = None  # with seq_taken: the highest seq the unit has used


class Assignment(Frame, frozen=True, kw_only=True, tag="assignment"):
    """The unit's current incident changed (assigned, destination set)."""

    incident: IncidentState


class Patient(Frame, frozen=True, kw_only=True, tag="patient"):
    """The server's view of the unit's patient after a vitals set or an assessment from any of the unit's devices
    (a monitor's streamed numerics included): the same derived state the ED sees."""

    incident: IncidentId
    derived: Derived


# Server -> dashboard ------------------------------------------------------------------------------------------------
class StripChunk(Frame, frozen=True, kw_only=True, tag="strip_chunk"):
    """A live waveform chunk as an ED viewer receives it (``/v1/hospitals/{h}/incidents/{n}/strip``)."""

    unit: UnitId
    incident: IncidentId
    lead: StripLeadName
    start_at: UtcTime
    received_at: UtcTime
    sample_rate_hz: int
    gain_per_mv: int
    samples: bytes  # int16 little-endian; base64 in JSON
    hr: int | None = None


class FeedHello(Frame, frozen=True, kw_only=True, tag="feed_hello"):
    protocol: int = PROTOCOL_VERSION
    feed: Annotated[str, Meta(description="hospital:<id> or region:<name>")]
    after: str
    server_time: UtcTime


class FeedEvent(Frame, frozen=True, kw_only=True, tag="event"):
    """``id`` is the feed position: give it back as ``after`` on reconnect to resume with no gap."""

    id: str
    event: Event


class Reset(Frame, frozen=True, kw_only=True, tag="reset"):
    """The resume point is older than what the feed keeps: forget local state, a full replay follows."""

    reason: str


# Dispatchers' feed (and the crew's recommendation) ----------
class RecommendationUpdate(Frame, frozen=True, kw_only=True, tag="recommendation"):
    """An incident's ranked destinations changed; ``top_changed`` when the first choice did."""

    incident: IncidentId
    unit: UnitId | None
    destination: HospitalId | None
    recommendation: Recommendation
    previous_top: str | None
    top_changed: bool


class HospitalStatusChanged(Frame, frozen=True, kw_only=True, tag="hospital_status"):
    status: HospitalStatus


class UnitUpdate(Frame, frozen=True, kw_only=True, tag="unit"):
    """A unit moved or changed status (the dispatchers' units feed, ``/v1/dispatch/units``); ``received_at`` is the
    server's time, the message's own ``taken_at`` the tablet's."""

    unit: UnitId
    incident: IncidentId | None
    received_at: UtcTime
    position: Position | None = None
    status: Status | None = None


class UnitView(Struct, frozen=True, kw_only=True):
    """A unit as the dispatchers' console shows it (``GET /v1/units``)."""

    unit: UnitId
    incident: IncidentId | None
    position: Position | None
    status: Status | None


class Candidate(Struct, frozen=True, kw_only=True):
    """A unit that could answer an incident, with its driving time there (``GET /v1/incidents/{n}/candidates``)."""

    unit: UnitId
    eta_s: int
    status: UnitStatus | None
    available: bool
    reason: str


DispatchEvent = RecommendationUpdate | HospitalStatusChanged | UnitUpdate

ServerToTablet = Hello | Ack | Error | Assignment | Patient | RecommendationUpdate | EdAck | EdOutcome
ServerToDashboard = FeedHello | FeedEvent | Reset | Error | StripChunk

tablet_decoder: Final = msgspec.json.Decoder(TabletFrame)
tablet_binary_decoder: Final = msgspec.msgpack.Decoder(TabletFrame)  # binary websocket frames are msgpack
event_decoder: Final = msgspec.json.Decoder(Event)
incident_decoder: Final = msgspec.json.Decoder(IncidentState)
encoder: Final = msgspec.json.Encoder()


def schema() -> dict[str, Any]:
    """The JSON Schema of every frame, generated from the Structs (never written by hand)."""
    named: dict[str, Any] = {
        "tablet_to_server": TabletFrame,
        "server_to_tablet": ServerToTablet,
        "server_to_dashboard": ServerToDashboard,
        "dispatch_feed_event": DispatchEvent,
        "new_incident": NewIncident,
        "assign_unit": AssignUnit,
        "set_destination": SetDestination,
        "hospital_status_update": StatusUpdate,
        "acknowledge": Acknowledge,
    }
    schemas, components = msgspec.json.schema_components(tuple(named.values()), ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"prealert wire protocol v{PROTOCOL_VERSION}",
        "$defs": components,
        "properties": dict(zip(named, schemas, strict=True)),
    }


class CloseCode:
    """Websocket close codes the service uses (4xxx are ours, after the HTTP statuses they mirror)."""

    GOING_AWAY: Final = 1001  # the server is shutting down: reconnect
    TOO_BIG: Final = 1009  # a frame over the size limit
    SERVER_ERROR: Final = 1011  # an unexpected error; reconnect
    RESTARTED: Final = 1012  # the feed's history was rebuilt (Redis came back empty): reconnect with the last id
    BAD_REQUEST: Final = 4400  # the connection request itself is wrong (e.g. a malformed resume id)
    UNAUTHENTICATED: Final = 4401  # no token, a malformed, tampered, expired or revoked token (also while open)
    FORBIDDEN: Final = 4403  # a valid token for another unit or hospital, or another role; a foreign page's origin
    TOO_SLOW: Final = 4408  # a dashboard that fell a whole queue behind: reconnect with its last id
    TOO_MANY: Final = 4429  # the token already holds as many sockets as it may


SUBPROTOCOL: Final = "prealert.v1"
BEARER_PREFIX: Final = "bearer."


def bearer_token(subprotocols: list[str], authorization: str | None) -> str | None:
    """The access token of a websocket: a ``bearer.<token>`` subprotocol (browsers) or an Authorization header."""
    for offered in subprotocols:
        if offered.startswith(BEARER_PREFIX):
            return offered[len(BEARER_PREFIX) :]
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None
