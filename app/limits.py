"""The server's configurable bounds, checked on top of the protocol's hard sanity bounds."""

from __future__ import annotations

import csv
import io

from app.protocol import (
    CsvDataset,
    DatasetConfig,
    NamedDataset,
    PlayMsg,
    RowsDataset,
    SessionConfig,
    SessionPatch,
)
from app.settings import Settings


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
    rows = sum(1 for record in csv.reader(io.StringIO(text)) if any(c.strip() for c in record))
    return max(rows - 1, 0)


def check_config_limits(config: SessionConfig, settings: Settings) -> None:
    """Raise ValueError naming the first field over a server limit."""
    layers = config.layers
    if len(layers) > settings.max_layers:
        raise ValueError(
            f"layers: {len(layers)} layers (input and output included) is over the limit "
            f"of {settings.max_layers}"
        )
    for index, width in enumerate(layers):
        if width > settings.max_neurons:
            raise ValueError(
                f"layers[{index}]: {width} neurons is over the limit of "
                f"{settings.max_neurons} per layer"
            )
    rows = dataset_rows(config.dataset)
    if rows is not None and rows > settings.max_samples:
        raise ValueError(f"dataset: {rows} samples is over the limit of {settings.max_samples}")
    check_batch_size(config.batch_size, settings)


def check_batch_size(batch_size: int | None, settings: Settings) -> None:
    """A batch can never be larger than the largest data set the server allows."""
    if batch_size is not None and batch_size > settings.max_samples:
        raise ValueError(
            f"batch_size: {batch_size} is over the limit of {settings.max_samples} samples"
        )


def check_patch_limits(patch: SessionPatch, settings: Settings) -> None:
    """Raise ValueError naming the field of a PATCH / `set` over a server limit."""
    check_batch_size(patch.batch_size, settings)


def check_step_count(count: int, settings: Settings) -> None:
    """Steps asked for by one request or message."""
    if count > settings.max_steps_per_request:
        raise ValueError(
            f"count: {count} steps is over the limit of {settings.max_steps_per_request} "
            "per request"
        )


def check_play(msg: PlayMsg, settings: Settings) -> None:
    """Play's speed: steps between frames and frames per second."""
    if msg.steps_per_frame > settings.max_steps_per_frame:
        raise ValueError(
            f"steps_per_frame: {msg.steps_per_frame} is over the limit of "
            f"{settings.max_steps_per_frame}"
        )
    if msg.fps > settings.max_fps:
        raise ValueError(f"fps: {msg.fps:g} is over the limit of {settings.max_fps:g}")
