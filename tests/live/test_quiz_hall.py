"""A question a hall answers: 200 participants from one address, through the real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from support import DEADLINE, ServerProcess
from test_hall import drained, first, new_room, settle, ws
from websockets.asyncio.client import ClientConnection

SERVER_ENV = {"BACKPROP_STATE_DIR": ""}  # the conftest `server` starts with these
HALL = 200
ADDRESS = "127.0.0.31"  # one NAT: every participant shares it


def way(before: float, after: float) -> str:
    """up / down / stays, as docs/api.md, Version 3 defines it."""
    d = after - before
    if d == 0 or abs(d) <= 1e-10 * max(abs(before), abs(after)):
        return "stays"
    return "up" if d > 0 else "down"


async def next_of(conn: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next message of this type (and these fields), skipping the rest."""
    while True:
        msg = await first(conn)
        if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
            return msg


async def _hall(server: ServerProcess) -> None:
    code, token = await new_room(server, ADDRESS)
    boss = await ws(server, "127.0.0.32", f"/ws/rooms/{code}", token)
    await next_of(boss, "welcome")
    hall = await asyncio.gather(*(ws(server, ADDRESS, f"/ws/rooms/{code}") for _ in range(HALL)))
    try:
        await next_of(boss, "room", participants=HALL)
        await boss.send(
            json.dumps(
                {"type": "ask", "question": {"kind": "direction", "layer": 1, "i": 1, "j": 0}}
            )
        )
        question = await next_of(boss, "question")
        qid, choices = question["id"], question["choices"]
        assert choices == ["up", "down", "stays"]
        # Participant k answers choices[k % 3]; every fourth changes its mind to the next one.
        final = [choices[(k + (k % 4 == 0)) % 3] for k in range(HALL)]

        async def participant(k: int, conn: ClientConnection) -> dict[str, Any]:
            await next_of(conn, "question", id=qid)
            await conn.send(json.dumps({"type": "answer", "id": qid, "choice": choices[k % 3]}))
            if k % 4 == 0:
                await conn.send(json.dumps({"type": "answer", "id": qid, "choice": final[k]}))
            return await next_of(conn, "revealed", id=qid)

        answering = [asyncio.create_task(participant(k, c)) for k, c in enumerate(hall)]
        expected = {c: final.count(c) for c in choices}
        tally = await next_of(boss, "tally", id=qid, answered=HALL, counts=expected)
        assert tally["present"] == HALL
        async with httpx.AsyncClient(timeout=DEADLINE) as c:
            trace = (await c.get(f"{server.url}/api/rooms/{code}/trace")).json()
        up = next(u for u in trace["update"] if u["layer"] == 2)
        right = way(up["W_old"][1][0], up["W_new"][1][0])
        await boss.send(json.dumps({"type": "reveal", "id": qid}))
        shown = await next_of(boss, "revealed", id=qid)
        assert shown["correct"] == right
        assert shown["counts"] == expected and shown["answered"] == HALL
        assert shown["right"] == final.count(right)
        mine = await asyncio.wait_for(asyncio.gather(*answering), DEADLINE)
        for k, msg in enumerate(mine):
            assert msg["yours"] == {"choice": final[k], "right": final[k] == right}
            assert msg["correct"] == right and msg["counts"] == expected
    finally:
        drains = [asyncio.create_task(drained(c)) for c in hall]
        await asyncio.gather(*(c.close() for c in [boss, *hall]))
        for d in drains:
            d.cancel()
        await settle()


def test_two_hundred_participants_answer_one_question(server: ServerProcess) -> None:
    asyncio.run(_hall(server))
