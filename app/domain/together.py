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
from app.engine.network import Cache, Grads
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
    """What a run must share with others to step in their stack; None: it steps alone.

    Kept with the objects it was computed from (settings changes replace the config, a new
    optimizer or network replaces those, drawn points the data's arrays), so a tick costs a
    few identity checks per run.
    """
    s = session
    d = s.dataset  # drawn points replace its X and Y (domain/drawn.py)
    held = (s.config, s.net, s.optimizer, d, d.X, d.Y, s._batch_cache, s._test_cache)
    ids = tuple(map(id, held))  # identities: the cache holds the objects, so ids stay theirs
    cached = s.__dict__.get("_together_key")
    if cached is not None and cached[1] == ids and not s.diverged:
        return cached[2]  # type: ignore[no-any-return]
    key = _key(s)
    s.__dict__["_together_key"] = (held, ids, key)
    return key


def _key(s: TrainingSession) -> Hashable | None:
    """group_key, computed."""
    net = s.net
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
        rows = stack_rows(sessions[members[0]])
        for start in range(0, len(members), rows):
            part = members[start : start + rows]
            if len(part) == 1:
                done[part[0]] = sessions[part[0]].advance(n)
                continue
            group = _group_of([sessions[i] for i in part])
            for i, d in zip(part, _advance_group(group, n), strict=True):
                done[i] = d
    return done


STACK_BYTES = 1 << 20  # a stack's working set stays within a core's L2 cache, about


