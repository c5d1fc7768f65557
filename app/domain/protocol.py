"""Pydantic models for every message: configs, frames, WebSocket messages, errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

ActivationName = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
OutputActivationName = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax"]
LossName = Literal["half_sse", "mse", "bce", "ce"]
InitName = Literal["xavier", "he", "uniform01"]
BiasMode = Literal["per_neuron", "shared"]
OptimizerName = Literal["sgd", "momentum", "adam"]
FeatureName = Literal["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]
DEFAULT_FEATURES: tuple[FeatureName, ...] = ("x1", "x2")
DatasetName = Literal[
    "houses", "xor", "circle", "gauss", "spiral", "plane", "multi_gauss", "blobs3", "spiral3"
]

# Hard sanity bounds; the configurable server limits (settings) are checked on top of these.
MAX_LR = 1e7
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _encodable(text: str) -> str:
    """Lone surrogates (JSON's `\\ud800`) are not text: they could never be sent back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogate escapes)") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]
Name = Annotated[Text, Field(max_length=64)]


class Strict(BaseModel):
    """Base model: unknown fields are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")


class OptimizerConfig(Strict):
    """Optimizer name and hyper-parameters (docs/api.md)."""

    name: OptimizerName = "sgd"
    learning_rate: FiniteFloat = Field(0.5, gt=0, le=MAX_LR)
    momentum: FiniteFloat = Field(0.9, ge=0, lt=1)
    beta1: FiniteFloat = Field(0.9, ge=0, lt=1)
    beta2: FiniteFloat = Field(0.999, ge=0, lt=1)
    eps: FiniteFloat = Field(1e-8, gt=0, le=1)


class StopRules(Strict):
    """When playing (and stepping) stops by itself; any of them, checked after every step."""

    loss_below: FiniteFloat | None = Field(None, gt=0, description="E falls below this")
    at_step: int | None = Field(None, ge=1, description="the run reaches this step")
    test_rising: int | None = Field(
        None, ge=1, le=10_000, description="the test loss has risen this many steps in a row"
    )


class NamedDataset(Strict):
    """A built-in, seeded data set."""

    name: DatasetName
    samples: int | None = Field(None, ge=1, le=100_000)
    noise: FiniteFloat = Field(0.0, ge=0, le=10)
    test_fraction: FiniteFloat = Field(0.0, ge=0, lt=1)
    standardize: bool = False


class RowsDataset(Strict):
    """Custom data as rows: each row of `x` is one sample; `y` may be flat for one output."""

    x: list[list[FiniteFloat]] = Field(min_length=1)
    y: list[list[FiniteFloat]] | list[FiniteFloat] = Field(min_length=1)
    feature_names: list[Name] | None = None
    target_names: list[Name] | None = None
    test_fraction: FiniteFloat = Field(0.0, ge=0, lt=1)
    standardize: bool = False
    scale_targets: bool = Field(
        False, description="regression targets into the output activation's range (see CSV)"
    )
    classes: bool = Field(False, description="one target column of class numbers 0..K-1: one-hot")


class CsvDataset(Strict):
    """Custom data as CSV text with a header row; targets named, or the last column."""

    csv: Text = Field(min_length=1, max_length=1_000_000)
    # A column named twice would be one target counted as two outputs: refused.
    targets: list[Name] | None = None

    @field_validator("targets")
    @classmethod
    def _distinct_targets(cls, value: list[str] | None) -> list[str] | None:
        """Each target column once."""
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each target column may be named only once")
        return value

    test_fraction: FiniteFloat = Field(0.0, ge=0, lt=1)
    # Raw units (square feet, dollars) saturate a sigmoid net at once: scaled by default.
    standardize: bool = Field(True, description="inputs to zero mean, unit variance")
    scale_targets: bool = Field(
        True,
        description="regression targets into the output activation's range: sigmoid 0.1..0.9, "
        "tanh -0.8..0.8, ReLU 0..1, linear to zero mean and unit variance; the frame's data "
        "view maps predictions back (target_scale)",
    )
    classes: bool = Field(False, description="one target column of class numbers 0..K-1: one-hot")


def _dataset_kind(value: Any) -> str:
    """Which data set a config means, by its keys: errors then name that kind's fields only."""
    keys = value if isinstance(value, dict) else vars(value) if isinstance(value, BaseModel) else {}
    if "csv" in keys:
        return "CsvDataset"
    if "x" in keys or "y" in keys:
        return "RowsDataset"
    return "NamedDataset"


DatasetConfig = Annotated[
    Annotated[NamedDataset, Tag("NamedDataset")]
    | Annotated[RowsDataset, Tag("RowsDataset")]
    | Annotated[CsvDataset, Tag("CsvDataset")],
    Discriminator(_dataset_kind),
]


def _distinct_features(value: list[str] | None) -> list[str] | None:
    """Each feature input once."""
    if value is not None and len(set(value)) != len(value):
        raise ValueError("each feature may be named only once")
    return value


class SessionConfigIn(Strict):
    """A session config as a client sends it: a preset plus overrides, all optional."""

    preset: Text | None = Field(None, max_length=64)
    layers: list[Annotated[int, Field(ge=1, le=4096)]] | None = Field(None, min_length=2)
    activation: ActivationName | None = None
    output_activation: OutputActivationName | None = None
    loss: LossName | None = None
    optimizer: OptimizerConfig | None = None
    batch_size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    l2: FiniteFloat | None = Field(None, ge=0, le=100)
    l1: FiniteFloat | None = Field(None, ge=0, le=100)
    features: list[FeatureName] | None = Field(None, min_length=1, max_length=7)
    stop: StopRules | None = None
    init: InitName | None = None
    bias: BiasMode | None = None
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    dataset: DatasetConfig | None = None

    @field_validator("features")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        """Each feature input once."""
        return _distinct_features(value)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"preset": "article"},
                {
                    "preset": "xor",
                    "layers": [2, 8, 1],
                    "optimizer": {"name": "adam", "learning_rate": 0.03},
                },
            ]
        },
    )


