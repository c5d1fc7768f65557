"""REST routes for workshop rooms: create, look up, fork, and read the room's panels' data."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Body, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.domain.errors import ForbiddenError, FullError, NotFoundError
from app.domain.protocol import SessionConfigIn, Strict
from app.domain.session import new_session
from app.live.capacity import capacity
from app.live.rooms import Room
from app.live.stream import Driver
from app.live.together import stats as together_stats
from app.web.api.explain import add_explanations
from app.web.api.landscape import add_landscape
from app.web.api.neurons import add_neurons
from app.web.api.sessions import hold_session
from app.web.deps import RoomsDep, SettingsDep, StoreDep, join_url
from app.web.quotas import reserve_room, reserve_session
from app.web.responses import json_response
from app.web.schemas import ErrorOut, FrameOut, SessionCreated

router = APIRouter(prefix="/api/rooms", tags=["rooms"])

ROOM_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown room code"},
    422: {"model": ErrorOut, "description": "invalid input, or a value over a server limit"},
}
NO_ROOM = "no workshop room with this code (check the code; rooms end when left idle)"


class RoomCreate(Strict):
    """POST /api/rooms."""

    config: SessionConfigIn = Field(default_factory=SessionConfigIn)


class RoomCreated(BaseModel):
    """The new room; `presenter_token` is shown only here, keep it secret."""

    code: str = Field(description="short code participants type, e.g. K7RM3Q")
    presenter_token: str = Field(description="proves a connection is the presenter's")
    frame: FrameOut


class Capacity(BaseModel):
    """How many forks of the room's network this server keeps at full speed (docs/api.md)."""

    forks: int = Field(description="floor(1 / (fps * (steps_per_frame * step + frame)))")
    fps: float
    steps_per_frame: int
    step_us: float = Field(description="a step's measured cost (moving average), microseconds")
    frame_us: float = Field(description="a frame's build, pack and encode, microseconds")
    text: str = Field(description="the sentence the presenter's page shows")


class Together(BaseModel):
    """Play ticks this server stepped together (app/live/together.py), since it started."""

    batches: int = Field(description="stretches that stepped two runs or more as one")
    runs: int = Field(description="run-ticks stepped in those stretches")
    steps: int = Field(description="steps those run-ticks took")


class CapacityOut(BaseModel):
    """GET /api/rooms/{code}/capacity: `capacity` is null until a step and a frame are timed."""

    capacity: Capacity | None
    together: Together


class RoomInfo(BaseModel):
    """GET /api/rooms/{code}."""

    code: str
    participants: int = Field(description="connections other than the presenter's")
    presenter: bool = Field(description="the presenter is connected")
    step: int
    playing: bool


async def get_room(code: str, rooms: RoomsDep) -> Room:
    """The room named in the path (any case; held here or by another peer), or 404."""
    room = await rooms.lookup(code)
    if room is None:
        raise NotFoundError(NO_ROOM)
    return room


RoomDep = Annotated[Room, Depends(get_room)]


@router.post(
    "",
    status_code=201,
    response_model=RoomCreated,
    responses={**ROOM_ERRORS, 429: {"description": "the server holds as many rooms as it allows"}},
)
async def create_room(
    body: Annotated[
        RoomCreate, Body(openapi_examples={"article": {"value": {"config": {"preset": "article"}}}})
    ],
    rooms: RoomsDep,
    settings: SettingsDep,
    http: Request,
) -> Response:
    """Start a workshop room: the answer holds its code, the presenter's token and a frame."""
    if rooms.full:  # before building: a full server should not spend CPU on data sets
        raise FullError(rooms.full_message())
    place = await reserve_room(http)  # this address's own quota, its place held now
    try:
        session = await run_in_threadpool(new_session, body.config, settings)
        room, token = rooms.create(session)
        await rooms.settle(room.code)  # peers sharing a Redis: findable on every peer from now on
        await place.confirm(room.code)
    finally:
        await place.release()  # given back unless the room was made
    frame = await room.runner.read("full_frame")
    body_out = {"code": room.code, "presenter_token": token, "frame": frame}
    return json_response(body_out, 201)


@router.get("/{code}", response_model=RoomInfo, responses=ROOM_ERRORS)
async def get_room_info(room: RoomDep) -> dict[str, Any]:
    """Who is here and where the run is; never the presenter token."""
    return room.info()


@router.post(
    "/{code}/fork",
    status_code=201,
    response_model=SessionCreated,
    responses={
        **ROOM_ERRORS,
        429: {"description": "the server holds as many sessions as it allows"},
    },
)
async def fork_room(room: RoomDep, store: StoreDep, http: Request) -> Response:
    """A private session at the room's current state (as POST /api/sessions answers)."""
    if store.full:
        raise FullError(store.full_message())
    place = await reserve_session(http)
    try:
        fork = await room.runner.read("fork")
        return await hold_session(store, fork, place, forked_from=room.code)
    finally:
        await place.release()


@router.get("/{code}/config", responses=ROOM_ERRORS)
async def room_config(room: RoomDep) -> Response:
    """The room's session config (the optimizer follows the presenter's changes)."""
    return json_response(await room.runner.read("config"))


@router.get(
    "/{code}/qr.svg",
    responses={**ROOM_ERRORS, 200: {"content": {"image/svg+xml": {}}}},
)
async def room_qr(room: RoomDep, request: Request, settings: SettingsDep) -> Response:
    """The join link as a QR code (SVG), for the presenter's screen."""
    svg = qr_svg(join_url(request, settings, room.code))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})


def qr_svg(url: str) -> str:
    """An SVG file of a QR code that scales to its box (a viewBox, no fixed size)."""
    out = io.BytesIO()
    segno.make(url, error="m").save(
        out,
        kind="svg",
        scale=1,
        border=2,
        dark="#1d2430",
        light="#ffffff",
        xmldecl=False,
        omitsize=True,
        title=url,
    )
    return out.getvalue().decode()


@router.get("/{code}/capacity", response_model=CapacityOut, responses=ROOM_ERRORS)
async def room_capacity(room: RoomDep) -> dict[str, Any]:
    """How many forks of the room's network this server keeps at full speed (docs/api.md)."""
    return {"capacity": capacity(room.runner.shape), "together": together_stats()}


def _runner_of(room: RoomDep) -> Driver:
    """The runner of the room a path's code names."""
    return room.runner


# The read-only explanations (data, matrix, chain, slice, trace), at the room's current step.
add_explanations(router, "/{code}", _runner_of, ROOM_ERRORS)


def _presenter_only(
    room: RoomDep,
    token: Annotated[str | None, Header(alias="X-Presenter-Token", max_length=200)] = None,
) -> None:
    """The room's animation is the presenter's to export: 403 without the presenter token."""
    if token is None or not room.check_token(token):
        raise ForbiddenError("only the presenter exports the room's run: send X-Presenter-Token")


# The landscape for everyone in the room; the animation for its presenter.
add_landscape(
    router,
    "/{code}",
    _runner_of,
    {**ROOM_ERRORS, 403: {"model": ErrorOut, "description": "not the presenter"}},
    exporter=_presenter_only,
)
# Every neuron over the input plane (Playground's thumbnails): as for sessions.
add_neurons(router, "/{code}", _runner_of, ROOM_ERRORS)