def stack_rows(s: TrainingSession) -> int:
    """Runs per stack: as many as fit STACK_BYTES with every forward and backward buffer.

    1 (alone) for spiral [2,16,16,16,1] on 500 points, whose stack ran 2-5x slower than the
    same runs alone: every pass then streams from memory instead of the cache.
    """
    m, sizes = s.n_train, s.net.sizes
    floats = 2 * s.net.n_params + m * (sum(n + 1 for n in sizes[1:-1]) + 5 * sum(sizes[1:]))
    return max(1, STACK_BYTES // (8 * floats))


class _Group:
    """Runs whose buffers are rows of one stack; `tokens` notice a run that replaced any."""

    def __init__(self, runs: list[TrainingSession]) -> None:
        first = runs[0]
        self.runs = runs
        self.k = k = len(runs)
        self.st = Stack.new(first.net, k, first.dataset.X, first.dataset.Y)
        self.kind = _hyper(first.optimizer)[0]
        names = {"momentum": ("v",), "adam": ("m", "v")}.get(self.kind, ())
        self.state: dict[str, Array] = {name: np.zeros_like(self.st.theta) for name in names}
        self.hyper: dict[str, Array] = {}
        o = first.optimizer
        if isinstance(o, Momentum):
            self.hyper["momentum"] = np.array(o.momentum)
        if isinstance(o, Adam):
            self.hyper.update(
                beta1=np.array(o.beta1), beta2=np.array(o.beta2), eps=np.array(o.eps),
                one_minus_beta1=np.array(1.0 - o.beta1), one_minus_beta2=np.array(1.0 - o.beta2),
            )  # fmt: skip
        self.tokens: list[tuple[int, ...]] = [()] * k
        self.held: list[tuple[object, ...]] = [()] * k
        self.deltas: list[list[Array]] = [[] for _ in range(k)]  # row i's deltas, as views
        for i, s in enumerate(runs):
            self.adopt(i, s)
            s.together = self

    @staticmethod
    def token(s: TrainingSession) -> tuple[int, ...]:
        """The identities of the objects a run's buffers belong to: any replaced means the row
        must adopt again (a network replaces its theta only by being a new network). `held`
        keeps the objects, so their ids cannot be reused; ids, because Grads and Cache are
        dataclasses whose == would compare arrays."""
        return (id(s.net), id(s.grads), id(s._train_cache), id(s.optimizer))

    def adopt(self, i: int, s: TrainingSession) -> None:
        """Row i takes run s's state, and s's arrays become views of row i."""
        st, net = self.st, s.net
        st.theta[i] = net.theta
        st.g[i] = s.grads.flat
        net.theta = st.theta[i]
        net.W, net.b, net.Wa = net.views(net.theta)
        grads = Grads(st.g[i], *net.views(st.g[i]))
        grads.error = s.grads.error
        old = s._train_cache
        A_aug = [old.A_aug[0]]  # the run's own inputs (the stack reads one shared copy)
        for layer in range(1, st.L):
            st.A_aug[layer][i] = old.A_aug[layer]
            A_aug.append(st.A_aug[layer][i])
        st.O[i] = old.A[-1]
        Z = [old.Z[0]]
        for layer in range(1, st.L + 1):
            st.Z[layer][i] = old.Z[layer]
            Z.append(st.Z[layer][i])
        for d, have in zip(st.delta, s.grads.delta, strict=False):
            d[i] = have
        grads.delta = self.deltas[i] = [d[i] for d in st.delta]
        cache = Cache(A_aug, [a[:-1] for a in A_aug] + [st.O[i]], Z)
        if s._cache is old:
            s._cache = cache
        s._train_cache, s.grads = cache, grads
        o = s.optimizer
        for name, buf in self.state.items():
            have = getattr(o, name)
            buf[i] = have if have is not None else 0.0  # None: zeros at the first update
            setattr(o, name, buf[i])
        self.tokens[i] = self.token(s)
        self.held[i] = (s.net, s.grads, s._train_cache, s.optimizer)

    def row(self, i: int) -> list[Array]:
        """Every array of row i: what the run's own arrays are views of."""
        st = self.st
        rows = [st.theta, st.g, *st.A_aug[1:], st.O, *st.Z[1:], *st.delta, *self.state.values()]
        return [a[i] for a in rows]

    def check(self) -> None:
        """Rows whose run replaced its network, buffers or optimizer (a seek, a settings
        change, a restore) take its state again."""
        tokens = self.tokens
        for i, s in enumerate(self.runs):
            if (id(s.net), id(s.grads), id(s._train_cache), id(s.optimizer)) != tokens[i]:
                self.adopt(i, s)

    def update(self, t: list[int]) -> None:
        """One optimizer step for every row: the runs' own rates, Adam's own step counts."""
        hyper = self.hyper
        hyper["lr"] = np.array([[s.optimizer.learning_rate] for s in self.runs])
        if self.kind == "adam":
            o = self.runs[0].optimizer
            assert isinstance(o, Adam)
            # 1 - beta^t in Python, per run, as Adam.update computes it.
            hyper["correction1"] = np.array([[1.0 - o.beta1**n] for n in t])
            hyper["correction2"] = np.array([[1.0 - o.beta2**n] for n in t])
        stack_kernel.update(self.kind, self.st.theta, self.st.g, self.state, hyper)


def _group_of(runs: list[TrainingSession]) -> _Group:
    """The stack these runs already share, in this order, else a new one they move into."""
    group = runs[0].together
    if (
        isinstance(group, _Group)
        and len(group.runs) == len(runs)
        and all(a is b for a, b in zip(group.runs, runs, strict=True))
    ):
        group.check()
        return group
    return _Group(runs)


def _advance_group(group: _Group, n: int) -> list[int]:
    """advance(n) of each run of the group, in its stack; bit for bit their lone advance()."""
    runs = group.runs
    if n <= 0:
        return [s.advance(n) for s in runs]
    for s in runs:
        s._branch()
        s.stopped = None
    st, k, n_train = group.st, group.k, runs[0].n_train
    adam = group.kind == "adam"
    done = [0] * k
    active = list(range(k))
    record = [s.history.train.append for s in runs]
    isfinite, total = math.isfinite, np.add.reduce
    t = [getattr(s.optimizer, "t", 0) for s in runs]
    E: list[float] = []
    stopped: list[tuple[int, list[Array]]] = []
    with np.errstate(all="ignore"):  # divergence is reported by a field, not a warning
        while active:
            # Up to the next checkpoint of any active run: advance() chunks each run so alone.
            chunk = min(min(n - done[i], _to_checkpoint(runs[i])) for i in active)
            for _ in range(chunk):
                if adam:
                    t = [v + 1 for v in t]
                group.update(t)
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
                    if adam:
                        s.optimizer.t = t[i]  # type: ignore[attr-defined]
                    if not (isfinite(e) and isfinite(sums[i])):
                        s.diverged = True
                        ended.append(i)
                if ended:
                    _home(group, ended, E)
                    # A diverged run stops here; its row goes on with the stack's steps, so
                    # its state is put back when they are done.
                    stopped += [(i, [a.copy() for a in group.row(i)]) for i in ended]
                    active = [i for i in active if not runs[i].diverged]
                    if not active:
                        break
            # The runs at the end of their own chunk (a checkpoint, or n steps) go home.
            at_end = [i for i in active if done[i] == n or runs[i].timeline.due(runs[i].step_count)]
            _home(group, at_end, E)
            active = [i for i in active if done[i] < n]
    for i, saved in stopped:
        for a, was in zip(group.row(i), saved, strict=True):
            a[...] = was
    for s in runs:
        s.timeline.head = s.step_count
    return done


def _to_checkpoint(s: TrainingSession) -> int:
    """Steps from the run's step to its next checkpoint: advance()'s chunk."""
    every = s.timeline.every
    return every - s.step_count % every


def _home(group: _Group, members: list[int], E: list[float]) -> None:
    """The end of these runs' chunk, as advance() ends each _run(): the loss, the history
    trimmed, and the checkpoint where one is due."""
    for i in members:
        s = group.runs[i]
        s.loss = s.grads.error = E[i]
        s.grads.delta = group.deltas[i]  # a settings change may have left its own there
        s.history.trim()
        if s.timeline.due(s.step_count):
            s.timeline.add(s._capture())
