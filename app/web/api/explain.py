"""The read-only explanations of a run, for sessions and rooms alike: data, matrix, chain, slice,
trace, claims. One definition, registered on each router with the dependency that finds the run."""

# No `from __future__ import annotations` here: FastAPI must see the local `Run` alias itself.

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from app.domain.claims import check_claims, claims_work
from app.domain.errors import InvalidError
from app.live.stream import Driver
from app.web.deps import SettingsDep
from app.web.responses import json_response
from app.web.work import charge_read, charge_request, fixes_cost


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

    async def answer(self, runner: Driver, name: str, http: Request) -> Response:
        """The run's chain breakdown or slope view, or a 422 naming what is wrong."""
        if self.kind == "weight" and self.i is None:
            raise InvalidError("i: required for kind=weight")
        charge_read(http, name, runner.session)
        params = {"kind": self.kind, "layer": self.layer, "i": self.i, "j": self.j}
        return json_response(await runner.read(name, **params))


ChainDep = Annotated[ChainQuery, Depends()]


def add_explanations(
    router: APIRouter,
    path: str,
    runner_of: Callable[..., Driver],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """GET {path}/data, /matrix, /chain, /slice, /trace, /claims and /fixes on `router`."""
    Run = Annotated[Driver, Depends(runner_of)]

    @router.get(f"{path}/data", responses=responses)
    async def data_set(runner: Run) -> Response:
        """The data set, for the decision boundary and predicted-vs-actual views."""
        return json_response(await runner.read("data"))

    @router.get(f"{path}/matrix", responses=responses)
    async def matrix_form(runner: Run, http: Request) -> Response:
        """The matrix form of each layer's gradient, with shapes."""
        charge_read(http, "matrix", runner.session)
        return json_response(await runner.read("matrix"))

    @router.get(f"{path}/chain", responses=responses)
    async def chain_rule(runner: Run, query: ChainDep, http: Request) -> Response:
        """The chain rule for one weight or bias, with the current numbers filled in."""
        return await query.answer(runner, "chain", http)

    @router.get(f"{path}/slice", responses=responses)
    async def error_slice(runner: Run, query: ChainDep, http: Request) -> Response:
        """E against one weight or bias around its value (the others fixed), slope, next value."""
        return await query.answer(runner, "slice", http)

    @router.get(f"{path}/trace", responses=responses)
    async def trace_step(runner: Run, http: Request) -> Response:
        """The next step phase by phase: forward, error, backward, the optimizer's real update."""
        charge_read(http, "trace", runner.session)
        return json_response(await runner.read("trace"))

    @router.get(f"{path}/claims", responses=responses)
    async def article_claims(runner: Run, settings: SettingsDep, http: Request) -> Response:
        """The article's closing claims measured on this run: backprop against central
        differences, every layer at once against the article's order, the mean phase."""
        check_claims(runner.session, settings)
        charge_request(http, claims_work(runner.session))
        return json_response(await runner.read("claims"))

    @router.get(f"{path}/fixes", responses=responses)
    async def proven_fixes(runner: Run, http: Request, settings: SettingsDep) -> Response:
        """The findings, each fix tried on a copy first: offered (`fix`) only if E fell."""
        work = fixes_cost(runner.session)
        if work > settings.max_work_per_request:
            raise InvalidError(
                "fixes: trying them on copies of a network this large is too much for this "
                "server; the findings' lessons still apply"
            )
        charge_request(http, work)
        return json_response(await runner.read("fixes"))
