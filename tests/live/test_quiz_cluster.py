"""A room's questions across peers on one Redis: asked on one, answered on both, revealed."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import RedisProcess, ServerProcess, running, start_peers
from test_cluster import make_room, next_message, present
from websockets.asyncio.client import connect


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


def test_a_question_asked_on_one_peer_is_answered_on_both(two: list[ServerProcess]) -> None:
    a, b = two
    code, token = make_room(a)  # A trains the room; the presenter is on B

    async def scenario() -> None:
        async with (
            connect(f"{a.ws_url}/ws/rooms/{code}") as on_a,
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
        ):
            await present(presenter, token)
            await next_message(presenter, "room", lambda m: m["participants"] == 2)
            ask = {"kind": "direction", "layer": 0, "i": 1, "j": 2}
            await presenter.send(json.dumps({"type": "ask", "question": ask}))
            q = await next_message(presenter, "question")
            for ws in (on_a, on_b):
                assert (await next_message(ws, "question"))["id"] == q["id"]
            await on_a.send(json.dumps({"type": "answer", "id": q["id"], "choice": "up"}))
            await on_b.send(json.dumps({"type": "answer", "id": q["id"], "choice": "down"}))
            tally = await next_message(presenter, "tally", lambda m: m["answered"] == 2)
            assert tally["counts"] == {"up": 1, "down": 1, "stays": 0}
            await presenter.send(json.dumps({"type": "reveal", "id": q["id"]}))
            shown = await next_message(presenter, "revealed")
            assert shown["step"] == q["step"] + 1 and shown["counts"] == tally["counts"]
            for ws, mine in ((on_a, "up"), (on_b, "down")):
                got = await next_message(ws, "revealed")
                assert got["correct"] == shown["correct"]
                assert got["yours"] == {"choice": mine, "right": mine == shown["correct"]}

    asyncio.run(scenario())
    for peer in (a, b):  # each peer's copy lists it, answers from both peers included
        r = httpx.get(
            f"{peer.url}/api/rooms/{code}/questions.csv", headers={"X-Presenter-Token": token}
        )
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == 1 and rows[0]["answered"] == "2" and rows[0]["revealed_step"] == "1"
