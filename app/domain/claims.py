"""The article's closing claims on a live run: the numbers (engine/claims.py) and their words.

GET .../claims answers this. Run measure() on a clone(): the mean-phase scan replays the run.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np

from app.engine import claims as measures
from app.engine.chain import fill_formula
from app.engine.network import weight_name
from app.settings import Settings

from . import frames
from .errors import InvalidError
from .limits import gradcheck_work, step_work

if TYPE_CHECKING:
    from .session import TrainingSession

# The mean-phase scan looks back up to this many steps and ahead (on the copy) up to this many,
# and costs at most SCAN_WORK multiply-adds: a big network scans fewer steps.
SCAN_BACK = 3000
SCAN_AHEAD = 1000
SCAN_WORK = 200_000_000
LOOKED_AHEAD = " (seen by running a copy of the run on, with its current settings)"


def scan_window(session: TrainingSession) -> tuple[int, int]:
    """(first step, steps after it) the mean-phase scan replays: around the current step."""
    # Each step of the scan replays a step and runs the training set forward once more.
    per_step = max(1, 2 * step_work(session))
    total = max(2, min(SCAN_BACK + SCAN_AHEAD, SCAN_WORK // per_step))
    ahead = min(SCAN_AHEAD, total // 2)
    first = session.timeline.checkpoints[0].step  # a restored run keeps no earlier steps
    back = min(session.step_count - first, total - ahead)
    return session.step_count - back, back + ahead


def claims_work(session: TrainingSession) -> int:
    """Multiply-adds of measure(): central differences, the two updates, the scan."""
    layers = session.config.layers
    weights = sum(a * b for a, b in pairwise(layers))
    batch = session.config.batch_size or session.n_train
    updates = 4 * len(layers) * batch * weights
    return gradcheck_work(session)[0] + updates + scan_window(session)[1] * 2 * step_work(session)


def check_claims(session: TrainingSession, settings: Settings) -> None:
    """Central differences take two forward passes per parameter: refuse them for big networks."""
    work, params, batch = gradcheck_work(session)
    if work > settings.max_work_per_request:
        raise InvalidError(
            f"claims: {params} parameters on {batch} samples are too many for central "
            "differences on this server (two forward passes per parameter: exactly the cost "
            "backprop saves); try it on a smaller network or a smaller batch"
        )


def digits(a: float | None, b: float | None, least: int = 4) -> int:
    """Significant digits enough for `a` and `b` to read differently when they differ."""
    if a is None or b is None or a == b:
        return least
    for n in range(least, 18):
        if f"{a:.{n}g}" != f"{b:.{n}g}":
            return n
    return 17


def _g(x: float | None, n: int = 4) -> str:
    """A number as the page prints it; a value that is not finite says so."""
    return "not finite" if x is None else f"{x:.{n}g}"


def bias_name(layer: int, n_layers: int) -> str:
    """`b_ho` for the article's output layer: the bias beside `W_ho`."""
    return "b" + weight_name(layer, n_layers)[1:]


def cost_text(g: dict[str, Any]) -> str:
    """What backprop saves: passes per step, the same numbers either way."""
    P, bp, fd = g["parameters"], g["backprop"], g["finite_differences"]
    agree = g["max_abs_difference"]
    return (
        f"Backprop found all {P} gradients from {bp['forward_passes']} forward and "
        f"{bp['backward_passes']} backward pass, reusing each layer's δ for the next layer in. "
        f"Estimating them by central differences took {fd['forward_passes']} forward passes "
        f"(2 × {P}, one up and one down per parameter) for the same numbers: they agree to "
        f"{_g(agree, 2)}. So backprop is faster per step; the step itself is the same "
        "gradient-descent step, not a rule that converges in fewer steps."
    )


def order_text(u: dict[str, Any], optimizer: str = "sgd") -> str:
    """The real update (every layer at once) against the article's sequential scheme."""
    sim, seq = u["simultaneous"], u["sequential"]
    n = digits(sim["E_after"], seq["E_after"])
    E0 = _g(u["E_before"], n)
    path = " → ".join(_g(s["E_after"], n) for s in seq["stages"])
    names = [s["name"] for s in seq["stages"]]
    moved = max(u["layers"], key=lambda lay: lay["max_abs_difference"] or 0.0)
    text = (
        f"Backprop computes δ from the output layer in, then updates every layer at once with "
        f"W_new = W_old − α ∂E/∂W (α {u['learning_rate']:g}): E {E0} → {_g(sim['E_after'], n)}, "
        f"from {sim['forward_passes']} forward and {sim['backward_passes']} backward pass. "
    )
    if optimizer != "sgd":
        text += (
            f"(This run steps with {optimizer}; both ways here use the article's plain rule with "
            "the same α, to compare the orders alone.) "
        )
    if len(names) == 1:
        return text + "With one layer there is no order to choose: the article's scheme is this."
    return text + (
        f"The article's order (update {names[0]}, recompute the loss and δ, then "
        f"{', then '.join(names[1:])}) is another algorithm: E {E0} → {path}, from "
        f"{seq['forward_passes']} forward and {seq['backward_passes']} backward passes, and "
        f"{moved['name']} lands up to {_g(moved['max_abs_difference'], 3)} away from "
        "gradient descent's step."
    )


