"""The landscape and the animation of a run, as jobs for the one heavy-job thread (ops.read)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.domain.landscape import check_film, film, landscape, parse_param
from app.render.animation import render_gif

if TYPE_CHECKING:
    from app.domain.session import TrainingSession


def job(name: str, session: TrainingSession, params: dict[str, Any]) -> Callable[[], Any]:
    """The work a read names, on `session` (a clone: both walk it through the timeline)."""
    if name == "landscape":
        a = parse_param("a", params["a"]) if params.get("a") else None
        b = parse_param("b", params["b"]) if params.get("b") else None
        mode, grid, span = params["mode"], int(params["grid"]), params.get("span")
        return lambda: landscape(session, mode, a, b, grid, span)
    start, end = int(params["start"]), int(params["end"])
    frames, with_plane = int(params["frames"]), bool(params["plane"])

    def draw() -> str:
        steps, _ = check_film(session, start, end, frames, with_plane)
        # Base64 text: an answer travels between cluster peers as JSON.
        return base64.b64encode(render_gif(film(session, steps, with_plane))).decode("ascii")

    return draw
