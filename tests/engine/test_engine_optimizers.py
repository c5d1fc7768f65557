"""Optimizers against the formulas of docs/api.md, and the activations' numerics."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.engine.activations import ACTIVATIONS, sigmoid
from app.engine.optimizers import Adam, Momentum, make_optimizer

GRADS = [
    np.array([0.5, -1.0, 0.0, 2e-3]),
    np.array([0.4, 0.3, -0.2, 1e-3]),
    np.array([-0.1, 0.3, 0.0, 5.0]),
    np.array([0.0, -0.7, 0.25, -2.0]),
]
START = np.array([1.0, -2.0, 0.5, 0.0])


def run(opt, grads=GRADS):
    theta = START.copy()
    out = []
    for g in grads:
        opt.update(theta, g.copy())
        out.append(theta.copy())
    return out


def test_sgd_is_w_minus_lr_g():
    got = run(make_optimizer("sgd", 0.1))
    w = START.copy()
    for g, theta in zip(GRADS, got, strict=True):
        w = w - 0.1 * g
        np.testing.assert_allclose(theta, w, rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize("m", [0.0, 0.5, 0.9])
def test_momentum_formula(m):
    # v = momentum * v + g; W -= lr * v
    got = run(make_optimizer("momentum", 0.05, momentum=m))
    w, v = START.copy(), np.zeros(4)
    for g, theta in zip(GRADS, got, strict=True):
        v = m * v + g
        w = w - 0.05 * v
        np.testing.assert_allclose(theta, w, rtol=1e-14, atol=1e-16)
    # by hand for the second step of the first entry: v = m*0.5 + 0.4
    assert got[1][0] == pytest.approx(1.0 - 0.05 * 0.5 - 0.05 * (m * 0.5 + 0.4), rel=1e-14)


@pytest.mark.parametrize(("b1", "b2", "eps"), [(0.9, 0.999, 1e-8), (0.5, 0.9, 1e-3)])
def test_adam_formula_with_bias_correction(b1, b2, eps):
    lr = 0.01
    got = run(make_optimizer("adam", lr, beta1=b1, beta2=b2, eps=eps))
    w, m, v = START.copy(), np.zeros(4), np.zeros(4)
    for t, (g, theta) in enumerate(zip(GRADS, got, strict=True), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(theta, w, rtol=1e-13, atol=1e-16)
    # with bias correction, the first step is lr * g / (|g| + eps): about lr per entry
    first = START - got[0]
    np.testing.assert_allclose(first, lr * GRADS[0] / (np.abs(GRADS[0]) + eps), rtol=1e-12)


def test_adam_defaults_are_api_md():
    opt = make_optimizer("adam", 0.1)
    assert isinstance(opt, Adam) and (opt.beta1, opt.beta2, opt.eps) == (0.9, 0.999, 1e-8)
    mom = make_optimizer("momentum", 0.1)
    assert isinstance(mom, Momentum) and mom.momentum == 0.9


def test_unknown_optimizer_is_a_value_error():
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", 0.1)


def test_momentum_in_a_session_follows_the_frames_gradients():
    cfg = SessionConfigIn(preset="article", optimizer={"name": "momentum", "learning_rate": 0.3})
    s = TrainingSession(resolve(cfg))
    frames = [s.snapshot()] + [s.step(1) for _ in range(4)]
    v = [np.zeros_like(np.array(W)) for W in frames[0]["weights"]]
    for before, after in itertools.pairwise(frames):
        for k, (W, g) in enumerate(
            zip(before["weights"], before["gradients"]["weights"], strict=True)
        ):
            v[k] = 0.9 * v[k] + np.array(g)
            np.testing.assert_allclose(after["weights"][k], np.array(W) - 0.3 * v[k], rtol=1e-13)


# ---- activations ----------------------------------------------------------------------------


def test_sigmoid_is_stable_at_the_extremes():
    z = np.array([-1000.0, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1000.0, -np.inf, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            a = sigmoid(z)
    assert a[0] == 0.0 and a[-3] == 1.0
    assert a[-2] == 0.0 and a[-1] == 1.0
    assert a[4] == 0.5
    assert np.all((a >= 0) & (a <= 1))
    assert np.all(np.diff(a[:-2]) >= 0)  # monotone
    assert a[5] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-15)
    assert a[3] == pytest.approx(1 / (1 + math.exp(1)), rel=1e-15)
    assert a[3] + a[5] == pytest.approx(1.0, rel=1e-15)
    # the derivative a(1 - a) at the limits is exactly 0, never negative or NaN
    d = ACTIVATIONS["sigmoid"].df(z, a)
    assert d[0] == 0.0 and d[-3] == 0.0
    assert np.all(d >= 0) and np.all(np.isfinite(d))
    assert d[4] == 0.25


def test_sigmoid_matches_the_logistic_in_the_ordinary_range():
    z = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12, atol=1e-16)


def test_a_network_at_huge_inputs_warns_nothing():
    cfg = SessionConfigIn(
        preset="article",
        dataset={"x": [[1e3, -1e3, 500.0, 0.0], [-1e3, 1e3, -500.0, 1.0]], "y": [1.0, 0.0]},
        init="uniform01",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = TrainingSession(resolve(cfg))
        frame = s.step(5)
    assert all(math.isfinite(v) for v in frame["losses"])
    assert frame["diverged"] is False


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n != "softmax"])
def test_activation_derivatives_match_their_functions(name):
    act = ACTIVATIONS[name]
    z = np.array([-2.0, -0.7, -0.01, 0.02, 0.5, 3.0])
    a = act.f(z)
    h = 1e-6
    numeric = (act.f(z + h) - act.f(z - h)) / (2 * h)
    np.testing.assert_allclose(act.df(z, a), numeric, rtol=1e-7, atol=1e-9)
    expected = {
        "sigmoid": 1 / (1 + np.exp(-z)),
        "tanh": np.tanh(z),
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "linear": z,
    }[name]
    np.testing.assert_allclose(a, expected, rtol=1e-13, atol=1e-16)


def test_softmax_sums_to_one_per_sample_and_its_df_is_the_jacobians_diagonal():
    """Softmax normalises each column; df is dO_j/dZ_j, one z moved at a time (the network
    applies the whole Jacobian itself)."""
    act = ACTIVATIONS["softmax"]
    z = np.array([[-2.0, 0.3], [0.5, 800.0], [3.0, -1.0]])
    a = act.f(z)
    np.testing.assert_allclose(a.sum(axis=0), 1.0, rtol=1e-15)
    e = np.exp(z[:, 0] - z[:, 0].max())
    np.testing.assert_allclose(a[:, 0], e / e.sum(), rtol=1e-14)
    h = 1e-6
    zz = z[:, :1]
    for j in range(3):
        up, down = zz.copy(), zz.copy()
        up[j] += h
        down[j] -= h
        numeric = (act.f(up)[j, 0] - act.f(down)[j, 0]) / (2 * h)
        assert abs(act.df(zz, act.f(zz))[j, 0] - numeric) <= 1e-9
