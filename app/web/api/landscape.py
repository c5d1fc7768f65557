"""GET .../landscape and .../animation.gif, for sessions and rooms alike (docs/api.md).

Both are checked against the server's bounds (a clear 422), charged to the client's work budget,
and computed off the event loop on a copy of the run (app/live/ops.py, app/live/views.py).
"""

# No `from __future__ import annotations` here: FastAPI must see the local `Run` alias itself.

import base64
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from app.domain import landscape as ls
from app.domain.errors import InvalidError
from app.live.stream import Driver, Runner
from app.web.deps import SettingsDep
from app.web.responses import json_response
from app.web.work import charge_request


def _first(runner: Driver) -> int:
    """The first step the run's timeline keeps (0 unless the server restarted it)."""
    return runner.session.timeline.checkpoints[0].step


def add_landscape(
    router: APIRouter,
    path: str,
    runner_of: Callable[..., Driver],
    responses: dict[int | str, dict[str, Any]],
    exporter: Callable[..., None] | None = None,
) -> None:
    """GET {path}/landscape and {path}/animation.gif on `router`; `exporter` guards the GIF."""
    Run = Annotated[Driver, Depends(runner_of)]
    guard = [Depends(exporter)] if exporter is not None else []

    @router.get(f"{path}/landscape", responses=responses)
    async def error_landscape(
        runner: Run,
        settings: SettingsDep,
        http: Request,
        mode: Annotated[Literal["pair", "trajectory"], Query()] = "pair",
        a: Annotated[str | None, Query(max_length=40, description="w.L.I.J or b.L.J")] = None,
        b: Annotated[str | None, Query(max_length=40, description="w.L.I.J or b.L.J")] = None,
        grid: Annotated[int, Query(description="points per axis, 3 to 81")] = ls.DEFAULT_GRID,
        span: Annotated[float | None, Query(description="half-width of each axis")] = None,
    ) -> Response:
        """E over a grid of two parameters (or the run's plane), with the run's path on it."""
        ls.check_grid(grid, span)
        if mode == "pair":
            for field, text in (("a", a), ("b", b)):
                if not text:
                    raise InvalidError(f"{field}: required for mode=pair, e.g. w.0.0.0")
                ls.parse_param(field, text)
        session, now = runner.session, runner.step_count
        steps = len(ls.path_steps(_first(runner), now))
        work = ls.landscape_work(session, grid, steps, ls.replay_cost(_first(runner), now))
        ls.check_work(session, work, settings, "landscape")
        charge_request(http, work)
        params = {"mode": mode, "a": a, "b": b, "grid": grid, "span": span}
        return json_response(await runner.read("landscape", **params))

    @router.get(
        f"{path}/animation.gif",
        responses={**responses, 200: {"content": {"image/gif": {}}}},
        dependencies=guard,
    )
    async def animation(
        runner: Run,
        settings: SettingsDep,
        http: Request,
        start: Annotated[int | None, Query(alias="from", description="first step")] = None,
        end: Annotated[int | None, Query(alias="to", description="last step")] = None,
        frames: Annotated[int | None, Query(description="2 to 300")] = None,
        landscape: Annotated[Literal["none", "trajectory"], Query()] = "none",
    ) -> Response:
        """The run from one step to another as an animated GIF (a 10-second loop by default)."""
        first, now = _first(runner), runner.step_count
        # Checked and charged here with this peer's view of the run; the defaults are filled in
        # again where the run is trained (a follower's copy may lag a few steps).
        a, z = (first if start is None else start), (now if end is None else end)
        count = frames if frames is not None else max(2, min(ls.DEFAULT_FRAMES, z - a + 1))
        with_plane = landscape == "trajectory"
        session = runner.session
        if isinstance(runner, Runner):  # trained here
            _, work = ls.check_film(session, a, z, count, with_plane, now)
        else:
            # A follower: the trainer checks the steps; here the frames, and the work's bound.
            if frames is not None and not 2 <= frames <= ls.MAX_FRAMES:
                raise InvalidError(f"frames: {frames}; from 2 to {ls.MAX_FRAMES}")
            grid = ls.FILM_GRID if with_plane else 0
            last = max(now, z)
            work = ls.landscape_work(session, grid, count, ls.replay_cost(first, last))
        ls.check_work(session, work, settings, "animation")
        charge_request(http, work + count * ls.FRAME_DRAW_WORK)
        params = {"start": start, "end": end, "frames": frames, "plane": with_plane}
        a, z, text = await runner.read("animation", **params)
        gif = base64.b64decode(text)
        name = f"backprop-studio-steps-{a}-{z}.gif"
        return Response(
            gif,
            media_type="image/gif",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
