"""Questions a workshop room answers before its next step; the run's own next step answers them.

Pure logic (no I/O): what a question asks, which answers it takes, how they are counted, and the
right answer computed from the step's trace (docs/api.md). app/live/quiz.py runs it in a room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from app.domain.errors import InvalidError
from app.engine.network import weight_name

Kind = Literal["direction", "largest", "loss", "estimate"]

WAYS = ["up", "down", "stays"]
# A change under this fraction of the value is "stays": below the 10th significant digit, as the
# trace's slice calls a step "flat" (app/engine/trace.py FLAT_REL); the page never prints more.
STAYS_REL = 1e-10
ESTIMATE_REL = 0.1  # an estimate of dE/dW within 10% of the true value is right
ESTIMATE_BINS = ["< 0", "0", "> 0"]  # how the presenter's histogram groups estimates
MAX_LARGEST_EDGES = 64  # a "which weight" question lists every edge of the layer: keep it short
MAX_ESTIMATE = 1e12
MAX_CHOICE_CHARS = 64


@dataclass
class Question:
    """One question, its answers (anonymous voter id -> choice) and, once revealed, the answer."""

    id: int
    kind: Kind
    target: dict[str, int]  # {"layer", "i", "j"}, {"layer"} or {}
    text: str
    choices: list[str]
    asked_step: int
    answers: dict[str, str | float] = field(default_factory=dict)
    revealed: bool = False
    correct: str | float | None = None
    revealed_step: int | None = None  # the step the reveal ran (the step after asked_step's)
    final_counts: dict[str, int] | None = None
    right: int | None = None  # how many answers were right
    n_answered: int = 0  # how many answered, kept in a snapshot without the answers themselves

    def message(self) -> dict[str, Any]:
        """The `question` message everyone gets."""
        return {
            "type": "question",
            "id": self.id,
            "kind": self.kind,
            "choices": self.choices,
            "text": self.text,
            "target": self.target,
            "step": self.asked_step,
        }

    def counts(self) -> dict[str, int]:
        """Answers per choice (estimates: per sign), every choice present."""
        names = ESTIMATE_BINS if self.kind == "estimate" else self.choices
        out = dict.fromkeys(names, 0)
        for choice in self.answers.values():
            out[_bin(choice) if self.kind == "estimate" else str(choice)] += 1
        return out

    def is_right(self, choice: str | float) -> bool:
        """Whether one answer is right (False before the reveal or when the step diverged)."""
        if not self.revealed or self.correct is None:
            return False
        if self.kind == "estimate":
            g, x = float(self.correct), float(choice)
            return x == 0.0 if g == 0.0 else abs(x - g) <= ESTIMATE_REL * abs(g)
        return choice in self._right_choices

    _right_choices: list[str] = field(default_factory=list)  # ties in "largest": all right

    @property
    def answered(self) -> int:
        """How many participants answered."""
        return max(len(self.answers), self.n_answered)

    def state(self) -> dict[str, Any]:
        """JSON-ready, for the room's snapshot: a revealed question without its answers (its
        counts are final), so a room's 100 questions stay small."""
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "text": self.text,
            "choices": self.choices,
            "asked_step": self.asked_step,
            "answers": {} if self.revealed else self.answers,
            "n_answered": self.answered,
            "revealed": self.revealed,
            "correct": self.correct,
            "right_choices": self._right_choices,
            "revealed_step": self.revealed_step,
            "final_counts": self.final_counts,
            "right": self.right,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Question:
        """Back from a snapshot."""
        q = cls(
            id=int(s["id"]),
            kind=s["kind"],
            target={k: int(v) for k, v in dict(s["target"]).items()},
            text=str(s["text"]),
            choices=[str(c) for c in s["choices"]],
            asked_step=int(s["asked_step"]),
            answers=dict(s.get("answers") or {}),
            revealed=bool(s.get("revealed")),
            correct=s.get("correct"),
            revealed_step=s.get("revealed_step"),
            final_counts=s.get("final_counts"),
            right=s.get("right"),
            n_answered=int(s.get("n_answered") or 0),
        )
        q._right_choices = [str(c) for c in s.get("right_choices") or []]
        return q


def _bin(x: str | float) -> str:
    """An estimate's sign bin."""
    v = float(x)
    return "< 0" if v < 0 else "> 0" if v > 0 else "0"


def edge_label(layers: list[int], layer: int, i: int, j: int) -> str:
    """`W_ho[0,0]`: the article's name of the matrix, then [from, to]."""
    return f"{weight_name(layer, len(layers) - 1)}[{i},{j}]"


