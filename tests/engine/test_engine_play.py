"""Issue 22's engine features against an independent oracle: L1, features, softmax, accuracy.

PyTorch is not installable here in reasonable time (the PyPI wheel pulls gigabytes of CUDA
libraries), so the oracle is an independent NumPy implementation written in this file from the
formulas of docs/api.md: its own forward pass, its own backward pass (the chain rule by hand,
softmax's Jacobian applied as a full matrix per sample), its own SGD and Adam, its own batch
order from the documented seed scheme and its own feature maps. It never calls the engine; it
only starts from the session's initial weights and reads the session's data set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession

STEPS = 200
TOL = 1e-9


def session(**config: Any) -> TrainingSession:
    """A session from a preset and overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(config)))


# ---- the oracle -------------------------------------------------------------------------------


def act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    if name == "tanh":
        return np.asarray(np.tanh(z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "softmax":
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return np.asarray(e / e.sum(axis=0, keepdims=True))
    assert name == "linear"
    return z.copy()


def dact(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return np.asarray(a * (1 - a))
    if name == "tanh":
        return np.asarray(1 - a**2)
    if name == "relu":
        return (z > 0).astype(float)
    assert name == "linear"
    return np.ones_like(z)


def loss_and_dO(name: str, O: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    if name == "bce":
        m = O.size
        return float(-np.mean(Y * np.log(O) + (1 - Y) * np.log(1 - O))), (O - Y) / (O * (1 - O)) / m
    if name == "mse":
        return float(np.mean((O - Y) ** 2)), 2 * (O - Y) / O.size
    if name == "half_sse":
        return 0.5 * float(np.sum((O - Y) ** 2)), O - Y
    assert name == "ce"
    m = O.shape[1]  # mean over samples of -sum_k Y_k log O_k
    return float(-np.sum(Y * np.log(O)) / m), -Y / O / m


class Oracle:
    """A dense MLP trained by hand: W[l] (n_in x n_out), b[l] (n_out,), samples as columns."""

    def __init__(self, Ws: list[np.ndarray], bs: list[np.ndarray], c: dict[str, Any]) -> None:
        self.Ws = [W.copy() for W in Ws]
        self.bs = [b.copy() for b in bs]
        self.c = c
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.params()]
        self.v = [np.zeros_like(p) for p in self.params()]

    def params(self) -> list[np.ndarray]:
        return [*self.Ws, *self.bs]

    def forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        A, Zs = [X], []
        L = len(self.Ws)
        for k in range(L):
            Z = self.Ws[k].T @ A[-1] + self.bs[k][:, None]
            Zs.append(Z)
            A.append(act(self.c["out"] if k == L - 1 else self.c["hidden"], Z))
        return A, Zs

    def error(self, X: np.ndarray, Y: np.ndarray) -> float:
        A, _ = self.forward(X)
        E, _ = loss_and_dO(self.c["loss"], A[-1], Y)
        E += 0.5 * self.c["l2"] * sum(float(np.sum(W**2)) for W in self.Ws)
        E += self.c["l1"] * sum(float(np.sum(np.abs(W))) for W in self.Ws)
        return float(E)

    def grads(self, X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
        A, Zs = self.forward(X)
        L = len(self.Ws)
        _, dO = loss_and_dO(self.c["loss"], A[-1], Y)
        if self.c["out"] == "softmax":
            # The full Jacobian dO/dZ = diag(o) - o o^T, one sample (column) at a time.
            d = np.empty_like(dO)
            for n in range(dO.shape[1]):
                o = A[-1][:, n]
                J = np.diag(o) - np.outer(o, o)
                d[:, n] = J.T @ dO[:, n]
        else:
            d = dO * dact(self.c["out"], Zs[-1], A[-1])
        gW: list[np.ndarray] = [np.empty(0)] * L
        gb: list[np.ndarray] = [np.empty(0)] * L
        for k in range(L - 1, -1, -1):
            W = self.Ws[k]
            gW[k] = A[k] @ d.T + self.c["l2"] * W + self.c["l1"] * np.sign(W)
            gb[k] = d.sum(axis=1)
            if k:
                d = (W @ d) * dact(self.c["hidden"], Zs[k - 1], A[k])
        return [*gW, *gb]

    def update(self, g: list[np.ndarray]) -> None:
        o = self.c["opt"]
        lr = o["learning_rate"]
        if o["name"] == "sgd":
            for p, gp in zip(self.params(), g, strict=True):
                p -= lr * gp
            return
        assert o["name"] == "adam"
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        for p, gp, m, v in zip(self.params(), g, self.m, self.v, strict=True):
            m[...] = b1 * m + (1 - b1) * gp
            v[...] = b2 * v + (1 - b2) * gp * gp
            mh = m / (1 - b1**self.t)
            vh = v / (1 - b2**self.t)
            p -= lr * mh / (np.sqrt(vh) + eps)


def batches(seed: int, n: int, bs: int | None):
    """The documented batch order: a permutation per epoch from the seed's third child
    generator, batches taken in turn, a batch that would run past the end starts a new epoch."""
    if bs is None or bs >= n:
        while True:
            yield np.arange(n)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    order, pos = np.arange(0), 0
    while True:
        if pos + bs > order.size:
            order, pos = rng.permutation(n), 0
        yield order[pos : pos + bs]
        pos += bs


def oracle_for(s: TrainingSession) -> Oracle:
    c = s.config
    spec = {
        "hidden": c.activation,
        "out": c.output_activation,
        "loss": c.loss,
        "l1": c.l1,
        "l2": c.l2,
        "opt": c.optimizer.model_dump(),
    }
    return Oracle([W.copy() for W in s.net.W], [b.copy() for b in s.net.b], spec)


def compare(s: TrainingSession, steps: int = STEPS) -> Oracle:
    """Train the session and the oracle side by side; weights and loss agree to TOL each step."""
    o = oracle_for(s)
    X, Y = s.dataset.X, s.dataset.Y
    order = batches(s.config.seed, X.shape[1], s.config.batch_size)
    for step in range(1, steps + 1):
        idx = next(order)
        o.update(o.grads(X[:, idx], Y[:, idx]))
        s.advance(1)
        for W, Wo in zip(s.net.W, o.Ws, strict=True):
            assert np.max(np.abs(W - Wo)) <= TOL, f"step {step}"
        for b, bo in zip(s.net.b, o.bs, strict=True):
            assert np.max(np.abs(b - bo)) <= TOL, f"step {step}"
        assert abs(s.loss - o.error(X, Y)) <= TOL * max(1.0, abs(s.loss)), f"step {step}"
    return o


# ---- L1 ---------------------------------------------------------------------------------------

L1_CASES = [
    {"l1": 0.003},
    {"l1": 0.003, "l2": 0.01},
    {"l1": 0.01, "optimizer": {"name": "adam", "learning_rate": 0.02}},
    {"l1": 0.002, "l2": 0.004, "optimizer": {"name": "adam", "learning_rate": 0.02}},
]


@pytest.mark.parametrize("extra", L1_CASES, ids=lambda e: "-".join(sorted(map(str, e))))
def test_l1_trajectories_agree_with_the_oracle(extra: dict[str, Any]) -> None:
    """200 steps of L1 (with and without L2, SGD and Adam) on circle with mini-batches."""
    s = session(
        preset="xor", layers=[2, 6, 1], batch_size=16, seed=3,
        optimizer=extra.get("optimizer", {"name": "sgd", "learning_rate": 0.5}),
        dataset={"name": "circle", "samples": 120, "noise": 0.05, "test_fraction": 0.2},
        **{k: v for k, v in extra.items() if k != "optimizer"},
    )  # fmt: skip
    compare(s)


def test_l1_gradient_matches_central_differences_away_from_kinks() -> None:
    """dE/dW with L1 against central differences of E, where no |w| is near 0."""
    s = session(preset="xor", layers=[2, 5, 1], l1=0.05, l2=0.01, seed=1)
    assert all(np.abs(W).min() > 1e-3 for W in s.net.W)  # central differences stay off the kink
    o = oracle_for(s)
    X, Y = s.dataset.X, s.dataset.Y
    eps = 1e-6
    for k, W in enumerate(o.Ws):
        for i, j in np.ndindex(W.shape):
            old = W[i, j]
            W[i, j] = old + eps
            up = o.error(X, Y)
            W[i, j] = old - eps
            down = o.error(X, Y)
            W[i, j] = old
            assert abs(s.grads.dW[k][i, j] - (up - down) / (2 * eps)) <= 1e-7


def test_l1_subgradient_is_zero_at_zero_and_the_chain_panel_says_so() -> None:
    """A weight of exactly 0 gets no L1 push; the chain panel's l1_term is l1 * sign(w)."""
    s = session(preset="xor", layers=[2, 3, 1], l1=0.5, seed=2)
    s.net.W[0][0, 0] = 0.0
    s._evaluate(record=False, new_batch=False)
    plain = session(preset="xor", layers=[2, 3, 1], l1=0.0, seed=2)
    plain.net.W[0][0, 0] = 0.0
    plain._evaluate(record=False, new_batch=False)
    assert s.grads.dW[0][0, 0] == plain.grads.dW[0][0, 0]
    c = s.chain("weight", 0, 0, 0)
    assert c["l1_term"] == 0.0
    c = s.chain("weight", 0, 1, 2)
    w = float(s.net.W[0][1, 2])
    assert c["l1_term"] == 0.5 * (1.0 if w > 0 else -1.0)
    assert c["gradient"] == pytest.approx(c["sum"] + c["l2_term"] + c["l1_term"], abs=1e-15)
    trace = s.trace()
    assert trace["error"]["l1"] == 0.5


# ---- seek across the new settings -------------------------------------------------------------


def run_with(config: dict[str, Any], patches: dict[int, dict[str, Any]], steps: int):
    """A run with settings changes at given steps, and every step's frame as it first was."""
    from app.domain.protocol import SessionPatch

    s = session(**config)
    frames = {0: s.frame(since=-1)}
    for step in range(1, steps + 1):
        s.advance(1)
        if step in patches:
            s.patch(SessionPatch.model_validate(patches[step]))
        frames[step] = s.frame(since=-1)
    return s, frames


SEEK_KEYS: tuple[str, ...] = (
    "step",
    "loss",
    "test_loss",
    "weights",
    "biases",
    "gradients",
    "epoch",
)
SEEK_KEYS += ("accuracy", "test_accuracy")


def seek_is_bit_exact(config: dict[str, Any], patches: dict[int, dict[str, Any]]) -> None:
    s, frames = run_with(config, patches, 150)
    for n in (149, 0, 31, 64, 65, 100, 17, 150, 128, 3):
        got = s.seek(n)
        for key in SEEK_KEYS:
            assert got.get(key) == frames[n].get(key), (n, key)


def test_seek_is_bit_exact_across_l1_changes() -> None:
    """L1 set at the start and changed by PATCH twice: every seek gives the run's frame."""
    seek_is_bit_exact(
        {"preset": "spiral", "l1": 0.001, "dataset": {"name": "spiral", "samples": 80,
         "noise": 0.05, "test_fraction": 0.25}},
        {40: {"l1": 0.01}, 90: {"l1": 0.0, "l2": 0.001}, 120: {"l1": 0.002}},
    )  # fmt: skip


# ---- epochs and accuracy ----------------------------------------------------------------------


def oracle_accuracy(O: np.ndarray, Y: np.ndarray) -> float:
    """The share of samples whose predicted class is the target's, counted one by one."""
    right = 0
    for n in range(O.shape[1]):
        if O.shape[0] == 1:
            right += int((1 if O[0, n] >= 0.5 else 0) == int(Y[0, n]))
        else:
            right += int(int(np.argmax(O[:, n])) == int(np.argmax(Y[:, n])))
    return right / int(O.shape[1])


def test_accuracy_and_epoch_follow_the_oracle_with_mini_batches() -> None:
    """circle, batches of 16 from 96 samples: epoch = samples trained on // 96, and accuracy
    on both splits equals the oracle's share at every step."""
    s = session(
        preset="xor", layers=[2, 6, 1], batch_size=16, seed=5,
        dataset={"name": "circle", "samples": 120, "noise": 0.1, "test_fraction": 0.2},
    )  # fmt: skip
    o = oracle_for(s)
    d = s.dataset
    n = d.X.shape[1]
    order = batches(s.config.seed, n, 16)
    seen, accs = 0, set()
    for step in range(1, 121):
        idx = next(order)
        o.update(o.grads(d.X[:, idx], d.Y[:, idx]))
        seen += idx.size
        s.advance(1)
        f = s.frame()
        assert f["epoch"] == seen // n
        assert f["accuracy"] == oracle_accuracy(o.forward(d.X)[0][-1], d.Y), step
        assert f["test_accuracy"] == oracle_accuracy(o.forward(d.X_test)[0][-1], d.Y_test)
        accs.add(f["accuracy"])
    assert s.frame()["epoch"] == 120 * 16 // n and len(accs) > 3  # it moved: not a constant


def test_full_batch_epochs_are_steps_and_regression_has_no_accuracy() -> None:
    """The article: one epoch per step, accuracy null (house prices are not classes)."""
    s = session(preset="article")
    s.advance(7)
    f = s.frame()
    assert (f["epoch"], f["accuracy"], f["test_accuracy"]) == (7, None, None)


def test_seek_is_bit_exact_for_epochs_across_batch_changes() -> None:
    """Batch size changed mid-run: seek gives each step's epoch and accuracy as run."""
    seek_is_bit_exact(
        {"preset": "xor", "batch_size": 7, "dataset": {"name": "circle", "samples": 60,
         "test_fraction": 0.25}},
        {20: {"batch_size": 5}, 70: {"full_batch": True}, 110: {"batch_size": 9}},
    )  # fmt: skip


# ---- feature inputs ---------------------------------------------------------------------------

ALL_FEATURES = ["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]
FEATURE_SETS = [[f] for f in ALL_FEATURES] + [
    ["x1_squared", "x2_squared"],
    ["x1", "x2", "x1_x2"],
    ["sin_x1", "sin_x2", "x1_squared"],
    ALL_FEATURES,
]


def oracle_features(P: np.ndarray, names: list[str]) -> np.ndarray:
    """Playground's seven features of points P (2 x n), written out one by one."""
    x1, x2 = P[0], P[1]
    table = {
        "x1": x1,
        "x2": x2,
        "x1_squared": x1**2,
        "x2_squared": x2**2,
        "x1_x2": x1 * x2,
        "sin_x1": np.sin(x1),
        "sin_x2": np.sin(x2),
    }
    return np.array([table[n] for n in names])


@pytest.mark.parametrize("data", ["circle", "spiral"])
@pytest.mark.parametrize("names", FEATURE_SETS, ids=lambda n: "+".join(n))
def test_feature_inputs_train_as_the_oracle_does(data: str, names: list[str]) -> None:
    """The network's inputs are the features of the drawn points; 200 steps of Adam agree."""
    s = session(
        preset="spiral", layers=[2, 6, 1], batch_size=20, features=names, seed=4,
        dataset={"name": data, "samples": 100, "noise": 0.05, "test_fraction": 0.2},
    )  # fmt: skip
    assert s.points is not None or names == ["x1", "x2"]
    P, P_test = s.points if s.points is not None else (s.dataset.X, s.dataset.X_test)
    assert np.array_equal(s.dataset.X, oracle_features(P, names))
    assert np.array_equal(s.dataset.X_test, oracle_features(P_test, names))
    assert s.config.layers[0] == len(names) and s.net.W[0].shape[0] == len(names)
    compare(s)
    data_view = s.data()
    assert data_view["features"] == names and len(data_view["feature_names"]) == len(names)


def test_feature_names_in_the_articles_notation_and_bad_features_refused() -> None:
    """x₁², x₁x₂, sin x₁ on the diagram; a 4-input set, an unknown or twice-named feature: no."""
    s = session(preset="xor", features=["x1_squared", "x1_x2", "sin_x1"])
    assert s.data()["feature_names"] == ["x₁²", "x₁x₂", "sin x₁"]
    assert s.data()["points"] == np.asarray(s.points[0]).T.tolist()  # type: ignore[index]
    from pydantic import ValidationError

    from app.domain.errors import InvalidError

    with pytest.raises(InvalidError, match="2D data set"):
        session(preset="article", features=["x1_squared"])
    with pytest.raises(ValidationError):
        session(preset="xor", features=["x3"])
    with pytest.raises(ValidationError, match="only once"):
        session(preset="xor", features=["x1", "x1"])
    with pytest.raises(ValidationError):
        session(preset="xor", features=[])


def test_seek_is_bit_exact_with_feature_inputs() -> None:
    """Seek on a run with five feature inputs, mini-batches and an L1 change."""
    seek_is_bit_exact(
        {"preset": "spiral", "features": ["x1", "x2", "x1_squared", "sin_x1", "x1_x2"],
         "dataset": {"name": "spiral", "samples": 80, "noise": 0.05, "test_fraction": 0.25}},
        {50: {"l1": 0.001}},
    )  # fmt: skip


# ---- more than two classes: softmax with cross-entropy ----------------------------------------

SOFTMAX = {"output_activation": "softmax", "loss": "ce"}


@pytest.mark.parametrize(
    ("data", "opt", "batch"),
    [
        ("blobs3", {"name": "sgd", "learning_rate": 0.5}, 16),
        ("blobs3", {"name": "adam", "learning_rate": 0.02}, 25),
        ("spiral3", {"name": "adam", "learning_rate": 0.02}, 32),
        ("spiral3", {"name": "sgd", "learning_rate": 0.3}, 10),
    ],
)
def test_softmax_cross_entropy_trajectories_agree_with_the_oracle(
    data: str, opt: dict[str, Any], batch: int
) -> None:
    """200 mini-batch steps: the oracle applies softmax's full Jacobian to dCE/dO per sample;
    the engine's (O - Y)/n agrees to 1e-9, and accuracy is the oracle's argmax share."""
    s = session(
        preset="xor", layers=[2, 8, 3], activation="tanh", optimizer=opt, batch_size=batch,
        seed=11, dataset={"name": data, "samples": 150, "noise": 0.1, "test_fraction": 0.2},
        **SOFTMAX,
    )  # fmt: skip
    assert s.dataset.Y.shape[0] == 3 and set(s.dataset.Y.sum(axis=0)) == {1.0}
    o = compare(s)
    d = s.dataset
    f = s.frame()
    assert f["accuracy"] == oracle_accuracy(o.forward(d.X)[0][-1], d.Y)
    assert f["test_accuracy"] == oracle_accuracy(o.forward(d.X_test)[0][-1], d.Y_test)
    assert f["accuracy"] > 0.5  # it learned something: three classes by chance is 1/3


def test_softmax_gradients_match_central_differences() -> None:
    """dE/dW and dE/db with softmax + cross-entropy (+ L1 off the kinks) against E's slopes."""
    s = session(
        preset="xor", layers=[2, 4, 3], l1=0.01, seed=2,
        dataset={"name": "spiral3", "samples": 30, "noise": 0.1}, **SOFTMAX,
    )  # fmt: skip
    s.advance(5)
    o = oracle_for(s)
    X, Y = s.dataset.X, s.dataset.Y
    eps = 1e-6
    for k in range(len(o.Ws)):
        for P, G in ((o.Ws[k], s.grads.dW[k]), (o.bs[k], s.grads.db[k])):
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + eps
                up = o.error(X, Y)
                P[idx] = old - eps
                down = o.error(X, Y)
                P[idx] = old
                assert abs(G[idx] - (up - down) / (2 * eps)) <= 1e-7


def test_the_chain_rule_for_softmax_says_o_minus_y_and_why() -> None:
    """An output weight's chain: one factor dE/dZ2[j] = (O[j] - Y[j])/n, per sample, equal to
    the oracle's Jacobian product; the products sum to the gradient; `why` explains it."""
    s = session(
        preset="xor", layers=[2, 5, 3], seed=3,
        dataset={"name": "blobs3", "samples": 60}, **SOFTMAX,
    )  # fmt: skip
    s.advance(3)
    c = s.chain("weight", 1, 2, 1)
    assert c["factors"][0]["name"] == "dE/dZ2[1]" and c["factors"][0]["formula"] == (
        "(O[1] - Y[1])/n"
    )
    o = oracle_for(s)
    A, _ = o.forward(s.dataset.X)
    O, Y = A[-1], s.dataset.Y
    m = O.shape[1]
    for n in range(m):
        J = np.diag(O[:, n]) - np.outer(O[:, n], O[:, n])
        want = (J.T @ (-Y[:, n] / O[:, n] / m))[1]
        assert abs(c["factors"][0]["values"][n] - want) <= 1e-15
    assert c["gradient"] == pytest.approx(c["sum"], abs=1e-15)
    assert "= (Oⱼ − Yⱼ)/n" in c["why"] and "sums to 1" in c["why"]
    assert s.chain("weight", 0, 0, 0)["why"] == c["why"]


def test_softmax_is_refused_where_it_does_not_fit() -> None:
    """softmax without ce, ce without softmax, softmax on two-class or regression data."""
    from pydantic import ValidationError

    from app.domain.errors import InvalidError

    with pytest.raises(InvalidError, match="goes with loss"):
        session(preset="xor", output_activation="softmax", dataset={"name": "blobs3"})
    with pytest.raises(InvalidError, match="needs output_activation"):
        session(preset="xor", loss="ce", dataset={"name": "blobs3"})
    with pytest.raises(InvalidError, match="at least 2 classes"):
        session(preset="xor", **SOFTMAX)
    with pytest.raises(ValidationError):
        session(preset="xor", activation="softmax")


def test_three_class_sets_are_deterministic_from_the_seed() -> None:
    """Same seed, same points; another seed, other points; classes in near-equal groups."""
    a = session(preset="xor", dataset={"name": "spiral3", "samples": 100}, seed=1, **SOFTMAX)
    b = session(preset="xor", dataset={"name": "spiral3", "samples": 100}, seed=1, **SOFTMAX)
    c = session(preset="xor", dataset={"name": "blobs3", "samples": 100}, seed=2, **SOFTMAX)
    d = session(preset="xor", dataset={"name": "blobs3", "samples": 100}, seed=3, **SOFTMAX)
    assert np.array_equal(a.dataset.X, b.dataset.X) and np.array_equal(a.dataset.Y, b.dataset.Y)
    assert not np.array_equal(c.dataset.X, d.dataset.X)
    assert sorted(a.dataset.Y.sum(axis=1).tolist()) == [33.0, 33.0, 34.0]
    assert np.abs(c.dataset.X).max() <= 2.0


def test_seek_is_bit_exact_with_softmax_and_features() -> None:
    """spiral3, softmax, mini-batches, feature inputs, an L1 change: seeks are the run's."""
    seek_is_bit_exact(
        {"preset": "xor", "layers": [2, 8, 3], "batch_size": 16, **SOFTMAX,
         "features": ["x1", "x2", "sin_x1"], "optimizer": {"name": "adam", "learning_rate": 0.02},
         "dataset": {"name": "spiral3", "samples": 90, "noise": 0.1, "test_fraction": 0.2}},
        {60: {"l1": 0.001}, 100: {"batch_size": 8}},
    )  # fmt: skip


def test_rows_and_csv_with_a_class_column_become_one_hot() -> None:
    """`classes: true`: class numbers 0..2 in one target column are three one-hot outputs; softmax
    trains on them as the oracle does; a non-integer or a lone class is refused."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (60, 2))
    y = (np.arange(60) % 3).astype(float)
    s = session(
        preset="xor", layers=[2, 5, 3], **SOFTMAX, batch_size=12,
        dataset={"x": x.tolist(), "y": y.tolist(), "classes": True, "test_fraction": 0.25},
    )  # fmt: skip
    d = s.dataset
    assert d.Y.shape[0] == 3 and d.kind == "classification"
    assert set(d.Y.sum(axis=0).tolist()) == {1.0}
    seen = {tuple(r) for r in np.hstack([d.Y, d.Y_test]).T.tolist()}
    assert seen == {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}
    assert d.target_names == ["class 0", "class 1", "class 2"]
    compare(s, 50)
    csv = "a,b,label\n" + "\n".join(f"{p[0]},{p[1]},{int(c)}" for p, c in zip(x, y, strict=True))
    c = session(preset="xor", layers=[2, 5, 3], **SOFTMAX, dataset={"csv": csv, "classes": True})
    assert c.dataset.Y.shape == (3, 60)
    assert np.array_equal(c.dataset.Y.argmax(axis=0), y.astype(int))
    from app.domain.errors import InvalidError

    with pytest.raises(InvalidError, match="class numbers"):
        session(preset="xor", **SOFTMAX, dataset={"x": [[0, 0], [1, 1]], "y": [0.5, 1],
                "classes": True})  # fmt: skip
    with pytest.raises(InvalidError, match="2 to 64 classes"):
        session(preset="xor", **SOFTMAX, dataset={"x": [[0, 0], [1, 1]], "y": [0, 0],
                "classes": True})  # fmt: skip


def test_the_trace_of_a_softmax_step_has_delta_o_minus_y_over_m() -> None:
    """The phase view's output delta is (O - Y)/m on the next step's batch, as the page says."""
    s = session(
        preset="xor", layers=[2, 4, 3], batch_size=9, seed=6,
        dataset={"name": "blobs3", "samples": 45}, **SOFTMAX,
    )  # fmt: skip
    s.advance(2)
    t = s.trace()
    O = np.array(t["forward"][-1]["A"])
    Y = np.array(t["error"]["Y"])
    out = t["backward"][0]
    assert out["layer"] == 2 and O.shape == Y.shape == (3, 9)
    assert np.abs(np.array(out["delta"]) - (O - Y) / 9).max() <= 1e-17


def test_a_snapshot_restores_features_softmax_l1_and_epochs_bit_for_bit() -> None:
    """state() and restore() (a restarted server) carry on as the run would have."""
    config = {
        "preset": "xor", "layers": [2, 6, 3], "batch_size": 7, "l1": 0.002, **SOFTMAX,
        "features": ["x1", "x2", "x1_x2"], "stop": {"test_rising": 50},
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "dataset": {"name": "spiral3", "samples": 60, "noise": 0.1, "test_fraction": 0.2},
    }  # fmt: skip
    a = session(**config)
    a.advance(33)
    b = TrainingSession.restore(a.state())
    a.advance(20)
    b.advance(20)
    fa, fb = a.frame(), b.frame()
    for key in ("step", "epoch", "accuracy", "test_accuracy", "weights", "loss"):
        assert fa[key] == fb[key], key
    assert fa["epoch"] == 53 * 7 // 48
