"""REST routes for the catalogue: health, presets, data sets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.domain.presets import dataset_list, preset_list
from app.engine.datasets import DATASET_INFO
from app.web.deps import StoreDep
from app.web.schemas import DatasetOut, Health, PresetOut

health_router = APIRouter(tags=["health"])
presets_router = APIRouter(prefix="/api/presets", tags=["presets"])
datasets_router = APIRouter(prefix="/api/datasets", tags=["datasets"])


@health_router.get("/healthz", response_model=Health)
async def healthz(store: StoreDep) -> dict[str, str | None]:
    """Liveness probe; `peer` names the cluster peer that answered (null: one process)."""
    cluster = store.cluster
    return {"status": "ok", "peer": cluster.peer if cluster is not None else None}


@presets_router.get("", response_model=list[PresetOut])
async def list_presets() -> list[dict[str, Any]]:
    """Named starting points; `article` is the article's worked example."""
    return preset_list()


@datasets_router.get("", response_model=list[DatasetOut])
async def list_datasets() -> list[dict[str, Any]]:
    """Built-in data sets: inputs, outputs, parameters and the settings that train them."""
    return dataset_list(DATASET_INFO)


routers = [health_router, presets_router, datasets_router]
