"""The dispatchers' everything-feed: every tablet event of the region reaches it, in order, resumable."""

from __future__ import annotations

from prealert.client import RegionEventsClient
from prealert.harness import Service
from tests.conftest import REGION, make_scene, token


async def test_every_tablet_event_of_the_region_reaches_the_dispatchers_feed(service: Service) -> None:
    feed = RegionEventsClient(service.ws, "", token("dispatcher", REGION))
    hello = await feed.connect()
    assert hello["feed"] == f"events:{REGION}"
    first, second = await make_scene(service, "upmc-mercy"), await make_scene(service, "west-penn")
    sent = []
    for scene in (first, second):
        tablet = scene.tablet()
        await tablet.connect()
        for hr in (90, 91):
            last = await tablet.send(scene.vitals(hr=hr))
            sent.append((scene.unit, last))
        await tablet.wait_acked(last)
        await tablet.close()
    await feed.wait(lambda: all(any(e["unit"] == u and e["seq"] == s for _, e in feed.events) for u, s in sent))
    mine = [(e["unit"], e["body"]["hr"]) for _, e in feed.events if e["body"]["type"] == "vitals"]
    assert [m for m in mine if m[0] in (first.unit, second.unit)] == [
        (first.unit, 90),
        (first.unit, 91),
        (second.unit, 90),
        (second.unit, 91),
    ]
    resumed = RegionEventsClient(service.ws, "", token("dispatcher", REGION), last_id=feed.events[0][0])
    await resumed.connect()
    await resumed.wait(lambda: len(resumed.events) >= len(feed.events) - 1)
    assert [i for i, _ in resumed.events][: len(feed.events) - 1] == [i for i, _ in feed.events[1:]]
    await feed.close()
    await resumed.close()
