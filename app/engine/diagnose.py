"""Trouble detection: why a network is not learning, found from one forward and backward pass.

Pure NumPy. Each finding is a small dict with a `kind`, the live numbers that explain it and
a suggested fix as a config change, so the page can teach the lesson and apply the fix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .network import Cache, Grads, Network, layer_names

Array = np.ndarray

# A unit is saturated on a sample when its derivative is below 1% of the activation's
# largest derivative: sigmoid O(1 - O) < 0.0025 (|Z| > ~6), tanh 1 - a^2 < 0.01 (|Z| > ~3).
SATURATED = 0.01
MAX_DERIVATIVE = {"sigmoid": 0.25, "tanh": 1.0}
# "Most samples": a layer is reported when at least this share of its (unit, sample) pairs
# is saturated.
MOST = 0.5
# The output is only stuck where it is also wrong: |O - Y| above this share of its range.
WRONG = 0.1
STUCK = 0.25  # ...on at least this share of the saturated samples
# Gradients vanish when the first layer's get this much less than the last layer's, or when a
# step would move the weights by less than this share of their size while E is still high.
VANISHING_RATIO = 1e-3
TINY_UPDATE = 1e-6
# A step that moves the weights by more than their own size is exploding.
HUGE_UPDATE = 1.0
# What makes the gradient that large: targets this far outside the output's range (in spans of
# that range) are "raw units"; inputs this large are too; a summed error over this many samples.
RAW_TARGETS = 10.0
RAW_INPUTS = 10.0
MANY_SAMPLES = 20
# A full-batch loss rising by this share in one step is a step that overshot, when the rise also
# undoes at least RISE_FLOOR of the run's first loss (an Adam ripple at E = 1e-4 does not).
RISE = 0.5
RISE_FLOOR = 0.1
# Not stuck, only not back below the loss before the jump: reported once that has lasted this
# many steps (a run that overshoots and comes back by itself is not broken).
PERSIST = 20
# Output activations' ranges: targets outside them can never be reached.
RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, math.inf),
}


def _num(x: float) -> float | None:
    """A finite float, else None (JSON never carries NaN)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _rms(a: Array) -> float:
    """Root mean square of an array."""
    # vdot: one call, no temporary (this runs with every frame).
    return math.sqrt(float(np.vdot(a, a)) / a.size) if a.size else 0.0


def target_range_trouble(output_activation: str, loss: str, Y: Array) -> dict[str, Any] | None:
    """Targets the output can never produce: Y outside the output activation's range."""
    if Y.size == 0:
        return None
    lo, hi = RANGES.get(output_activation, (-math.inf, math.inf))
    what = output_activation
    if loss == "bce":
        # Cross-entropy is defined for targets that are probabilities.
        lo, hi, what = max(lo, 0.0), min(hi, 1.0), "bce"
    y_min, y_max = float(Y.min()), float(Y.max())
    if lo <= y_min and y_max <= hi:
        return None
    outside = float(np.mean(np.less(Y, lo) | np.greater(Y, hi)))
    fix: dict[str, Any] = {"dataset": {"scale_targets": True}}
    return {
        "kind": "targets_out_of_range",
        "activation": output_activation,
        "loss": loss,
        "limiter": what,
        "range": [_num(lo), _num(hi)],
        "y_min": _num(y_min),
        "y_max": _num(y_max),
        "fraction": outside,
        "fix": fix,
    }


def _baseline_error(net: Network, Y: Array) -> float:
    """E of the best constant prediction (the mean target): what "not learning" scores."""
    mean = (
        np.clip(Y.mean(axis=1, keepdims=True), 1e-6, 1 - 1e-6)
        if net.loss_name == "bce"
        else (Y.mean(axis=1, keepdims=True))
    )
    return net.loss.value(np.broadcast_to(mean, Y.shape).copy(), Y)


def _step_size(optimizer: str, learning_rate: float, momentum: float, g_norm: float) -> float:
    """How far the next steps move theta, in the optimizer's steady state."""
    if optimizer == "momentum":
        return learning_rate * g_norm / (1.0 - momentum)
    return learning_rate * g_norm


