"""HTML pages rendered with Jinja2: `/` is the visualiser. Scripts are external ES modules."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter

from app import __version__
from app.domain.presets import PRESETS, dataset_list, preset_list
from app.engine.datasets import DATASET_INFO
from app.engine.losses import FORMULAS
from app.paths import TEMPLATES_DIR
from app.web.deps import get_settings
from app.web.modules import early_modules, module_preloads
from app.web.schemas import DatasetOut, PresetOut
from app.web.static import STATIC
from app.web.vendor import plotly_url

DEFAULT_PRESET = "article"
# The CSP (script-src 'self': no inline script or handler anywhere) comes from the app-wide
# security middleware (app.web.middleware), as for every page.
PAGE_HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def server_facts(request: Request) -> dict[str, object]:
    """What the page must know of the server (limits, formulas), so no fact is copied into JS."""
    settings = get_settings(request)
    return {
        "facts": {
            "max_hidden_layers": settings.max_layers - 2,
            "max_neurons": settings.max_neurons,
            # A CSV travels inside a JSON body, where escaping can double its size.
            "max_csv_bytes": settings.max_body_bytes // 2,
            # A room's `configure` (CSV included) is one WebSocket message (docs/api.md).
            "max_message_bytes": settings.max_message_bytes,
            "loss_formulas": FORMULAS,
        }
    }


templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[server_facts])
templates.env.globals["module_preloads"] = module_preloads  # base.html: <link rel=modulepreload>
templates.env.globals["early_modules"] = early_modules  # ... and which of them go first


def _as_served(model: type[Any], items: list[dict[str, Any]]) -> list[Any]:
    """Items as the route's response_model writes them (validated, then dumped as JSON)."""
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return list(adapter.dump_python(adapter.validate_python(items), mode="json"))


@functools.cache
def catalog() -> dict[str, Any]:
    """`/api/presets` and `/api/datasets` as they answer, served inside the page (one round trip
    fewer on a slow link before the menus fill and the first session is asked for)."""
    return {
        "presets": _as_served(PresetOut, preset_list()),
        "datasets": _as_served(DatasetOut, dataset_list(DATASET_INFO)),
    }


def page_context(**extra: object) -> dict[str, object]:
    """Values every page's base template needs (asset paths, version for cache busting)."""
    return {
        "version": __version__,
        "static_prefix": STATIC.prefix,  # /static/v{hash}: cached for a year (app.web.static)
        "plotly_src": plotly_url(),
        "default_preset": DEFAULT_PRESET,
        "catalog": catalog(),
        **extra,
    }


# network-view.js: the diagram is 80 + 46 px per neuron of its widest layer (16 drawn at
# most), between 260 and 520 px tall, whatever its width.
_NET_DRAWN, _NET_MIN, _NET_MAX = 16, 260, 520


def network_height(query: dict[str, str]) -> int:
    """The diagram's height for the network a link describes (`layers=4-5-1` or a preset), so
    the page keeps its place before the first frame draws it (nothing below moves)."""
    sizes: list[int] = []
    try:
        sizes = [int(n) for n in query.get("layers", "").split("-") if n]
    except ValueError:
        sizes = []
    if not sizes:
        preset = PRESETS.get(query.get("preset", DEFAULT_PRESET)) or PRESETS[DEFAULT_PRESET]
        sizes = list(preset["config"]["layers"])
    widest = min(_NET_DRAWN, max(sizes))
    return max(_NET_MIN, min(_NET_MAX, 80 + widest * 46))


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The visualiser; its whole configuration lives in the query string."""
    context = page_context(network_height=network_height(dict(request.query_params)))
    return templates.TemplateResponse(request, "index.html", context, headers=PAGE_HEADERS)
