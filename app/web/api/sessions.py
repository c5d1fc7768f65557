"""REST routes for training sessions: the web layer only translates, the session does the work."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.domain.errors import FullError, NotFoundError
from app.domain.limits import check_gradcheck, check_patch_limits, check_step_count, step_work
from app.domain.protocol import (
    EditMsg,
    PointsChange,
    PointsMsg,
    ResetMsg,
    SeekMsg,
    SeekRequest,
    SessionConfigIn,
    SessionPatch,
    SetMsg,
    StepMsg,
    StepRequest,
    WeightEdit,
)
from app.domain.session import TrainingSession, new_session
from app.live.quotas import Reservation
from app.live.sessions import Entry, SessionStore
from app.live.stream import Driver, Runner
from app.web.api.explain import add_explanations
from app.web.api.landscape import add_landscape
from app.web.api.neurons import add_neurons
from app.web.deps import SettingsDep, StoreDep
from app.web.quotas import reserve_session
from app.web.responses import json_response
from app.web.schemas import ERRORS, FrameOut, SessionCreated
from app.web.work import (
    charge_read,
    charge_request,
    frame_cost,
    gradcheck_cost,
    reset_cost,
    seek_cost,
    steps_cost,
)

router = APIRouter(prefix="/api/sessions", tags=["sessions"])
NO_SESSION = "no session with this id (it may have expired)"


async def get_entry(session_id: str, store: StoreDep) -> Entry:
    """The session named in the path (held here or, in a cluster, by another peer), or 404."""
    entry = await store.lookup(session_id)
    if entry is None:
        raise NotFoundError(NO_SESSION)
    store.touch(entry)
    return entry


EntryDep = Annotated[Entry, Depends(get_entry)]


async def committed(store: SessionStore, entry: Entry, frame: Any) -> Response:
    """The answer to a change, sent only once the run's snapshot holding it is written.

    A server killed right after the 200 (even by SIGKILL) comes back with the change: the 200
    means "durable", not "applied in memory" (docs/api.md). Memory-only servers, and a cluster
    peer that forwarded the command to the run's owner, have nothing to wait for here; a cluster
    owner's command was saved under its fencing token before it was answered (Runner.command).
    """
    runner = entry.runner
    if store.persist is not None and isinstance(runner, Runner) and runner.guard is None:
        await store.persist.flush(store.noun, entry.id)
    return json_response(frame)


_CREATE_EXAMPLES: dict[str, Any] = {
    "article": {"summary": "The article's network", "value": {"preset": "article"}},
    "xor": {
        "summary": "XOR with Adam",
        "value": {
            "preset": "xor",
            "layers": [2, 8, 1],
            "optimizer": {"name": "adam", "learning_rate": 0.03},
        },
    },
    "rows": {
        "summary": "Your own data as rows",
        "value": {"layers": [2, 3, 1], "dataset": {"x": [[0, 0], [0, 1]], "y": [0, 1]}},
    },
}


@router.post(
    "",
    status_code=201,
    response_model=SessionCreated,
    responses={**ERRORS, 429: {"description": "the server holds as many sessions as it allows"}},
)
async def create_session(
    config: Annotated[SessionConfigIn, Body(openapi_examples=_CREATE_EXAMPLES)],
    store: StoreDep,
    settings: SettingsDep,
    http: Request,
) -> Response:
    """Create a session: a preset plus overrides; the answer holds its id and first frame."""
    if store.full:  # before building: a full server should not spend CPU on data sets
        raise FullError(store.full_message())
    place = await reserve_session(http)  # this address's own quota, its place held now
    try:
        # Off the event loop: generating or parsing a data set must not stall other sessions.
        session = await run_in_threadpool(new_session, config, settings)
        return await hold_session(store, session, place)
    finally:
        await place.release()  # given back unless the session was made


async def hold_session(
    store: SessionStore,
    session: TrainingSession,
    place: Reservation,
    forked_from: str | None = None,
) -> Response:
    """Hold a new session (created, or forked from a room) in its reserved place; 201, its id."""
    entry = store.add(session)
    entry.forked_from = forked_from
    await store.settle(entry.id)  # peers sharing a Redis: findable on every peer from now on
    await place.confirm(entry.id)
    body = {
        "id": entry.id,
        "config": session.config.model_dump(mode="json"),
        "frame": await entry.runner.read("full_frame"),
    }
    return json_response(body, 201)


@router.get("/{session_id}", response_model=FrameOut, responses=ERRORS)
async def get_session(entry: EntryDep, http: Request) -> Response:
    """The current frame."""
    charge_read(http, "frame", entry.session)
    return json_response(await entry.runner.read("frame"))


@router.post("/{session_id}/step", response_model=FrameOut, responses=ERRORS)
async def step_session(
    entry: EntryDep,
    store: StoreDep,
    settings: SettingsDep,
    request: Annotated[StepRequest, Body(openapi_examples={"ten": {"value": {"count": 10}}})],
    http: Request,
) -> Response:
    """Run `count` steps; the frame's `losses` hold the loss after each of them."""
    check_step_count(request.count, settings, step_work(entry.session))
    charge_request(http, steps_cost(entry.session, request.count))
    # StepError (the engine failed; the session is kept) is answered like a limit: 422.
    step = StepMsg(type="step", count=request.count)
    return await committed(store, entry, await entry.runner.command(step, settings))


