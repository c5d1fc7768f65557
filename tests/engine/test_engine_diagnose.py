"""app/engine/diagnose.py: each trouble found on a net built to have it, none on a healthy one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.domain.presets import DATASET_SETTINGS, resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.engine import datasets
from app.engine.diagnose import diagnose, target_range_trouble
from app.engine.network import Network

Array = np.ndarray


def troubles(net: Network, X: Array, Y: Array, lr: float = 0.5, **kw: Any) -> list[dict[str, Any]]:
    """Forward and backward at the net's weights, then diagnose."""
    cache = net.forward(X)
    grads = net.backward(cache, Y)
    return diagnose(net, cache, Y, grads, grads.error, lr, **kw)


def kinds(found: list[dict[str, Any]]) -> list[str]:
    """The kinds found, in order."""
    return [t["kind"] for t in found]


def xor_data(n: int = 40) -> tuple[Array, Array]:
    """XOR in [-1, 1]^2, samples as columns."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (2, n))
    Y = (X[0] * X[1] > 0).astype(float)[None, :]
    return X, Y


def session(cfg: dict[str, Any]) -> TrainingSession:
    """A training session from a config with preset and overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))


def test_a_healthy_network_has_no_trouble() -> None:
    """Xavier, tanh, cross-entropy on XOR; and the article's own run, before and after."""
    X, Y = xor_data()
    net = Network([2, 4, 1], "tanh", "sigmoid", "bce", init="xavier")
    assert troubles(net, X, Y, lr=1.0) == []
    s = session({"preset": "article"})
    for n in (0, 1, 10, 300):
        s.advance(n - s.step_count)
        assert s.trouble() is None, (n, s.trouble())


def test_output_saturated_names_the_numbers_of_the_lesson() -> None:
    """Big output weights: O = 1 on every sample, Y = 0 on half; delta = (O - Y) O(1 - O)."""
    X, Y = xor_data()
    net = Network([2, 3, 1], "tanh", "sigmoid", "half_sse", init="xavier")
    net.b[1][...] = 30.0  # Z2 ~ 30: O(1 - O) ~ 1e-13
    found = troubles(net, X, Y)
    t = next(t for t in found if t["kind"] == "output_saturated")
    assert t["fraction"] == 1.0 and t["name"] == "O"
    assert t["wrong_fraction"] == pytest.approx(float((Y == 0).mean()))
    s = t["sample"]
    assert s["Y"] == 0.0 and s["O"] > 0.999
    assert s["derivative"] == pytest.approx(s["O"] * (1 - s["O"]))
    assert s["delta"] == pytest.approx((s["O"] - s["Y"]) * s["derivative"])
    assert t["fix"] == {"init": "xavier", "loss": "bce"}
    # The gradient is stuck too, and the finding says so.
    assert "vanishing_gradients" in kinds(found)


def test_saturated_but_right_is_a_finished_net_not_a_stuck_one() -> None:
    """O = 1 where Y = 1 everywhere: confident and correct, no trouble."""
    X, _ = xor_data()
    Y = np.ones((1, X.shape[1]))
    net = Network([2, 3, 1], "tanh", "sigmoid", "half_sse", init="xavier")
    net.b[1][...] = 30.0
    assert "output_saturated" not in kinds(troubles(net, X, Y))


def test_cross_entropy_with_a_sigmoid_output_is_not_saturated() -> None:
    """With bce the O(1 - O) factor cancels: a saturated output still learns."""
    X, Y = xor_data()
    net = Network([2, 3, 1], "tanh", "sigmoid", "bce", init="xavier")
    net.b[1][...] = 10.0
    assert "output_saturated" not in kinds(troubles(net, X, Y))


