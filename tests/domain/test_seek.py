"""Seek: any step 0..head bit for bit (settings changes, mini-batches), branches, memory bounds."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, cast

import numpy as np
import pytest

from app.domain import history as history_module
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession
from app.domain.timeline import MIN_CHECKPOINTS
from app.live import stream
from app.live.stream import Runner

CONFIG: dict[str, Any] = {
    "layers": [2, 6, 1],
    "activation": "tanh",
    "optimizer": {"name": "adam", "learning_rate": 0.02},
    "batch_size": 5,
    "dataset": {"name": "xor", "samples": 40, "test_fraction": 0.25},
    "seed": 7,
}
# Settings changes at these steps (two at step 100): the run's own log.
PATCHES: dict[int, list[dict[str, Any]]] = {
    30: [{"optimizer": {"learning_rate": 0.05}}],
    100: [{"batch_size": 7}, {"l2": 0.01}],
    150: [{"optimizer": {"name": "momentum", "learning_rate": 0.1}}],
    200: [{"full_batch": True}],
    210: [{"batch_size": 3}],
}
FRAME_KEYS: tuple[str, ...] = (
    "step",
    "loss",
    "test_loss",
    "losses",
    "test_losses",
    "first_step",
    "weights",
)
FRAME_KEYS += ("biases", "gradients", "diverged", "learning_rate")


def session(**config: Any) -> TrainingSession:
    """A session from a preset and overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(config)))


