"""Forks playing at one fps are stepped together (app/live/together.py), bit for bit as alone."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession
from app.domain.together import group_key
from app.live.stream import Runner
from app.live.together import coalescer
from app.main import create_app
from app.settings import Settings

Msg = dict[str, Any]
DEADLINE = 120.0  # seconds of loop time a condition may take on a loaded 2-core box


def bits(a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64)).view(np.uint64)


def numbers(x: Any) -> list[float]:
    """Every number in a frame field (nested lists and dicts), in order."""
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in numbers(x[k])]
    if isinstance(x, list):
        return [v for item in x for v in numbers(item)]
    return [float(x)]


def same_numbers(a: Msg, b: Msg) -> list[str]:
    """The numeric fields of two frames that differ bit for bit (empty: none)."""
    out = []
    for name in ("weights", "biases", "gradients", "loss"):
        x, y = numbers(a[name]), numbers(b[name])
        if len(x) != len(y) or not np.array_equal(bits(x), bits(y)):
            out.append(name)
    return out


async def until(done: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not done():
        if loop.time() > end:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.01)


def lr_patch(session: TrainingSession, lr: float) -> SessionPatch:
    o = session.config.optimizer.model_dump()
    return SessionPatch.model_validate({"optimizer": {**o, "learning_rate": lr}})


def test_forks_playing_together_are_stepped_as_one_and_stay_bit_for_bit() -> None:
    """Six article forks at 60 fps: some ticks go through advance_together (the stats count
    them); every frame any fork published equals the frame of the same run stepped alone, with
    a settings change, a pause and resume, and a seek back on the way; a run that cannot share
    (a test split) plays on its own path meanwhile."""
    config = resolve(SessionConfigIn(preset="article"))
    apart = resolve(
        SessionConfigIn.model_validate(
            {
                "preset": "spiral",
                "dataset": {"name": "spiral", "samples": 80, "test_fraction": 0.25},
            }
        )
    )

    async def scenario() -> tuple[list[list[Msg]], list[list[tuple[int, float]]], Msg, int]:
        runners = [Runner(TrainingSession(config)) for _ in range(6)]
        loner = Runner(TrainingSession(apart))
        assert group_key(loner.session) is None  # a test split: never stacked
        frames: list[list[Msg]] = [[] for _ in runners]
        patches: list[list[tuple[int, float]]] = [[] for _ in runners]
        readers = []
        for r, got in zip(runners, frames, strict=True):
            r.together = True
            slot = r.attach()

            async def read(slot: Any = slot, got: list[Msg] = got) -> None:
                while batch := await slot.next():
                    got.extend(m for m in map(json.loads, batch) if m.get("type") == "frame")

            readers.append(asyncio.create_task(read()))
        loner.together = True
        stats = coalescer().stats
        before = stats.runs
        for r in [*runners, loner]:
            assert await r.play(1, 60.0)
        await until(lambda: stats.runs - before >= 12, "ticks stepped together")
        # A settings change on fork 1 and a pause and resume of fork 2, between ticks.
        frame = await runners[1].patch(lambda s: s.patch(lr_patch(s, 0.3)))
        patches[1].append((frame["step"], 0.3))
        await runners[2].pause()
        assert await runners[2].play(1, 60.0)
        await runners[3].seek(runners[3].session.step_count // 2)  # seeking stops playing
        assert await runners[3].play(1, 60.0)
        mark = stats.runs
        await until(lambda: stats.runs - mark >= 12, "ticks stepped together after the changes")
        await until(lambda: all(r.session.step_count >= 20 for r in runners), "20 steps each")
        await until(lambda: loner.session.step_count >= 5, "the lone run plays")
        for r in [*runners, loner]:
            await r.pause()
        for r in [*runners, loner]:
            await r.close()
        for t in readers:
            await t
        return frames, patches, stats.as_dict(), loner.session.step_count

    frames, patches, stats, loner_steps = asyncio.run(scenario())
    assert stats["batches"] > 0 and stats["runs"] >= 24 and stats["steps"] >= stats["runs"]
    assert loner_steps >= 5
    back = frames[3]
    assert any(b["step"] < a["step"] for a, b in itertools.pairwise(back))  # the seek
    for j, got in enumerate(frames):
        assert got[0]["step"] == 0 and got[-1]["step"] >= 20
        alone = TrainingSession(config)
        todo = list(patches[j])
        for f in got:
            while todo and todo[0][0] <= f["step"]:
                at, lr = todo.pop(0)
                alone.advance(at - alone.step_count)
                alone.patch(lr_patch(alone, lr))
            if f["step"] < alone.step_count:
                alone.seek(f["step"])  # fork 3 went back: so does its lone twin
            alone.advance(f["step"] - alone.step_count)
            assert alone.step_count == f["step"]
            mine = alone.frame(since=None)
            assert same_numbers(f, json.loads(json.dumps(mine))) == [], (j, f["step"])


def test_capacity_route_says_what_was_stepped_together() -> None:
    """Sessions from one address playing over WebSockets: the room's capacity route counts the
    stretches that stepped several of them together."""
    app = create_app(Settings())
    with TestClient(app) as client:
        code = client.post("/api/rooms", json={"config": {"preset": "article"}}).json()
        code = code.get("code", code)
        first = client.get(f"/api/rooms/{code}/capacity").json()["together"]
        assert set(first) == {"batches", "runs", "steps"}
        ids = [
            client.post("/api/sessions", json={"preset": "article"}).json()["id"] for _ in range(4)
        ]
        sockets = [client.websocket_connect(f"/ws/sessions/{i}") for i in ids]
        opened = [s.__enter__() for s in sockets]
        try:
            for ws in opened:
                ws.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
            stats = first
            for _ in range(2000):  # frames keep coming while they play: read until counted
                for ws in opened:
                    ws.receive_text()
                stats = client.get(f"/api/rooms/{code}/capacity").json()["together"]
                if stats["runs"] >= first["runs"] + 8:
                    break
            assert stats["batches"] > first["batches"], stats
            assert stats["runs"] >= first["runs"] + 8 and stats["steps"] >= stats["runs"]
        finally:
            for ws in opened:
                ws.send_json({"type": "pause"})
            for s in sockets:
                s.__exit__(None, None, None)