@router.post("/{session_id}/reset", response_model=FrameOut, responses=ERRORS)
async def reset_session(
    entry: EntryDep, store: StoreDep, settings: SettingsDep, http: Request
) -> Response:
    """Back to step 0, bit for bit the same start (same seed)."""
    charge_request(http, reset_cost(entry.session))
    frame = await entry.runner.command(ResetMsg(type="reset"), settings)
    return await committed(store, entry, frame)


@router.patch("/{session_id}", response_model=FrameOut, responses=ERRORS)
async def patch_session(
    entry: EntryDep,
    store: StoreDep,
    settings: SettingsDep,
    patch: Annotated[
        SessionPatch,
        Body(openapi_examples={"adam": {"value": {"optimizer": {"name": "adam"}, "l2": 0.001}}}),
    ],
    http: Request,
) -> Response:
    """Change optimizer, batch size or L2; weights and step are kept."""
    check_patch_limits(patch, settings)
    charge_request(http, frame_cost(entry.session))
    change = SetMsg.model_validate({"type": "set", **patch.model_dump(exclude_unset=True)})
    return await committed(store, entry, await entry.runner.command(change, settings))


@router.post("/{session_id}/edit", response_model=FrameOut, responses=ERRORS)
async def edit_session(
    entry: EntryDep,
    store: StoreDep,
    settings: SettingsDep,
    edit: Annotated[
        WeightEdit,
        Body(
            openapi_examples={
                "weight": {"value": {"kind": "weight", "layer": 0, "i": 1, "j": 2, "value": 0.5}},
                "bias": {"value": {"kind": "bias", "layer": 1, "j": 0, "value": -0.25}},
            }
        ),
    ],
    http: Request,
) -> Response:
    """Set one weight or bias by hand, logged at this step (seek and links replay it)."""
    charge_request(http, frame_cost(entry.session))
    msg = EditMsg.model_validate({"type": "edit", **edit.model_dump()})
    return await committed(store, entry, await entry.runner.command(msg, settings))


@router.post("/{session_id}/points", response_model=FrameOut, responses=ERRORS)
async def points_session(
    entry: EntryDep,
    store: StoreDep,
    settings: SettingsDep,
    change: Annotated[
        PointsChange,
        Body(
            openapi_examples={
                "add": {"value": {"op": "add", "x": [[0.5, -0.25]], "y": [1]}},
                "undo": {"value": {"op": "undo"}},
                "clear": {"value": {"op": "clear"}},
            }
        ),
    ],
    http: Request,
) -> Response:
    """Add your own points to a 2D classification set, undo the last or clear them; logged."""
    charge_request(http, frame_cost(entry.session))
    msg = PointsMsg.model_validate({"type": "points", **change.model_dump(exclude_none=True)})
    return await committed(store, entry, await entry.runner.command(msg, settings))


@router.delete("/{session_id}", status_code=204, responses=ERRORS)
async def delete_session(session_id: str, store: StoreDep) -> Response:
    """Forget a session; its viewers are disconnected."""
    if await store.lookup(session_id) is None or not await store.remove(session_id):
        raise NotFoundError(NO_SESSION)
    return Response(status_code=204)


@router.post("/{session_id}/seek", response_model=FrameOut, responses=ERRORS)
async def seek_session(
    entry: EntryDep,
    store: StoreDep,
    settings: SettingsDep,
    request: Annotated[SeekRequest, Body(openapi_examples={"back": {"value": {"step": 12}}})],
    http: Request,
) -> Response:
    """The frame at an earlier step (0..head), bit for bit as the run had it; playing stops."""
    charge_request(http, seek_cost(entry.session, request.step))  # the replay: often 1000s of steps
    seek = SeekMsg(type="seek", step=request.step)
    return await committed(store, entry, await entry.runner.command(seek, settings))


@router.get("/{session_id}/config", responses=ERRORS)
async def session_config(entry: EntryDep) -> Response:
    """The config in force at the run's current step (a seek brings back the settings then)."""
    return json_response(await entry.runner.read("config"))


@router.get("/{session_id}/gradcheck", responses=ERRORS)
async def gradient_check(entry: EntryDep, settings: SettingsDep, http: Request) -> Response:
    """Analytic vs numerical gradient, relative error per layer."""
    check_gradcheck(entry.session, settings)
    charge_request(http, gradcheck_cost(entry.session))
    # On a copy, in a thread (one heavy job at a time, app/live/fairness.py): the check nudges
    # weights and takes a while; playing goes on.
    return json_response(await entry.runner.read("gradcheck"))


@router.get(
    "/{session_id}/export",
    responses={**ERRORS, 200: {"description": "a JSON file: config, loss history, weights"}},
)
async def export_session(entry: EntryDep, http: Request) -> Response:
    """Download the run: config, history and weights."""
    charge_request(http, 2 * frame_cost(entry.session))
    # Built and encoded off the event loop (megabytes for a long run), the session held still.
    step, text = await entry.runner.read("export")
    disposition = f'attachment; filename="backprop-studio-step-{step}.json"'
    return Response(
        text, media_type="application/json", headers={"Content-Disposition": disposition}
    )


def _runner_of(entry: EntryDep) -> Driver:
    """The runner of the session a path's id names."""
    return entry.runner


# The read-only explanations (data, matrix, chain, slice, trace): as for rooms.
add_explanations(router, "/{session_id}", _runner_of, ERRORS)
# The error landscape and the run as an animated GIF (docs/api.md): as for rooms.
add_landscape(router, "/{session_id}", _runner_of, ERRORS)
# Every neuron over the input plane (Playground's thumbnails): as for rooms.
add_neurons(router, "/{session_id}", _runner_of, ERRORS)
