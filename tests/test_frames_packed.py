"""Streamed frames packed straight from the engine's arrays: the same bytes as through lists."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from app.domain.codec import pack_array, pack_frame
from app.domain.frames import listed
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession

CONFIGS: list[dict[str, Any]] = [
    {"preset": "article"},
    {"preset": "spiral", "layers": [2, 16, 16, 16, 1]},
    {"preset": "xor", "layers": [2, 8, 1], "bias": "shared"},
    {"preset": "article", "optimizer": {"name": "adam", "learning_rate": 0.03}},
]


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


@pytest.mark.parametrize("config", CONFIGS)
def test_packed_from_arrays_is_the_old_packing_bit_for_bit(config: dict[str, Any]) -> None:
    s = session(config)
    fast = text(pack_frame(s.frame(since=3, arrays=True)))
    old = text(packed_the_old_way(s.frame(since=3)))
    assert fast == old


@pytest.mark.parametrize("config", CONFIGS)
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
