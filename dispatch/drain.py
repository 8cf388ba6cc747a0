"""Graceful drain: what a process does between being told to stop and stopping.

1. Not ready: ``/readyz`` answers 503 ``{"draining": true}`` so that the load balancer sends no new clients here,
   while every open socket goes on being served for ``grace`` (a Kubernetes Service needs a few seconds to take
   the pod out of its endpoints).
2. Closing: every socket is closed with 1001 ("going away: reconnect"). A tablet reconnects to another process and
   resends its unacked outbox (stored once by uid); a dashboard resumes from its last id. Nothing is lost.
3. Stop: uvicorn stops, and the lifespan's shutdown commits what the writers still hold.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Drain:
    ready: bool = True
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, grace_s: float) -> None:
        """Not ready now; close the sockets after ``grace_s``; return when it is time for the server to stop."""
        self.ready = False
        await asyncio.sleep(grace_s)
        self.closing.set()
        await asyncio.sleep(0.2)  # the close frames go out before the server stops