def test_hidden_saturated_on_large_inputs() -> None:
    """Inputs in the thousands push every sigmoid hidden unit to 0 or 1."""
    X, Y = xor_data()
    net = Network([2, 4, 1], "sigmoid", "sigmoid", "bce", init="xavier")
    t = next(t for t in troubles(net, X * 1000, Y) if t["kind"] == "hidden_saturated")
    assert t["name"] == "h1" and t["fraction"] > 0.9 and t["mean_derivative"] < 0.01
    assert t["fix"]["dataset"] == {"standardize": True}
    assert "hidden_saturated" not in kinds(troubles(net, X, Y))


def test_vanishing_gradients_through_deep_sigmoid_layers() -> None:
    """The deep_sigmoid preset: the first layer gets a tiny share of the last's gradient."""
    s = session({"preset": "deep_sigmoid"})
    t = next(t for t in s.trouble() or [] if t["kind"] == "vanishing_gradients")
    assert t["where"] == "first_layers"
    rms = t["rms"]
    assert rms[0] / rms[-1] == pytest.approx(t["ratio"]) and t["ratio"] < 1e-3
    # The same depth with ReLU and He init: no vanishing.
    healthy = session({"preset": "deep_sigmoid", "activation": "relu", "init": "he"})
    assert "vanishing_gradients" not in kinds(healthy.trouble() or [])


def test_exploding_steps_with_a_summed_error_on_many_samples() -> None:
    """The article's alpha = 1 with E summed over 200 samples: a step larger than the weights."""
    s = session({"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"}})
    t = next(t for t in s.trouble() or [] if t["kind"] == "exploding_gradients")
    assert t["relative_step"] > 1 and t["samples"] == 200 and t["loss"] == "half_sse"
    assert t["relative_step"] == pytest.approx(
        t["learning_rate"] * t["gradient_norm"] / t["weight_norm"]
    )
    lr = t["fix"]["optimizer"]["learning_rate"]
    assert 0 < lr < t["learning_rate"] / t["relative_step"]
    # With the fix's rate the same network is no longer exploding.
    fixed = session({"preset": "article", "layers": [2, 5, 1], "dataset": {"name": "xor"},
                     "optimizer": {"learning_rate": lr}})  # fmt: skip
    assert "exploding_gradients" not in kinds(fixed.trouble() or [])


@pytest.mark.parametrize(
    ("activation", "loss", "y", "bad"),
    [
        ("sigmoid", "half_sse", [0.0, 1.0, 0.5], False),
        ("sigmoid", "half_sse", [0.0, 300_000.0], True),
        ("tanh", "mse", [-1.0, 1.0], False),
        ("tanh", "mse", [-2.0, 0.0], True),
        ("relu", "mse", [0.0, 50.0], False),
        ("relu", "mse", [-1.0, 50.0], True),
        ("linear", "mse", [-1e6, 1e6], False),
        ("linear", "bce", [0.0, 2.0], True),
    ],
)
def test_targets_out_of_range(activation: str, loss: str, y: list[float], bad: bool) -> None:
    """Targets the output activation (or cross-entropy) can never produce."""
    t = target_range_trouble(activation, loss, np.array([y]))
    assert (t is not None) == bad
    if t is not None:
        assert t["y_min"] == min(y) and t["y_max"] == max(y) and 0 < t["fraction"] <= 1


def test_raw_house_prices_show_every_trouble_of_the_stuck_net() -> None:
    """Square feet and dollars, unscaled: out of range, saturated, stuck; scaled: healthy."""
    rng = np.random.default_rng(0)
    area = rng.uniform(800, 3500, 30)
    price = 50_000 + 150 * area
    csv = "sqft,price\n" + "".join(f"{a:.0f},{p:.0f}\n" for a, p in zip(area, price, strict=True))
    unscaled = {"csv": csv, "standardize": False, "scale_targets": False}
    raw = session({"preset": "article", "layers": [1, 5, 1], "dataset": unscaled})
    found = kinds(raw.trouble() or [])
    for kind in ("targets_out_of_range", "hidden_saturated"):
        assert kind in found, found
    raw.advance(1)  # one step throws the output onto the sigmoid's flat end, for good
    found = kinds(raw.trouble() or [])
    for kind in ("targets_out_of_range", "output_saturated", "vanishing_gradients"):
        assert kind in found, found
    scaled = session({"preset": "article", "layers": [1, 5, 1], "dataset": {"csv": csv}})
    assert scaled.trouble() is None
    e0 = scaled.loss
    scaled.advance(2000)
    assert scaled.loss < e0 / 4


