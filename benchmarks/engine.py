"""Steps per second of the training session against a plain NumPy loop, in one process.

Run: .venv/bin/python benchmarks/engine.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession

CASES = [
    ("article [4,5,1] x5", {"preset": "article"}),
    (
        "[2,8,8,1] spiral x200",
        {"preset": "spiral", "layers": [2, 8, 8, 1], "batch_size": None, "loss": "half_sse",
         "optimizer": {"name": "sgd", "learning_rate": 0.1},
         "dataset": {"name": "spiral", "samples": 200}},
    ),
    (
        "[2,16,16,16,1] spiral x500",
        {"preset": "spiral", "layers": [2, 16, 16, 16, 1], "batch_size": None, "loss": "half_sse",
         "optimizer": {"name": "sgd", "learning_rate": 0.1},
         "dataset": {"name": "spiral", "samples": 500}},
    ),
]  # fmt: skip


def plain_loop(session: TrainingSession) -> Callable[[int], None]:
    """The obvious NumPy loop a learner writes from the article: same net, same data."""
    X, Y = session.dataset.X, session.dataset.Y
    W = [w.copy() for w in session.net.W]
    b = [v.copy()[:, None] for v in session.net.b]
    lr = session.optimizer.learning_rate
    act = session.config.activation

    def f(z: np.ndarray, out: bool) -> np.ndarray:
        if out or act == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return np.tanh(z)

    def df(a: np.ndarray, out: bool) -> np.ndarray:
        return a * (1 - a) if out or act == "sigmoid" else 1 - a**2

    def run(steps: int) -> None:
        losses = []
        for _ in range(steps):
            A = [X]
            for k in range(len(W)):
                A.append(f(W[k].T @ A[-1] + b[k], k == len(W) - 1))
            O = A[-1]
            losses.append(0.5 * np.sum((Y - O) ** 2))
            delta = (O - Y) * df(O, True)
            for k in range(len(W) - 1, -1, -1):
                dW = A[k] @ delta.T
                db = delta.sum(axis=1, keepdims=True)
                if k:
                    delta = (W[k] @ delta) * df(A[k], False)
                W[k] -= lr * dW
                b[k] -= lr * db

    return run


def rates(
    a: Callable[[int], object], b: Callable[[int], object], steps: int
) -> tuple[float, float]:
    """Best steps per second of a and b, interleaved so load on the machine hits both alike."""
    best = [0.0, 0.0]
    for _ in range(7):
        for k, fn in enumerate((a, b)):
            t = time.perf_counter()
            fn(steps)
            best[k] = max(best[k], steps / (time.perf_counter() - t))
    return best[0], best[1]


def main() -> None:
    """Print one line per case and a summary line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps, for make bench")
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    steps = args.steps or (500 if args.quick else 3000)
    ratios = []
    print(f"{'case':28} {'session/s':>11} {'plain/s':>11} {'ratio':>7}")
    for name, cfg in CASES:
        s = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
        plain = plain_loop(TrainingSession(resolve(SessionConfigIn.model_validate(cfg))))
        ours, base = rates(s.advance, plain, steps)
        ratios.append(ours / base)
        print(f"{name:28} {ours:11.0f} {base:11.0f} {ours / base:6.2f}x")
    print("summary: session/plain " + " ".join(f"{r:.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
