"""Locust scenarios for the realistic mix, for those who know locust (the precise latency figures come from the
open-loop harness, ``python -m loadtests.sidebyside``: locust's users wait for each other, which hides latency).

    prealert serve &                      # or any deployment; the secret must be the one its tokens are signed with
    PREALERT_TOKEN_SECRET=... locust -f loadtests/locustfile.py --host http://127.0.0.1:8000

Users (weights follow a city at peak: many crews, a few EDs, fewer dispatchers):
- ``Crew``: a tablet on its own incident; vitals every 5-15 s (a monitor would be faster), position every 10 s;
  reports each message's time to its durable ack as ``WS ack``.
- ``EdScreen``: an ED dashboard on its hospital's feed; reports each event's age on arrival as ``WS feed``.
- ``Dispatcher``: the console's HTTP reads (incidents, units, hospital statuses), every few seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

import websocket
from locust import HttpUser, User, between, events, task

from dispatch import tokens
from dispatch.settings import Settings
from prealert.bootstrap import token_secret
from prealert.client import new_uid

SETTINGS = Settings.from_env(os.environ)  # the service's own: its secret (PREALERT_TOKEN_SECRET or the data dir's)
SECRET = token_secret(SETTINGS)
REGION = SETTINGS.region
HOSPITALS = ["allegheny-general", "upmc-mercy", "upmc-presbyterian", "west-penn", "upmc-shadyside"]
_units = itertools.count(1)


def _token(role: tokens.Role, scope: str) -> str:
    return tokens.issue(SECRET, role=role, scope=scope, subject=f"locust-{role}", now=int(time.time()), ttl_s=7200)


def _ws_url(host: str, path: str) -> str:
    return host.replace("http://", "ws://").replace("https://", "wss://") + path


def _report(name: str, started: float, error: Exception | None = None, size: int = 0) -> None:
    events.request.fire(  # type: ignore[no-untyped-call]
        request_type="WS",
        name=name,
        response_time=(time.monotonic() - started) * 1000,
        response_length=size,
        exception=error,
        context={},
    )


class Crew(User):
    weight = 20
    wait_time = between(5, 15)

    def on_start(self) -> None:
        self.unit = f"LC{os.getpid() % 1000}x{next(_units)}"
        dispatcher = {"authorization": f"Bearer {_token('dispatcher', REGION)}"}
        import httpx

        with httpx.Client(base_url=str(self.host), headers=dispatcher, timeout=30) as client:
            body = {"location": {"lat": 40.44, "lon": -79.99}, "complaint": "locust", "priority": 2}
            self.incident = client.post("/v1/incidents", json=body).json()["id"]
            client.post(f"/v1/incidents/{self.incident}/assign", json={"unit": self.unit})
            hospital = random.choice(HOSPITALS)
            client.post(
                f"/v1/incidents/{self.incident}/destination", json={"hospital": hospital, "reason_code": "4220013"}
            )
        self.ws = websocket.create_connection(
            _ws_url(str(self.host), f"/v1/units/{self.unit}/socket"),
            subprotocols=["prealert.v1", "bearer." + _token("paramedic", self.unit)],
        )
        hello = json.loads(self.ws.recv())
        self.seq = int(hello["last_seq"])

    def _send(self, message: dict[str, Any], name: str) -> None:
        self.seq += 1
        started = time.monotonic()
        frame = {**message, "seq": self.seq, "uid": new_uid(), "taken_at": datetime.now(UTC).isoformat()}
        try:
            self.ws.send(json.dumps(frame))
            while True:  # until the ack that covers this seq (other frames may come first)
                reply = json.loads(self.ws.recv())
                if reply["type"] == "ack" and reply["upto"] >= self.seq:
                    break
                if reply["type"] == "error":
                    raise RuntimeError(reply["reason"])
            _report(name, started)
        except Exception as exc:  # reported to locust as a failure, not raised
            _report(name, started, exc)

    @task(3)
    def vitals(self) -> None:
        hr = random.randint(60, 130)
        message = {"type": "vitals", "incident": self.incident, "hr": hr, "sbp": 120, "spo2": 96, "rr": 16}
        self._send(message, "ack vitals")

    @task(1)
    def position(self) -> None:
        lat, lon = 40.44 + random.uniform(-0.02, 0.02), -79.99 + random.uniform(-0.02, 0.02)
        self._send({"type": "position", "incident": self.incident, "lat": lat, "lon": lon}, "ack position")

    def on_stop(self) -> None:
        self.ws.close()


class EdScreen(User):
    weight = 3
    wait_time = between(0, 0)

    def on_start(self) -> None:
        hospital = random.choice(HOSPITALS)
        self.ws = websocket.create_connection(
            _ws_url(str(self.host), f"/v1/hospitals/{hospital}/feed?after=now"),
            subprotocols=["prealert.v1", "bearer." + _token("ed", hospital)],
        )
        self.ws.recv()  # feed_hello

    @task
    def read(self) -> None:
        started = time.monotonic()
        try:
            frame = json.loads(self.ws.recv())
        except Exception as exc:  # reported to locust as a failure
            _report("feed", started, exc)
            return
        if frame.get("type") == "event":
            received = datetime.fromisoformat(frame["event"]["received_at"].replace("Z", "+00:00"))
            age_ms = (datetime.now(UTC) - received).total_seconds() * 1000
            events.request.fire(  # type: ignore[no-untyped-call]
                request_type="WS", name="feed event age", response_time=age_ms, response_length=0, exception=None
            )

    def on_stop(self) -> None:
        self.ws.close()


class Dispatcher(HttpUser):
    weight = 1
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.client.headers["authorization"] = f"Bearer {_token('dispatcher', REGION)}"

    @task(3)
    def incidents(self) -> None:
        self.client.get("/v1/incidents")

    @task(2)
    def units(self) -> None:
        self.client.get("/v1/units")

    @task(1)
    def statuses(self) -> None:
        self.client.get("/v1/hospitals/status")
