"""Answer models of the REST API: they document `/docs`; frames are sent as built, via orjson."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.protocol import Frame, SessionConfig

_FRAME_EXAMPLE: dict[str, Any] = {
    "type": "frame",
    "step": 2,
    "loss": 0.0312,
    "test_loss": None,
    "losses": [0.0315, 0.0312],
    "first_step": 1,
    "test_losses": None,
    "learning_rate": 0.5,
    "weights": [[[0.1, -0.2]], [[0.3], [0.4]]],
    "biases": [[0.0, 0.0], [0.0]],
    "gradients": {"weights": [[[0.01, 0.02]], [[-0.03], [0.04]]], "biases": [[0.0, 0.0], [0.1]]},
    "diverged": False,
    "playing": False,
}


class FrameOut(Frame):
    """A frame as the server sends it: the fields of docs/api.md plus the curve's bookkeeping."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_FRAME_EXAMPLE]})

    first_step: int | None = Field(None, description="step of losses[0]")
    test_losses: list[float | None] | None = Field(None, description="parallel to losses")
    learning_rate: float | None = None
    trouble: list[dict[str, Any]] | None = Field(
        None,
        description="why the run may not be learning (kind: output_saturated, hidden_saturated, "
        "vanishing_gradients, exploding_gradients, targets_out_of_range), each with its numbers "
        "and a suggested config change `fix`; null when none",
    )
    settings_log: dict[str, Any] | None = Field(
        None,
        description="version 3: the settings the run started from (`start`) and each change "
        "up to this step (`changes`: `{step, set}`, `set` a PATCH body; null past 100), which a "
        "link replays, and the settings in force (`now`); null when the run still has the "
        "settings it was created with",
    )


class SessionCreated(BaseModel):
    """POST /api/sessions."""

    id: str = Field(description="unguessable session id")
    config: SessionConfig
    frame: FrameOut


class Health(BaseModel):
    """GET /healthz."""

    status: Literal["ok"] = "ok"
    peer: str | None = Field(None, description="the cluster peer that answered; null: one process")


class HealthFailing(BaseModel):
    """GET /healthz when the pages cannot be served (503)."""

    status: Literal["failing"] = "failing"
    peer: str | None = Field(None, description="the cluster peer that answered; null: one process")
    problems: list[str] = Field(description="what is missing or unreadable")


class ErrorOut(BaseModel):
    """Every 4xx answer."""

    detail: Any = Field(examples=["no session with this id"])


class PresetOut(BaseModel):
    """A named starting point."""

    model_config = ConfigDict(extra="allow")

    name: str
    title: str
    description: str | None = None
    config: dict[str, Any]


class DatasetOut(BaseModel):
    """A built-in data set and its parameters."""

    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    inputs: int
    outputs: int
    parameters: Any
    settings: dict[str, Any] | None = Field(
        None, description="config fields that train this data set; the page applies them"
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown session id"},
    422: {"model": ErrorOut, "description": "invalid input, or a value over a server limit"},
}
