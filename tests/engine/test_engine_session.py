"""TrainingSession: determinism, reset, frames, divergence, presets and patches."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pytest

from app.domain.presets import PRESETS, resolve
from app.domain.protocol import OptimizerConfig, SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession


def session(**cfg) -> TrainingSession:
    return TrainingSession(resolve(SessionConfigIn(**cfg)))


def state(frame):
    """What must match bit for bit: weights, biases, loss and gradients."""
    return (frame["weights"], frame["biases"], frame["loss"], frame["gradients"])


def json_safe(obj) -> None:
    json.dumps(obj, allow_nan=False)


RUNS: dict[str, dict[str, Any]] = {
    "article_sgd": dict(preset="article"),
    "article_momentum": dict(
        preset="article", optimizer={"name": "momentum", "learning_rate": 0.3}
    ),
    "xor_adam_minibatch": dict(
        preset="xor", batch_size=16, optimizer={"name": "adam", "learning_rate": 0.02}
    ),
    "spiral": dict(preset="spiral", dataset={"name": "spiral", "samples": 80, "noise": 0.05}),
    "momentum_minibatch_test_split": dict(
        preset="xor",
        batch_size=10,
        optimizer={"name": "momentum", "learning_rate": 0.1, "momentum": 0.8},
        dataset={"name": "gauss", "samples": 60, "test_fraction": 0.25},
    ),
}


# ---- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RUNS))
def test_same_seed_and_config_give_the_same_run_bit_for_bit(name):
    a, b = session(**RUNS[name]), session(**RUNS[name])
    fa = a.step(500)
    # the same run in chunks of different sizes
    for n in (1, 2, 97, 400):
        fb = b.step(n)
    assert fa["step"] == fb["step"] == 500
    assert state(fa) == state(fb)
    assert a.export()["history"] == b.export()["history"]
    assert fa["weights"] != session(**RUNS[name]).snapshot()["weights"]  # it did train


@pytest.mark.parametrize("name", ["article_sgd", "xor_adam_minibatch"])
def test_a_different_seed_gives_a_different_run(name):
    a = session(**RUNS[name])
    b = session(**RUNS[name], seed=1)
    assert a.snapshot()["weights"] != b.snapshot()["weights"]
    assert a.step(20)["losses"] != b.step(20)["losses"]


@pytest.mark.parametrize("name", list(RUNS))
def test_reset_reproduces_step_0_exactly_even_after_patches(name):
    s = session(**RUNS[name])
    start = s.snapshot()
    first_run = s.step(40)
    lr = s.config.optimizer.learning_rate
    opt = s.config.optimizer.model_copy(update={"learning_rate": lr / 2})
    s.patch(SessionPatch(optimizer=opt))
    s.step(25)
    frame = s.reset()
    assert frame["step"] == 0 and s.step_count == 0
    assert frame["first_step"] == 0
    assert frame["losses"] == [start["loss"]]
    assert state(frame) == state(start)
    assert state(s.snapshot()) == state(start)
    assert not frame["diverged"]
    # the patched rate survives the reset: the run now matches a fresh run at that rate
    fresh = session(**{**RUNS[name], "optimizer": opt.model_dump()})
    assert state(s.step(40)) == state(fresh.step(40))
    assert fresh.snapshot()["learning_rate"] == lr / 2
    if lr / 2 != lr:
        assert state(first_run) != state(s.snapshot())


def test_reset_after_a_batch_size_patch_matches_a_fresh_session_with_that_batch():
    s = session(**RUNS["article_sgd"])
    s.step(10)
    s.patch(SessionPatch(batch_size=2))
    s.step(10)
    frame = s.reset()
    fresh = session(**RUNS["article_sgd"], batch_size=2)
    assert state(frame) == state(fresh.snapshot())
    assert state(s.step(30)) == state(fresh.step(30))


def test_clone_continues_like_the_original_and_independently():
    s = session(**RUNS["xor_adam_minibatch"])
    s.step(33)
    c = s.clone()
    assert state(c.snapshot()) == state(s.snapshot())
    assert state(c.step(50)) == state(s.step(50))
    c.step(5)
    assert c.step_count == s.step_count + 5


# ---- frames ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["article_sgd", "momentum_minibatch_test_split"])
def test_losses_across_frames_have_no_holes(name):
    s = session(**RUNS[name])
    frames = [s.reset(), s.step(1), s.step(7), s.step(0), s.snapshot(), s.step(30), s.step(1)]
    nxt = 0
    collected: list[float] = []
    for f in frames[:4] + frames[5:]:
        assert f["first_step"] == nxt
        assert f["step"] == f["first_step"] + len(f["losses"]) - 1
        if f["losses"]:
            assert f["losses"][-1] == f["loss"]
        if f["test_losses"] is not None:
            assert len(f["test_losses"]) == len(f["losses"])
        collected += f["losses"]
        nxt = f["step"] + 1
    assert frames[4]["losses"] == [frames[4]["loss"]]
    assert frames[4]["first_step"] == frames[4]["step"]
    assert collected == s.export()["history"]["loss"]
    assert s.export()["history"]["steps"] == list(range(len(collected)))
    # and the same losses as a run that went one step at a time
    other = session(**RUNS[name])
    assert collected == [other.snapshot()["loss"]] + [other.step(1)["loss"] for _ in range(39)]


@pytest.mark.parametrize("name", list(RUNS))
def test_frames_have_api_shapes_and_are_json_safe(name):
    s = session(**RUNS[name])
    layers = s.config.layers
    shared = s.config.bias == "shared"
    for frame in (s.snapshot(), s.step(3), s.reset()):
        json_safe(frame)
        assert frame["type"] == "frame"
        assert isinstance(frame["step"], int) and isinstance(frame["loss"], float)
        assert frame["diverged"] is False and frame["playing"] is False
        assert len(frame["weights"]) == len(frame["biases"]) == len(layers) - 1
        for part in (frame, frame["gradients"]):
            for layer, (W, b) in enumerate(zip(part["weights"], part["biases"], strict=True)):
                n_in, n_out = layers[layer], layers[layer + 1]
                assert len(W) == n_in and all(len(row) == n_out for row in W)
                assert len(b) == (1 if shared else n_out)
                assert all(isinstance(v, float) for row in W for v in row)
    json_safe(s.export())
    json_safe(s.data())
    json_safe(s.matrix())
    json_safe(s.gradcheck())


def test_test_split_gives_a_test_loss():
    s = session(**RUNS["momentum_minibatch_test_split"])
    f = s.step(5)
    assert isinstance(f["test_loss"], float)
    assert f["test_losses"][-1] == f["test_loss"]
    assert session(preset="article").snapshot()["test_loss"] is None


def test_shared_bias_frame_has_one_bias_per_layer():
    f = session(preset="article", bias="shared").snapshot()
    assert [len(b) for b in f["biases"]] == [1, 1]
    assert [len(b) for b in f["gradients"]["biases"]] == [1, 1]


# ---- learning, divergence -------------------------------------------------------------------


def forward_sigmoid_out(frame, hidden, X):
    A = X
    n = len(frame["weights"])
    for k, (W, b) in enumerate(zip(frame["weights"], frame["biases"], strict=True)):
        Z = np.array(W).T @ A + np.array(b)[:, None]
        A = 1 / (1 + np.exp(-Z)) if k == n - 1 else hidden(Z)
    return A


def test_xor_preset_reaches_95_percent_training_accuracy():
    s = session(preset="xor")
    d = s.data()
    X, Y = np.array(d["x"]).T, np.array(d["y"]).T
    assert d["kind"] == "classification"
    accuracy = 0.0
    for _ in range(15):
        frame = s.step(100)
        O = forward_sigmoid_out(frame, np.tanh, X)
        accuracy = float(np.mean((O > 0.5) == (Y > 0.5)))
        if accuracy >= 0.95:
            break
    assert accuracy >= 0.95, f"{accuracy:.1%} after {s.step_count} steps"
    assert frame["loss"] < s.export()["history"]["loss"][0]


DIVERGING: dict[str, dict[str, Any]] = {
    "linear_mse": dict(activation="linear", output_activation="linear", loss="mse"),
    "relu_linear_mse": dict(activation="relu", output_activation="linear", loss="mse"),
    "linear_half_sse_minibatch_test_split": dict(
        activation="linear",
        output_activation="linear",
        loss="half_sse",
        batch_size=2,
        dataset={"name": "houses", "samples": 12, "test_fraction": 0.25},
    ),
}


@pytest.mark.parametrize("name", list(DIVERGING))
def test_a_huge_learning_rate_diverges_cleanly(name):
    cfg: dict[str, Any] = dict(
        preset="article", init="xavier", optimizer={"name": "sgd", "learning_rate": 1e6}
    )
    cfg |= DIVERGING[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = session(**cfg)
        frame = s.step(2000)
        assert frame["diverged"] is True
        assert s.diverged
        stopped = frame["step"]
        assert stopped < 2000
        # the weights really overflowed (not a saturated sigmoid): something is null now
        assert frame["loss"] is None or None in frame["losses"]
        for obj in (frame, s.snapshot(), s.export()):
            json_safe(obj)
        assert s.export()["diverged"] is True
        # a diverged run does not move any more
        again = s.step(10)
        assert again["step"] == stopped == s.step_count
        assert again["losses"] == []
        assert again["weights"] == frame["weights"]
        assert again["diverged"] is True
        assert s.advance(5) == 0
        json_safe(again)
        # reset brings it back
        fresh = s.reset()
        assert fresh["diverged"] is False and fresh["step"] == 0
        assert all(math.isfinite(v) for v in fresh["losses"])


def test_article_net_at_a_huge_rate_saturates_but_stays_finite():
    """Sigmoid units cannot overflow: the frame stays finite whatever happens."""
    s = session(preset="article", optimizer={"name": "sgd", "learning_rate": 1e6})
    frame = s.step(200)
    json_safe(frame)
    assert frame["step"] == 200 or frame["diverged"]


# ---- presets, patches -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["article", "xor", "spiral", "deep_sigmoid"])
def test_presets_exist_and_resolve(name):
    assert name in PRESETS
    assert PRESETS[name]["title"]
    cfg = resolve(SessionConfigIn(preset=name))
    assert cfg.preset == name
    s = TrainingSession(cfg)
    assert s.config.layers == PRESETS[name]["config"]["layers"]
    assert s.config.optimizer.name == PRESETS[name]["config"]["optimizer"]["name"]
    json_safe(s.step(2))


def test_no_preset_means_the_article():
    assert resolve(SessionConfigIn()).layers == [4, 5, 1]
    assert resolve(SessionConfigIn()).init == "uniform01"


def test_overrides_merge_into_the_preset():
    cfg = resolve(SessionConfigIn.model_validate(
        {"preset": "article", "optimizer": {"learning_rate": 0.1}}
    ))  # fmt: skip
    assert cfg.optimizer.name == "sgd"
    assert cfg.optimizer.learning_rate == 0.1
    assert cfg.init == "uniform01" and cfg.layers == [4, 5, 1]
    spiral = resolve(SessionConfigIn.model_validate(
        {"preset": "spiral", "optimizer": {"learning_rate": 0.1}, "layers": [2, 5, 1]}
    ))  # fmt: skip
    assert spiral.optimizer.name == "adam"
    assert spiral.layers == [2, 5, 1]
    assert spiral.batch_size == 32
    assert resolve(SessionConfigIn(preset="spiral", batch_size=None)).batch_size is None


def test_unknown_preset_is_a_value_error():
    with pytest.raises(ValueError, match="nope"):
        resolve(SessionConfigIn(preset="nope"))


def test_patch_keeps_weights_and_step_and_changes_the_rate():
    s = session(preset="article")
    s.step(10)
    before = s.snapshot()
    frame = s.patch(SessionPatch(optimizer=OptimizerConfig(learning_rate=0.1)))
    assert frame["step"] == 10
    assert state(frame) == state(before)
    assert frame["learning_rate"] == 0.1
    assert s.config.optimizer.name == "sgd" and s.config.optimizer.learning_rate == 0.1
    after = s.step(1)
    for old, g, new in zip(
        before["weights"], before["gradients"]["weights"], after["weights"], strict=True
    ):
        np.testing.assert_allclose(new, np.array(old) - 0.1 * np.array(g), rtol=1e-15)


def test_patch_of_the_rate_alone_keeps_the_optimizer_and_its_state():
    """{"optimizer": {"learning_rate": x}} merges, as preset overrides do."""
    cfg = dict(preset="article", optimizer={"name": "momentum", "learning_rate": 0.5})
    s = session(**cfg)
    g0 = np.array(s.snapshot()["gradients"]["weights"][1])  # after one step, v = g0
    f1 = s.step(1)
    patch = SessionPatch.model_validate({"optimizer": {"learning_rate": 0.2}})
    s.patch(patch)
    assert s.config.optimizer.name == "momentum"
    assert s.config.optimizer.momentum == 0.9
    f2 = s.step(1)
    v = 0.9 * g0 + np.array(f1["gradients"]["weights"][1])
    np.testing.assert_allclose(f2["weights"][1], np.array(f1["weights"][1]) - 0.2 * v, rtol=1e-14)


def test_patch_l2_changes_loss_and_gradients_but_not_the_step():
    s = session(preset="article")
    s.step(5)
    before = s.snapshot()
    frame = s.patch(SessionPatch(l2=0.5))
    assert frame["step"] == 5 and frame["weights"] == before["weights"]
    W = [np.array(w) for w in before["weights"]]
    assert frame["loss"] == pytest.approx(
        before["loss"] + 0.25 * sum(float(np.sum(w * w)) for w in W), rel=1e-12
    )
    for g0, g1, w in zip(
        before["gradients"]["weights"], frame["gradients"]["weights"], W, strict=True
    ):
        np.testing.assert_allclose(g1, np.array(g0) + 0.5 * w, rtol=1e-12)
    # the recorded loss of this step follows, no step is added
    assert s.export()["history"]["loss"][-1] == frame["loss"]
    assert len(s.export()["history"]["loss"]) == 6


def test_patch_batch_size_larger_than_the_data_is_refused():
    s = session(preset="article")
    with pytest.raises(ValueError, match="batch_size"):
        s.patch(SessionPatch(batch_size=6))
    with pytest.raises(ValueError, match="batch_size"):
        session(preset="article", batch_size=6)


def test_deep_sigmoid_gradients_vanish_towards_the_input():
    s = session(preset="deep_sigmoid")
    g = [np.mean(np.abs(np.array(W))) for W in s.snapshot()["gradients"]["weights"]]
    assert len(g) == 6
    assert g[0] < g[-1]
    assert g[0] < 0.01 * g[-1]  # not marginally: by orders of magnitude


def test_patch_can_still_switch_the_optimizer():
    s = session(preset="article")
    s.step(3)
    s.patch(SessionPatch.model_validate({"optimizer": {"name": "adam", "learning_rate": 0.01}}))
    assert (s.config.optimizer.name, s.config.optimizer.learning_rate) == ("adam", 0.01)
    before = s.snapshot()
    after = s.step(1)
    # Adam's first step: m_hat = g, v_hat = g^2, so W moves by lr * g / (|g| + eps)
    moved = np.array(after["weights"][0]) - np.array(before["weights"][0])
    g = np.array(before["gradients"]["weights"][0])
    np.testing.assert_allclose(moved, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-9)
