"""What a request or message costs, charged to its client address (app/live/fairness.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request

from app.domain.errors import FullError
from app.domain.fixes import TRIAL_STEPS
from app.domain.limits import gradcheck_work, step_work
from app.domain.protocol import ClientMsg, PlayMsg, StepMsg
from app.live.fairness import OverBudgetError, budgets, client_address
from app.live.ops import trying

if TYPE_CHECKING:
    from app.domain.session import TrainingSession

RESET_STEPS = 3  # a reset rebuilds the weights and a full frame: about three steps' worth here


def message_work(msg: ClientMsg, session: TrainingSession) -> int:
    """Multiply-adds a driving message asks for; every one at least a frame's worth."""
    per_step = step_work(session)
    if isinstance(msg, StepMsg):
        return msg.count * per_step
    if isinstance(msg, PlayMsg):
        return msg.steps_per_frame * per_step  # a toggling flood pays for a frame each time
    if msg.type == "reset":
        return RESET_STEPS * per_step
    if msg.type in ("hello", "select"):
        return 0
    return per_step  # set, pause: a new frame


def charge_message(scope: Any, app: Any, msg: ClientMsg, session: TrainingSession) -> None:
    """Spend the message's work from its client's budget; ValueError (an `error`) if over."""
    work = message_work(msg, session)
    if work:
        budgets(app).charge(client_address(scope), work)


def charge_request(request: Request, work: int) -> None:
    """Spend a REST request's work from its client's budget; 429 with Retry-After if over."""
    try:
        budgets(request.app).charge(client_address(request.scope), work)
    except OverBudgetError as exc:
        raise FullError(str(exc), retry_after=exc.retry_after) from exc


def steps_cost(session: TrainingSession, count: int) -> int:
    """Work of `count` steps."""
    return count * step_work(session)


def reset_cost(session: TrainingSession) -> int:
    """Work of a reset."""
    return RESET_STEPS * step_work(session)


def frame_cost(session: TrainingSession) -> int:
    """Work of a settings change, an export or anything else that builds one frame."""
    return step_work(session)


def gradcheck_cost(session: TrainingSession) -> int:
    """Work of a numerical gradient check."""
    return gradcheck_work(session)[0]


def fixes_cost(session: TrainingSession) -> int:
    """Work of trying the findings' fixes on copies: each trial's steps (0 once cached, or
    while another request tries them for the same state)."""
    if trying(session):
        return 0
    return session.fix_trials() * TRIAL_STEPS * step_work(session)
