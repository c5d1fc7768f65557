"""The batch sampler: which samples each step trains on, from the run's own generator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Array = np.ndarray


class BatchSampler:
    """Mini-batches in a shuffled order per epoch, drawn in turn; its state can be restored."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.n = n  # training samples
        self.order = np.arange(0)  # the epoch's shuffled order; replaced, never written in place
        self.pos = 0  # where the next batch starts in `order`
        self.idx: Array | None = None  # the batch the next step trains on; None: all samples

    def draw(self, batch_size: int | None) -> Array | None:
        """Draw the next step's batch (None for full batch) and keep it as `idx`."""
        self.idx = self._next(batch_size)
        return self.idx

    def _next(self, batch_size: int | None) -> Array | None:
        """Indices of the next batch, a view of the order; None for full batch."""
        bs = batch_size
        if bs is None or bs >= self.n:
            return None
        if self.pos + bs > self.order.size:
            # A new epoch: reshuffle with the run's own generator.
            self.order = self.rng.permutation(self.n)
            self.pos = 0
        idx = self.order[self.pos : self.pos + bs]
        self.pos += bs
        return idx

    def restart(self) -> None:
        """The batch size changed: the next draw starts a new epoch."""
        self.order, self.pos = np.arange(0), 0

    def indices(self) -> list[int]:
        """Sample indices the next step trains on (drawn already: looking does not advance)."""
        if self.idx is None:
            return list(range(self.n))
        return [int(i) for i in self.idx]

    def rng_state(self) -> Mapping[str, Any]:
        """The generator's state, for a checkpoint."""
        return self.rng.bit_generator.state

    def restore(
        self, rng_state: Mapping[str, Any], order: Array, pos: int, idx: Array | None
    ) -> None:
        """Back to a checkpoint's generator state, epoch order, position and drawn batch."""
        self.rng.bit_generator.state = rng_state
        self.order, self.pos, self.idx = order, pos, idx

    def state(self) -> dict[str, Any]:
        """What a snapshot keeps: the generator's state, the epoch order, position, batch."""
        return {
            "pos": self.pos,
            # PCG64's state holds 128-bit integers: plain JSON numbers, as Python writes them.
            "batch_rng": self.rng.bit_generator.state,
            "has_idx": self.idx is not None,
            "order": self.order.copy(),
            "idx": np.zeros(0) if self.idx is None else self.idx.copy(),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Back to the state() of a snapshot."""
        self.rng.bit_generator.state = state["batch_rng"]
        self.order = np.array(state["order"], dtype=np.int64)
        self.pos = int(state["pos"])
        self.idx = np.array(state["idx"], dtype=np.int64) if state["has_idx"] else None
