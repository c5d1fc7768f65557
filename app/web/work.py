"""What a request or message costs, charged to its client address (app/live/fairness.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request

from app.domain.errors import FullError
from app.domain.fixes import TRIAL_STEPS
from app.domain.limits import gradcheck_work, step_work
from app.domain.protocol import ClientMsg, PauseMsg, PlayMsg, SeekMsg, StepMsg
from app.engine.trace import SLICE_POINTS
from app.live.fairness import OverBudgetError, budgets, client_address
from app.live.ops import trying

if TYPE_CHECKING:
    from app.domain.session import TrainingSession

RESET_STEPS = 3  # a reset rebuilds the weights and a full frame: about three steps' worth here


def message_work(msg: ClientMsg, session: TrainingSession, playing: bool = False) -> int:
    """Multiply-adds a driving message asks for; every one at least a frame's worth, but a
    pause of a playing run: it saves more work than its frame costs, and a client over its
    budget (a flood of edits, say) must still be able to stop the room it plays."""
    per_step = step_work(session)
    if isinstance(msg, PauseMsg) and playing:
        return 0
    if isinstance(msg, StepMsg):
        return msg.count * per_step
    if isinstance(msg, PlayMsg):
        return msg.steps_per_frame * per_step  # a toggling flood pays for a frame each time
    if isinstance(msg, SeekMsg):
        return seek_cost(session, msg.step)  # the replay, not just the frame
    if msg.type == "reset":
        return RESET_STEPS * per_step
    if msg.type in ("hello", "select"):
        return 0
    return per_step  # set, pause: a new frame


def charge_message(
    scope: Any, app: Any, msg: ClientMsg, session: TrainingSession, playing: bool = False
) -> None:
    """Spend the message's work from its client's budget; ValueError (an `error`) if over.
    `playing`: the run plays now (a pause of it is free)."""
    work = message_work(msg, session, playing)
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


def seek_cost(session: TrainingSession, step: int) -> int:
    """Work of a seek: the steps it replays from the nearest checkpoint, and its frame.

    Priced on this peer's copy (a follower's may lag a little): a step past its head is priced
    as a seek to the head; the run itself refuses one outside the timeline.
    """
    timeline = session.timeline
    first, head = timeline.checkpoints[0].step, timeline.head
    at = min(max(step, first), head) if isinstance(step, int) else head
    return (session.replay_steps(at) + 1) * step_work(session)


def read_cost(name: str, session: TrainingSession) -> int:
    """Work of a read-only question that computes (app/live/ops.py READS): a frame's worth, the
    slice's forward passes; 0 for the ones that only copy out what is kept (config, data)."""
    if name == "slice":
        return (SLICE_POINTS + 1) * step_work(session)
    if name in ("frame", "trace", "matrix", "chain"):
        return step_work(session)
    return 0


def charge_read(request: Request, name: str, session: TrainingSession) -> None:
    """Spend a read's work (read_cost) from its client's budget; 429 if over."""
    work = read_cost(name, session)
    if work:
        charge_request(request, work)