class SessionConfig(Strict):
    """A fully resolved session config: every field set."""

    preset: str | None = None
    layers: list[int]
    activation: ActivationName = "sigmoid"
    output_activation: OutputActivationName = "sigmoid"
    loss: LossName = "half_sse"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int | None = None
    l2: float = 0.0
    l1: float = 0.0
    features: list[FeatureName] = Field(default_factory=lambda: list(DEFAULT_FEATURES))
    stop: StopRules | None = None
    init: InitName = "xavier"
    bias: BiasMode = "per_neuron"
    seed: int = 0
    dataset: DatasetConfig = Field(default_factory=lambda: NamedDataset(name="houses"))

    @field_validator("features")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        """Each feature input once."""
        return _distinct_features(value)


class SessionPatch(Strict):
    """PATCH /api/sessions/{id} and the `set` message: training state is kept."""

    optimizer: OptimizerConfig | None = None
    batch_size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    full_batch: bool = False
    l2: FiniteFloat | None = Field(None, ge=0, le=100)
    l1: FiniteFloat | None = Field(None, ge=0, le=100)
    stop: StopRules | None = None


MAX_EDIT_VALUE = 1e6  # |value| of a hand-set weight or bias: far past what saturates any unit
MAX_DRAWN = 500  # points a learner may draw on a run's data plane at once
MAX_DRAWN_COORD = 1e3  # |x1|, |x2| of a drawn point (the plane's built-in sets lie in [-1, 1])


class WeightEdit(Strict):
    """POST /api/sessions/{id}/edit and the `edit` message: set one weight or bias by hand.

    A weight is W[layer][i, j] (i the input neuron, j the output neuron); a bias is b[layer][j]
    and takes no `i` (j only; with a shared bias every j names the one bias).
    """

    kind: Literal["weight", "bias"]
    layer: int = Field(ge=0, le=64)
    i: int | None = Field(None, ge=0, le=4096)
    j: int = Field(ge=0, le=4096)
    value: FiniteFloat = Field(ge=-MAX_EDIT_VALUE, le=MAX_EDIT_VALUE)

    @model_validator(mode="after")
    def _bias_has_no_i(self) -> WeightEdit:
        """A bias is named by j alone; a weight needs i and j."""
        if self.kind == "bias" and self.i is not None:
            raise ValueError("a bias has no i: name it by layer and j only")
        if self.kind == "weight" and self.i is None:
            raise ValueError("a weight needs i (its input neuron) as well as j")
        return self


Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_DRAWN_COORD, le=MAX_DRAWN_COORD)]


class PointsChange(Strict):
    """POST /api/sessions/{id}/points and the `points` message: the learner's own points.

    `add` appends the rows of `x` ([x1, x2] on the data plane) with the classes `y` to the
    training set; `undo` removes the last drawn point, `clear` every drawn point.
    """

    op: Literal["add", "undo", "clear"]
    x: list[tuple[Coord, Coord]] | None = Field(None, min_length=1, max_length=MAX_DRAWN)
    y: list[Annotated[int, Field(ge=0, le=63)]] | None = Field(
        None, min_length=1, max_length=MAX_DRAWN
    )

    @model_validator(mode="after")
    def _rows_match(self) -> PointsChange:
        """`add` carries one class per point; `undo` and `clear` carry no points."""
        if self.op == "add":
            if self.x is None or self.y is None:
                raise ValueError("op 'add' needs x (rows [x1, x2]) and y (one class per row)")
            if len(self.x) != len(self.y):
                raise ValueError(f"x has {len(self.x)} rows but y has {len(self.y)} classes")
        elif self.x is not None or self.y is not None:
            raise ValueError(f"op {self.op!r} takes no x or y")
        return self


