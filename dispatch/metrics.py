"""Prometheus metrics of the service (exposed at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRAMES = Counter("prealert_tablet_frames_total", "Tablet frames accepted for processing, by type", ["type"])
REFUSED = Counter("prealert_tablet_frames_refused_total", "Tablet frames refused, by error code", ["code"])
ACKS = Counter("prealert_acks_sent_total", "Ack frames sent to tablets")
SOCKETS = Gauge("prealert_open_sockets", "Open websockets, by kind", ["kind"])
FEED_EVENTS = Counter("prealert_feed_events_sent_total", "Events pushed to ED dashboards")
SLOW_DASHBOARDS = Counter("prealert_slow_dashboards_closed_total", "Dashboards closed for falling behind")
COMMIT_SECONDS = Histogram(
    "prealert_event_commit_seconds",
    "Time from a tablet event entering the durable writer to its commit in PostgreSQL",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
THROTTLED_SECONDS = Counter("prealert_tablet_throttled_seconds_total", "Time tablet sockets were not read (flooding)")
DUPLICATES = Counter(
    "prealert_tablet_duplicates_total", "Tablet messages whose uid was already fanned out (resent under a new seq)"
)
REBUILDS = Counter(
    "prealert_live_rebuilds_total",
    "Times this process rebuilt Redis's live state from PostgreSQL (Redis came back empty)",
)
REPAIRS = Counter(
    "prealert_live_repairs_total", "Incidents restored in Redis from PostgreSQL for a tablet message that came first"
)
RESUMED = Counter(
    "prealert_fanouts_resumed_total",
    "Tablet messages whose fan-out began in a process that died midway, finished when the tablet resent them",
)
SEQ_TAKEN = Counter("prealert_tablet_seq_taken_total", "Tablet messages sent under a seq another device had used")
STRIPS = Counter(
    "prealert_strip_chunks_total",
    "Live waveform chunks from tablets, by outcome (watched, unwatched, late, over_budget, not_assigned)",
    ["outcome"],
)
