"""Frame serialisation: a session's state as the JSON-ready dicts of docs/api.md.

JSON never carries NaN or Infinity: every float that is not finite becomes None here.
"""

from __future__ import annotations

import functools
import math
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from app.engine.network import Grads, Network

from .history import LossHistory

Array = np.ndarray


def clean(x: float) -> float | None:
    """JSON never carries NaN or Infinity: non-finite becomes None."""
    return x if math.isfinite(x) else None


def nested(a: Array) -> list[Any]:
    """An array as nested lists, with None where a value is not finite."""
    if np.isfinite(a).all():
        return a.tolist()  # type: ignore[no-any-return]
    return [nested(r) if r.ndim else clean(float(r)) for r in a]


def floats(values: array[float]) -> list[float | None]:
    """Losses for JSON: one NumPy check and tolist() when all are finite (a 20,000-loss curve)."""
    a = np.frombuffer(values, dtype=float) if len(values) else np.empty(0)
    if np.isfinite(a).all():
        return a.tolist()  # type: ignore[no-any-return]
    return [clean(v) for v in values]


def plain(x: Any) -> Any:
    """Arrays and floats anywhere in dicts and lists made JSON-ready (None for non-finite)."""
    if isinstance(x, np.ndarray):
        return nested(x)
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if isinstance(x, float | np.floating):
        return clean(float(x))
    if isinstance(x, np.integer):
        return int(x)
    return x


Layout = tuple[tuple[int, int, tuple[int, ...]], ...]  # each array's (offset, size, shape)


class Views(Sequence[Array]):
    """Arrays stored contiguously in one flat vector, made (as views) only when read.

    `layout` says where each starts in `flat`, how many values it holds and its shape, so a
    packer can slice the flat vector's bytes without making the arrays; `span` is the part of
    `flat` these arrays cover (theta's or the gradients' half of a frame's one copy).
    """

    __slots__ = ("_arrays", "flat", "layout", "span")

    def __init__(self, flat: Array, layout: Layout, span: tuple[int, int]) -> None:
        self.flat, self.layout, self.span = flat, layout, span
        self._arrays: tuple[Array, ...] | None = None

    def arrays(self) -> tuple[Array, ...]:
        """The arrays themselves (views of `flat`), made once."""
        if self._arrays is None:
            f = self.flat
            self._arrays = tuple(f[at : at + n].reshape(shape) for at, n, shape in self.layout)
        return self._arrays

    @overload
    def __getitem__(self, i: int) -> Array: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Array]: ...

    def __getitem__(self, i: int | slice) -> Array | Sequence[Array]:
        """An array (or a slice of them)."""
        return self.arrays()[i]

    def __len__(self) -> int:
        """How many arrays."""
        return len(self.layout)

    def __iter__(self) -> Iterator[Array]:
        """The arrays in order."""
        return iter(self.arrays())


@functools.lru_cache(maxsize=256)
def _layouts(net_layout: tuple[tuple[int, ...], str]) -> tuple[Layout, Layout]:
    """Where each W and each b starts in theta, its size and shape, read off the engine's own
    views of an arange (so any bias mode's layout is the engine's)."""
    sizes, bias_mode = net_layout
    probe = Network.__new__(Network)
    probe.sizes, probe.bias_mode = list(sizes), bias_mode
    W, b, _ = probe.views(np.arange(probe.n_params, dtype=float))
    return tuple(
        tuple((int(a.flat[0]) if a.size else 0, int(a.size), tuple(a.shape)) for a in arrays)
        for arrays in (W, b)
    )  # type: ignore[return-value]


def _shifted(layout: Layout, by: int) -> Layout:
    """A layout moved `by` values further into the flat vector."""
    return tuple((at + by, n, shape) for at, n, shape in layout)


@functools.lru_cache(maxsize=256)
def _frame_layouts(net_layout: tuple[tuple[int, ...], str], n: int) -> tuple[Layout, ...]:
    """W, b, dW and db in one flat vector of theta then the gradients (2n values)."""
    W, b = _layouts(net_layout)
    return W, b, _shifted(W, n), _shifted(b, n)


def _views(net: Network, grads: Grads) -> tuple[Views, Views, Views, Views]:
    """W, b, dW and db as Views of one copy of theta and the gradients (one allocation)."""
    n = net.theta.size  # (n_params is a sum over the layers, each time)
    flat = np.concatenate((net.theta, grads.flat))
    W, b, gW, gb = _frame_layouts((tuple(net.sizes), net.bias_mode), n)
    return (
        Views(flat, W, (0, n)), Views(flat, b, (0, n)),
        Views(flat, gW, (n, 2 * n)), Views(flat, gb, (n, 2 * n)),
    )  # fmt: skip