def test_scaled_targets_map_back_to_the_original_units() -> None:
    """y = min + Y (max - min) recovers the file's numbers; Y sits inside the output's range."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, (20, 2))
    y = np.column_stack([x[:, 0] * 1000 + 5, -x[:, 1]])
    for act, (lo, hi) in [("sigmoid", (0.1, 0.9)), ("tanh", (-0.8, 0.8)), ("linear", (-3, 3))]:
        d = datasets.from_rows(x.tolist(), y.tolist(), None, None, 0.0, True, rng)
        datasets.scale_targets(d, act)
        assert d.targets_scaled and d.input_scale is not None
        assert lo - 1e-12 <= d.Y.min() and d.Y.max() <= hi + 1e-12
        s = d.target_scale
        assert s is not None
        back = (
            np.array(s["min"])[:, None] + d.Y * (np.array(s["max"]) - np.array(s["min"]))[:, None]
        )
        np.testing.assert_allclose(back, y.T, rtol=1e-12, atol=1e-9)
        mean, std = np.array(d.input_scale["mean"]), np.array(d.input_scale["std"])
        np.testing.assert_allclose(mean[:, None] + d.X * std[:, None], x.T, rtol=1e-12)
    # 0/1 labels stay labels.
    labels = datasets.from_rows(x.tolist(), [[1.0], [0.0]] * 10, None, None, 0.0, False, rng)
    datasets.scale_targets(labels, "sigmoid")
    assert not labels.targets_scaled and set(labels.Y.ravel()) == {0.0, 1.0}


def test_bias_convention_keeps_every_weight() -> None:
    """Same seed, U(0, 1): shared and per-neuron biases draw the same W (and the first bias)."""
    for seed in range(5):
        a = Network([4, 5, 1], bias="per_neuron", init="uniform01", rng=np.random.default_rng(seed))
        b = Network([4, 5, 1], bias="shared", init="uniform01", rng=np.random.default_rng(seed))
        for Wa, Wb, ba, bb in zip(a.W, b.W, a.b, b.b, strict=True):
            np.testing.assert_array_equal(Wa, Wb)
            assert bb.shape == (1,) and bb[0] == ba[0]


@pytest.mark.parametrize("name", sorted(DATASET_SETTINGS))
def test_every_data_set_has_settings_that_train_it(name: str) -> None:
    """Switching to a data set applies these: E at least halves within 2,000 steps."""
    s = session({"preset": "article", **DATASET_SETTINGS[name], "dataset": {"name": name}})
    assert s.trouble() is None
    e0 = s.loss
    best = e0
    while s.step_count < 2000 and best > e0 / 2:
        s.advance(100)
        best = min(best, s.loss)
    assert best <= e0 / 2, (name, e0, best)


def test_values_too_large_to_scale_are_refused_clearly() -> None:
    """Near the float limit the mean or the span overflow: a clear error, no NaN, no warning."""
    rng = np.random.default_rng(0)
    huge = [[1e308], [-1e308], [5.0]]
    with pytest.raises(ValueError, match="too large to standardise"):
        datasets.from_rows(huge, [0.5, 0.2, 0.1], None, None, 0.0, True, rng)
    d = datasets.from_rows([[1.0], [2.0], [3.0]], [1e308, -1e308, 2.0], None, None, 0.0, False, rng)
    with pytest.raises(ValueError, match="too large to scale"):
        datasets.scale_targets(d, "sigmoid")