def make_question(
    qid: int, kind: Kind, target: dict[str, int | None], layers: list[int], step: int
) -> Question:
    """A question about the step after `step` on a network of `layers`; InvalidError if the
    target does not name what the kind needs."""
    n = len(layers) - 1  # weight layers
    layer, i, j = target.get("layer"), target.get("i"), target.get("j")
    if kind == "loss":
        return Question(qid, kind, {}, f"Will E go up or down in step {step + 1}?", WAYS, step)
    if layer is None or not 0 <= layer < n:
        raise InvalidError(f"question: layer must be between 0 and {n - 1}")
    n_in, n_out = layers[layer], layers[layer + 1]
    if kind == "largest":
        if n_in * n_out > MAX_LARGEST_EDGES:
            raise InvalidError(
                f"question: {weight_name(layer, n)} has {n_in * n_out} weights, more than the "
                f"{MAX_LARGEST_EDGES} a 'which weight' question lists; pick a smaller layer"
            )
        choices = [edge_label(layers, layer, a, b) for a in range(n_in) for b in range(n_out)]
        text = f"Which weight of {weight_name(layer, n)} will change most in step {step + 1}?"
        return Question(qid, kind, {"layer": layer}, text, choices, step)
    if i is None or j is None or not (0 <= i < n_in and 0 <= j < n_out):
        raise InvalidError(
            f"question: a weight of layer {layer} needs i in 0..{n_in - 1} and j in 0..{n_out - 1}"
        )
    name = edge_label(layers, layer, i, j)
    where = {"layer": layer, "i": i, "j": j}
    if kind == "direction":
        text = f"Which way will {name} move in step {step + 1}?"
        return Question(qid, kind, where, text, WAYS, step)
    text = f"Estimate ∂E/∂{name} at step {step} (the gradient step {step + 1} uses)."
    return Question(qid, kind, where, text, [], step)


def check_choice(q: Question, choice: str | float) -> str | float:
    """The answer as kept; InvalidError if it is none of the question's choices."""
    if q.kind == "estimate":
        if isinstance(choice, str):
            try:
                choice = float(choice)
            except ValueError:
                raise InvalidError("answer: an estimate is a number") from None
        if not (math.isfinite(choice) and abs(choice) <= MAX_ESTIMATE):
            raise InvalidError(f"answer: an estimate is a finite number up to {MAX_ESTIMATE:g}")
        return float(choice)
    if not isinstance(choice, str) or choice not in q.choices:
        raise InvalidError(f"answer: choose one of {', '.join(q.choices)}")
    return choice


def way(before: float, after: float) -> str:
    """up, down, or stays (a change under STAYS_REL of the larger magnitude, or none)."""
    change = after - before
    if change == 0.0 or abs(change) <= STAYS_REL * max(abs(before), abs(after)):
        return "stays"
    return "up" if change > 0 else "down"


def _finite(*xs: Any) -> bool:
    """Every value a finite number (a diverged trace holds nulls)."""
    return all(isinstance(x, int | float) and math.isfinite(x) for x in xs)


def answer_key(
    q: Question, trace: dict[str, Any], E_before: float | None, E_after: float | None
) -> tuple[str | float | None, list[str]]:
    """The right answer and the choices counted right, from the step's trace (computed before
    the step ran: the optimizer's real update, previewed) and the frame's E before and after."""
    layers_up = {int(u["layer"]) - 1: u for u in trace["update"]}
    if q.kind == "loss":
        if not _finite(E_before, E_after):
            return None, []
        assert E_before is not None and E_after is not None
        w = way(E_before, E_after)
        return w, [w]
    layer = q.target["layer"]
    up = layers_up[layer]
    if q.kind == "largest":
        sizes: list[tuple[float, str]] = []
        for a, (row_old, row_new) in enumerate(zip(up["W_old"], up["W_new"], strict=True)):
            for b, (w0, w1) in enumerate(zip(row_old, row_new, strict=True)):
                if not _finite(w0, w1):
                    return None, []
                sizes.append((abs(w1 - w0), q.choices[a * len(row_old) + b]))
        top = max(s for s, _ in sizes)
        right = [c for s, c in sizes if s == top]
        return right[0], right
    i, j = q.target["i"], q.target["j"]
    if q.kind == "direction":
        w0, w1 = up["W_old"][i][j], up["W_new"][i][j]
        if not _finite(w0, w1):
            return None, []
        w = way(w0, w1)
        return w, [w]
    back = {int(b["layer"]) - 1: b for b in trace["backward"]}
    g = back[layer]["dW"][i][j]
    return (float(g), []) if _finite(g) else (None, [])


def settle(
    q: Question, correct: str | float | None, right_choices: list[str], revealed_step: int
) -> None:
    """Mark revealed: the answer, the final counts, how many were right."""
    q.revealed, q.correct, q.revealed_step = True, correct, revealed_step
    q._right_choices = right_choices
    q.final_counts = q.counts()
    q.right = sum(1 for c in q.answers.values() if q.is_right(c))


CSV_COLUMNS = [
    "id", "question", "kind", "target", "correct", "counts", "answered", "right",
    "asked_step", "revealed_step",
]  # fmt: skip


def csv_row(q: Question) -> list[str]:
    """One question as a CSV row (counts and target as compact `key=value` lists)."""
    counts = q.final_counts if q.final_counts is not None else q.counts()
    return [
        str(q.id),
        q.text,
        q.kind,
        " ".join(f"{k}={v}" for k, v in q.target.items()),
        "" if q.correct is None else repr(q.correct) if isinstance(q.correct, float) else q.correct,
        "; ".join(f"{k}: {v}" for k, v in counts.items()),
        str(q.answered),
        "" if q.right is None else str(q.right),
        str(q.asked_step),
        "" if q.revealed_step is None else str(q.revealed_step),
    ]