def diagnose(
    net: Network,
    cache: Cache,
    Y: Array,
    grads: Grads,
    error: float,
    learning_rate: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
) -> list[dict[str, Any]]:
    """Every trouble found at the cache's weights (the cache holds the whole training set)."""
    found: list[dict[str, Any]] = []
    L = net.n_layers
    names = layer_names(L)
    with np.errstate(all="ignore"):
        t = target_range_trouble(net.output_activation, net.loss_name, Y)
        if t is not None:
            found.append(t)

        # Output saturated: O(1 - O) tiny where O is wrong, so delta = (O - Y) O(1 - O) ~ 0.
        out = net.output_activation
        sigmoid_bce = out == "sigmoid" and net.loss_name == "bce"  # O(1 - O) cancels: no trouble
        if out in MAX_DERIVATIVE and not sigmoid_bce and Y.size:
            O = cache.A[L]
            d = net.act(L - 1).df(cache.Z[L], O)
            lo, hi = RANGES[out]
            wrong = np.abs(O - Y) > WRONG * (hi - lo)
            saturated = d < SATURATED * MAX_DERIVATIVE[out]
            stuck = saturated & wrong
            share = float(saturated.mean())
            # Saturated on most samples, and wrong on a good part of them (right and saturated
            # is a confident, finished net).
            if share >= MOST and stuck.sum() >= STUCK * saturated.sum():
                # One stuck sample's numbers for the lesson: delta = (O - Y) * f'(Z).
                worst = int(np.argmax(np.where(stuck, np.abs(O - Y), -1.0)))
                r, k = np.unravel_index(worst, O.shape)
                o, y, dk = float(O[r, k]), float(Y[r, k]), float(d[r, k])
                found.append({
                    "kind": "output_saturated",
                    "layer": L,
                    "name": names[L],
                    "activation": out,
                    "fraction": share,
                    "wrong_fraction": float(stuck.mean()),
                    "mean_derivative": _num(float(d.mean())),
                    "max_derivative": MAX_DERIVATIVE[out],
                    "sample": {"index": int(k), "output": int(r), "O": _num(o), "Y": _num(y),
                               "Z": _num(float(cache.Z[L][r, k])), "derivative": _num(dk),
                               "delta": _num((o - y) * dk)},
                    "fix": {"init": "xavier", "loss": "bce"} if out == "sigmoid" and _binary(Y)
                    else {"init": "xavier"},
                })  # fmt: skip

        # Hidden units saturated: h(1 - h) tiny, so every weight below gets almost nothing.
        if net.activation in MAX_DERIVATIVE:
            for layer in range(1, L):
                d = net.act(layer - 1).df(cache.Z[layer], cache.A[layer])
                share = float((d < SATURATED * MAX_DERIVATIVE[net.activation]).mean())
                if share >= MOST:
                    found.append({
                        "kind": "hidden_saturated",
                        "layer": layer,
                        "name": names[layer],
                        "activation": net.activation,
                        "fraction": share,
                        "mean_derivative": _num(float(d.mean())),
                        "max_derivative": MAX_DERIVATIVE[net.activation],
                        "mean_abs_z": _num(float(np.abs(cache.Z[layer]).mean())),
                        "fix": {"init": "xavier", "dataset": {"standardize": True}},
                    })  # fmt: skip

        # Gradients: per layer size, and what the next step would do to the weights.
        rms = [_rms(g) for g in grads.dW]
        g_norm = float(np.linalg.norm(grads.flat))
        theta_norm = float(np.linalg.norm(net.theta))
        if not math.isfinite(g_norm):
            return found
        step = _step_size(optimizer, learning_rate, momentum, g_norm)
        relative = step / max(theta_norm, 1e-12)
        ratio = rms[0] / rms[-1] if rms[-1] > 0 else 0.0
        first_layers = L >= 3 and rms[-1] > 0 and ratio < VANISHING_RATIO
        high = False
        if first_layers or relative < TINY_UPDATE:
            # Only then is the baseline (one more loss evaluation) worth computing.
            baseline = _baseline_error(net, Y) if Y.size else 0.0
            high = math.isfinite(error) and baseline > 0 and error > 0.5 * baseline
        if first_layers and high:
            found.append({
                "kind": "vanishing_gradients",
                "where": "first_layers",
                "ratio": _num(ratio),
                "rms": [_num(v) for v in rms],
                "relative_step": _num(relative),
                "fix": {"activation": "relu", "init": "he"} if net.activation == "sigmoid"
                else {"init": "xavier"},
            })  # fmt: skip
        elif relative < TINY_UPDATE and high:
            found.append({
                "kind": "vanishing_gradients",
                "where": "everywhere",
                "ratio": _num(ratio),
                "rms": [_num(v) for v in rms],
                "relative_step": _num(relative),
                "fix": {"init": "xavier", "dataset": {"standardize": True}},
            })  # fmt: skip
        if optimizer != "adam" and relative > HUGE_UPDATE:
            found.append({
                "kind": "exploding_gradients",
                "relative_step": _num(relative),
                "gradient_norm": _num(g_norm),
                "weight_norm": _num(theta_norm),
                "learning_rate": learning_rate,
                "loss": net.loss_name,
                "samples": int(Y.shape[1]),
                **why_large(net, cache, Y),
                "fix": {"optimizer": {"learning_rate": suggested_rate(learning_rate, relative)}},
            })  # fmt: skip
    return found


