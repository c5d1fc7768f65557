"""Frame serialisation: a session's state as the JSON-ready dicts of docs/api.md.

JSON never carries NaN or Infinity: every float that is not finite becomes None here.
"""

from __future__ import annotations

import functools
import math
from array import array
from typing import Any

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


class Views(tuple[Array, ...]):
    """Arrays that are contiguous views of one flat vector, and where each starts in it."""

    flat: Array
    offsets: tuple[int, ...]


@functools.lru_cache(maxsize=256)
def _offsets(net_layout: tuple[tuple[int, ...], str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where each W and each b starts in theta, read off the engine's own views of an arange."""
    sizes, bias_mode = net_layout
    probe = Network.__new__(Network)
    probe.sizes, probe.bias_mode = list(sizes), bias_mode
    W, b, _ = probe.views(np.arange(probe.n_params, dtype=float))
    return tuple(int(w.flat[0]) if w.size else 0 for w in W), tuple(int(v.flat[0]) for v in b)


def _views(net: Network, flat: Array) -> tuple[Views, Views]:
    """W and b as Views of `flat` (a copy of theta or of the gradients)."""
    W, b, _ = net.views(flat)
    at_W, at_b = _offsets((tuple(net.sizes), net.bias_mode))
    out = Views(W), Views(b)
    for views, at in zip(out, (at_W, at_b), strict=True):
        views.flat, views.offsets = flat, at
    return out


def listed(frame: dict[str, Any]) -> dict[str, Any]:
    """A frame built with `arrays=True` as JSON-ready lists; any other frame as it is."""
    if not isinstance(frame.get("weights"), tuple):
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

    `arrays`: weights, biases and gradients as tuples of float64 arrays (copies, so later steps
    leave them be), for a stream to pack straight from (codec.pack_frame) without the round
    trip through lists; `listed()` makes such a frame JSON-ready when a viewer asks for that.
    """
    first, losses, test = history.window(since, step)
    moves = None
    if update is not None:
        dW, db, _ = net.views(update)
        moves = {"weights": [nested(w) for w in dW], "biases": [nested(b) for b in db]}
    if arrays:
        # Two copies of flat vectors, the arrays views of them: the engine goes on in place.
        W, b = _views(net, net.theta.copy())
        gW, gb = _views(net, grads.flat.copy())
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
