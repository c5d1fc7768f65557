"""The read-only explanations of a run, for sessions and rooms alike: data, matrix, chain, slice,
trace. One definition, registered on each router with the dependency that finds the run."""

# No `from __future__ import annotations` here: FastAPI must see the local `Run` alias itself.

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.domain.errors import InvalidError
from app.domain.limits import step_work
from app.domain.session import TrainingSession
from app.engine.trace import SLICE_POINTS
from app.live.stream import INLINE_SEEK_WORK
from app.web.responses import json_response


class ChainQuery:
    """The parameter a chain-rule request names; sessions and rooms answer it alike."""

    def __init__(
        self,
        layer: Annotated[int, Query(ge=0, description="weight layer, 0 = input to first hidden")],
        j: Annotated[int, Query(ge=0, description="neuron of layer+1")],
        kind: Annotated[Literal["weight", "bias"], Query()] = "weight",
        i: Annotated[int | None, Query(ge=0, description="neuron of layer (kind=weight)")] = None,
    ) -> None:
        self.layer, self.j, self.kind, self.i = layer, j, kind, i

    def answer(self, session: TrainingSession) -> Response:
        """The session's breakdown, or a 422 naming what is wrong with the parameter."""
        return self._call(session.chain)

    async def answer_slice(self, session: TrainingSession) -> Response:
        """E along this one parameter (the slope view), or a 422."""
        if SLICE_POINTS * step_work(session) <= INLINE_SEEK_WORK:
            return self._call(session.slice)
        # A big network: the forward passes run on a copy in a thread; the loop goes on.
        copy = session.clone()
        return await run_in_threadpool(self._call, copy.slice)

    def _call(self, method: Callable[[str, int, int | None, int], dict[str, Any]]) -> Response:
        """The method's answer for this parameter (the session checks its range: InvalidError)."""
        if self.kind == "weight" and self.i is None:
            raise InvalidError("i: required for kind=weight")
        return json_response(method(self.kind, self.layer, self.i, self.j))


ChainDep = Annotated[ChainQuery, Depends()]


def add_explanations(
    router: APIRouter,
    path: str,
    session_of: Callable[..., TrainingSession],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """GET {path}/data, /matrix, /chain, /slice and /trace on `router`."""
    Run = Annotated[TrainingSession, Depends(session_of)]

    @router.get(f"{path}/data", responses=responses)
    async def data_set(session: Run) -> Response:
        """The data set, for the decision boundary and predicted-vs-actual views."""
        return json_response(session.data())

    @router.get(f"{path}/matrix", responses=responses)
    async def matrix_form(session: Run) -> Response:
        """The matrix form of each layer's gradient, with shapes."""
        return json_response(session.matrix())

    @router.get(f"{path}/chain", responses=responses)
    async def chain_rule(session: Run, query: ChainDep) -> Response:
        """The chain rule for one weight or bias, with the current numbers filled in."""
        return query.answer(session)

    @router.get(f"{path}/slice", responses=responses)
    async def error_slice(session: Run, query: ChainDep) -> Response:
        """E against one weight or bias around its value (the others fixed), slope, next value."""
        return await query.answer_slice(session)

    @router.get(f"{path}/trace", responses=responses)
    async def trace_step(session: Run) -> Response:
        """The next step phase by phase: forward, error, backward, the optimizer's real update."""
        return json_response(session.trace())