def state(s: TrainingSession) -> dict[str, Any]:
    """Everything a step depends on, copied: the frame (whole curve), optimizer, batch sampler."""
    frame = s.frame(since=-1)
    optimizer = {
        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(s.optimizer).items()
    }
    return {
        "frame": {k: frame[k] for k in FRAME_KEYS},
        "optimizer": (type(s.optimizer), optimizer),
        "batch": s.batch(),
        "rng": s.batch_rng.bit_generator.state,
        "order": s._order.copy(),
        "pos": s._pos,
        "config": s.config,
    }


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Exact equality: floats compare with ==, arrays with array_equal."""
    assert got["frame"] == want["frame"]
    assert got["optimizer"][0] is want["optimizer"][0]
    for key, value in want["optimizer"][1].items():
        mine = got["optimizer"][1][key]
        if isinstance(value, np.ndarray):
            assert np.array_equal(mine, value), key
        else:
            assert mine == value, key
    assert got["batch"] == want["batch"]
    assert got["rng"] == want["rng"]
    assert np.array_equal(got["order"], want["order"])
    assert got["pos"] == want["pos"]
    assert got["config"] == want["config"]


def run(s: TrainingSession, steps: int, record: dict[int, dict[str, Any]]) -> None:
    """Step one at a time, applying PATCHES on the way; record the state at every step."""
    record[s.step_count] = state(s)
    for _ in range(steps):
        s.step(1)
        for p in PATCHES.get(s.step_count, []):
            s.patch(SessionPatch.model_validate(p))
        record[s.step_count] = state(s)


@pytest.fixture(scope="module")
def recorded() -> tuple[TrainingSession, dict[int, dict[str, Any]]]:
    """A 300-step run with settings changes and mini-batches, and its state at every step."""
    s = session(**CONFIG)
    record: dict[int, dict[str, Any]] = {}
    run(s, 300, record)
    return s, record


def test_seek_is_bit_exact_at_every_step(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]],
) -> None:
    original, record = recorded
    s = original.clone()
    assert s.head == 300
    steps = list(range(301))
    random.Random(1).shuffle(steps)
    for n in steps:
        frame = s.seek(n)
        assert frame["seeked"] is True and frame["step"] == n and frame["head"] == 300
        assert_same(state(s), record[n])
        assert {k: frame[k] for k in FRAME_KEYS} == record[n]["frame"]


def test_seek_stays_exact_when_checkpoints_are_thinned(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]],
) -> None:
    _, record = recorded
    s = session(**CONFIG)
    s.timeline.every = 4  # 75 checkpoints and more, far over a budget of 1 byte
    s.timeline.budget = 1
    run(s, 300, {})
    assert len(s.timeline.checkpoints) <= MIN_CHECKPOINTS
    assert s.timeline.every >= 16
    # Off-grid checkpoints of settings changes are gone: the log replays them.
    assert all(c.step % s.timeline.every == 0 for c in s.timeline.checkpoints[:-1])
    for n in [299, 0, 31, 30, 100, 101, 150, 199, 200, 201, 210, 250, 300, 17]:
        s.seek(n)
        assert_same(state(s), record[n])


def test_stepping_from_an_earlier_step_starts_a_new_branch(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]],
) -> None:
    original, record = recorded
    s = original.clone()
    s.seek(120)
    # Forward again without changing anything: the same run, steps 121.. replayed exactly.
    for n in range(121, 150):
        s.step(1)
        assert s.head == n
        assert_same(state(s), record[n])
    with pytest.raises(ValueError, match="from 0 to the head, 149"):
        s.seek(150)
    # A change at an earlier step: a new branch from there, equal to a run that did the same.
    s.seek(60)
    frame = s.patch(SessionPatch(l2=0.2))
    assert frame["head"] == 60 and frame["step"] == 60
    s.step(20)
    fresh = session(**CONFIG)
    fresh.step(30)
    fresh.patch(SessionPatch.model_validate(PATCHES[30][0]))
    fresh.step(30)
    fresh.patch(SessionPatch(l2=0.2))
    fresh.step(20)
    assert_same(state(s), state(fresh))
    assert s.frame(since=-1)["losses"] == fresh.frame(since=-1)["losses"]
    assert len(s.frame(since=-1)["losses"]) == 81
    # The new branch's own past is seekable, and exact.
    s.seek(70)
    fresh70 = session(**CONFIG)
    fresh70.step(30)
    fresh70.patch(SessionPatch.model_validate(PATCHES[30][0]))
    fresh70.step(30)
    fresh70.patch(SessionPatch(l2=0.2))
    fresh70.step(10)
    assert_same(state(s), state(fresh70))
    # The recorded run is untouched by its clone's branches.
    assert original.head == 300 and original.step_count == 300


def test_frames_after_a_seek_stop_at_their_step_and_the_branch_cuts_the_curve(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]],
) -> None:
    original, record = recorded
    s = original.clone()
    frame = s.seek(40)
    assert frame["first_step"] == 0 and len(frame["losses"]) == 41
    seeked_export = s.export()["history"]
    assert seeked_export["steps"] == list(range(41))
    assert seeked_export["loss"] == frame["losses"] and len(seeked_export["test_loss"]) == 41
    assert s.snapshot()["losses"] == [record[40]["frame"]["loss"]]
    assert s.snapshot()["seeked"] is False and s.snapshot()["head"] == 300
    stepped = s.step(2)
    assert stepped["first_step"] == 41 and stepped["head"] == 42
    whole = s.frame(since=-1)["losses"]
    assert len(whole) == 43 and whole[:41] == record[40]["frame"]["losses"]
    exported = s.export()
    assert exported["history"]["steps"] == list(range(43))


@pytest.mark.parametrize("bad", [-1, 301, 10**30, True])
def test_seek_outside_the_run_is_a_clear_error_and_changes_nothing(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]], bad: Any
) -> None:
    original, record = recorded
    s = original.clone()
    s.seek(250)
    with pytest.raises(
        ValueError, match=r"outside this run; seek to a step from 0 to the head, 300"
    ):
        s.seek(bad)
    assert_same(state(s), record[250])
    assert s.head == 300


def test_reset_starts_a_new_timeline() -> None:
    s = session(**CONFIG)
    s.step(100)
    s.seek(10)
    frame = s.reset()
    assert frame["head"] == 0 and frame["step"] == 0
    with pytest.raises(ValueError):
        s.seek(1)
    s.step(5)
    assert s.seek(3)["step"] == 3


def test_a_fork_has_its_own_timeline(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]],
) -> None:
    original, record = recorded
    fork = original.clone()
    fork.seek(10)
    fork.step(3)
    assert fork.head == 13
    assert original.head == 300
    copy2 = original.clone()
    copy2.seek(299)
    assert_same(state(copy2), record[299])


def test_seek_back_before_a_divergence() -> None:
    s = session(
        layers=[4, 5, 1], activation="linear", output_activation="linear", loss="mse",
        optimizer={"name": "momentum", "learning_rate": 50.0},
    )  # fmt: skip
    record: dict[int, dict[str, Any]] = {}
    record[0] = state(s)
    while not s.diverged:
        s.step(1)
        record[s.step_count] = state(s)
    end = s.step_count
    assert s.head == end
    frame = s.seek(end - 1)
    assert frame["diverged"] is False
    assert_same(state(s), record[end - 1])
    json.loads(json.dumps(s.seek(end), allow_nan=False))  # a diverged frame carries nulls
    assert s.diverged
    s.seek(0)
    s.step(end + 5)  # the same run: it diverges again at the same step
    assert s.diverged and s.step_count == end


def test_memory_is_bounded_over_a_long_run() -> None:
    s = session(preset="article", optimizer={"name": "adam", "learning_rate": 0.05})
    s.timeline.budget = 60_000  # about 36 checkpoints of this network
    marks = {0: None, 777: None, 2_000: None, 4_321: None, 5_999: None, 6_000: None}
    for n in sorted(marks):
        s.advance(n - s.step_count)
        marks[n] = (s.net.theta.copy(), s.optimizer.clone())  # type: ignore[assignment]
    assert s.timeline.nbytes <= 60_000
    assert s.timeline.every >= 128
    assert len(s.timeline.checkpoints) >= MIN_CHECKPOINTS // 2  # one halving from over MIN
    for n in [4_321, 0, 5_999, 777, 6_000, 2_000]:
        s.seek(n)
        theta, opt = cast(tuple[Any, Any], marks[n])
        assert np.array_equal(s.net.theta, theta)
        assert np.array_equal(s.optimizer.m, opt.m)  # type: ignore[attr-defined]
        assert np.array_equal(s.optimizer.v, opt.v)  # type: ignore[attr-defined]
        assert s.optimizer.t == opt.t  # type: ignore[attr-defined]


def test_seek_back_into_the_thinned_history(monkeypatch: pytest.MonkeyPatch) -> None:
    # A long run's oldest losses are thinned; a branch there restarts the dense curve cleanly.
    monkeypatch.setattr(history_module, "HISTORY_KEEP", 50)
    s = session(preset="article")
    s.advance(300)
    assert s.history.start > 20
    losses = {n: None for n in range(301)}
    frame = s.seek(20)
    assert frame["step"] == 20
    loss20 = frame["loss"]
    s.step(3)
    exported = s.export()
    steps = exported["history"]["steps"]
    assert steps == sorted(set(steps)) and steps[-4:] == [20, 21, 22, 23]
    assert exported["history"]["loss"][-4] == loss20
    assert s.frame(since=-1)["first_step"] == 20
    del losses


def test_runner_seek_in_a_thread_equals_the_inline_seek(
    recorded: tuple[TrainingSession, dict[int, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    original, record = recorded

    async def scenario() -> None:
        s = original.clone()
        runner = Runner(s)
        slot = runner.attach()
        for threshold, n in [(0, 123), (10**18, 77), (0, 300), (0, 0), (10**18, 299)]:
            # 0: every seek replays on a copy in a worker thread; huge: on the loop.
            monkeypatch.setattr(stream, "INLINE_SEEK_WORK", threshold)
            frame = await runner.seek(n)
            assert frame["seeked"] is True and frame["step"] == n
            assert_same(state(s), record[n])
            pending = slot.pending
            assert pending is not None and pending["seeked"] is True and pending["step"] == n
        with pytest.raises(ValueError, match="outside this run"):
            await runner.seek(301)
        await runner.close()

    asyncio.run(scenario())


def test_a_merged_frame_still_says_a_seek_happened() -> None:
    # A slow viewer gets the seek frame merged with the next one: the flag must survive.
    s = session(preset="article")
    s.step(10)
    seeked = s.seek(4)
    stepped = s.step(2)
    merged = stream.merge_frames(seeked, stepped)
    assert merged["seeked"] is True and merged["step"] == 6
    assert merged["first_step"] == 0 and len(merged["losses"]) == 7
    assert stream.merge_frames(stepped, s.step(1))["seeked"] is False
