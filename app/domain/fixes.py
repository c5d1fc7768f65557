"""Fixes that are proven: each candidate fix of a finding is tried on a copy of the run first.

A finding (app/engine/diagnose.py) suggests fixes; here they are adapted to the run's config
(a setting already in force is dropped, and a fix left with nothing to change is no fix), then
tried for TRIAL_STEPS steps: a settings change (the learning rate) on a clone of the run, from
the current step or rewound to the step before the trouble began; a change of the network or
its data (init, loss, activations, scaling) as a new run from step 0 with the same seed. A fix
is offered only if E falls by MARGIN in the trial. No I/O; the caller runs this off the loop.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidError
from .protocol import CsvDataset, NamedDataset, RowsDataset, SessionConfig, SessionPatch

if TYPE_CHECKING:
    from .session import TrainingSession

TRIAL_STEPS = 200  # steps each candidate fix is tried for
MARGIN = 0.5  # offered only if E after the trial is at most (1 - MARGIN) times E before it
MAX_TRIALS = 8  # candidates tried per request, at most
PATCH_KEYS = ("optimizer",)  # what a fix may change on the running run (kept state)
CONFIG_KEYS = ("init", "loss", "activation", "output_activation", "dataset")  # a new run


def candidates(
    t: dict[str, Any], config: SessionConfig, binary: bool, past: SessionConfig | None = None
) -> list[dict[str, Any]]:
    """The fixes worth trying for one finding, in order, each adapted to this run's config.

    `past`: the config in force where a rewinding fix goes back to (settings changed since).
    """
    kind, custom = t["kind"], not isinstance(config.dataset, NamedDataset)
    scale_all: dict[str, Any] = {"dataset": {"standardize": True, "scale_targets": True}}
    relu: dict[str, Any] = {"activation": "relu", "init": "he"}
    out: list[dict[str, Any]] = []
    if kind == "step_too_large":
        lr = float(t.get("learning_rate") or config.optimizer.learning_rate)
        rewind = int(t["jump_step"]) - 1
        for rate in rates(lr, t.get("relative_step")):
            out.append({"rewind_to": rewind, "optimizer": {"learning_rate": rate}})
        if t.get("cause") in ("target_units", "input_units") and custom:
            out.insert(0, scale_all)  # the step was large because of raw units, not alpha
    elif kind == "exploding_gradients":
        lr = float(t["learning_rate"])
        out = [{"optimizer": {"learning_rate": r}} for r in rates(lr, t.get("relative_step"))]
        if t.get("cause") in ("target_units", "input_units") and custom:
            out.insert(0, scale_all)  # the real cause: raw units, not alpha
    elif kind == "targets_out_of_range":
        # Built-in data sets have no target scaling: a linear output reaches any target.
        out = [scale_all] if custom else [{"output_activation": "linear", "loss": "mse"}]
    elif kind == "output_saturated":
        out = [{"init": "xavier", "loss": "bce"}] if t["activation"] == "sigmoid" and binary else []
        out.append({"init": "xavier"})
        if custom:
            out.append(scale_all)
    elif kind == "hidden_saturated":
        out = [scale_all if custom else {"init": "xavier", "dataset": {"standardize": True}}, relu]
    elif kind == "vanishing_gradients":
        first_fix = dict(t["fix"]) if t.get("fix") else {}
        out = [first_fix, relu, {"activation": "tanh"}]
        if custom:
            out.insert(0, scale_all)
    adapted = [
        a
        for a in (adapt(f, past if "rewind_to" in f and past else config) for f in out)
        if a is not None
    ]
    unique: dict[str, dict[str, Any]] = {}
    for f in adapted:
        unique.setdefault(key(f), f)
    return list(unique.values())


def rates(lr: float, relative: float | None) -> list[float]:
    """Smaller rates to try, one digit each: steps of about 1/3, 1/10 and 1/30 of the weights'
    size when the step's relative size is known, else alpha / 3, / 10, / 30."""
    base = lr / relative if relative else lr
    return [float(f"{base / k:.1g}") for k in (3, 10, 30)]


def adapt(fix: dict[str, Any], config: SessionConfig) -> dict[str, Any] | None:
    """The fix less what is already in force; None when nothing is left to change."""
    out: dict[str, Any] = {}
    for k in ("init", "loss", "activation", "output_activation"):
        if k in fix and fix[k] != getattr(config, k):
            out[k] = fix[k]
    d = config.dataset
    if "dataset" in fix:
        wanted = {}
        for k, v in fix["dataset"].items():
            settable = isinstance(d, RowsDataset | CsvDataset) or k == "standardize"
            if settable and getattr(d, k, None) != v:
                wanted[k] = v
        if wanted:
            out["dataset"] = wanted
    if "optimizer" in fix:
        opt = {k: v for k, v in fix["optimizer"].items() if getattr(config.optimizer, k, None) != v}
        if opt:
            out["optimizer"] = opt
    if not out:
        return None
    if "rewind_to" in fix:
        out["rewind_to"] = fix["rewind_to"]
    return out


