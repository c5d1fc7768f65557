"""Named starting points; `article` is the article's worked example."""

from __future__ import annotations

from typing import Any

from app.domain.errors import InvalidError

from .protocol import SessionConfig, SessionConfigIn

PRESETS: dict[str, dict[str, Any]] = {
    "article": {
        "title": "The article: [4, 5, 1] on house prices",
        "description": (
            "Sigmoid units, E = 1/2 sum (Y - O)^2, weights U(0, 1), full-batch SGD. One bias "
            "per neuron; the article's matrix section uses one shared bias per layer instead."
        ),
        "config": {
            "layers": [4, 5, 1],
            "activation": "sigmoid",
            "output_activation": "sigmoid",
            "loss": "half_sse",
            "optimizer": {"name": "sgd", "learning_rate": 1.0},
            "batch_size": None,
            "l2": 0.0,
            "init": "uniform01",
            "bias": "per_neuron",
            "seed": 0,
            "dataset": {"name": "houses"},
        },
    },
    "xor": {
        "title": "XOR: a problem no straight line solves",
        "description": "Two inputs, one tanh hidden layer of 4, sigmoid output, cross-entropy.",
        "config": {
            "layers": [2, 4, 1],
            "activation": "tanh",
            "output_activation": "sigmoid",
            "loss": "bce",
            "optimizer": {"name": "sgd", "learning_rate": 1.0},
            "batch_size": None,
            "init": "xavier",
            "seed": 0,
            "dataset": {"name": "xor", "samples": 200, "noise": 0.0, "test_fraction": 0.2},
        },
    },
    "spiral": {
        "title": "Spiral: depth and Adam earn their keep",
        "description": "Two tanh layers of 8 on two interleaved spirals, Adam, mini-batches.",
        "config": {
            "layers": [2, 8, 8, 1],
            "activation": "tanh",
            "output_activation": "sigmoid",
            "loss": "bce",
            "optimizer": {"name": "adam", "learning_rate": 0.03},
            "batch_size": 32,
            "init": "xavier",
            "seed": 0,
            "dataset": {"name": "spiral", "samples": 200, "noise": 0.05, "test_fraction": 0.2},
        },
    },
    "deep_sigmoid": {
        "title": "Deep sigmoid: watch the gradients vanish",
        "description": "Six sigmoid layers: the edges near the input barely get any gradient.",
        "config": {
            "layers": [2, 6, 6, 6, 6, 6, 1],
            "activation": "sigmoid",
            "output_activation": "sigmoid",
            "loss": "mse",
            "optimizer": {"name": "sgd", "learning_rate": 1.0},
            "batch_size": None,
            "init": "xavier",
            "seed": 0,
            "dataset": {"name": "circle", "samples": 200, "noise": 0.05, "test_fraction": 0.2},
        },
    },
}
DEFAULT_PRESET = "article"

# Settings that train each built-in data set, applied when the page switches data set (and
# shown there as what changed): the article's settings saturate a sigmoid net on the 2D sets
# (E summed over 200 samples with alpha = 1 throws every output to 0 or 1 in one step).
_SGD = {"name": "sgd", "learning_rate": 1.0}
DATASET_SETTINGS: dict[str, dict[str, Any]] = {
    "houses": {
        "layers": [4, 5, 1], "activation": "sigmoid", "output_activation": "sigmoid",
        "loss": "half_sse", "optimizer": _SGD, "batch_size": None, "init": "uniform01",
    },
    "xor": {
        "layers": [2, 4, 1], "activation": "tanh", "output_activation": "sigmoid",
        "loss": "bce", "optimizer": _SGD, "batch_size": None, "init": "xavier",
    },
    "circle": {
        "layers": [2, 4, 1], "activation": "tanh", "output_activation": "sigmoid",
        "loss": "bce", "optimizer": _SGD, "batch_size": None, "init": "xavier",
    },
    "gauss": {
        "layers": [2, 2, 1], "activation": "tanh", "output_activation": "sigmoid",
        "loss": "bce", "optimizer": {"name": "sgd", "learning_rate": 0.5}, "batch_size": None,
        "init": "xavier",
    },
    "spiral": {
        "layers": [2, 12, 12, 1], "activation": "relu", "output_activation": "sigmoid",
        "loss": "bce", "optimizer": {"name": "adam", "learning_rate": 0.02}, "batch_size": None,
        "init": "he",
    },
    "plane": {
        "layers": [2, 3, 1], "activation": "tanh", "output_activation": "linear",
        "loss": "mse", "optimizer": {"name": "sgd", "learning_rate": 0.1}, "batch_size": None,
        "init": "xavier",
    },
    "multi_gauss": {
        "layers": [2, 8, 8, 1], "activation": "tanh", "output_activation": "sigmoid",
        "loss": "mse", "optimizer": {"name": "adam", "learning_rate": 0.03}, "batch_size": None,
        "init": "xavier",
    },
    "blobs3": {
        "layers": [2, 4, 3], "activation": "tanh", "output_activation": "softmax",
        "loss": "ce", "optimizer": {"name": "sgd", "learning_rate": 0.5}, "batch_size": None,
        "init": "xavier",
    },
    "spiral3": {
        "layers": [2, 16, 16, 3], "activation": "relu", "output_activation": "softmax",
        "loss": "ce", "optimizer": {"name": "adam", "learning_rate": 0.02}, "batch_size": 32,
        "init": "he",
    },
}  # fmt: skip


def dataset_list(info: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`GET /api/datasets`: each built-in data set with the settings that train it."""
    return [{**d, "settings": DATASET_SETTINGS.get(str(d["name"]))} for d in info]


def preset_list() -> list[dict[str, Any]]:
    """`GET /api/presets`: name, title, description and the full config."""
    return [{"name": name, **p} for name, p in PRESETS.items()]


def resolve(cfg: SessionConfigIn) -> SessionConfig:
    """Preset (the article when none is named) plus the client's overrides."""
    name = cfg.preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise InvalidError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    merged: dict[str, Any] = dict(PRESETS[name]["config"])
    overrides = cfg.model_dump(exclude_unset=True, exclude={"preset", "dataset", "optimizer"})
    # null means "keep the preset's", except batch_size where null is full batch.
    merged.update({k: v for k, v in overrides.items() if v is not None or k == "batch_size"})
    if cfg.optimizer is not None:
        # Overrides merge into the preset's optimizer, so {"learning_rate": 0.1} keeps its name.
        merged["optimizer"] = {
            **merged["optimizer"],
            **cfg.optimizer.model_dump(exclude_unset=True),
        }
    if cfg.dataset is not None:
        merged["dataset"] = cfg.dataset
    return SessionConfig(preset=name, **merged)
