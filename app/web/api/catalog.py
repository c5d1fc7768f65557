"""REST routes for the catalogue: health, presets, data sets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.domain.presets import dataset_list, preset_list
from app.engine.datasets import DATASET_INFO
from app.web.deps import StoreDep
from app.web.health import problems
from app.web.schemas import DatasetOut, Health, HealthFailing, PresetOut

health_router = APIRouter(tags=["health"])
presets_router = APIRouter(prefix="/api/presets", tags=["presets"])
datasets_router = APIRouter(prefix="/api/datasets", tags=["datasets"])


@health_router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": HealthFailing, "description": "the pages cannot be served"}},
)
async def healthz(store: StoreDep) -> Any:
    """200 when every page can be served (templates, static files and Plotly readable), else 503
    naming what is missing; `peer` names the cluster peer that answered (null: one process)."""
    cluster = store.cluster
    peer = cluster.peer if cluster is not None else None
    found = problems()
    if found:
        failing = HealthFailing(peer=peer, problems=found)
        return JSONResponse(failing.model_dump(), status_code=503)
    return {"status": "ok", "peer": peer}


@presets_router.get("", response_model=list[PresetOut])
async def list_presets() -> list[dict[str, Any]]:
    """Named starting points; `article` is the article's worked example."""
    return preset_list()


@datasets_router.get("", response_model=list[DatasetOut])
async def list_datasets() -> list[dict[str, Any]]:
    """Built-in data sets: inputs, outputs, parameters and the settings that train them."""
    return dataset_list(DATASET_INFO)


routers = [health_router, presets_router, datasets_router]
