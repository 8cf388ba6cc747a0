"""The python-socketio relay the side-by-side benchmark compares against: a bare relay of the same vitals message
through the same Redis (AsyncRedisManager), under uvicorn. No validation, no scores, no storage: it forwards each
message to its destination ED's room and to the dispatchers' room, and acks the sender once it has.

Run by ``loadtests.sidebyside`` with python-socketio installed into its own folder (never a project dependency):
``PYTHONPATH=<folder> PORT=... REDIS_URL=... python socketio_relay.py``.
"""

import os

import socketio
import uvicorn

manager = socketio.AsyncRedisManager(os.environ["REDIS_URL"], channel="bench-socketio-py")
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, ping_interval=25, ping_timeout=60)
app = socketio.ASGIApp(sio)


async def join(sid: str, room: str) -> str:
    await sio.enter_room(sid, room)
    return "ok"


async def vitals(sid: str, data: dict[str, object]) -> str:
    await sio.emit("vitals", data, room="hospital:" + str(data["hospital"]))
    await sio.emit("vitals", data, room="dispatch")
    return "ok"


sio.on("join", join)
sio.on("vitals", vitals)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", ws="websockets-sansio")
