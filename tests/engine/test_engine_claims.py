"""The article's closing claims (app/engine/claims.py, app/domain/claims.py) against computations
written here independently: our own forward pass, backprop, central differences, sequential
scheme and mean-phase scan, none of them calling the code under test."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession, new_session
from app.settings import Settings

EPS = 1e-6
THRESHOLD = 0.2  # docs/api.md, Version 3: spread and offset both under 20% of the targets' spread


def session(config: dict[str, Any]) -> TrainingSession:
    return new_session(SessionConfigIn.model_validate(config), Settings())


DEEP = {
    "layers": [2, 3, 3, 1],
    "activation": "tanh",
    "output_activation": "sigmoid",
    "loss": "mse",
    "optimizer": {"name": "sgd", "learning_rate": 0.5},
    "init": "xavier",
    "seed": 3,
    "dataset": {"name": "xor", "samples": 12, "noise": 0.0, "test_fraction": 0.0},
}


# ---------------------------------------------------------------- our own network maths


def f(name: str, z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z)) if name == "sigmoid" else np.tanh(z)
    return out


def df(name: str, a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a) if name == "sigmoid" else 1.0 - a * a


def params(s: TrainingSession) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Copies of the weights (n_in x n_out) and per-neuron biases."""
    return [W.copy() for W in s.net.W], [b.copy() for b in s.net.b]


def acts(s: TrainingSession) -> list[str]:
    L = len(s.config.layers) - 1
    return [str(s.config.activation)] * (L - 1) + [str(s.config.output_activation)]


def forward(
    Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray, names: list[str]
) -> list[np.ndarray]:
    A = [X]
    for W, b, name in zip(Ws, bs, names, strict=True):
        A.append(f(name, W.T @ A[-1] + b[:, None]))
    return A


def loss(name: str, O: np.ndarray, Y: np.ndarray) -> float:
    return float(0.5 * np.sum((O - Y) ** 2) if name == "half_sse" else np.mean((O - Y) ** 2))


def dloss(name: str, O: np.ndarray, Y: np.ndarray) -> np.ndarray:
    out: np.ndarray = O - Y if name == "half_sse" else 2.0 * (O - Y) / O.size
    return out


def backprop(Ws, bs, X, Y, names, lname):
    """Gradients by the chain rule, layer by layer from the output in."""
    A = forward(Ws, bs, X, names)
    d = dloss(lname, A[-1], Y) * df(names[-1], A[-1])
    gW, gb = [None] * len(Ws), [None] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        gW[k], gb[k] = A[k] @ d.T, d.sum(axis=1)
        if k:
            d = (Ws[k] @ d) * df(names[k - 1], A[k])
    return gW, gb


def central(Ws, bs, X, Y, names, lname):
    """(E(p + eps) - E(p - eps)) / 2 eps for every parameter; also the passes made."""
    passes = 0
    out = []
    for group in (Ws, bs):
        grads = []
        for P in group:
            G = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                keep = P[idx]
                P[idx] = keep + EPS
                up = loss(lname, forward(Ws, bs, X, names)[-1], Y)
                P[idx] = keep - EPS
                down = loss(lname, forward(Ws, bs, X, names)[-1], Y)
                P[idx] = keep
                passes += 2
                G[idx] = (up - down) / (2 * EPS)
            grads.append(G)
        out.append(grads)
    return out[0], out[1], passes


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


# ---------------------------------------------------------------- cost: backprop vs differences


