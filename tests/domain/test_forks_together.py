"""Forks stepped together (app/domain/together.py) end bit for bit as the same forks alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.domain.presets import resolve
from app.domain.protocol import PointsChange, SessionConfigIn, SessionPatch, WeightEdit
from app.domain.session import TrainingSession
from app.domain.together import advance_together, group_key, stack_rows


def bits(a: Any) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(bits(a), bits(b)))


def differences(a: TrainingSession, b: TrainingSession) -> list[str]:
    """What differs between two runs, bit for bit (empty: nothing)."""
    out = []
    if not same(a.net.theta, b.net.theta):
        out.append("weights")
    if not same(a.grads.flat, b.grads.flat):
        out.append("gradients")
    for k, (x, y) in enumerate(zip(a._train_cache.A, b._train_cache.A, strict=True)):
        if not same(x, y):
            out.append(f"A[{k}]")
    for k, (x, y) in enumerate(zip(a._train_cache.Z[1:], b._train_cache.Z[1:], strict=True)):
        if not same(x, y):
            out.append(f"Z[{k + 1}]")
    for k, (x, y) in enumerate(zip(a.grads.delta, b.grads.delta, strict=True)):
        if not same(x, y):
            out.append(f"delta[{k}]")
    if not same(np.frombuffer(a.history.train), np.frombuffer(b.history.train)):
        out.append("losses")
    if not same(a.loss, b.loss) or not same(a.grads.error, b.grads.error):
        out.append("loss")
    plain = ("step_count", "seen", "diverged", "stopped")
    out += [name for name in plain if getattr(a, name) != getattr(b, name)]
    if a.timeline.head != b.timeline.head:
        out.append("head")
    ca, cb = a.timeline.checkpoints, b.timeline.checkpoints
    if [c.step for c in ca] != [c.step for c in cb] or not all(
        same(x.theta, y.theta) for x, y in zip(ca, cb, strict=True)
    ):
        out.append("checkpoints")
    for name, x in vars(a.optimizer).items():
        y = getattr(b.optimizer, name)
        if (isinstance(x, np.ndarray) and not same(x, y)) or (
            not isinstance(x, np.ndarray) and x != y
        ):
            out.append(f"optimizer.{name}")
    return out


RUNS = {
    "article": ({"preset": "article"}, 50),
    "article_adam_l2": (
        {"preset": "article", "optimizer": {"name": "adam", "learning_rate": 0.05}, "l2": 1e-3},
        20,
    ),
    "momentum_mse_l1": (
        {
            "preset": "article",
            "optimizer": {"name": "momentum", "learning_rate": 0.5},
            "loss": "mse",
            "l1": 1e-3,
        },
        20,
    ),
    # Diverges within a few dozen steps: each fork stops at its own step, inside the stack.
    "diverging": (
        {
            "preset": "article",
            "activation": "tanh",
            "output_activation": "linear",
            "optimizer": {"name": "sgd", "learning_rate": 0.6},
        },
        20,
    ),
}


@pytest.mark.parametrize("name", RUNS)
def test_forks_stepped_together_end_bit_for_bit_as_alone(name):
    cfg, k = RUNS[name]
    base = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
    base.advance(3)
    alone = [base.clone() for _ in range(k)]
    together = [base.clone() for _ in range(k)]
    assert group_key(together[0]) is not None and stack_rows(together[0]) >= k
    rng = np.random.default_rng(7)
    shared = 0
    for tick in range(30):
        n = int(rng.integers(1, 40))  # crosses checkpoints (every 64 steps) at different steps
        for j in range(k):
            if rng.random() < 0.08:  # a settings change: this fork's own rate
                o = together[j].config.optimizer.model_dump()
                lr = float(rng.choice([0.05, 0.3, 1.0]))
                p = SessionPatch.model_validate({"optimizer": {**o, "learning_rate": lr}})
                alone[j].patch(p)
                together[j].patch(p)
                assert differences(alone[j], together[j]) == [], (tick, j, "patch")
            if rng.random() < 0.08 and alone[j].head > 0:  # a seek back: a new branch on
                to = int(rng.integers(0, alone[j].head + 1))
                fa, fb = alone[j].seek(to), together[j].seek(to)
                assert fa["weights"] == fb["weights"] and same(fa["loss"], fb["loss"])
                assert differences(alone[j], together[j]) == [], (tick, j, "seek")
        done_alone = [s.advance(n) for s in alone]
        assert advance_together(together, n) == done_alone
        shared += together[0].together is not None and len(together[0].together.runs) > 1
        for j in range(k):
            assert differences(alone[j], together[j]) == [], (tick, j)
    assert shared > 0  # the stack did step them (not every fork alone)
    # Seeking after steps taken together replays to the very same state.
    for j in range(0, k, 7):
        for s in (alone[j], together[j]):
            s.seek(s.head // 2)
        assert differences(alone[j], together[j]) == []


def test_a_fork_that_changes_shape_or_data_steps_alone():
    base = TrainingSession(resolve(SessionConfigIn.model_validate({"preset": "article"})))
    forks = [base.clone() for _ in range(3)]
    other = TrainingSession(
        resolve(SessionConfigIn.model_validate({"preset": "article", "layers": [4, 3, 1]}))
    )
    minibatch = TrainingSession(resolve(SessionConfigIn.model_validate({"preset": "xor"})))
    keys = {group_key(s) for s in forks}
    assert len(keys) == 1
    assert group_key(other) not in keys
    assert group_key(minibatch) is None  # mini-batches and test sets: never stacked
    runs = [*forks, other, minibatch]
    alone = [s.clone() for s in runs]
    assert advance_together(runs, 5) == [s.advance(5) for s in alone]
    assert all(differences(a, b) == [] for a, b in zip(alone, runs, strict=True))


def test_a_fork_that_leaves_for_mini_batches_and_comes_back_steps_as_alone():
    # Full batch -> mini-batches (its buffers replaced, it steps alone) -> full batch again
    # (replaced again; 5 samples: batch_size 5 is the full batch): it joins a stack again,
    # or its row takes the new buffers.
    base = TrainingSession(resolve(SessionConfigIn.model_validate({"preset": "article"})))
    alone = [base.clone() for _ in range(4)]
    together = [base.clone() for _ in range(4)]
    assert group_key(together[0]) is not None
    for runs, step in ((alone, lambda n: [s.advance(n) for s in alone]),
                       (together, lambda n: advance_together(together, n))):  # fmt: skip
        step(7)
        runs[1].patch(SessionPatch.model_validate({"batch_size": 2}))
        step(5)
        runs[1].patch(SessionPatch.model_validate({"batch_size": 5}))
        step(9)
        # Out and back between two ticks: the same stack, its row's buffers replaced.
        runs[2].patch(SessionPatch.model_validate({"batch_size": 2}))
        runs[2].patch(SessionPatch.model_validate({"batch_size": 5}))
        step(6)
    assert together[0].together is not None
    assert all(differences(a, b) == [] for a, b in zip(alone, together, strict=True))


def test_forks_that_draw_points_and_edit_weights_step_together_as_alone():
    # Drawn points replace a fork's training set (another stack, or alone); an edited
    # weight is written into its row in place.
    cfg = {
        "preset": "xor",
        "loss": "half_sse",
        "dataset": {"name": "xor", "samples": 40, "test_fraction": 0.0},
    }
    base = TrainingSession(resolve(SessionConfigIn.model_validate(cfg)))
    alone = [base.clone() for _ in range(6)]
    together = [base.clone() for _ in range(6)]
    assert group_key(together[0]) is not None
    changes = [
        (2, 1, "points", {"op": "add", "x": [[0.1, -0.7]], "y": [0]}),
        (3, 4, "edit", {"kind": "weight", "layer": 0, "i": 1, "j": 2, "value": 0.5}),
        (5, 1, "points", {"op": "undo"}),
        (6, 2, "points", {"op": "add", "x": [[0.3, 0.3], [-0.2, 0.4]], "y": [1, 0]}),
        (8, 5, "edit", {"kind": "bias", "layer": 1, "j": 0, "value": -0.3}),
    ]
    for tick in range(10):
        for at, j, kind, body in changes:
            if at == tick:
                for s in (alone[j], together[j]):
                    if kind == "edit":
                        s.edit(WeightEdit.model_validate(body))
                    else:
                        s.draw(PointsChange.model_validate(body))
        assert advance_together(together, 7) == [s.advance(7) for s in alone]
        for j in range(6):
            assert differences(alone[j], together[j]) == [], (tick, j)
    assert group_key(together[2]) != group_key(together[0])  # its own data now
