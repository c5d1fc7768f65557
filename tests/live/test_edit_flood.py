"""A flood of edits by hand (issue 22, item 7) is refused by the work budget, never stalls a room.

The real server in a subprocess with a small work budget. An edit costs a settings change (one
step's work): over REST a flood gets 429 with Retry-After once the budget is spent, the session
and other addresses carry on; over a playing room's presenter socket it gets `error` messages
while the room keeps playing for its participants, and the presenter can still pause it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from support import ServerProcess
from websockets.asyncio.client import ClientConnection, connect

# xor at 60 samples, [2, 4, 1]: a step is 60 x 12 = 720 multiply-adds; 20 steps' worth a burst.
SERVER_ENV = {
    "BACKPROP_CLIENT_WORK_PER_SECOND": "10",
    "BACKPROP_CLIENT_WORK_BURST": "14400",
}
CONFIG = {"preset": "xor", "layers": [2, 4, 1], "dataset": {"name": "xor", "samples": 60}}
FLOOD = 60  # three times what the burst pays for
Msg = dict[str, Any]


def client(address: str) -> httpx.Client:
    """An HTTP client whose requests come from `address` (any 127.x.y.z reaches loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def edit(value: float) -> Msg:
    """The body of an edit of W_ih[1, 3]."""
    return {"kind": "weight", "layer": 0, "i": 1, "j": 3, "value": value}


def test_an_edit_flood_over_rest_gets_429_and_the_session_carries_on(
    server: ServerProcess,
) -> None:
    with client("127.0.0.31") as mine, client("127.0.0.32") as other:
        sid = mine.post(f"{server.url}/api/sessions", json=CONFIG).json()["id"]
        url = f"{server.url}/api/sessions/{sid}/edit"
        answers = [mine.post(url, json=edit(0.5 + k / 1024)) for k in range(FLOOD)]
        codes = [r.status_code for r in answers]
        assert codes[0] == 200 and codes[-1] == 429, codes
        assert set(codes) == {200, 429}, codes  # refused, never an error of the server
        refused = answers[-1]
        assert int(refused.headers["retry-after"]) >= 1
        assert "too much computation" in refused.json()["detail"]
        # Charged as a step each: the burst pays for 20, a trickle of 10 a second adds little.
        accepted = codes.count(200)
        assert 20 <= accepted < FLOOD, codes
        # The last edit that got through is the run's weight (read from another address: a
        # read that computes a frame is charged too, and this one's budget is spent).
        last = next(
            edit(0.5 + k / 1024)["value"] for k in reversed(range(FLOOD)) if codes[k] == 200
        )
        assert mine.get(f"{server.url}/api/sessions/{sid}").status_code == 429
        frame = other.get(f"{server.url}/api/sessions/{sid}").json()
        assert frame["weights"][0][1][3] == last
        # Another address edits the same session at once.
        r = other.post(url, json=edit(-0.25))
        assert r.status_code == 200, r.text
        assert r.json()["weights"][0][1][3] == -0.25


async def next_of(ws: ClientConnection, kind: str) -> Msg:
    """The next message of this type (others skipped), or a timeout failure."""
    while True:
        msg: Msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if msg["type"] == kind:
            return msg


def test_an_edit_flood_in_a_playing_room_gets_errors_and_the_room_plays_on(
    server: ServerProcess,
) -> None:
    with client("127.0.0.33") as maker:
        body = maker.post(f"{server.url}/api/rooms", json={"config": CONFIG}).json()
    code, token = body["code"], body["presenter_token"]
    url = f"{server.ws_url}/ws/rooms/{code}"

    async def scenario() -> None:
        async with (
            connect(url, max_size=None, local_addr=("127.0.0.34", 0)) as presenter,
            connect(url, max_size=None, local_addr=("127.0.0.35", 0)) as viewer,
        ):
            await presenter.send(json.dumps({"type": "hello", "token": token}))
            await next_of(presenter, "welcome")
            await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": 30}))
            while not (await next_of(viewer, "frame")).get("playing"):
                pass
            for k in range(FLOOD):
                await presenter.send(json.dumps({"type": "edit", **edit(0.5 + k / 1024)}))
            # The presenter hears a refusal for what the budget does not pay for ...
            errors: list[str] = []
            while len(errors) < FLOOD - 22:  # the burst pays for 19 and the play, + a trickle
                msg = json.loads(await asyncio.wait_for(presenter.recv(), 60))
                if msg["type"] == "error":
                    errors.append(msg["message"])
            assert all("too much computation" in e for e in errors), errors
            # ... while the room plays on: the participant's frames keep coming, steps rising.
            at = (await next_of(viewer, "frame"))["step"]
            while (f := await next_of(viewer, "frame"))["step"] < at + 20:
                assert f["playing"], f
            # The presenter is still connected and, over budget, can still stop the room: a
            # pause of a playing run is never refused (stopping saves work).
            # (Refused, it would play on for ever: the frames counted bound the wait.)
            await presenter.send(json.dumps({"type": "pause"}))
            for _ in range(300):
                msg = json.loads(await asyncio.wait_for(presenter.recv(), 60))
                if msg["type"] == "error":  # what is left of the flood's refusals
                    assert "too much computation" in msg["message"], msg
                if msg["type"] == "frame" and msg.get("playing") is False:
                    break
            else:
                raise AssertionError("the pause was not obeyed within 300 messages")
            while (await next_of(viewer, "frame")).get("playing"):
                pass
            # At rest, the budget still spent: a pause is a frame's work again, refused.
            await presenter.send(json.dumps({"type": "pause"}))
            refusal = await next_of(presenter, "error")
            assert "too much computation" in refusal["message"]

    asyncio.run(scenario())