@pytest.mark.parametrize(
    ("config", "steps"), [({"preset": "article"}, 0), ({"preset": "article"}, 10), (DEEP, 40)]
)
def test_backprop_takes_one_pass_each_way_and_differences_two_per_parameter(
    config: dict[str, Any], steps: int
) -> None:
    s = session(config)
    s.advance(steps)
    theta = s.net.theta.copy()
    answer = s.clone().claims()
    assert np.array_equal(s.net.theta, theta)  # measuring never moves the run
    g = answer["gradients"]
    sizes = s.config.layers
    P = sum((a + 1) * b for a, b in pairwise(sizes))
    assert g["parameters"] == P
    assert g["backprop"] == {"forward_passes": 1, "backward_passes": 1}
    Ws, bs = params(s)
    X, Y = s.dataset.X, s.dataset.Y
    names, lname = acts(s), s.config.loss
    nW, nb, passes = central(Ws, bs, X, Y, names, lname)
    assert g["finite_differences"]["forward_passes"] == passes == 2 * P
    if config == {"preset": "article"}:
        assert passes == 62  # the 2 x 31
    bW, bb = backprop(Ws, bs, X, Y, names, lname)
    ours = max(
        max(float(np.max(np.abs(a - b))) for a, b in zip(bW, nW, strict=True)),
        max(float(np.max(np.abs(a - b))) for a, b in zip(bb, nb, strict=True)),
    )
    assert ours < 1e-8 and g["max_abs_difference"] < 1e-8
    assert abs(g["max_abs_difference"] - ours) < 1e-9
    text = answer["text"]["cost"]
    assert f"all {P} gradients from 1 forward and 1 backward pass" in text
    assert f"{2 * P} forward passes (2 × {P}," in text
    assert "faster per step" in text and "not a rule that converges in fewer steps" in text


# ---------------------------------------------------------------- order: all at once vs sequential


@pytest.mark.parametrize(
    ("config", "steps"), [({"preset": "article"}, 10), ({"preset": "article"}, 300), (DEEP, 40)]
)
def test_the_articles_order_is_another_algorithm_than_the_simultaneous_update(
    config: dict[str, Any], steps: int
) -> None:
    s = session(config)
    s.advance(steps)
    u = s.clone().claims()["update"]
    lr = s.optimizer.learning_rate
    Ws, bs = params(s)
    X, Y = s.dataset.X, s.dataset.Y
    names, lname = acts(s), s.config.loss
    L = len(Ws)
    E0 = loss(lname, forward(Ws, bs, X, names)[-1], Y)
    # Every layer at once, from the same gradients.
    gW, gb = backprop(Ws, bs, X, Y, names, lname)
    simW = [W - lr * g for W, g in zip(Ws, gW, strict=True)]
    simb = [b - lr * g for b, g in zip(bs, gb, strict=True)]
    E_sim = loss(lname, forward(simW, simb, X, names)[-1], Y)
    # The article's: the output layer, recompute, the next layer in with the recomputed delta.
    seqW, seqb = [W.copy() for W in Ws], [b.copy() for b in bs]
    stages = []
    for k in range(L - 1, -1, -1):
        gW, gb = backprop(seqW, seqb, X, Y, names, lname)
        seqW[k] = seqW[k] - lr * gW[k]
        seqb[k] = seqb[k] - lr * gb[k]
        stages.append(loss(lname, forward(seqW, seqb, X, names)[-1], Y))

    assert u["E_before"] == pytest.approx(E0, abs=1e-14)
    assert u["simultaneous"]["E_after"] == pytest.approx(E_sim, abs=1e-12)
    assert [st["E_after"] for st in u["sequential"]["stages"]] == pytest.approx(stages, abs=1e-12)
    assert u["sequential"]["E_after"] == pytest.approx(stages[-1], abs=1e-12)
    assert u["sequential"]["E_after"] != u["simultaneous"]["E_after"]
    assert (u["simultaneous"]["forward_passes"], u["simultaneous"]["backward_passes"]) == (1, 1)
    assert (u["sequential"]["forward_passes"], u["sequential"]["backward_passes"]) == (L, L)
    diffs = [
        max(float(np.max(np.abs(a - b))), float(np.max(np.abs(c - d))))
        for a, b, c, d in zip(seqW, simW, seqb, simb, strict=True)
    ]
    got = [lay["max_abs_difference"] for lay in u["layers"]]
    assert got == pytest.approx(diffs, abs=1e-13)
    assert got[-1] == 0.0  # the output layer moves first, by the same gradient: the same step
    assert all(d > 0 for d in got[:-1])  # every layer inside lands elsewhere

    # The sentence shows these numbers, with digits enough to tell the two E's apart.
    text = s.clone().claims()["text"]["order"]
    head, seq = text.split("The article's order")
    sim_E = numbers(head.split("E ")[1])[:2]
    assert sim_E == pytest.approx([E0, E_sim], rel=1e-3)
    path = numbers(seq.split("another algorithm: E ")[1].split(", from")[0].replace("→", " "))
    assert path == pytest.approx([E0, *stages], rel=1e-3)
    assert f"from {L} forward and {L} backward passes" in text


