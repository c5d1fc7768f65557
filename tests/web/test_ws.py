"""WebSocket sessions and the streaming engine (Runner, Slot, frame merging)."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect
from support import wait_for

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.stream import Clock, Runner, Slot, Tick, merge_frames, next_chunk
from app.main import create_app
from app.settings import Settings

SETTINGS = Settings(max_fps=60, max_steps_per_frame=100, max_steps_per_request=500)


def new_session(client: TestClient, config: dict[str, Any] | None = None) -> str:
    """Create a session over REST; its id."""
    r = client.post("/api/sessions", json=config or {"preset": "article"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def frames_until(ws: WebSocketTestSession, done: Any, limit: int = 2000) -> list[dict[str, Any]]:
    """Read messages until `done(frame)`; errors fail the test."""
    out: list[dict[str, Any]] = []
    for _ in range(limit):
        msg = ws.receive_json()
        assert msg["type"] == "frame", msg
        out.append(msg)
        if done(msg):
            return out
    raise AssertionError("condition never met")


def assert_contiguous(frames: list[dict[str, Any]]) -> list[Any]:
    """Each frame's losses start right after the previous frame's step; the whole curve."""
    curve: list[Any] = []
    expected_first = 0
    for f in frames:
        if not f["losses"]:
            assert f["step"] == expected_first - 1  # a frame with no new step (pause)
            continue
        assert f["first_step"] == expected_first, (f["first_step"], expected_first)
        assert len(f["losses"]) == f["step"] - f["first_step"] + 1
        curve.extend(f["losses"])
        expected_first = f["step"] + 1
    return curve


def test_connect_sends_the_whole_curve(client: TestClient) -> None:
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/step", json={"count": 4})
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        frame = ws.receive_json()
        assert frame["type"] == "frame" and frame["step"] == 4
        assert frame["first_step"] == 0 and len(frame["losses"]) == 5
        assert frame["playing"] is False


def test_step_reset_set(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_json({"type": "step", "count": 3})
        frame = ws.receive_json()
        assert frame["step"] == 3 and frame["first_step"] == 1 and len(frame["losses"]) == 3
        ws.send_json({"type": "set", "optimizer": {"name": "momentum", "learning_rate": 0.1}})
        frame = ws.receive_json()
        assert frame["step"] == 3 and frame["learning_rate"] == 0.1
        ws.send_json({"type": "reset"})
        frame = ws.receive_json()
        assert frame["step"] == 0 and frame["first_step"] == 0 and len(frame["losses"]) == 1
    assert client.get(f"/api/sessions/{sid}").json()["step"] == 0


def test_play_pause_and_complete_losses(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        frames = [ws.receive_json()]
        ws.send_json({"type": "play", "steps_per_frame": 3, "fps": 60})
        frames += frames_until(ws, lambda f: f["step"] >= 60)
        playing = frames[1:]
        assert all(f["playing"] for f in playing)
        steps = [f["step"] for f in playing]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        ws.send_json({"type": "pause"})
        frames += frames_until(ws, lambda f: not f["playing"])
        paused_at = frames[-1]["step"]
        # Nothing plays after the pause: the next frame is exactly this one step.
        ws.send_json({"type": "step", "count": 1})
        frames += frames_until(ws, lambda f: True)
        assert frames[-1]["step"] == paused_at + 1
        assert frames[-1]["playing"] is False
    curve = assert_contiguous(frames)
    history = client.get(f"/api/sessions/{sid}/export").json()["history"]["loss"]
    assert curve == history  # every step's loss arrived, once, in order


def test_play_over_a_socket_plays_and_pauses(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_json({"type": "play", "steps_per_frame": 1, "fps": 20})
        frames = frames_until(ws, lambda f: f["step"] >= 10)
        assert all(f["playing"] for f in frames)
        ws.send_json({"type": "pause"})
        frames_until(ws, lambda f: not f["playing"])


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("not json", "invalid"),
        ("[1, 2]", "invalid"),
        ('{"count": 3}', "type"),
        ('{"type": "jump"}', "jump"),
        ('{"type": "step", "count": 0}', "count"),
        ('{"type": "step", "count": 501}', "limit of 500"),
        ('{"type": "play", "steps_per_frame": 101}', "steps_per_frame"),
        ('{"type": "play", "fps": 61}', "fps"),
        ('{"type": "play", "fps": 0}', "fps"),
        ('{"type": "set", "batch_size": 5000}', "batch_size"),
        ('{"type": "set", "batch_size": 50}', "batch_size"),  # larger than the 5 samples
        ('{"type": "set", "l2": "lots"}', "l2"),
        ('{"type": "hello", "token": "x"}', "rooms"),
        ('{"type": "step", "count": 1, "extra": true}', "extra"),
        ("x" * 70_000, "too large"),
    ],
)
def test_bad_messages_get_an_error_and_the_connection_stays(
    client: TestClient, message: str, needle: str
) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_text(message)
        error = ws.receive_json()
        assert error["type"] == "error"
        assert needle in error["message"]
        ws.send_json({"type": "step", "count": 2})
        frame = ws.receive_json()
        assert frame["type"] == "frame" and frame["step"] == 2  # the bad message changed nothing


def test_settings_bound_fps_below_the_protocol_bound() -> None:
    with TestClient(create_app(Settings(max_fps=10))) as c:
        sid = new_session(c)
        with c.websocket_connect(f"/ws/sessions/{sid}") as ws:
            ws.receive_json()
            ws.send_json({"type": "play", "fps": 30})
            error = ws.receive_json()
            assert error["type"] == "error" and "limit of 10" in error["message"]
        assert c.get(f"/api/sessions/{sid}").json()["playing"] is False


def test_binary_messages_are_parsed_too(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_bytes(b'{"type": "step", "count": 2}')
        assert ws.receive_json()["step"] == 2
        ws.send_bytes(b"\xff\xfe")
        assert ws.receive_json()["type"] == "error"


def test_stepping_a_diverged_run_says_so(client: TestClient) -> None:
    config = {
        "activation": "linear",
        "output_activation": "linear",
        "loss": "mse",
        "optimizer": {"name": "sgd", "learning_rate": 1e6},
    }
    sid = new_session(client, config)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_json({"type": "step", "count": 500})
        frame = ws.receive_json()
        assert frame["diverged"] is True and frame["step"] < 500
        error = ws.receive_json()
        assert error["type"] == "error" and "diverged" in error["message"]
        ws.send_json({"type": "play"})
        frame = ws.receive_json()
        assert frame["diverged"] is True and frame["playing"] is False
        assert "diverged" in ws.receive_json()["message"]


def test_origin_checks(client: TestClient) -> None:
    sid = new_session(client)
    # Closed before accept: servers answer 403 (checked on a real server in
    # test_server_process); the TestClient reports it as a disconnect with our code.
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"/ws/sessions/{sid}", headers={"origin": "http://evil.example"}),
    ):
        pass  # pragma: no cover - never reached
    assert refused.value.code == 1008
    for own in ("http://testserver", "http://testserver/"):
        with client.websocket_connect(f"/ws/sessions/{sid}", headers={"origin": own}) as ws:
            assert ws.receive_json()["type"] == "frame"  # the page's own origin
    for foreign in ("https://testserver", "http://testserver:8080", "null"):
        with (
            pytest.raises(WebSocketDisconnect),
            client.websocket_connect(f"/ws/sessions/{sid}", headers={"origin": foreign}),
        ):
            pass  # pragma: no cover


def test_allowed_origins_setting() -> None:
    with TestClient(create_app(Settings(allowed_origins=["https://school.example"]))) as c:
        sid = new_session(c)
        with c.websocket_connect(
            f"/ws/sessions/{sid}", headers={"origin": "https://school.example"}
        ) as ws:
            assert ws.receive_json()["type"] == "frame"
        with (
            pytest.raises(WebSocketDisconnect),
            c.websocket_connect(
                f"/ws/sessions/{sid}", headers={"origin": "https://school.example.evil"}
            ),
        ):
            pass  # pragma: no cover


def test_unknown_session_is_explained_then_closed(client: TestClient) -> None:
    with client.websocket_connect("/ws/sessions/nope") as ws:
        assert "no session" in ws.receive_json()["message"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4404


def test_deleting_the_session_closes_its_sockets(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        assert client.delete(f"/api/sessions/{sid}").status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1001


def test_rest_steps_reach_connected_viewers(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        client.post(f"/api/sessions/{sid}/step", json={"count": 5})
        frame = ws.receive_json()
        assert frame["step"] == 5 and frame["first_step"] == 1


def test_last_viewer_leaving_stops_play(client: TestClient) -> None:
    sid = new_session(client)
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_json({"type": "play", "fps": 60})
        assert ws.receive_json()["playing"] is True
    wait_for(
        lambda: not client.get(f"/api/sessions/{sid}").json()["playing"],
        "play to stop with nobody watching",
    )
    step = client.get(f"/api/sessions/{sid}").json()["step"]
    assert client.get(f"/api/sessions/{sid}").json()["step"] == step


# ---- the streaming engine without a socket -------------------------------------------------


def article_session() -> TrainingSession:
    """The article's network."""
    return TrainingSession(resolve(SessionConfigIn(preset="article")))


