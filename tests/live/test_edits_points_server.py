"""A room on the real server: participants see the presenter's edits and drawn points at once.

The presenter's socket and a participant's, both plain WebSocket clients of `backprop-studio`
in a subprocess. Paused, the participant's very next frame is the presenter's edit (or points)
frame, the same numbers; while playing, no frame after the change's step lacks it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from support import ServerProcess
from websockets.asyncio.client import ClientConnection, connect

Msg = dict[str, Any]
CONFIG = {"preset": "xor", "layers": [2, 4, 1], "dataset": {"name": "xor", "samples": 60}}
EDIT = {"kind": "weight", "layer": 0, "i": 1, "j": 3, "value": -0.625}
POINTS = {"op": "add", "x": [[0.5, 0.5], [-0.25, 0.75]], "y": [1, 0]}


async def next_of(ws: ClientConnection, kind: str) -> Msg:
    """The next message of this type (others skipped), or a timeout failure."""
    while True:
        msg: Msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if msg["type"] == kind:
            return msg


def has(frame: Msg, key: str, body: Msg) -> bool:
    """The frame's settings log lists this change."""
    log = frame.get("settings_log") or {}
    return any(c.get(key) == body for c in log.get("changes") or [])


def test_participants_see_edits_and_points_within_a_frame(server: ServerProcess) -> None:
    body = httpx.post(f"{server.url}/api/rooms", json={"config": CONFIG}, timeout=30).json()
    code, token = body["code"], body["presenter_token"]
    url = f"{server.ws_url}/ws/rooms/{code}"

    async def scenario() -> None:
        async with (
            connect(url, max_size=None) as presenter,
            connect(url, max_size=None) as viewer,
        ):
            await presenter.send(json.dumps({"type": "hello", "token": token}))
            await next_of(presenter, "welcome")
            await next_of(viewer, "frame")
            # Paused: the participant's next frame is the presenter's edit frame.
            await presenter.send(json.dumps({"type": "edit", **EDIT}))
            mine = await next_of(presenter, "frame")
            theirs = await next_of(viewer, "frame")
            assert theirs["weights"][0][1][3] == -0.625 == mine["weights"][0][1][3]
            assert theirs["loss"] == mine["loss"] and has(theirs, "edit", EDIT)
            await presenter.send(json.dumps({"type": "points", **POINTS}))
            mine = await next_of(presenter, "frame")
            theirs = await next_of(viewer, "frame")
            assert has(theirs, "points", POINTS) and theirs["loss"] == mine["loss"]
            assert theirs["accuracy"] == mine["accuracy"]
            async with httpx.AsyncClient() as http:
                data = (await http.get(f"{server.url}/api/rooms/{code}/data")).json()
            assert data["drawn"] == {"x": POINTS["x"], "y": POINTS["y"]}
            assert len(data["x"]) == 60 + 2
            # Playing: an edit and an undo mid-play; no later frame lacks either.
            await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": 30}))
            for _ in range(5):
                await next_of(presenter, "frame")
            bias = {"kind": "bias", "layer": 1, "j": 0, "value": 0.125}
            await presenter.send(json.dumps({"type": "edit", **bias}))
            while not has(edited := await next_of(presenter, "frame"), "edit", bias):
                pass
            await presenter.send(json.dumps({"type": "points", "op": "undo"}))
            undo = {"op": "undo"}
            while not has(undone := await next_of(presenter, "frame"), "points", undo):
                pass
            for _ in range(3):
                await next_of(presenter, "frame")
            await presenter.send(json.dumps({"type": "pause"}))
            frames: list[Msg] = []
            while (f := await next_of(viewer, "frame"))["playing"] or not frames:
                frames.append(f)
            frames.append(f)
            for f in frames:
                if f["step"] > edited["step"]:
                    assert has(f, "edit", bias), f["step"]
                if f["step"] > undone["step"]:
                    assert has(f, "points", undo), f["step"]
            assert any(has(f, "edit", bias) for f in frames)
            assert frames[-1]["biases"][1][0] != 0.125  # it trained on from the edit
            async with httpx.AsyncClient() as http:
                data = (await http.get(f"{server.url}/api/rooms/{code}/data")).json()
            assert data["drawn"] == {"x": POINTS["x"][:1], "y": POINTS["y"][:1]}

    asyncio.run(scenario())
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log