def why_text(session: TrainingSession, ev: dict[str, Any]) -> str:
    """Why the outputs sit at the mean: the output bias's gradient, written for this loss."""
    net = session.net
    L = net.n_layers
    b = bias_name(L - 1, L)
    dO = _minus(fill_formula(net.act(L - 1).dformula, "O", f"Z{L}"))
    return (
        f"Why: ∂E/∂{b} = Σ ({_minus(net.loss.dformula)})·{dO}; while every O is about the "
        f"same it is nearly proportional to Σ (O − Y), so the first steps move {b} until the "
        "outputs sit at the mean of Y. The weights' gradients multiply (O − Y) by activations "
        "and need samples that differ: the last hidden layer's activations differ by at most "
        f"{_g(ev['hidden_spread'], 3)} across samples, and the largest |∂E/∂W| is "
        f"{_g(ev['weight_gradient'], 3)}."
    )


def _minus(formula: str) -> str:
    """A formula with the page's minus sign."""
    return formula.replace(" - ", " − ")


def mean_text(session: TrainingSession, m: dict[str, Any]) -> str:
    """The mean phase in words, from the scan and the evidence at this step."""
    step, pct = m["step"], f"{100 * m['threshold']:g}%"
    share = "not comparable" if m["spread_ratio"] is None else f"{100 * m['spread_ratio']:.3g}%"
    now = (
        f"at step {step} the outputs differ across samples by {_g(m['spread_O'], 3)}, "
        f"{share} of the targets' spread {_g(m['spread_Y'], 3)}"
    )
    rule = (
        f"Threshold: the outputs' spread across samples, and their mean's distance from the "
        f"mean of Y, both under {pct} of the targets' spread."
    )
    since, until = m["since_step"], m["until_step"]
    if since is None:
        return (
            f"Not predicting the mean: {now}. In steps {m['scanned_from']} to "
            f"{m['scanned_to']} the network never predicted about the mean of Y. {rule}"
        )
    began = f"{since} or earlier" if m["began_before_scan"] else f"{since}"
    looked = (
        " (seen by running a copy of the run on with its current settings)" if m["ahead"] else ""
    )
    last = m["scanned_to"]
    end = f"ends at step {until}" if until is not None else f"has not ended by step {last}"
    if m["in_phase"]:
        n = digits(m["E"], m["E_of_mean"])
        E, E_mean = m["E"], m["E_of_mean"]
        of_mean = f"{100 * E / E_mean:.3g}%" if E is not None and E_mean else "a share"
        return (
            f"The network is predicting about the mean: {now}, all near "
            f"{_g(m['mean_O'], 4)}, the mean of Y being {_g(m['mean_Y'], 4)}; E "
            f"{_g(m['E'], n)} is {of_mean} of {_g(m['E_of_mean'], n)}, the error of answering "
            f"the mean for every sample. {why_text(session, m)} This phase began at step {began} "
            f"and {end}{looked}. {rule}"
        )
    span = f"from step {began} to step {until}" if until is not None else f"from step {began} on"
    if since > step:
        return (
            f"Ahead: the network will predict about the mean of Y {span}{looked}. Now {now}. {rule}"
        )
    return f"The network predicted about the mean of Y {span}. Now {now}. {rule}"


def mean_phase(session: TrainingSession) -> dict[str, Any]:
    """When the output is about constant across samples and at the mean of Y, and why.

    Replays the run around the current step: call it on a clone(), last (it moves the run).
    """
    d = session.dataset
    step, head = session.step_count, session.head
    first = session.timeline.checkpoints[0].step
    with np.errstate(all="ignore"):
        ev = measures.mean_evidence(session.net, d.X, d.Y)
    start, steps = scan_window(session)
    at: list[int] = []
    flags: list[bool] = []
    check = measures.mean_check(d.Y)
    for s, O in session.walk(start, steps):
        at.append(s)
        flags.append(check(O))
    run = measures.phase_around(at, flags, step)
    since, until = run if run is not None else (None, None)
    past_head = since is not None and (until is None or until > head or since > head)
    return {
        "step": step,
        "threshold": measures.MEAN_THRESHOLD,
        "in_phase": flags[step - start],
        "since_step": since,
        "until_step": until,
        "ahead": bool(at[-1] > head and past_head),
        "scanned_from": at[0],
        "scanned_to": at[-1],
        # The scan began inside the phase: it may have begun earlier than it says.
        "began_before_scan": bool(since is not None and since == at[0] > first),
        **ev,
    }


def measure(session: TrainingSession) -> dict[str, Any]:
    """Everything GET .../claims answers: numbers and the sentences made from them."""
    X, Y = session._cache.A[0].copy(), session._Y  # the batch the next step uses
    lr = session.optimizer.learning_rate
    with np.errstate(all="ignore"):
        grads = frames.plain(measures.gradients_two_ways(session.net, X, Y))
        update = frames.plain(measures.sequential_vs_simultaneous(session.net, X, Y, lr))
    step = session.step_count
    mean = frames.plain(mean_phase(session))
    return {
        "step": step,
        "optimizer": session.config.optimizer.name,
        "gradients": grads,
        "update": update,
        "mean_phase": mean,
        "text": {
            "cost": cost_text(grads),
            "order": order_text(update, session.config.optimizer.name),
            "mean": mean_text(session, mean),
        },
    }