def listed(frame: dict[str, Any]) -> dict[str, Any]:
    """A frame built with `arrays=True` as JSON-ready lists; any other frame as it is."""
    if not isinstance(frame.get("weights"), Views):
        return frame
    out = dict(frame)
    for key in ("weights", "biases"):
        out[key] = [nested(a) for a in frame[key]]
    out["gradients"] = {k: [nested(a) for a in v] for k, v in frame["gradients"].items()}
    return out


def parameters(net: Network) -> dict[str, list[list[Any]]]:
    """The network's weights and biases, per layer."""
    return {"weights": [nested(W) for W in net.W], "biases": [nested(b) for b in net.b]}


def frame(
    *,
    net: Network,
    grads: Grads,
    history: LossHistory,
    since: int | None,
    step: int,
    loss: float,
    test_loss: float | None,
    update: Array | None,
    diverged: bool,
    playing: bool,
    learning_rate: float,
    head: int,
    trouble: list[dict[str, Any]] | None,
    settings_log: dict[str, Any] | None = None,
    arrays: bool = False,
    epoch: int = 0,
    accuracy: tuple[float | None, float | None] = (None, None),
    stopped: str | None = None,
) -> dict[str, Any]:
    """The frame at `step`; `losses` are the losses after steps since+1 .. step (None: step's).

    `arrays`: weights, biases and gradients as Views of float64 arrays (copies, so later steps
    leave them be), for a stream to pack straight from (codec.pack_frame) without the round
    trip through lists; `listed()` makes such a frame JSON-ready when a viewer asks for that.
    """
    first, losses, test = history.window(since, step)
    moves = None
    if update is not None:
        dW, db, _ = net.views(update)
        moves = {"weights": [nested(w) for w in dW], "biases": [nested(b) for b in db]}
    if arrays:
        # One copy of theta and the gradients, the arrays views of it: the engine goes on in
        # place, and a packer converts and checks the whole frame's values in one pass.
        W, b, gW, gb = _views(net, grads)
        params: dict[str, Any] = {"weights": W, "biases": b}
        gradients: dict[str, Any] = {"weights": gW, "biases": gb}
    else:
        params = parameters(net)
        gradients = {
            "weights": [nested(g) for g in grads.dW],
            "biases": [nested(g) for g in grads.db],
        }
    return {
        "type": "frame",
        "step": step,
        "loss": clean(loss),
        "test_loss": None if test_loss is None else clean(test_loss),
        "losses": floats(losses),
        **params,
        "gradients": gradients,
        "update": moves,
        "diverged": diverged,
        "playing": playing,
        "first_step": first,
        "test_losses": None if test is None else floats(test),
        "learning_rate": learning_rate,
        "head": head,
        "seeked": False,
        "trouble": trouble,
        "settings_log": settings_log,
        "epoch": epoch,
        "accuracy": accuracy[0],
        "test_accuracy": accuracy[1],
        "stopped": stopped,
    }


def findings(trouble: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A frame's findings without their fixes: a fix is offered only once tried (/fixes)."""
    if trouble is None:
        return None
    return [{k: v for k, v in t.items() if k != "fix"} for t in trouble]


def accuracy(O: Array, Y: Array) -> float | None:
    """Share of samples (columns) classified right: the largest output's class with several
    outputs (softmax), O >= 0.5 against Y >= 0.5 with one (targets 0 and 1); None for none."""
    if O.shape[1] == 0 or not np.isfinite(O).all():
        return None  # no samples, or a diverged run's outputs: no class to read off
    if O.shape[0] == 1:
        right = (O[0] >= 0.5) == (Y[0] >= 0.5)
    else:
        right = np.argmax(O, axis=0) == np.argmax(Y, axis=0)
    return float(np.count_nonzero(right)) / int(O.shape[1])


def curve(history: LossHistory, step: int) -> dict[str, Any]:
    """The loss curve up to `step` for an export: thinned steps first, then every step."""
    steps, losses, tests = history.upto(step)
    return {
        "steps": steps,
        "loss": [clean(v) for v in losses],
        "test_loss": None if tests is None else [None if v is None else clean(v) for v in tests],
    }
