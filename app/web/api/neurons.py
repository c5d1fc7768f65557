"""GET .../neurons: every neuron's activation over the input plane, for sessions and rooms alike.

Checked (a clear 422 for a grid out of range), charged to the client's work budget like other
reads that compute, and answered from the run's current weights (app/domain/neurons.py).
"""

# No `from __future__ import annotations` here: FastAPI must see the local `Run` alias itself.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from app.domain import neurons as nr
from app.domain.errors import InvalidError
from app.live.stream import Driver
from app.web.deps import SettingsDep
from app.web.responses import json_response
from app.web.work import charge_request


def add_neurons(
    router: APIRouter,
    path: str,
    runner_of: Callable[..., Driver],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """GET {path}/neurons on `router`."""
    Run = Annotated[Driver, Depends(runner_of)]

    @router.get(f"{path}/neurons", responses=responses)
    async def neuron_maps(
        runner: Run,
        settings: SettingsDep,
        http: Request,
        grid: Annotated[
            int, Query(description=f"points per axis, {nr.MIN_GRID} to {nr.MAX_GRID}")
        ] = nr.DEFAULT_GRID,
    ) -> Response:
        """Each neuron's activation over an n x n grid of the input plane (2D data sets), or
        at each training sample (the others): Playground's thumbnails, from the run's weights."""
        nr.check_grid(grid)
        work = nr.neurons_work(runner.session, grid)
        if work > settings.max_work_per_request:
            raise InvalidError(
                f"neurons: about {work:,} multiply-adds, over this server's limit of "
                f"{settings.max_work_per_request:,} per request; ask for a smaller grid"
            )
        charge_request(http, work)
        return json_response(await runner.read("neurons", grid=grid))