def frame(first: int, step: int, tests: bool = False) -> dict[str, Any]:
    """A minimal frame whose losses are their own step numbers."""
    losses = [float(s) for s in range(first, step + 1)]
    return {
        "step": step,
        "first_step": first,
        "losses": losses,
        "test_losses": [-x for x in losses] if tests else None,
    }


def test_merge_keeps_unsent_losses() -> None:
    merged = merge_frames(frame(0, 3, True), frame(4, 6, True))
    assert merged["first_step"] == 0 and merged["losses"] == [0, 1, 2, 3, 4, 5, 6]
    assert merged["test_losses"] == [0, -1, -2, -3, -4, -5, -6]
    # Overlap (a snapshot built mid-run, then a frame since an older step): no duplicates.
    assert merge_frames(frame(0, 5), frame(3, 8))["losses"] == [float(s) for s in range(9)]
    # A reset restarts the curve.
    assert merge_frames(frame(1, 9), frame(0, 0))["losses"] == [0.0]
    # A frame with no new step keeps the unsent curve.
    pause = {"step": 6, "first_step": 7, "losses": [], "test_losses": None, "playing": False}
    merged = merge_frames(frame(4, 6), pause)
    assert merged["losses"] == [4.0, 5.0, 6.0] and merged["playing"] is False