# ---------------------------------------------------------------- the mean phase


def own_runs(flags: list[bool]) -> list[tuple[int, int | None]]:
    runs: list[tuple[int, int | None]] = []
    start: int | None = None
    for step, on in enumerate(flags):
        if on and start is None:
            start = step
        if not on and start is not None:
            runs.append((start, step))
            start = None
    if start is not None:
        runs.append((start, None))
    return runs


def test_the_mean_phase_matches_a_scan_of_the_outputs_spread_against_the_targets() -> None:
    """Article preset: O's spread across the 5 houses against Y's, step by step, by hand."""
    s = session({"preset": "article"})
    Y = s.dataset.Y[0]
    spread_Y, mean_Y = float(Y.max() - Y.min()), float(Y.mean())
    E_of_mean = 0.5 * float(np.sum((Y - mean_Y) ** 2))
    flags, spreads = [], []
    for _ in range(1300):
        Ws, bs = params(s)
        O = forward(Ws, bs, s.dataset.X, acts(s))[-1][0]
        spread = float(O.max() - O.min())
        spreads.append(spread)
        flags.append(
            spread < THRESHOLD * spread_Y and abs(O.mean() - mean_Y) < THRESHOLD * spread_Y
        )
        s.advance(1)
    runs = own_runs(flags)
    assert len(runs) == 1, runs
    since, end = runs[0]
    assert end is not None  # the phase ends within the steps looked at
    until: int = end
    # The issue saw "~10 to ~136" on the curve; the measure says steps 2 to 137 (docs/api.md).
    assert since <= 10 and 130 <= until <= 145, runs

    for step in (0, 1, since, 10, 100, until - 1, until, 200):
        s.seek(step)
        m = s.clone().claims()["mean_phase"]
        assert m["step"] == step
        assert m["in_phase"] == flags[step], step
        assert (m["since_step"], m["until_step"]) == (since, until), step
        assert m["spread_O"] == pytest.approx(spreads[step], abs=1e-15)
        assert m["spread_Y"] == pytest.approx(spread_Y, abs=1e-15)
        assert m["mean_Y"] == pytest.approx(mean_Y, abs=1e-15)
        assert m["E_of_mean"] == pytest.approx(E_of_mean, abs=1e-15)
        assert m["threshold"] == THRESHOLD
        text = s.clone().claims()["text"]["mean"]
        if flags[step]:
            assert text.startswith("The network is predicting about the mean")
            assert f"began at step {since} and ends at step {until}" in text
            assert "∂E/∂b_ho = Σ (O − Y)·O(1 − O)" in text
            # E during the phase, against the error of answering the mean.
            Ws, bs = params(s)
            E = loss("half_sse", forward(Ws, bs, s.dataset.X, acts(s))[-1], s.dataset.Y)
            assert m["E"] == pytest.approx(E, abs=1e-15)
            assert f"is {100 * E / E_of_mean:.3g}% of " in text
        elif step < since:
            assert f"will predict about the mean of Y from step {since} to step {until}" in text
        else:
            assert f"predicted about the mean of Y from step {since} to step {until}." in text
        assert f"{100 * spreads[step] / spread_Y:.3g}% of the targets' spread" in text

    # While the output sits at the mean the bias gradient is tiny: the weights' need differences.
    s.seek(50)
    m = s.clone().claims()["mean_phase"]
    Ws, bs = params(s)
    gW, gb = backprop(Ws, bs, s.dataset.X, s.dataset.Y, acts(s), "half_sse")
    assert m["bias_gradient"] == pytest.approx(abs(gb[-1][0]), abs=1e-15)
    assert m["weight_gradient"] == pytest.approx(
        max(float(np.max(np.abs(g))) for g in gW), abs=1e-15
    )
    h1 = forward(Ws, bs, s.dataset.X, acts(s))[1]
    assert m["hidden_spread"] == pytest.approx(
        float(np.max(h1.max(axis=1) - h1.min(axis=1))), abs=1e-15
    )


