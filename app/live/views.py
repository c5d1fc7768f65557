"""The landscape and the animation of a run, as jobs for the one heavy-job thread (ops.read)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.domain.landscape import DEFAULT_FRAMES, check_film, film, landscape, parse_param
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
    frames, with_plane = params.get("frames"), bool(params["plane"])

    def draw() -> list[Any]:
        # The defaults here, at the peer that trains the run: another peer's copy may lag.
        first, now = session.timeline.checkpoints[0].step, session.step_count
        start = first if params.get("start") is None else int(params["start"])
        end = now if params.get("end") is None else int(params["end"])
        count = int(frames) if frames is not None else min(DEFAULT_FRAMES, end - start + 1)
        steps, _ = check_film(session, start, end, count, with_plane)
        gif = render_gif(film(session, steps, with_plane))
        # Base64 text: an answer travels between cluster peers as JSON.
        return [start, end, base64.b64encode(gif).decode("ascii")]

    return draw
