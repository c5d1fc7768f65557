"""Steps per second of the training session against a plain NumPy loop, in one process.

Run: .venv/bin/python benchmarks/engine.py [--quick] [--clock cpu]

With JAX installed (an optional extra of this benchmark only, never of the app:
`pip install jax` in a separate environment), a third column times the same plain loop's step
under `jax.jit` on the CPU, in float64, interleaved with the others. Without it, the column
says so and the rest runs as before.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def jax_loop(session: TrainingSession) -> Callable[[int], None] | None:
    """The plain loop's step under `jax.jit` (CPU, float64), or None when JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    X, Y = jnp.asarray(session.dataset.X), jnp.asarray(session.dataset.Y)
    lr = session.optimizer.learning_rate
    sigmoid_hidden = session.config.activation == "sigmoid"

    def f(z: Any, out: bool) -> Any:
        return 1.0 / (1.0 + jnp.exp(-z)) if out or sigmoid_hidden else jnp.tanh(z)

    def df(a: Any, out: bool) -> Any:
        return a * (1 - a) if out or sigmoid_hidden else 1 - a**2

    @jax.jit
    def step(params: Any) -> Any:
        W, b = params
        A = [X]
        for k in range(len(W)):
            A.append(f(W[k].T @ A[-1] + b[k], k == len(W) - 1))
        delta = (A[-1] - Y) * df(A[-1], True)
        W2, b2 = list(W), list(b)
        for k in range(len(W) - 1, -1, -1):
            dW, db = A[k] @ delta.T, delta.sum(axis=1, keepdims=True)
            if k:
                delta = (W[k] @ delta) * df(A[k], False)
            W2[k], b2[k] = W[k] - lr * dW, b[k] - lr * db
        return W2, b2

    state = [
        ([jnp.asarray(w) for w in session.net.W], [jnp.asarray(v)[:, None] for v in session.net.b])
    ]
    jax.block_until_ready(step(state[0]))  # compiled before the clock starts

    def run(steps: int) -> None:
        params = state[0]
        for _ in range(steps):
            params = step(params)
        state[0] = jax.block_until_ready(params)

    return run


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def rates(
    *fns: Callable[[int], object], steps: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Best steps per second of each, interleaved so load on the machine hits them alike.

    `clock` time.process_time counts this process's CPU time (every thread of it, XLA's
    included) instead of the wall clock: on a machine shared with other work it leaves out
    the time the process waited for a core.
    """
    best = [0.0] * len(fns)
    for _ in range(7):
        for k, fn in enumerate(fns):
            t = clock()
            fn(steps)
            best[k] = max(best[k], steps / max(clock() - t, 1e-9))
    return best


def main() -> None:
    """Print one line per case and a summary line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps, for make bench")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument(
        "--clock", choices=list(CLOCKS), default="wall",
        help="cpu: this process's CPU time, for a machine shared with other work",
    )  # fmt: skip
    args = ap.parse_args()
    steps = args.steps or (500 if args.quick else 3000)
    ratios = []
    print(
        f"{'case':28} {'session/s':>11} {'plain/s':>11} {'ratio':>7} {'jax jit/s':>11} {'ratio':>7}"
    )
    for name, cfg in CASES:
        s = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
        plain = plain_loop(TrainingSession(resolve(SessionConfigIn.model_validate(cfg))))
        jit = jax_loop(TrainingSession(resolve(SessionConfigIn.model_validate(cfg))))
        if jit is None:
            ours, base = rates(s.advance, plain, steps=steps, clock=CLOCKS[args.clock])
            versus = f"{'(jax not installed)':>19}"
        else:
            ours, base, fast = rates(s.advance, plain, jit, steps=steps, clock=CLOCKS[args.clock])
            versus = f"{fast:11.0f} {ours / fast:6.2f}x"
        ratios.append(ours / base)
        print(f"{name:28} {ours:11.0f} {base:11.0f} {ours / base:6.2f}x {versus}")
    print("summary: session/plain " + " ".join(f"{r:.2f}x" for r in ratios))


if __name__ == "__main__":
    main()
