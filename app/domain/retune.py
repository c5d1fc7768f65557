"""A settings change (PATCH or `set`) applied to a run's config and its optimizer."""

from __future__ import annotations

from typing import Any

from app.engine.optimizers import Optimizer, make_optimizer

from .errors import InvalidError
from .protocol import OptimizerConfig, SessionConfig, SessionPatch

RATES = ("learning_rate", "momentum", "beta1", "beta2", "eps")  # what a retune may change


def optimizer_for(cfg: OptimizerConfig) -> Optimizer:
    """The engine optimizer a config names."""
    return make_optimizer(
        cfg.name, cfg.learning_rate, momentum=cfg.momentum, beta1=cfg.beta1, beta2=cfg.beta2,
        eps=cfg.eps,
    )  # fmt: skip


def check_patch(p: SessionPatch, n_train: int) -> None:
    """InvalidError unless the change fits this run (a batch no larger than the training set)."""
    if not p.full_batch and p.batch_size is not None and p.batch_size > n_train:
        raise InvalidError(
            f"batch_size {p.batch_size} is larger than the {n_train} training samples"
        )


def changes_batch(p: SessionPatch) -> bool:
    """The change sets the batch size (even to the same one: the epoch starts over)."""
    return p.full_batch or p.batch_size is not None


def patched(config: SessionConfig, p: SessionPatch, n_train: int) -> SessionConfig:
    """The config after the change (InvalidError if it does not fit the run)."""
    check_patch(p, n_train)
    update: dict[str, Any] = {}
    if p.optimizer is not None:
        # The fields sent merge into the running optimizer, as preset overrides do:
        # {"learning_rate": 0.1} changes the rate, not the optimizer or its state.
        update["optimizer"] = OptimizerConfig.model_validate(
            {**config.optimizer.model_dump(), **p.optimizer.model_dump(exclude_unset=True)}
        )
    if p.full_batch:
        update["batch_size"] = None
    elif p.batch_size is not None:
        update["batch_size"] = p.batch_size
    if p.l2 is not None:
        update["l2"] = p.l2
    if p.l1 is not None:
        update["l1"] = p.l1
    if p.stop is not None:
        # The rules sent replace the old ones; {} clears them.
        has_rule = p.stop.model_dump(exclude_none=True)
        update["stop"] = p.stop if has_rule else None
    return config.model_copy(update=update)


def retune(old: Optimizer, cfg: OptimizerConfig) -> Optimizer:
    """The optimizer a config names; of the same kind, the old one keeps its state."""
    new = optimizer_for(cfg)
    if type(old) is not type(new):
        return new
    # Same kind: keep its buffers (momentum, Adam moments) and change the rates.
    for key in RATES:
        if hasattr(old, key):
            setattr(old, key, getattr(new, key))
    return old