def test_no_mean_phase_is_said_where_the_outputs_differ() -> None:
    """XOR learnt by a deeper net: whatever the scan finds, the words follow the flags."""
    s = session(DEEP)
    s.advance(300)
    m = s.clone().claims()["mean_phase"]
    Ws, bs = params(s)
    O = forward(Ws, bs, s.dataset.X, acts(s))[-1][0]
    Y = s.dataset.Y[0]
    spread_Y = float(Y.max() - Y.min())
    on = (
        float(O.max() - O.min()) < THRESHOLD * spread_Y
        and abs(O.mean() - Y.mean()) < THRESHOLD * spread_Y
    )
    assert m["in_phase"] == on
    text = s.clone().claims()["text"]["mean"]
    assert text.startswith("The network is predicting") == on


def test_the_walk_replays_the_run_through_settings_changes_and_goes_on_past_the_head() -> None:
    s = session({**DEEP, "batch_size": 4, "seed": 5})
    X = s.dataset.X
    seen = {0: s.net.forward(X).A[-1].copy()}
    for step in range(1, 21):
        s.advance(1)
        if step == 6:
            s.patch(SessionPatch(optimizer={"name": "momentum", "learning_rate": 0.3}))
        if step == 12:
            s.patch(SessionPatch(batch_size=None))
        seen[step] = s.net.forward(X).A[-1].copy()
    ahead = s.clone()
    for step in range(21, 26):
        ahead.advance(1)
        seen[step] = ahead.net.forward(X).A[-1].copy()
    s.seek(3)
    walked = dict((step, O.copy()) for step, O in s.clone().walk(3, 22))
    assert sorted(walked) == list(range(3, 26))
    for step, O in walked.items():
        assert np.array_equal(O, seen[step]), step


def test_a_diverged_run_answers_json_without_nan() -> None:
    s = session(
        {
            "preset": "article",
            "optimizer": {"name": "sgd", "learning_rate": 1e6},
            "activation": "linear",
            "output_activation": "linear",
            "init": "uniform01",
        }
    )
    s.advance(50)
    answer = s.clone().claims()
    json.dumps(answer, allow_nan=False)
    assert answer["mean_phase"]["in_phase"] is False


def test_the_scan_is_bounded_by_its_work_and_the_answer_says_what_it_scanned() -> None:
    """The article scans 3000 steps back and 1000 ahead; a big network fewer, within its budget."""
    s = session({"preset": "article"})
    s.advance(3500)
    m = s.clone().claims()["mean_phase"]
    assert (m["scanned_from"], m["scanned_to"]) == (500, 4500)
    assert m["began_before_scan"] is False
    big = session(
        {
            "layers": [2, 32, 32, 1],
            "activation": "tanh",
            "batch_size": 32,  # central differences on 32 samples; the scan runs all 1000
            "dataset": {"name": "spiral", "samples": 1000, "test_fraction": 0.0},
        }
    )
    big.advance(5)
    m = big.clone().claims()["mean_phase"]
    per_step = 1000 * (2 * 32 + 32 * 32 + 32)  # samples x weights: one step's multiply-adds
    scanned = m["scanned_to"] - m["scanned_from"]
    assert m["scanned_from"] == 0 and 0 < scanned * 2 * per_step <= 200_000_000