def test_slot_keeps_only_the_newest_frame_with_the_whole_curve() -> None:
    async def scenario() -> None:
        runner = Runner(article_session())
        slot = runner.attach()
        for _ in range(5):
            await runner.step(7)  # nobody reads: each frame replaces the unsent one
        batch = await slot.next()
        assert len(batch) == 1
        sent = json.loads(batch[0])
        assert sent["step"] == 35 and sent["first_step"] == 0
        assert sent["losses"] == list(runner.session.history)
        await runner.close()

    asyncio.run(scenario())


class FakeClock(Clock):
    """Time that moves only when the play loop sleeps, or by `work_cost` per chunk timed."""

    def __init__(self, work_cost: float = 0.0) -> None:
        """Start at 0 s."""
        self.t = 0.0
        self.work_cost = work_cost / 2  # the runner reads the work clock twice per chunk
        self.sleeps: list[float] = []

    def now(self) -> float:
        """The fake time."""
        return self.t

    def work(self) -> float:
        """The fake time, advanced by half a chunk's cost."""
        self.t += self.work_cost
        return self.t

    async def sleep(self, seconds: float) -> None:
        """Record the sleep, jump the clock, and let other tasks run once."""
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def until_step(runner: Runner, step: int, turns: int = 100_000) -> None:
    """Yield to the play loop until the session reaches `step` (bounded in turns, not time)."""
    for _ in range(turns):
        if runner.session.step_count >= step:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"step {step} never reached; at {runner.session.step_count}")


def test_play_keeps_a_fixed_schedule_of_one_over_fps() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        runner = Runner(article_session(), clock=clock)
        await runner.play(steps_per_frame=1, fps=20)
        await until_step(runner, 10)
        await runner.pause()
        frames = runner.session.step_count
        assert frames >= 10
        # Work took no time, so the loop slept a whole frame period after every frame.
        assert clock.sleeps and all(abs(s - 0.05) < 1e-12 for s in clock.sleeps)
        assert abs(clock.t - 0.05 * len(clock.sleeps)) < 1e-9
        await runner.close()

    asyncio.run(scenario())


def test_play_behind_schedule_runs_flat_out_without_bursts() -> None:
    async def scenario() -> None:
        clock = FakeClock(work_cost=0.2)  # each frame's work takes 4 frame periods at 20 fps
        runner = Runner(article_session(), clock=clock, chunk=1)
        slot = runner.attach()
        steps: list[int] = []

        async def read() -> None:
            while batch := await slot.next():
                steps.extend(json.loads(t)["step"] for t in batch)

        reader = asyncio.create_task(read())
        await runner.play(steps_per_frame=3, fps=20)
        await until_step(runner, 30)
        runner.stop()
        await runner.close()
        await reader
        assert clock.sleeps and all(s == 0 for s in clock.sleeps)
        # Never a catch-up burst: every frame the reader saw ran exactly steps_per_frame steps.
        assert len(steps) >= 10 and steps[0] == 0
        assert all(b - a == 3 for a, b in itertools.pairwise(steps))

    asyncio.run(scenario())


