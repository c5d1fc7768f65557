"""Forks step together: runs of one shape, settings and data advance as one stack (issue 26).

`advance_together(sessions, n)` is `[s.advance(n) for s in sessions]`, bit for bit: every run
ends with the weights, gradients, forward buffers, optimizer state, losses, checkpoints and
divergence flag it would have had alone. Runs that share a network shape, activations, loss,
penalties, optimizer kind and training data (a room's forks start so) are gathered into one
`engine.stack.Stack`, stepped there (each np.matmul then serves every run at the price of one
Python call), and scattered back; a run that cannot share (mini-batches, a test set, stop rules,
a net the kernel does not take) or that has no partner steps alone, as it always did.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from app.engine import stack as stack_kernel
from app.engine.optimizers import Adam, Momentum, Optimizer
from app.engine.stack import Stack

from .session import TrainingSession

Array = np.ndarray


def data_key(session: TrainingSession) -> str:
    """A digest of the run's training inputs and targets (forks share equal data, not arrays)."""
    d = session.dataset
    cached = getattr(d, "_together_key", None)
    if cached is not None and cached[0] is d.X and cached[1] is d.Y:
        return str(cached[2])
    h = hashlib.blake2b(digest_size=16)
    for a in (d.X, d.Y):
        h.update(repr(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    key = h.hexdigest()
    d._together_key = (d.X, d.Y, key)  # type: ignore[attr-defined]
    return key


def _hyper(opt: Optimizer) -> tuple[Any, ...]:
    """The optimizer's kind and the numbers a stack needs equal (the rate may differ per run)."""
    if isinstance(opt, Adam):
        return ("adam", opt.beta1, opt.beta2, opt.eps)
    if isinstance(opt, Momentum):
        return ("momentum", opt.momentum)
    return (opt.name,) if type(opt) is Optimizer else ("alone", id(opt))


def group_key(session: TrainingSession) -> Hashable | None:
    """What a run must share with others to step in their stack; None: it steps alone."""
    s, net = session, session.net
    if s.diverged or s._batch_cache is not None or s._test_cache is not None:
        return None
    if s.config.stop is not None or not stack_kernel.supports(net):
        return None
    return (
        tuple(net.sizes), net.activation, net.output_activation, net.loss_name, net.bias_mode,
        net.l2, net.l1, _hyper(s.optimizer), data_key(s),
    )  # fmt: skip


def advance_together(sessions: Sequence[TrainingSession], n: int) -> list[int]:
    """advance(n) on every session, the runs that can share a stack stepped in one; steps done."""
    done = [0] * len(sessions)
    groups: dict[Hashable, list[int]] = {}
    for i, s in enumerate(sessions):
        key = group_key(s)
        if key is None:
            done[i] = s.advance(n)
        else:
            groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) == 1:
            done[members[0]] = sessions[members[0]].advance(n)
            continue
        for i, d in zip(members, _advance_group([sessions[i] for i in members], n), strict=True):
            done[i] = d
    return done


class _Group:
    """The stack of a group of runs, and gathering into it and scattering out of it."""

    def __init__(self, runs: list[TrainingSession]) -> None:
        first = runs[0]
        self.runs = runs
        self.k = len(runs)
        self.st = Stack.new(first.net, self.k, first.dataset.X, first.dataset.Y)
        self.kind = _hyper(first.optimizer)[0]
        self.state: dict[str, Array] = {}
        st = self.st
        for i, s in enumerate(runs):
            st.theta[i] = s.net.theta
            st.g[i] = s.grads.flat
        if self.kind in ("momentum", "adam"):
            names = ("v",) if self.kind == "momentum" else ("m", "v")
            for name in names:
                buf = self.state[name] = np.zeros_like(st.theta)
                for i, s in enumerate(runs):
                    have = getattr(s.optimizer, name)
                    if have is not None:
                        buf[i] = have
        self.t = [getattr(s.optimizer, "t", 0) for s in runs]
        self.lr = np.array([[s.optimizer.learning_rate] for s in runs])
        self.hyper: dict[str, Array] = {"lr": self.lr}
        o = first.optimizer
        if isinstance(o, Momentum):
            self.hyper["momentum"] = np.array(o.momentum)
        if isinstance(o, Adam):
            self.hyper.update(
                beta1=np.array(o.beta1), beta2=np.array(o.beta2), eps=np.array(o.eps),
                one_minus_beta1=np.array(1.0 - o.beta1), one_minus_beta2=np.array(1.0 - o.beta2),
            )  # fmt: skip

    def update(self) -> None:
        """One optimizer step for every run of the stack (Adam's step counts move for all)."""
        if self.kind == "adam":
            o = self.runs[0].optimizer
            assert isinstance(o, Adam)
            self.t = [t + 1 for t in self.t]
            # 1 - beta^t in Python, per run, as Adam.update computes it.
            self.hyper["correction1"] = np.array([[1.0 - o.beta1**t] for t in self.t])
            self.hyper["correction2"] = np.array([[1.0 - o.beta2**t] for t in self.t])
        stack_kernel.update(self.kind, self.st.theta, self.st.g, self.state, self.hyper)

    def scatter(self, i: int) -> None:
        """Run i's state, from the stack into its own buffers (copies)."""
        s, st = self.runs[i], self.st
        s.net.theta[...] = st.theta[i]
        s.grads.flat[...] = st.g[i]
        cache = s._train_cache
        for layer in range(1, st.L):
            cache.A_aug[layer][...] = st.A_aug[layer][i]
        cache.A[-1][...] = st.O[i]
        for layer in range(1, st.L + 1):
            cache.Z[layer][...] = st.Z[layer][i]
        s.grads.delta = [d[i].copy() for d in st.delta]
        o = s.optimizer
        for name, buf in self.state.items():
            setattr(o, name, buf[i].copy())
        if isinstance(o, Adam):
            o.t = self.t[i]


def _advance_group(runs: list[TrainingSession], n: int) -> list[int]:
    """advance(n) of each run, all stepped in one stack; bit for bit their lone advance()."""
    if n <= 0:
        return [s.advance(n) for s in runs]
    for s in runs:
        s._branch()
        s.stopped = None
    group = _Group(runs)
    st, k, n_train = group.st, group.k, runs[0].n_train
    done = [0] * k
    active = list(range(k))
    record = [s.history.train.append for s in runs]
    isfinite, total = math.isfinite, np.add.reduce
    with np.errstate(all="ignore"):  # divergence is reported by a field, not a warning
        while active:
            # Up to the next checkpoint of any active run: advance() chunks each run so alone.
            chunk = min(
                min(
                    n - done[i],
                    runs[i].timeline.every - runs[i].step_count % runs[i].timeline.every,
                )
                for i in active
            )
            for _ in range(chunk):
                group.update()
                st.forward()
                st.backward()
                E = st.errors()
                sums = total(st.theta, axis=1).tolist()  # per run, as theta.sum() alone
                ended = []
                for i in active:
                    s, e = runs[i], E[i]
                    record[i](e)
                    done[i] += 1
                    s.step_count += 1
                    s.seen += n_train
                    if not (isfinite(e) and isfinite(sums[i])):
                        s.diverged = True
                        ended.append(i)
                if ended:
                    _home(group, ended, E)
                    active = [i for i in active if not runs[i].diverged]
                    if not active:
                        break
            # The runs at the end of their own chunk (a checkpoint, or n steps) go home.
            _home(
                group,
                [i for i in active if done[i] == n or runs[i].timeline.due(runs[i].step_count)],
                E,
            )
            active = [i for i in active if done[i] < n]
    for s in runs:
        s.timeline.head = s.step_count
    return done


def _home(group: _Group, members: list[int], E: list[float]) -> None:
    """The end of these runs' chunk: their state scattered home, history trimmed, and the
    checkpoint taken where one is due (advance() after each _run)."""
    for i in members:
        s = group.runs[i]
        group.scatter(i)
        s.loss = s.grads.error = E[i]
        s.history.trim()
        if s.timeline.due(s.step_count):
            s.timeline.add(s._capture())
