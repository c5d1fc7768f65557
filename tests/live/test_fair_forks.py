"""Everyone forks: the capacity the presenter is told, and forks that slow down evenly."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.capacity import Costs, about, capacity, costs, forks_at
from app.live.stream import Runner
from app.main import create_app
from app.settings import Settings

Msg = dict[str, Any]


def new_room(client: TestClient, config: Msg) -> tuple[str, str]:
    """POST /api/rooms: code and presenter token."""
    r = client.post("/api/rooms", json={"config": config})
    assert r.status_code == 201, r.text
    return r.json()["code"], r.json()["presenter_token"]


def until(ws: WebSocketTestSession, done: Callable[[Msg], bool], limit: int = 500) -> list[Msg]:
    """Messages up to and including the first for which `done` holds."""
    seen: list[Msg] = []
    for _ in range(limit):
        seen.append(ws.receive_json())
        if done(seen[-1]):
            return seen
    raise AssertionError(f"condition never met; last messages {seen[-3:]}")


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh app."""
    with TestClient(create_app(Settings(max_fps=60))) as c:
        yield c


# ---- the arithmetic ---------------------------------------------------------------------------


def test_costs_are_moving_averages_per_shape() -> None:
    c = Costs(alpha=0.25)
    a, b = ((4, 5, 1), 100), ((2, 16, 1), 9000)
    values = [40e-6, 80e-6, 20e-6, 60e-6]
    expected = values[0]
    for v in values[1:]:
        expected = 0.75 * expected + 0.25 * v  # written out: old weighed 3/4, newest 1/4
    for v in values:
        c.step(a, v)
    assert c.of(a) is None  # no frame timed yet: no figure
    c.frame(a, 30e-6)
    c.step(b, 1.0)
    c.step(a, float("nan"))  # a broken measurement changes nothing
    measured = c.of(a)
    assert measured is not None
    assert measured[0] == pytest.approx(expected, rel=1e-12) and measured[1] == 30e-6
    assert c.of(b) is None


@pytest.mark.parametrize(
    ("step", "frame", "fps", "spf"),
    [(34e-6, 20e-6, 30.0, 1), (520e-6, 60e-6, 30.0, 1), (1e-6, 1e-6, 60.0, 10), (0.05, 0.0, 30, 1)],
)
def test_forks_at_is_one_second_over_what_one_fork_needs(
    step: float, frame: float, fps: float, spf: int
) -> None:
    per_second = fps * spf * step + fps * frame  # one fork's seconds of loop per second
    n = forks_at(step, frame, fps, spf)
    assert n * per_second <= 1.0 + 1e-12
    assert (n + 1) * per_second > 1.0


@pytest.mark.parametrize("n", [0, 1, 7, 99, 100, 187, 1234, 56789])
def test_about_keeps_two_significant_digits_rounding_down(n: int) -> None:
    digits = len(str(n))
    expected = n if n < 100 else int(str(n)[:2] + "0" * (digits - 2))
    assert about(n) == expected


# ---- the room says it ---------------------------------------------------------------------------


def sentence(forks: int) -> str:
    """The page's sentence, written independently of app/live/capacity.py."""
    shown = forks if forks < 100 else int(str(forks)[:2]) * 10 ** (len(str(forks)) - 2)
    noun = "fork" if shown == 1 else "forks"
    return f"this server keeps ~{shown} {noun} of this network at 30 fps"


def check_capacity(cap: Msg) -> None:
    """The figure follows from the measured costs the field carries."""
    need = 30 * (cap["step_us"] + cap["frame_us"]) / 1e6
    assert cap["step_us"] > 0 and cap["frame_us"] > 0
    assert cap["forks"] == math.floor(1 / need)
    assert cap["text"] == sentence(cap["forks"])


def test_a_room_tells_how_many_forks_the_server_keeps(client: TestClient) -> None:
    config = {"preset": "xor", "layers": [2, 7, 3, 1]}  # a shape no other test times
    code, token = new_room(client, config)
    assert client.get(f"/api/rooms/{code}/capacity").json()["capacity"] is None  # not timed
    with client.websocket_connect(f"/ws/rooms/{code}?frames=packed") as presenter:
        presenter.send_json({"type": "hello", "token": token})
        until(presenter, lambda m: m["type"] == "welcome")
        presenter.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
        until(presenter, lambda m: m["type"] == "frame" and m["step"] >= 5)
        presenter.send_json({"type": "pause"})
        until(presenter, lambda m: m["type"] == "frame" and not m["playing"])
        first = client.get(f"/api/rooms/{code}/capacity").json()["capacity"]
        check_capacity(first)
        # A fork of the room has the same shape: its play is measured into the same figure.
        fork = client.post(f"/api/rooms/{code}/fork").json()["id"]
        with client.websocket_connect(f"/ws/sessions/{fork}?frames=packed") as ws:
            ws.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
            until(ws, lambda m: m["type"] == "frame" and m["step"] >= 10)
            ws.send_json({"type": "pause"})
            until(ws, lambda m: m["type"] == "frame" and not m["playing"])
        later = client.get(f"/api/rooms/{code}/capacity").json()["capacity"]
        check_capacity(later)
        assert later["step_us"] != first["step_us"]  # the fork's steps moved the average


# ---- even degradation -------------------------------------------------------------------------


def test_forks_over_the_budget_slow_down_evenly() -> None:
    """Forks asking far more than the loop gives (a million fps each) get the same share."""
    forks, total = 8, 8 * 40

    async def scenario() -> list[int]:
        config = resolve(SessionConfigIn(preset="article"))
        runners = [Runner(TrainingSession(config)) for _ in range(forks)]
        for r in runners:
            r.attach().packed = True  # a packed viewer each: frames are built and encoded
        for r in runners:
            assert await r.play(1, 1e6)
        while sum(r.session.step_count for r in runners) < total:
            await asyncio.sleep(0)
        for r in runners:
            r.stop()
        counts = [r.session.step_count for r in runners]
        for r in runners:
            await r.close()
        return counts

    counts = asyncio.run(scenario())
    share = sum(counts) / forks
    # Round robin at the CPU gate: nobody is more than a couple of turns ahead or behind.
    assert max(counts) - min(counts) <= 2, counts
    assert all(abs(c - share) <= 2 for c in counts), counts


def test_capacity_of_an_unmeasured_shape_is_null() -> None:
    assert capacity(((3, 3, 3), 123_456_789)) is None
    assert costs().of(((3, 3, 3), 123_456_789)) is None
