"""Backward's gradients against central differences of an independent forward pass.

Nothing here uses the engine's gradient check: the forward pass, the losses and the central
differences are written out in this file, from DESIGN.md's conventions (W[l] is n_in x n_out,
Z = W^T A + b, samples are columns).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.domain.protocol import SessionConfig
from app.domain.session import TrainingSession
from app.engine.network import Network

ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
KINKED = {"relu", "leaky_relu"}
EPS = 1e-6
TOL = 1e-6

# Central differences with eps 1e-6 in float64: errors below this are rounding, not a bug.
NOISE = 1e-8
PROPS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


# ---- an independent reference -----------------------------------------------------------------


def act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    if name == "tanh":
        return np.asarray(np.tanh(z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    assert name == "linear"
    return z.copy()


def forward(Ws, bs, hidden, out, X):
    """Activations and pre-activations, layer by layer."""
    A, Zs = X, []
    for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        Z = W.T @ A + np.asarray(b).reshape(-1, 1)  # a shared bias (1,) broadcasts
        Zs.append(Z)
        A = act(out if k == len(Ws) - 1 else hidden, Z)
    return A, Zs


def loss(name: str, O: np.ndarray, Y: np.ndarray) -> float:
    if name == "half_sse":
        return 0.5 * float(np.sum((Y - O) ** 2))
    if name == "mse":
        return float(np.mean((Y - O) ** 2))
    assert name == "bce"
    return float(-np.mean(Y * np.log(O) + (1 - Y) * np.log(1 - O)))


def error(Ws, bs, spec, X, Y) -> float:
    O, _ = forward(Ws, bs, spec["hidden"], spec["out"], X)
    l2 = float(spec["l2"]) * sum(float(np.sum(W * W)) for W in Ws)
    return loss(spec["loss"], O, Y) + 0.5 * l2


def central_differences(Ws, bs, spec, X, Y, eps=EPS):
    """dE/dW and dE/db, one parameter at a time, on copies."""
    Ws = [W.astype(float).copy() for W in Ws]
    bs = [np.atleast_1d(np.asarray(b, dtype=float)).copy() for b in bs]
    out = []
    for P in [*Ws, *bs]:
        G = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            keep = P[idx]
            P[idx] = keep + eps
            up = error(Ws, bs, spec, X, Y)
            P[idx] = keep - eps
            down = error(Ws, bs, spec, X, Y)
            P[idx] = keep
            G[idx] = (up - down) / (2 * eps)
        out.append(G)
    n = len(Ws)
    return out[:n], out[n:]


def flat(tensors) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(t, dtype=float)) for t in tensors])


def numeric_flat(Ws, bs, spec, X, Y) -> np.ndarray:
    nW, nb = central_differences(Ws, bs, spec, X, Y)
    return flat([*nW, *nb])


def assert_gradients_close(analytic, numeric, tol=TOL):
    a, n = flat(analytic), flat(numeric)
    scale = float(np.linalg.norm(a) + np.linalg.norm(n))
    if scale < 1e-12:  # e.g. every relu unit dead: both are zero
        assert np.max(np.abs(a - n)) < 1e-12
        return
    rel = float(np.linalg.norm(a - n)) / scale
    assert rel < tol, f"relative error {rel:.3g}"
    # and no single entry is off by more than the noise of the differences
    assert np.max(np.abs(a - n)) < tol * max(float(np.linalg.norm(a)), 1e-3)


def no_kinks(spec, Zs) -> bool:
    """Central differences across a relu kink are meaningless: keep every |Z| clear of 0."""
    acts = {spec["hidden"]} if len(Zs) > 1 else set()
    acts.add(spec["out"])
    if acts & KINKED:
        return all(np.min(np.abs(Z)) > 1e-3 for Z in Zs)
    return True


# ---- random networks ------------------------------------------------------------------------


@st.composite
def problems(draw, hidden=None, out=None, loss_name=None, bias=None):
    spec = {
        "sizes": draw(st.lists(st.integers(1, 4), min_size=2, max_size=5)),
        "hidden": hidden or draw(st.sampled_from(ACTS)),
        "loss": loss_name or draw(st.sampled_from(["half_sse", "mse"])),
        "bias": bias or draw(st.sampled_from(["per_neuron", "shared"])),
        "l2": draw(st.sampled_from([0.0, 0.0, 0.01, 0.3])),
        "samples": draw(st.integers(1, 6)),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }
    spec["out"] = "sigmoid" if spec["loss"] == "bce" else out or draw(st.sampled_from(ACTS))
    return spec


def build(spec):
    """An engine Network with random weights and biases, and random data, from the spec."""
    rng = np.random.default_rng(spec["seed"])
    sizes = spec["sizes"]
    net = Network(
        sizes, spec["hidden"], spec["out"], spec["loss"], spec["bias"], "xavier", spec["l2"]
    )
    for W, b in zip(net.W, net.b, strict=True):
        W[...] = rng.uniform(-1.5, 1.5, W.shape)
        b[...] = rng.uniform(-0.5, 0.5, b.shape)
    X = rng.uniform(-1, 1, (sizes[0], spec["samples"]))
    if spec["loss"] == "bce":
        Y = rng.uniform(0.05, 0.95, (sizes[-1], spec["samples"]))
    else:
        Y = rng.uniform(-1, 1, (sizes[-1], spec["samples"]))
    return net, X, Y


def check_network(spec):
    net, X, Y = build(spec)
    Ws = [W.copy() for W in net.W]
    bs = [b.copy() for b in net.b]
    _, Zs = forward(Ws, bs, spec["hidden"], spec["out"], X)
    assume(no_kinks(spec, Zs))
    grads = net.backward(net.forward(X), Y)
    # the engine's forward and loss agree with the reference...
    assert grads.error == pytest.approx(error(Ws, bs, spec, X, Y), rel=1e-12, abs=1e-14)
    # ...and its gradients with the reference's central differences
    nW, nb = central_differences(Ws, bs, spec, X, Y)
    for k, W in enumerate(Ws):
        assert grads.dW[k].shape == W.shape
        assert grads.db[k].shape == bs[k].shape
    assert_gradients_close([*grads.dW, *grads.db], [*nW, *nb])
    # backward read the weights, it did not move them
    assert all(np.array_equal(a, b) for a, b in zip(net.W, Ws, strict=True))


@pytest.mark.parametrize("activation", ACTS)
@PROPS
@given(data=st.data())
def test_gradients_match_central_differences_for_each_activation(activation, data):
    # the activation everywhere, then as the hidden activation under any output
    spec = data.draw(problems(hidden=activation, out=activation))
    check_network(spec)
    check_network(data.draw(problems(hidden=activation)))


@pytest.mark.parametrize("loss_name", ["half_sse", "mse", "bce"])
@PROPS
@given(data=st.data())
def test_gradients_match_central_differences_for_each_loss(loss_name, data):
    check_network(data.draw(problems(loss_name=loss_name)))


@pytest.mark.parametrize("bias", ["per_neuron", "shared"])
@PROPS
@given(data=st.data())
def test_gradients_match_central_differences_for_each_bias_mode(bias, data):
    spec = data.draw(problems(bias=bias))
    net, _, _ = build(spec)
    widths = [b.size for b in net.b]
    assert widths == ([1] * net.n_layers if bias == "shared" else spec["sizes"][1:])
    check_network(spec)


@PROPS
@given(data=st.data(), l2=st.floats(0.001, 2.0))
def test_gradients_match_central_differences_with_l2(data, l2):
    spec = data.draw(problems())
    spec["l2"] = l2
    check_network(spec)


def test_gradient_reference_is_not_vacuous():
    """The reference catches a wrong gradient: a sign flip on one entry fails it."""
    spec: dict[str, Any] = {"sizes": [3, 4, 2], "hidden": "tanh", "out": "sigmoid", "loss": "mse"}
    spec |= {"bias": "per_neuron", "l2": 0.0, "samples": 5, "seed": 7}
    net, X, Y = build(spec)
    grads = net.backward(net.forward(X), Y)
    nW, nb = central_differences(net.W, net.b, spec, X, Y)
    assert_gradients_close([*grads.dW, *grads.db], [*nW, *nb])
    wrong = [g.copy() for g in grads.dW]
    wrong[0][1, 2] *= -1.0
    with pytest.raises(AssertionError):
        assert_gradients_close([*wrong, *grads.db], [*nW, *nb])


# ---- batch sizes, through a training session ------------------------------------------------


def session_for(spec, n, batch_size, lr=0.3):
    rng = np.random.default_rng(spec["seed"])
    sizes = spec["sizes"]
    x = rng.uniform(-1, 1, (n, sizes[0]))
    if spec["loss"] == "bce":
        y = rng.uniform(0.05, 0.95, (n, sizes[-1]))
    else:
        y = rng.uniform(-1, 1, (n, sizes[-1]))
    cfg = SessionConfig.model_validate(
        {
            "layers": sizes,
            "activation": spec["hidden"],
            "output_activation": spec["out"],
            "loss": spec["loss"],
            "bias": spec["bias"],
            "l2": spec["l2"],
            "optimizer": {"name": "sgd", "learning_rate": lr},
            "batch_size": batch_size,
            "seed": spec["seed"] % 1000,
            "dataset": {"x": x.tolist(), "y": y.tolist()},
        }
    )
    return TrainingSession(cfg)


def arrays(frame, key=None):
    src = frame["gradients"] if key == "gradients" else frame
    return [np.array(W) for W in src["weights"]], [np.array(b) for b in src["biases"]]


@settings(PROPS, max_examples=30)
@given(
    data=st.data(),
    n=st.integers(2, 6),
    steps=st.integers(0, 4),
    loss_name=st.sampled_from(["half_sse", "mse", "bce"]),
)
def test_minibatch_gradients_are_the_gradients_on_one_batch(data, n, steps, loss_name):
    spec = data.draw(problems(loss_name=loss_name))
    spec["sizes"] = spec["sizes"][:3]
    batch_size = data.draw(st.integers(1, n))
    s = session_for(spec, n, batch_size)
    frame = s.step(steps)
    Ws, bs = arrays(frame)
    gW, gb = arrays(frame, "gradients")
    d = s.data()
    X, Y = np.array(d["x"]).T, np.array(d["y"]).T
    _, Zs = forward(Ws, bs, spec["hidden"], spec["out"], X)
    assume(no_kinks(spec, Zs))

    # The frame's loss is the training loss over every sample, at the frame's weights.
    assert frame["loss"] == pytest.approx(error(Ws, bs, spec, X, Y), rel=1e-12, abs=1e-14)

    # The engine's own check on the session's batch passes...
    check = s.gradcheck()
    # (Gradients near zero sit below central differences' own noise, about 1e-10 here: there
    # the absolute error is the meaningful one.)
    assert check["max_relative_error"] < TOL or check["max_abs_error"] < NOISE
    # ...and its analytic side is the frame's gradients (the ones the next step applies).
    for k, layer in enumerate(check["layers"]):
        np.testing.assert_allclose(layer["analytic"]["weights"], gW[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer["analytic"]["biases"], gb[k], rtol=1e-12, atol=1e-15)

    # Independently: the frame's gradients are the central differences on one batch of
    # `batch_size` training samples (the mean losses average over that batch only).
    g = flat([*gW, *gb])
    errors = [
        np.linalg.norm(g - numeric_flat(Ws, bs, spec, X[:, c], Y[:, c]))
        for c in map(list, itertools.combinations(range(n), batch_size))
    ]
    assert min(errors) < TOL * max(float(np.linalg.norm(g)), 1e-6)

    # The next step applies exactly those gradients (plain SGD).
    after = s.step(1)
    W2, b2 = arrays(after)
    for W_old, g, W_new in zip([*Ws, *bs], [*gW, *gb], [*W2, *b2], strict=True):
        np.testing.assert_allclose(W_new, W_old - 0.3 * g, rtol=1e-13, atol=1e-15)


def test_minibatches_of_one_epoch_partition_the_training_set():
    spec: dict[str, Any] = {"sizes": [2, 3, 1], "hidden": "tanh", "out": "sigmoid", "loss": "mse"}
    spec |= {"bias": "per_neuron", "l2": 0.0, "seed": 11}
    n, bs = 6, 2
    s = session_for(spec, n, bs)
    d = s.data()
    X, Y = np.array(d["x"]).T, np.array(d["y"]).T
    seen: list[Any] = []
    for _ in range(n // bs):
        frame = s.snapshot()
        Ws, bs_ = arrays(frame)
        gW, gb = arrays(frame, "gradients")
        g = flat([*gW, *gb])
        matches = [
            c
            for c in itertools.combinations(range(n), bs)
            if np.linalg.norm(g - numeric_flat(Ws, bs_, spec, X[:, list(c)], Y[:, list(c)]))
            < TOL * np.linalg.norm(g)
        ]
        assert len(matches) == 1
        seen.extend(matches[0])
        s.step(1)
    assert sorted(seen) == list(range(n))


@pytest.mark.parametrize("batch_size", [None, 1, 3, 5])
def test_session_gradcheck_passes_on_its_batch(batch_size):
    spec: dict[str, Any] = {
        "sizes": [3, 4, 2],
        "hidden": "sigmoid",
        "out": "sigmoid",
        "loss": "half_sse",
    }
    spec |= {"bias": "per_neuron", "l2": 0.05, "seed": 3}
    s = session_for(spec, 5, batch_size)
    s.step(3)
    check = s.gradcheck()
    assert check["max_relative_error"] < TOL
    assert len(check["layers"]) == 2