class StepRequest(Strict):
    """POST /api/sessions/{id}/step."""

    count: int = Field(1, ge=1)


class SeekRequest(Strict):
    """POST /api/sessions/{id}/seek: 0 <= step <= the frame's head (checked by the session)."""

    step: int


# Phases of one step on the page: forward per layer, error, backward per layer, update; with at
# most 8 layers that is under 20. -1 means "no phase shown".
MAX_PHASE = 63


# ---- WebSocket client messages: a discriminated union on `type` -------------------------


class StepMsg(Strict):
    """n steps, then a frame."""

    type: Literal["step"]
    count: int = Field(1, ge=1)


class PlayMsg(Strict):
    """Stream frames at `fps`, `steps_per_frame` steps between frames."""

    type: Literal["play"]
    steps_per_frame: int = Field(1, ge=1)
    fps: FiniteFloat = Field(30, gt=0, le=60)


class PauseMsg(Strict):
    """Stop streaming."""

    type: Literal["pause"]


class ResetMsg(Strict):
    """Back to step 0, then a frame."""

    type: Literal["reset"]


class SetMsg(SessionPatch):
    """As PATCH on the session."""

    type: Literal["set"]


class HelloMsg(Strict):
    """Rooms only: with the presenter token this connection may drive."""

    type: Literal["hello"]
    token: str = Field(max_length=256)


class SelectMsg(Strict):
    """Rooms: the presenter's selection (chain-rule edge, guide step) that participants follow."""

    type: Literal["select"]
    selection: dict[str, Any]


class SeekMsg(Strict):
    """Go to step n, 0 <= n <= head (rooms: presenter only; everyone follows)."""

    type: Literal["seek"]
    step: int


class PhaseMsg(Strict):
    """Rooms: the presenter's phase of the step on show (-1: none); participants follow."""

    type: Literal["phase"]
    index: int = Field(ge=-1, le=MAX_PHASE)


class QuestionSpec(Strict):
    """Rooms: what the presenter asks (docs/api.md); the target is the edge on screen."""

    kind: Literal["direction", "largest", "loss", "estimate"]
    layer: int | None = Field(None, ge=0, le=64)
    i: int | None = Field(None, ge=0, le=4096)
    j: int | None = Field(None, ge=0, le=4096)


class AskMsg(Strict):
    """Rooms: the presenter asks the room about the next step."""

    type: Literal["ask"]
    question: QuestionSpec


class AnswerMsg(Strict):
    """Rooms: a participant's answer (a choice, or a number for an estimate)."""

    type: Literal["answer"]
    id: int = Field(ge=1)
    choice: FiniteFloat | Annotated[Text, Field(max_length=64)]


class RevealMsg(Strict):
    """Rooms: the presenter runs the step the question is about and shows the answer."""

    type: Literal["reveal"]
    id: int = Field(ge=1)


QuizMsg = AskMsg | AnswerMsg | RevealMsg


class EditMsg(WeightEdit):
    """As POST /api/sessions/{id}/edit (rooms: presenter only)."""

    type: Literal["edit"]


class PointsMsg(PointsChange):
    """As POST /api/sessions/{id}/points (rooms: presenter only)."""

    type: Literal["points"]


class ConfigureMsg(Strict):
    """Rooms: the presenter replaces the room's run by a new one from this config (docs/api.md)."""

    type: Literal["configure"]
    config: SessionConfigIn


ClientMsg = Annotated[
    StepMsg
    | PlayMsg
    | PauseMsg
    | ResetMsg
    | SetMsg
    | HelloMsg
    | SelectMsg
    | SeekMsg
    | PhaseMsg
    | AskMsg
    | AnswerMsg
    | RevealMsg
    | ConfigureMsg
    | EditMsg
    | PointsMsg,
    Field(discriminator="type"),
]

_CLIENT_MSG: TypeAdapter[ClientMsg] = TypeAdapter(ClientMsg)


def client_message(text: str | bytes) -> ClientMsg:
    """A client message from its JSON text (pydantic's ValidationError if it is not one)."""
    return _CLIENT_MSG.validate_json(text)


class ErrorMsg(BaseModel):
    """A bad message's answer; the connection stays open."""

    type: Literal["error"] = "error"
    message: str


class Gradients(BaseModel):
    """Gradients at the frame's weights, same shapes as weights and biases."""

    weights: list[list[list[float | None]]]
    biases: list[list[float | None]]


class Frame(BaseModel):
    """One consistent moment of a run (docs/api.md, "Frames")."""

    type: Literal["frame"] = "frame"
    step: int
    loss: float | None
    test_loss: float | None
    losses: list[float | None]
    weights: list[list[list[float | None]]]
    biases: list[list[float | None]]
    gradients: Gradients
    diverged: bool
    playing: bool
