"""Issue 22's engine against PyTorch: float64 autograd and torch.optim as the oracle.

An independent implementation of each run in PyTorch: its own initial weights (Xavier uniform
drawn from the documented seed scheme), its own feature maps, its own batch order (a shuffle
per epoch from the run's own generator), the loss and the penalties written as E (autograd
gives the gradients: torch.abs's derivative is sign(w), 0 at 0) and torch.optim's SGD and Adam.
It never calls the engine; it reads the session's data set and config. Over 200 steps every
step's E (on the whole training set, as frames carry it), the final weights and biases, and the
accuracy must agree: E and parameters to 1e-9, accuracy exactly (the share of right argmaxes).
Neuron grids (GET .../neurons) must equal PyTorch's activations on the same grid to 1e-12.

Installed by `make test` from the CPU wheel in /opt/wheels when it is there (Makefile `oracle`);
skipped where PyTorch is not installed.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain.neurons import neurons
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession, new_session
from app.settings import Settings

torch = pytest.importorskip("torch")
# Tiny tensors: one thread (intra-op threads only wait on each other on a shared 2-core box).
torch.set_num_threads(1)

STEPS = 200
TOL = 1e-9
GRID_TOL = 1e-12
F64 = torch.float64

# Playground's features, written here again from docs/api.md (not imported from the engine).
FEATURES = {
    "x1": lambda a, b: a,
    "x2": lambda a, b: b,
    "x1_squared": lambda a, b: a * a,
    "x2_squared": lambda a, b: b * b,
    "x1_x2": lambda a, b: a * b,
    "sin_x1": lambda a, b: torch.sin(a),
    "sin_x2": lambda a, b: torch.sin(b),
}


def session(**config: Any) -> TrainingSession:
    """A session from overrides (Xavier's start unless named), resolved as the REST route does."""
    return new_session(SessionConfigIn.model_validate({"init": "xavier", **config}), Settings())


def features(P: Any, names: list[str]) -> Any:
    """The inputs the network sees for points P (samples x 2): one column per feature."""
    return torch.stack([FEATURES[n](P[:, 0], P[:, 1]) for n in names], dim=1)


class Oracle:
    """One run in PyTorch, samples as rows: Z = A W + b, A = f(Z)."""

    def __init__(self, s: TrainingSession) -> None:
        c = self.config = s.config
        assert c.bias == "per_neuron"
        _, init_seq, batch_seq = np.random.SeedSequence(c.seed).spawn(3)
        rng = np.random.default_rng(init_seq)
        self.W, self.b = [], []
        for n_in, n_out in pairwise(c.layers):
            if c.init == "xavier":  # U(-r, r), r = sqrt(6 / (n_in + n_out)); biases 0
                limit = math.sqrt(6.0 / (n_in + n_out))
                W, b = rng.uniform(-limit, limit, (n_in, n_out)), np.zeros(n_out)
            else:  # the article's U(0, 1), weights then biases
                assert c.init == "uniform01"
                W = rng.uniform(0.0, 1.0, (n_in, n_out))
                b = rng.uniform(0.0, 1.0, (n_out,))
            self.W.append(torch.tensor(W, dtype=F64, requires_grad=True))
            self.b.append(torch.tensor(b, dtype=F64, requires_grad=True))
        d = s.dataset
        raw = s.points[0] if s.points is not None else d.X  # the points (x1, x2), 2 x n
        self.P = torch.tensor(raw.T.copy(), dtype=F64)
        self.X = features(self.P, [str(f) for f in c.features])
        self.Y = torch.tensor(d.Y.T.copy(), dtype=F64)
        self.n = self.X.shape[0]
        self.rng = np.random.default_rng(batch_seq)
        self.order = np.arange(0)
        self.pos = 0
        params = [p for pair in zip(self.W, self.b, strict=True) for p in pair]
        o = c.optimizer
        if o.name == "sgd":
            self.opt = torch.optim.SGD(params, lr=o.learning_rate)
        else:
            assert o.name == "adam"
            self.opt = torch.optim.Adam(
                params, lr=o.learning_rate, betas=(o.beta1, o.beta2), eps=o.eps
            )
        self.idx = self.draw()

    def draw(self) -> np.ndarray | None:
        """The next batch: consecutive slices of a shuffle, a new shuffle when one runs out."""
        bs = self.config.batch_size
        if bs is None or bs >= self.n:
            return None
        if self.pos + bs > self.order.size:
            self.order = self.rng.permutation(self.n)
            self.pos = 0
        idx = self.order[self.pos : self.pos + bs]
        self.pos += bs
        return idx

    def layers(self, X: Any) -> list[Any]:
        """A[0] = X, ..., A[L] = O."""
        c, A = self.config, [X]
        for k, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            Z = A[-1] @ W + b
            last = k == len(self.W) - 1
            name = c.output_activation if last else c.activation
            A.append(self.f(name, Z))
        return A

    @staticmethod
    def f(name: str, Z: Any) -> Any:
        """The activation by name."""
        if name == "sigmoid":
            return torch.sigmoid(Z)
        if name == "tanh":
            return torch.tanh(Z)
        if name == "relu":
            return torch.relu(Z)
        if name == "linear":
            return Z
        if name == "softmax":
            return torch.softmax(Z, dim=1)
        raise AssertionError(name)

    def error(self, X: Any, Y: Any) -> Any:
        """E: the loss over these samples plus 1/2 l2 sum W^2 and l1 sum |W| (weights only)."""
        O = self.layers(X)[-1]
        loss = self.config.loss
        if loss == "bce":
            P = O.clamp(1e-12, 1.0 - 1e-12)
            E = -(Y * torch.log(P) + (1.0 - Y) * torch.log(1.0 - P)).mean()
        elif loss == "ce":
            E = -(Y * torch.log(O.clamp(1e-12, 1.0))).sum() / O.shape[0]
        elif loss == "mse":
            E = ((O - Y) ** 2).mean()
        else:
            assert loss == "half_sse"
            E = 0.5 * ((O - Y) ** 2).sum()
        c = self.config
        if c.l2:
            E = E + 0.5 * c.l2 * sum((W * W).sum() for W in self.W)
        if c.l1:
            E = E + c.l1 * sum(W.abs().sum() for W in self.W)
        return E

    def step(self) -> float:
        """One step on the drawn batch; E on the whole training set afterwards."""
        idx = self.idx
        X, Y = (self.X, self.Y) if idx is None else (self.X[idx], self.Y[idx])
        self.opt.zero_grad()
        self.error(X, Y).backward()
        self.opt.step()
        self.idx = self.draw()
        with torch.no_grad():
            return float(self.error(self.X, self.Y))

    def accuracy(self) -> float:
        """Share of training samples whose class (argmax, or O >= 0.5 alone) is the target's."""
        with torch.no_grad():
            O = self.layers(self.X)[-1]
        if O.shape[1] == 1:
            right = (O[:, 0] >= 0.5) == (self.Y[:, 0] >= 0.5)
        else:
            right = O.argmax(dim=1) == self.Y.argmax(dim=1)
        return float(right.to(F64).mean())


def close(a: float, b: float, tol: float = TOL) -> bool:
    """|a - b| within tol, relative to the larger magnitude where that is above 1."""
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def trajectory(**config: Any) -> tuple[TrainingSession, Oracle, dict[str, Any]]:
    """200 steps of the engine and of the oracle, compared at every step; the last frame."""
    s = session(**config)
    oracle = Oracle(s)
    for W, Wt in zip(s.net.W, oracle.W, strict=True):
        assert np.array_equal(W, Wt.detach().numpy()), "the oracle draws the same start"
    worst = 0.0
    for step in range(1, STEPS + 1):
        frame = s.step(1)
        expected = oracle.step()
        assert frame["step"] == step
        got = frame["loss"]
        worst = max(worst, abs(got - expected) / max(1.0, abs(expected)))
        assert close(got, expected), f"step {step}: E {got!r} against torch {expected!r}"
    for k, (W, b) in enumerate(zip(oracle.W, oracle.b, strict=True)):
        dW = np.abs(s.net.W[k] - W.detach().numpy()).max()
        db = np.abs(s.net.b[k] - b.detach().numpy()).max()
        assert dW <= TOL and db <= TOL, f"layer {k}: weights off by {dW:.3g}, biases by {db:.3g}"
    assert frame["accuracy"] == oracle.accuracy()
    assert worst <= TOL
    return s, oracle, frame


CIRCLE: dict[str, Any] = {"name": "circle", "samples": 200, "noise": 0.05}
SPIRAL: dict[str, Any] = {"name": "spiral", "samples": 200, "noise": 0.05}


@pytest.mark.parametrize("l2", [0.0, 0.003])
@pytest.mark.parametrize(
    ("optimizer", "batch_size"),
    [({"name": "sgd", "learning_rate": 0.5}, None), ({"name": "adam", "learning_rate": 0.02}, 20)],
)
def test_l1_with_and_without_l2_sgd_and_adam(
    l2: float, optimizer: dict[str, Any], batch_size: int | None
) -> None:
    """L1's subgradient sign(W) (0 at 0) and L2's l2 W, with SGD on the whole set and Adam on
    mini-batches: the engine follows PyTorch's autograd and torch.optim for 200 steps."""
    s, _, frame = trajectory(
        layers=[2, 6, 1], activation="tanh", output_activation="sigmoid", loss="bce",
        optimizer=optimizer, batch_size=batch_size, l1=0.002, l2=l2, seed=3, dataset=CIRCLE,
    )  # fmt: skip
    assert s.config.l1 == 0.002 and s.config.l2 == l2
    # The penalties are on: E is more than the loss alone.
    O = s.net.forward(s.dataset.X).A[-1]
    assert frame["loss"] > s.net.loss.value(O, s.dataset.Y)


FEATURE_SETS = [
    ["x1", "x2"],
    ["x1_squared", "x2_squared"],
    ["x1", "x2", "x1_x2"],
    ["sin_x1", "sin_x2"],
    ["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"],
]


@pytest.mark.parametrize("dataset", [CIRCLE, SPIRAL], ids=["circle", "spiral"])
@pytest.mark.parametrize("names", FEATURE_SETS, ids=lambda n: "+".join(n))
def test_each_feature_set_on_circle_and_spiral(dataset: dict[str, Any], names: list[str]) -> None:
    """The oracle computes the features from the points itself: the runs agree for 200 steps."""
    s, oracle, _ = trajectory(
        layers=[2, 8, 1], activation="tanh", output_activation="sigmoid", loss="bce",
        optimizer={"name": "adam", "learning_rate": 0.03}, features=names, seed=5,
        dataset={**dataset, "test_fraction": 0.2},
    )  # fmt: skip
    assert s.config.layers[0] == len(names)
    assert np.allclose(s.dataset.X.T, oracle.X.numpy(), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["blobs3", "spiral3"])
@pytest.mark.parametrize(
    "optimizer", [{"name": "sgd", "learning_rate": 0.5}, {"name": "adam", "learning_rate": 0.02}]
)
def test_softmax_and_cross_entropy_with_mini_batches(name: str, optimizer: dict[str, Any]) -> None:
    """Softmax + mean categorical cross-entropy on three classes, batches of 32: PyTorch's
    softmax backward (the whole Jacobian) gives the engine's (O - Y)/m; accuracy is the share
    of right argmaxes."""
    s, _, frame = trajectory(
        layers=[2, 10, 3], activation="tanh", output_activation="softmax", loss="ce",
        optimizer=optimizer, batch_size=32, seed=7, dataset={"name": name},
    )  # fmt: skip
    assert s.dataset.Y.shape[0] == 3
    assert frame["epoch"] == STEPS * 32 // s.n_train
    assert 0.0 < frame["accuracy"] <= 1.0


def test_relu_hidden_layers_and_mse() -> None:
    """Two ReLU layers, mean squared error, mini-batches and L1 (ReLU's slope: 1 above 0)."""
    trajectory(
        layers=[2, 6, 5, 1], activation="relu", output_activation="sigmoid", loss="mse",
        optimizer={"name": "sgd", "learning_rate": 0.3}, batch_size=16, l1=0.001, seed=11,
        dataset=SPIRAL,
    )  # fmt: skip


# ---- neuron grids ------------------------------------------------------------------------------


def torch_grid(s: TrainingSession, oracle: Oracle, n: int) -> tuple[Any, Any, list[Any]]:
    """The plane's axes from the points (train and test, 10% wider each side) and every
    layer's activations over the n x n grid, row r at x2[r], column c at x1[c]."""
    d = s.dataset
    pts = np.hstack(s.points) if s.points is not None else np.hstack([d.X, d.X_test])
    axes = []
    for k in range(2):
        lo, hi = float(pts[k].min()), float(pts[k].max())
        pad = (hi - lo) * 0.1
        lo, hi = lo - pad, hi + pad
        axes.append(lo + (hi - lo) * torch.arange(n, dtype=F64) / (n - 1))
    x1, x2 = axes
    X2, X1 = torch.meshgrid(x2, x1, indexing="ij")  # X1[r, c] = x1[c], X2[r, c] = x2[r]
    P = torch.stack([X1.reshape(-1), X2.reshape(-1)], dim=1)
    with torch.no_grad():
        A = oracle.layers(features(P, [str(f) for f in s.config.features]))
    return x1, x2, [a.T.reshape(a.shape[1], n, n) for a in A]


GRID_CASES: list[dict[str, Any]] = [
    {"layers": [2, 5, 1], "activation": "tanh", "features": ["x1", "x2"], "dataset": CIRCLE},
    {
        "layers": [2, 6, 4, 1], "activation": "relu",
        "features": ["x1_squared", "x2_squared", "x1_x2", "sin_x1"],
        "dataset": {**SPIRAL, "test_fraction": 0.25},
    },
    {
        "layers": [2, 7, 3], "activation": "tanh", "output_activation": "softmax",
        "loss": "ce", "batch_size": 32, "dataset": {"name": "spiral3"},
    },
]  # fmt: skip


@pytest.mark.parametrize(
    "config", GRID_CASES, ids=["circle-tanh", "spiral-features-relu", "spiral3-softmax"]
)
def test_neuron_grids_equal_torch_activations(config: dict[str, Any]) -> None:
    """After 40 steps (the oracle follows), every neuron's grid equals PyTorch's to 1e-12:
    inputs (the features), each hidden neuron, each output (per class after softmax)."""
    base: dict[str, Any] = {"output_activation": "sigmoid", "loss": "bce", "seed": 2}
    s = session(**{**base, "optimizer": {"name": "adam", "learning_rate": 0.03}, **config})
    oracle = Oracle(s)
    for _ in range(40):
        s.step(1)
        oracle.step()
    n = 17
    answer = neurons(s, n)
    x1, x2, layers = torch_grid(s, oracle, n)
    plane = answer["plane"]
    assert plane["grid"] == n
    assert np.abs(np.array(plane["x1"]) - x1.numpy()).max() <= GRID_TOL
    assert np.abs(np.array(plane["x2"]) - x2.numpy()).max() <= GRID_TOL
    for k, axis in ((0, "x1"), (1, "x2")):
        # The extent's ends are the first and last grid value (the last to a rounding).
        lo, hi = plane["extent"][axis]
        assert lo == plane[axis][0] and abs(hi - plane[axis][-1]) <= GRID_TOL * abs(hi), k
    want = [(layer, j) for layer, A in enumerate(layers) for j in range(A.shape[0])]
    assert [(e["layer"], e["j"]) for e in answer["neurons"]] == want
    worst = 0.0
    for e in answer["neurons"]:
        got = np.array(e["values"])
        assert got.shape == (n, n)
        worst = max(worst, float(np.abs(got - layers[e["layer"]][e["j"]].numpy()).max()))
    assert worst <= GRID_TOL, f"largest difference {worst:.3g}"
    if s.config.output_activation == "softmax":
        outs = np.array([e["values"] for e in answer["neurons"] if e["layer"] == 2])
        assert np.allclose(outs.sum(axis=0), 1.0, rtol=0, atol=1e-12)


def test_neurons_route_per_sample_on_the_article_net(client: TestClient) -> None:
    """The article's four inputs have no plane: the route answers each neuron per training
    sample, equal to PyTorch's activations at those samples."""
    r = client.post("/api/sessions", json={"preset": "article"})
    sid = r.json()["id"]
    client.post(f"/api/sessions/{sid}/step", json={"count": 3})
    answer = client.get(f"/api/sessions/{sid}/neurons", params={"grid": 8}).json()
    assert answer["plane"] is None and answer["step"] == 3
    data = client.get(f"/api/sessions/{sid}/data").json()
    frame = client.get(f"/api/sessions/{sid}").json()
    assert answer["samples"] == len(data["x"])
    A = [torch.tensor(data["x"], dtype=F64)]
    for k, (W, b) in enumerate(zip(frame["weights"], frame["biases"], strict=True)):
        Z = A[-1] @ torch.tensor(W, dtype=F64) + torch.tensor(b, dtype=F64)
        A.append(torch.sigmoid(Z))
        assert data["activation"] == data["output_activation"] == "sigmoid", k
    for e in answer["neurons"]:
        got = np.array(e["values"])
        assert got.shape == (answer["samples"],)
        assert np.abs(got - A[e["layer"]][:, e["j"]].numpy()).max() <= GRID_TOL
