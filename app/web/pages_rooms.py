"""Workshop pages: /join, /room/{code} for participants, /present/{code} for the presenter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.domain.errors import UnavailableError
from app.live.rooms import Room, normalize_code
from app.live.route import ALPHABET, CODE_LENGTH
from app.web.deps import get_rooms, get_settings, join_url
from app.web.pages import page_context, templates

router = APIRouter(include_in_schema=False)

# The CSP (scripts from this origin only, never inline), nosniff and no-referrer come from
# the middleware (app.web.middleware), as for every page; the token never leaves the URL fragment.
HEADERS = {"Cache-Control": "no-cache"}


def _page(request: Request, name: str, status_code: int = 200, **extra: object) -> HTMLResponse:
    """A workshop page, never cached: a room's state changes under it."""
    context = page_context(code_length=CODE_LENGTH, code_alphabet=ALPHABET, **extra)
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=HEADERS
    )


def _display(code: str) -> str:
    """K7RM3Q shown as K7R-M3Q: easier to read aloud in two halves."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}" if len(code) == CODE_LENGTH else code


async def _lookup(request: Request, code: str) -> Room | None:
    """The room (held here or, in a cluster, by another peer); None if unknown or unreachable."""
    try:
        return await get_rooms(request).lookup(code)
    except UnavailableError:
        return None  # the page's form says so; a reload a few seconds later finds it


@router.get("/join", response_class=HTMLResponse)
async def join(request: Request, code: Annotated[str | None, Query()] = None) -> Response:
    """Type a room code; a known code goes straight to the room."""
    if code is None or not code.strip():
        return _page(request, "join.html", code="", error=None)
    code = code[:32]  # a page answers any typo with the form again, never a JSON 422
    wanted = normalize_code(code)
    if await _lookup(request, wanted) is None:
        error = f"No workshop room with the code {code.strip()!r}. Check it with the presenter."
        return _page(request, "join.html", 404, code=code.strip(), error=error)
    return RedirectResponse(f"/room/{wanted}", status_code=303)


@router.get("/room/{code}", response_class=HTMLResponse)
async def room_page(request: Request, code: str) -> Response:
    """A participant's view of a room: follows the presenter, can fork."""
    room = await _lookup(request, code)
    if room is None:
        error = "This workshop room does not exist (any more). Check the code with the presenter."
        return _page(request, "join.html", 404, code=code[:32], error=error)
    return _page(request, "room.html", code=room.code, code_display=_display(room.code))


@router.get("/present/{code}", response_class=HTMLResponse)
async def present_page(request: Request, code: str) -> Response:
    """The presenter's view: drive the room; the token stays in the URL fragment."""
    room = await _lookup(request, code)
    if room is None:
        error = "This workshop room does not exist (any more): start a new one from the main page."
        return _page(request, "join.html", 404, code=code[:32], error=error)
    settings = get_settings(request)
    url = join_url(request, settings, room.code)
    return _page(
        request,
        "present.html",
        code=room.code,
        code_display=_display(room.code),
        join_url=url,
        join_url_short=url.split("://", 1)[-1],
        public_url_set=settings.public_url is not None,
        # ?view=projector: large type, the network and the curve only (docs/api.md)
        projector=request.query_params.get("view") == "projector",
    )
