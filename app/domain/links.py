"""A run's settings log as a link carries it: the settings step 0 started from, and each change.

A page's link holds the session's config, the step and this log; opening it creates the session
from the config and replays the log (PATCH each change at its step) on the way to the step, which
gives the same run, bit for bit, because the session applies the same changes at the same steps.
No web imports here.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from . import retune
from .protocol import PointsChange, SessionConfig, SessionPatch, WeightEdit

MAX_LINK_CHANGES = 100  # changes a frame lists (and a link carries); more: `changes` is null
# A logged change was checked against the training set it met; read back, it is not again
# (drawn points may have changed the training set's size since).
ANY_SIZE = 2**62


def settings_of(config: SessionConfig) -> dict[str, Any]:
    """The settings a change may touch (optimizer, batch size, L2, L1, stop rules), as a config
    has them."""
    return {
        "optimizer": config.optimizer.model_dump(mode="json"),
        "batch_size": config.batch_size,
        "l2": config.l2,
        "l1": config.l1,
        "stop": None if config.stop is None else config.stop.model_dump(mode="json"),
    }


def with_settings(config: SessionConfig, settings: dict[str, Any]) -> SessionConfig:
    """`config` with the settings settings_of() gave (a snapshot's), validated."""
    return SessionConfig.model_validate({**config.model_dump(), **settings})


def compact(
    start: SessionConfig,
    log: Sequence[tuple[int, SessionPatch | WeightEdit | PointsChange]],
) -> list[dict[str, Any]]:
    """Each change as `{"step", "set"}`, `set` a PATCH body holding what it really changed;
    an edit as `{"step", "edit"}` and drawn points as `{"step", "points"}`, each the body of
    its POST (`.../edit`, `.../points`).

    Optimizer fields equal to the ones in force are left out (the change merges into them, so
    sending them again changes nothing); the change itself stays even when nothing is left,
    because applying one draws the next mini-batch, and the batch and L2 fields stay as sent
    (a batch size, even the same, starts a new epoch).
    """
    config, out = start, []
    for step, p in log:
        if isinstance(p, WeightEdit):
            out.append({"step": step, "edit": p.model_dump(mode="json", exclude_none=True)})
            continue
        if isinstance(p, PointsChange):
            out.append({"step": step, "points": p.model_dump(mode="json", exclude_none=True)})
            continue
        body: dict[str, Any] = {}
        if p.optimizer is not None:
            now = config.optimizer.model_dump()
            sent = p.optimizer.model_dump(exclude_unset=True)
            changed = {k: v for k, v in sent.items() if now.get(k) != v}
            if changed:
                body["optimizer"] = changed
        if p.full_batch:
            body["full_batch"] = True
        elif p.batch_size is not None:
            body["batch_size"] = p.batch_size
        if p.l2 is not None:
            body["l2"] = p.l2
        if p.l1 is not None:
            body["l1"] = p.l1
        if p.stop is not None:  # when play stops: the weights' path is the same without it
            body["stop"] = p.stop.model_dump(mode="json", exclude_none=True)
        out.append({"step": step, "set": body})
        config = retune.patched(config, p, ANY_SIZE)
    return out


def settings_log(
    reset_changed: bool, start: dict[str, Any], changes: list[dict[str, Any]], step: int
) -> dict[str, Any] | None:
    """The frame's `settings_log` at `step`: None when the run is its created config, unchanged.

    `start` is settings_of() the config step 0 started from; `reset_changed`: those are not
    the created config's (a reset kept changed ones). `changes` are compact() ones, in step
    order; those after `step` (a seek back) are left out.
    """
    if not changes and not reset_changed:
        return None  # most frames: no list to build
    upto = bisect.bisect_right([c["step"] for c in changes], step)
    if not upto and not reset_changed:
        return None
    return {
        "start": start,
        "count": upto,
        "changes": changes[:upto] if upto <= MAX_LINK_CHANGES else None,
    }