def suggested_rate(learning_rate: float, relative: float) -> float:
    """A rate whose step moves the weights by about a tenth of their size, to one digit."""
    return float(f"{learning_rate * HUGE_UPDATE / relative / 10:.1g}")


def relative_step(
    net: Network, g_norm: float, learning_rate: float, optimizer: str, momentum: float
) -> float | None:
    """How far the next steps move theta against its size (None for Adam, whose steps are α)."""
    if optimizer == "adam":
        return None
    theta_norm = float(np.linalg.norm(net.theta))
    step = _step_size(optimizer, learning_rate, momentum, g_norm)
    r = step / max(theta_norm, 1e-12)
    return r if math.isfinite(r) else None


def why_large(net: Network, cache: Cache, Y: Array) -> dict[str, Any]:
    """What makes the gradient large, in the data's own numbers: the `cause` and its values.

    `target_units`: targets far outside the output's range (raw units: dollars), so O - Y is
    huge; `input_units`: inputs in raw units (square feet), so Z and every dE/dW on them are;
    `summed_error`: E = 1/2 sum (Y - O)^2 adds up many samples, so its gradient grows with their
    number; else `learning_rate`: alpha itself is too large for this network.
    """
    O, X = cache.A[net.n_layers], cache.A[0]
    lo, hi = RANGES.get(net.output_activation, (-math.inf, math.inf))
    span = hi - lo if math.isfinite(hi - lo) else 1.0
    out: dict[str, Any] = {
        "mean_abs_error": _num(float(np.abs(O - Y).mean())) if Y.size else None,
        "x_max": _num(float(np.abs(X).max())) if X.size else None,
        "y_min": _num(float(Y.min())) if Y.size else None,
        "y_max": _num(float(Y.max())) if Y.size else None,
    }
    far = max(lo - float(Y.min()), float(Y.max()) - hi, 0.0) if Y.size else 0.0
    if far > RAW_TARGETS * span:
        cause = "target_units"
    elif X.size and float(np.abs(X).max()) > RAW_INPUTS:
        cause = "input_units"
    elif net.loss_name == "half_sse" and Y.shape[1] >= MANY_SAMPLES:
        cause = "summed_error"
    else:
        cause = "learning_rate"
    return {"cause": cause, **out}


def loss_jump(losses: Array, first: int, since: int) -> int | None:
    """The first step t > since whose loss rose by more than RISE over step t - 1's (and by
    RISE_FLOOR of the first loss), or None.

    `losses[k]` is the loss after step first + k (a run's dense history).
    """
    start = max(since + 1, first + 1)
    if start - first >= losses.size:
        return None
    floor = RISE_FLOOR * float(losses[0])
    with np.errstate(all="ignore"):
        prev, cur = losses[start - first - 1 : -1], losses[start - first :]
        rose = np.flatnonzero((cur > prev * (1 + RISE)) & (cur - prev > floor))
    return int(start + rose[0]) if rose.size else None


def step_too_large(
    losses: Array,
    first: int,
    now: int,
    sightings: dict[int, tuple[float, float, str]],
    stuck: bool,
) -> dict[str, Any] | None:
    """The step whose size broke the run, remembered after its consequences hide it, or None.

    `sightings`: step s -> (alpha, relative step, why_large's cause) where a step larger than
    the weights was seen; step s + 1 applied it. A loss that rose by more than RISE in one step
    counts as well. Reported while the run has not recovered: it is stuck now, or E has not been
    back below the loss before the jump for PERSIST steps.
    """
    if not 0 <= now - first < losses.size:
        return None  # a step before the dense history (a seek far back): nothing to read
    candidates: list[tuple[int, float | None, float | None, str]] = [
        (s + 1, lr, r, cause)
        for s, (lr, r, cause) in sorted(sightings.items())
        if first < s + 1 <= now
    ]
    rose = loss_jump(losses[: now - first + 1], first, first)
    if rose is not None:
        candidates.append((rose, None, None, "learning_rate"))
    E_now = float(losses[now - first])
    for jump, lr, r, cause in sorted(candidates, key=lambda c: c[0]):
        before, after = float(losses[jump - 1 - first]), float(losses[jump - first])
        if stuck or (not E_now < before and now - jump >= PERSIST):
            return {
                "kind": "step_too_large",
                "jump_step": jump,
                "E_before": _num(before),
                "E_after": _num(after),
                "learning_rate": lr,
                "relative_step": None if r is None else _num(r),
                "seen": "step_size" if r is not None else "loss_rise",
                "cause": cause,
                "stuck": stuck,
                "E_now": _num(E_now),
            }
    return None


def _binary(Y: Array) -> bool:
    """Targets that are all 0 or 1."""
    return bool(np.isin(Y, (0.0, 1.0)).all())
