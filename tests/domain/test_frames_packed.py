"""Streamed frames packed straight from the engine's arrays: the same bytes as through lists."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson
import pytest

from app.domain.codec import pack_array, pack_frame, unpack_frame
from app.domain.frames import listed
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.stream import Runner

CONFIGS: list[dict[str, Any]] = [
    {"preset": "article"},
    {"preset": "spiral", "layers": [2, 16, 16, 16, 1]},
    {"preset": "xor", "layers": [2, 8, 1], "bias": "shared"},
    {"preset": "article", "optimizer": {"name": "adam", "learning_rate": 0.03}},
]
# More of what a stream serves: softmax and cross-entropy, feature inputs, L1 (and L2),
# momentum on a mean squared error, a test split (test losses).
MORE: list[dict[str, Any]] = [
    {
        "layers": [2, 4, 3], "activation": "tanh", "output_activation": "softmax",
        "loss": "ce", "dataset": {"name": "blobs3"},
    },
    {"preset": "spiral", "features": ["x1", "x2", "x1_squared", "sin_x1", "x1_x2"]},
    {"preset": "article", "l1": 0.01, "l2": 0.001},
    {
        "preset": "spiral", "layers": [2, 6, 1], "loss": "mse",
        "optimizer": {"name": "momentum", "learning_rate": 0.05, "momentum": 0.9},
        "dataset": {"name": "spiral", "samples": 120, "test_fraction": 0.25},
    },
]  # fmt: skip


def text(frame: dict[str, Any]) -> bytes:
    """JSON bytes, keys sorted: the same content gives the same bytes."""
    return orjson.dumps(frame, option=orjson.OPT_SORT_KEYS)


def session(config: dict[str, Any], steps: int = 7) -> TrainingSession:
    """A session a few steps in."""
    s = TrainingSession(resolve(SessionConfigIn.model_validate(config)))
    s.advance(steps)
    return s


def packed_the_old_way(frame: dict[str, Any]) -> dict[str, Any]:
    """Independent of pack_arrays: every array as a nested list first, then pack_array."""
    out = pack_frame({k: v for k, v in frame.items() if k not in ("weights", "biases")})
    out["weights"] = [pack_array(w) for w in frame["weights"]]
    out["biases"] = [pack_array(b) for b in frame["biases"]]
    out["gradients"] = {
        k: [pack_array(a) for a in frame["gradients"][k]] for k in ("weights", "biases")
    }
    return out


@pytest.mark.parametrize("config", CONFIGS + MORE)
def test_packed_from_arrays_is_the_old_packing_bit_for_bit(config: dict[str, Any]) -> None:
    s = session(config)
    fast = text(pack_frame(s.frame(since=3, arrays=True)))
    old = text(packed_the_old_way(s.frame(since=3)))
    assert fast == old


@pytest.mark.parametrize("config", CONFIGS + MORE)
def test_listed_arrays_frame_is_the_json_frame(config: dict[str, Any]) -> None:
    s = session(config)
    assert listed(s.frame(since=2, arrays=True)) == s.frame(since=2)


def test_the_arrays_are_copies_later_steps_leave_alone() -> None:
    s = session(CONFIGS[1])
    frame = s.frame(arrays=True)
    before = text(pack_frame(frame))
    weights = [w.copy() for w in frame["weights"]]
    s.advance(3)
    assert text(pack_frame(frame)) == before
    assert all(np.array_equal(a, b) for a, b in zip(frame["weights"], weights, strict=True))
    assert not np.array_equal(frame["weights"][0], s.net.W[0])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e39, -4e38])
def test_values_float32_cannot_hold_fall_back_array_by_array(bad: float) -> None:
    s = session(CONFIGS[0])
    s.net.W[1][2, 0] = bad  # one array out of float32's reach: the others still pack
    frame = s.frame(arrays=True)
    fast = pack_frame(frame)
    assert text(fast) == text(packed_the_old_way(s.frame()))
    assert isinstance(fast["weights"][1], list) and "f32" in fast["weights"][0]
    assert "f32" in fast["biases"][1]


def test_a_frame_without_update_leaves_the_optimizer_alone() -> None:
    s = session(CONFIGS[3])
    with_update = s.frame(arrays=True)
    without = s.frame(arrays=True, update=False)
    assert with_update["update"] is not None and without["update"] is None
    assert listed(with_update) == s.frame()  # asking for it twice gives the same update


def play_ticks(packed: list[bool], frames: int = 5) -> tuple[TrainingSession, list[Any], int]:
    """An Adam session playing with viewers of these encodings; the newest frame each viewer is
    sent, and the optimizer's next-update computations the play ticks asked for."""
    asked = 0

    async def scenario() -> tuple[TrainingSession, list[Any]]:
        nonlocal asked
        s = session(CONFIGS[3], steps=0)
        real = s._next_theta

        def counted() -> Any:
            nonlocal asked
            asked += 1
            return real()

        s._next_theta = counted  # type: ignore[method-assign]
        runner = Runner(s)
        slots = [runner.attach() for _ in packed]
        for slot, p in zip(slots, packed, strict=True):
            slot.packed = p
        asked = 0  # attach() built whole frames for the new viewers; count the play ticks only
        for slot in slots:
            await slot.next()
        assert await runner.play(1, 1e6)
        while s.step_count < frames:
            await asyncio.sleep(0)
        runner.stop()
        return s, [orjson.loads((await slot.next())[0]) for slot in slots]

    s, sent = asyncio.run(scenario())
    return s, sent, asked


