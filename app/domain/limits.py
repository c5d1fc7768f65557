"""The server's configurable bounds, checked on top of the protocol's hard sanity bounds."""

from __future__ import annotations

import csv
import io
from itertools import pairwise
from typing import TYPE_CHECKING

from app.domain.errors import InvalidError
from app.domain.protocol import (
    CsvDataset,
    DatasetConfig,
    NamedDataset,
    PlayMsg,
    RowsDataset,
    SessionConfig,
    SessionPatch,
)
from app.settings import Settings

if TYPE_CHECKING:
    from app.domain.session import TrainingSession


def dataset_rows(dataset: DatasetConfig) -> int | None:
    """Samples a data set asks for (test split included); None when a built-in picks its size."""
    if isinstance(dataset, NamedDataset):
        return dataset.samples
    if isinstance(dataset, RowsDataset):
        return len(dataset.x)
    if isinstance(dataset, CsvDataset):
        return _csv_rows(dataset.csv)
    raise TypeError(f"unknown data set type {type(dataset).__name__}")


def _csv_rows(text: str) -> int:
    """Data rows of CSV text: non-blank records after the header (quoted newlines allowed)."""
    try:
        rows = sum(1 for record in csv.reader(io.StringIO(text)) if any(c.strip() for c in record))
    except csv.Error as exc:  # e.g. a field over the csv module's size limit: bad input, not a bug
        raise InvalidError(f"dataset.csv: cannot be read as CSV ({exc})") from exc
    return max(rows - 1, 0)


def check_config_limits(config: SessionConfig, settings: Settings) -> None:
    """Raise InvalidError naming the first field over a server limit."""
    layers = config.layers
    if len(layers) > settings.max_layers:
        raise InvalidError(
            f"layers: {len(layers)} layers (input and output included) is over the limit "
            f"of {settings.max_layers}"
        )
    for index, width in enumerate(layers):
        if width > settings.max_neurons:
            raise InvalidError(
                f"layers[{index}]: {width} neurons is over the limit of "
                f"{settings.max_neurons} per layer"
            )
    rows = dataset_rows(config.dataset)
    if rows is not None and rows > settings.max_samples:
        raise InvalidError(f"dataset: {rows} samples is over the limit of {settings.max_samples}")
    check_batch_size(config.batch_size, settings)


def check_batch_size(batch_size: int | None, settings: Settings) -> None:
    """A batch can never be larger than the largest data set the server allows."""
    if batch_size is not None and batch_size > settings.max_samples:
        raise InvalidError(
            f"batch_size: {batch_size} is over the limit of {settings.max_samples} samples"
        )


def check_patch_limits(patch: SessionPatch, settings: Settings) -> None:
    """Raise InvalidError naming the field of a PATCH / `set` over a server limit."""
    check_batch_size(patch.batch_size, settings)


def step_work(session: TrainingSession) -> int:
    """Multiply-adds of one step, roughly: every sample (test split included) times every weight.

    Steps cost this much, not a fixed amount: 10,000 steps of the article's network take a
    blink, 10,000 of eight layers of 64 on 1,000 samples take many minutes of CPU.
    """
    d = session.dataset
    samples = int(d.X.shape[1]) + int(d.X_test.shape[1])
    layers = session.config.layers
    return samples * sum(a * b for a, b in pairwise(layers))


def _check_work(field: str, steps: int, work_per_step: int, settings: Settings) -> None:
    """Steps of one request (or one play frame) within the server's work budget."""
    if work_per_step <= 0 or steps * work_per_step <= settings.max_work_per_request:
        return
    most = max(1, settings.max_work_per_request // work_per_step)
    raise InvalidError(
        f"{field}: {steps} steps of this network are too much work for one request; "
        f"at most {most} at once for this network and data set"
    )


def check_step_count(count: int, settings: Settings, work_per_step: int = 0) -> None:
    """Steps asked for by one request or message (and their work, when given)."""
    if count > settings.max_steps_per_request:
        raise InvalidError(
            f"count: {count} steps is over the limit of {settings.max_steps_per_request} "
            "per request"
        )
    _check_work("count", count, work_per_step, settings)


def check_play(msg: PlayMsg, settings: Settings, work_per_step: int = 0) -> None:
    """Play's speed: steps between frames (and their work, when given) and frames per second."""
    if msg.steps_per_frame > settings.max_steps_per_frame:
        raise InvalidError(
            f"steps_per_frame: {msg.steps_per_frame} is over the limit of "
            f"{settings.max_steps_per_frame}"
        )
    _check_work("steps_per_frame", msg.steps_per_frame, work_per_step, settings)
    if msg.fps > settings.max_fps:
        raise InvalidError(f"fps: {msg.fps:g} is over the limit of {settings.max_fps:g}")
    if msg.fps < settings.min_fps:
        # Else a frame would be due in ages while the run reports it plays.
        raise InvalidError(
            f"fps: {msg.fps:g} is under the minimum of {settings.min_fps:g} frames per second; "
            "pause instead, or step"
        )


def gradcheck_work(session: TrainingSession) -> tuple[int, int, int]:
    """Multiply-adds of a numerical check (two forward passes per parameter), parameters, batch."""
    layers = session.config.layers
    weights = sum(a * b for a, b in pairwise(layers))
    params = weights + sum(layers[1:])
    batch = session.config.batch_size or int(session.dataset.X.shape[1])
    return 2 * params * batch * weights, params, batch


def check_gradcheck(session: TrainingSession, settings: Settings) -> None:
    """The numerical check does two forward passes per parameter: refuse it for big networks."""
    work, params, batch = gradcheck_work(session)
    if work > settings.max_work_per_request:
        raise InvalidError(
            f"gradcheck: {params} parameters on {batch} samples are too many for a numerical "
            "check on this server; try it on a smaller network or a smaller batch"
        )