def test_a_slow_viewer_does_not_slow_play() -> None:
    async def scenario() -> None:
        runner = Runner(article_session(), clock=FakeClock())
        slow = runner.attach()  # never read while playing
        fast = runner.attach()
        received: list[dict[str, Any]] = []

        async def read_fast() -> None:
            while batch := await fast.next():
                received.extend(json.loads(t) for t in batch)

        reader = asyncio.create_task(read_fast())
        await runner.play(steps_per_frame=2, fps=60)
        await until_step(runner, 60)
        await runner.pause()
        await asyncio.sleep(0)
        assert len(received) >= 15  # the fast viewer got frame after frame meanwhile
        assert assert_contiguous(received) == list(runner.session.history)
        late = [json.loads(t) for t in await slow.next()]
        assert len(late) == 1 and late[0]["step"] == runner.session.step_count
        assert late[0]["losses"] == list(runner.session.history)
        await runner.close()
        await reader

    asyncio.run(scenario())


def test_long_step_requests_yield_to_the_event_loop_between_chunks() -> None:
    async def scenario() -> None:
        config = SessionConfigIn(preset="spiral", layers=[2, 8, 8, 1], batch_size=None)
        runner = Runner(TrainingSession(resolve(config)), chunk=7)
        turns = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal turns
            while not stop.is_set():
                await asyncio.sleep(0)
                turns += 1

        task = asyncio.create_task(ticker())
        await runner.step(300)
        stop.set()
        await task
        assert runner.session.step_count == 300
        # 300 steps in stretches of 7: the loop ran other tasks between every two stretches.
        assert turns >= 300 // 7

    asyncio.run(scenario())


def test_chunks_are_sized_to_the_target_stretch() -> None:
    assert next_chunk(10, ran=10, elapsed=0.030, target=0.015) == 5  # too slow: halve
    assert next_chunk(10, ran=10, elapsed=0.005, target=0.015) == 30  # fast: grow
    assert next_chunk(10, ran=10, elapsed=0.0001, target=0.015) == 40  # at most 4x at once
    assert next_chunk(10, ran=10, elapsed=0.0, target=0.015) == 40  # too fast to time
    assert next_chunk(1, ran=1, elapsed=10.0, target=0.015) == 1  # never below one step


def test_tick_encodes_once() -> None:
    tick = Tick({"step": 1, "losses": [float("nan")]})
    assert tick.text() is tick.text()
    assert json.loads(tick.text())["losses"] == [None]


def test_slot_errors_are_bounded_and_follow_the_frame() -> None:
    async def scenario() -> None:
        slot = Slot(max_errors=3)
        for n in range(10):
            slot.error(f"e{n}")
        slot.offer(Tick(frame(0, 0)))
        batch = [json.loads(t) for t in await slot.next()]
        assert "losses" in batch[0]
        assert [m["message"] for m in batch[1:]] == ["e7", "e8", "e9"]
        slot.close()
        assert await slot.next() == []

    asyncio.run(scenario())


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(1, 30)),
        st.tuples(st.just("reset"), st.just(0)),
        st.tuples(st.just("read"), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(ops=OPS)
def test_any_mix_of_steps_resets_and_reads_keeps_the_curve_whole(
    ops: list[tuple[str, int]],
) -> None:
    async def scenario() -> None:
        runner = Runner(article_session())
        slot = runner.attach()
        curve: list[Any] = []

        async def read() -> None:
            for text in await slot.next():
                f = json.loads(text)
                if f["first_step"] == 0:
                    curve.clear()  # a reset (or the first frame) restarts the curve
                assert f["first_step"] == len(curve), "a hole or a repeat in the curve"
                curve.extend(f["losses"])
                assert len(curve) == f["step"] + 1

        for op, n in ops:
            if op == "step":
                await runner.step(n)
            elif op == "reset":
                await runner.reset()
            elif slot.pending is not None:
                await read()
        if slot.pending is not None:
            await read()
        assert curve == list(runner.session.history)
        await runner.close()

    asyncio.run(scenario())