def test_packed_viewers_alone_never_ask_for_the_update() -> None:
    s, sent, asked = play_ticks([True, True])
    assert s.step_count >= 5 and asked == 0
    assert sent[0]["packed"] is True and sent[0]["update"] is None


def test_an_unpacked_viewer_still_gets_the_update_every_frame() -> None:
    s, sent, asked = play_ticks([True, False])
    assert asked >= 5  # one per play tick: an unpacked page may show the next update
    plain = sent[1]
    assert plain["update"] is not None and "packed" not in plain
    again = s.frame(since=plain["first_step"] - 1, playing=True)  # the same step, rebuilt
    assert plain["step"] == s.step_count and plain == orjson.loads(orjson.dumps(again))


def f32_bits(values: Any) -> np.ndarray:
    """Numbers as the bits of their float32 rounding (what a packed frame carries)."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).view(np.uint32)


def decoded(text: str) -> dict[str, Any]:
    """A packed frame as a page gets it: JSON, then every f32 array decoded."""
    return unpack_frame(orjson.loads(text))


@pytest.mark.parametrize("config", CONFIGS + MORE)
def test_the_stream_s_packed_frame_decodes_to_the_old_path_s_values(
    config: dict[str, Any],
) -> None:
    """What a playing stream sends a packed viewer (Runner -> Tick text), decoded, holds the
    same values as the old path (the JSON frame's lists, each array packed from its list),
    bit for bit, every other field equal; and its arrays are the run's own, rounded to float32
    (an independent check on the engine's arrays)."""

    async def scenario() -> tuple[TrainingSession, list[str], list[dict[str, Any]]]:
        s = session(config, steps=3)
        runner = Runner(s)
        slot = runner.attach()
        slot.packed = True
        await slot.next()  # the whole curve went out first
        texts, olds = [], []
        for _ in range(4):
            await runner.step(2)
            texts.append((await slot.next())[0])
            olds.append(packed_the_old_way(s.frame(since=s.step_count - 2)))
        return s, texts, olds

    s, texts, olds = asyncio.run(scenario())
    for text_, old in zip(texts, olds, strict=True):
        fast, slow = decoded(text_), unpack_frame(orjson.loads(orjson.dumps(old)))
        assert fast.keys() == slow.keys()
        for key in fast:
            if key in ("weights", "biases", "gradients"):
                a, b = numbers(fast[key]), numbers(slow[key])
                assert len(a) == len(b) and np.array_equal(f32_bits(a), f32_bits(b)), key
            else:
                assert fast[key] == slow[key], key
    last = decoded(texts[-1])
    assert np.array_equal(f32_bits(numbers(last["weights"])), f32_bits(np.concatenate(
        [w.ravel() for w in s.net.W])))  # fmt: skip
    assert np.array_equal(
        f32_bits(numbers(last["gradients"]["biases"])),
        f32_bits(np.concatenate([g.ravel() for g in s.grads.db])),
    )


def numbers(x: Any) -> list[float]:
    """Every number in a field (nested lists and dicts, keys sorted), in order."""
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in numbers(x[k])]
    if isinstance(x, list):
        return [v for item in x for v in numbers(item)]
    return [float(x)]


@pytest.mark.parametrize("bad", [float("nan"), 1e39])
def test_bad_gradients_leave_the_weights_packed_and_fall_back_array_by_array(bad: float) -> None:
    """The frame's one flat vector cannot go to float32 as a whole: the weights half still
    packs from its own conversion, the gradients array by array (as the old path)."""
    s = session(CONFIGS[1])
    s.grads.dW[2][1, 1] = bad
    fast = pack_frame(s.frame(arrays=True))
    assert text(fast) == text(packed_the_old_way(s.frame()))
    assert all("f32" in w for w in fast["weights"])
    assert isinstance(fast["gradients"]["weights"][2], list)
    assert "f32" in fast["gradients"]["weights"][0] and "f32" in fast["gradients"]["biases"][2]