def key(fix: dict[str, Any]) -> str:
    """A fix as a canonical string (the same fix suggested twice is tried once)."""
    return json.dumps(fix, sort_keys=True)


def needs_restart(fix: dict[str, Any]) -> bool:
    """The fix changes the network or its data: a new run from step 0."""
    return any(k in fix for k in CONFIG_KEYS)


def fixed_config(config: SessionConfig, fix: dict[str, Any]) -> SessionConfig:
    """The run's config with a restarting fix applied (data-set flags merged)."""
    update: dict[str, Any] = {k: fix[k] for k in CONFIG_KEYS if k in fix and k != "dataset"}
    if "dataset" in fix:
        update["dataset"] = config.dataset.model_copy(update=fix["dataset"])
    if "optimizer" in fix:
        update["optimizer"] = config.optimizer.model_copy(update=fix["optimizer"])
    return SessionConfig.model_validate({**config.model_dump(), **update_dump(update)})


def update_dump(update: dict[str, Any]) -> dict[str, Any]:
    """Models in an update as plain data, so the whole config is validated again."""
    return {k: v.model_dump() if hasattr(v, "model_dump") else v for k, v in update.items()}


def trial(session: TrainingSession, fix: dict[str, Any], steps: int) -> dict[str, Any]:
    """Try one fix on a copy; the evidence: {from_step, steps, E_before, E_after, ...}."""
    from .session import TrainingSession  # a new run of the fixed config (same module family)

    if needs_restart(fix):
        run = TrainingSession(fixed_config(session.config, fix), session.max_samples)
        start = 0
    else:
        run = session.clone()
        start = int(fix.get("rewind_to", session.step_count))
        if start != run.step_count:
            run.seek(start)
        patch = SessionPatch.model_validate({k: fix[k] for k in PATCH_KEYS if k in fix})
        run.patch(patch)
    E_before = run.loss
    run.advance(steps)
    E_after = run.loss
    same_units = not any(k in fix for k in ("loss", "output_activation", "dataset")) or (
        "dataset" in fix and set(fix["dataset"]) == {"standardize"}
    )
    # Why a fix is not offered, if it is not: the words on the page come from this.
    reason = None
    if run.diverged or not (math.isfinite(E_after) and math.isfinite(E_before)):
        reason = "diverged"
    elif E_after > (1 - MARGIN) * E_before:
        reason = "fell_too_little"
    elif same_units and start != session.step_count and E_after > (1 - MARGIN) * session.loss:
        # Starting over must also beat where the run is now, not only where it started.
        reason = "worse_than_now"
    ok = reason is None
    return {
        "from_step": start,
        "restart": needs_restart(fix),
        "steps": run.step_count - start,
        "E_before": _clean(E_before),
        "E_after": _clean(E_after),
        "E_now": _clean(session.loss),
        "same_units": same_units,
        "margin": MARGIN,
        "worked": ok,
        "reason": reason,
    }


def _clean(x: float) -> float | None:
    """JSON carries no NaN or Infinity."""
    return x if math.isfinite(x) else None


def prove(session: TrainingSession, steps: int = TRIAL_STEPS) -> list[dict[str, Any]]:
    """The run's findings, each with the first candidate fix that worked on a copy (or none).

    Every finding gets `fix` (offered: tried and E fell by MARGIN, else None), `tried` (its
    evidence) and `rejected` (the candidates tried that did not make E fall enough).
    """
    found = [dict(t) for t in session.trouble() or []]
    results: dict[str, dict[str, Any]] = {}
    for t in found:
        options = _candidates(session, t)
        t.pop("fix", None)
        t["fix"], t["tried"], t["rejected"] = None, None, []
        for fix in options:
            k = key(fix)
            if k not in results:
                if len(results) >= MAX_TRIALS:
                    break
                try:
                    results[k] = trial(session, fix, steps)
                except InvalidError:
                    continue  # e.g. a rewind before the run's first kept step
            evidence = results[k]
            if evidence["worked"]:
                t["fix"], t["tried"] = fix, evidence
                break
            t["rejected"].append({"fix": fix, "tried": evidence})
    return found


def trial_count(session: TrainingSession) -> int:
    """Candidate fixes the run's findings would try now (the cost of prove(), in trials)."""
    keys = {key(f) for t in session.trouble() or [] for f in _candidates(session, t)}
    return min(len(keys), MAX_TRIALS)


def _candidates(session: TrainingSession, t: dict[str, Any]) -> list[dict[str, Any]]:
    """candidates() for a finding of this run, a rewind judged against the config back then."""
    binary = bool(np.isin(session.dataset.Y, (0.0, 1.0)).all())
    past = session.config_at(int(t["jump_step"]) - 1) if "jump_step" in t else None
    return candidates(t, session.config, binary, past)
