"""HTML pages rendered with Jinja2: `/` is the visualiser. Scripts are external ES modules."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app import __version__
from app.assets import STATIC
from app.vendor import plotly_url

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_PRESET = "article"
# The CSP (script-src 'self': no inline script or handler anywhere) comes from the app-wide
# security middleware (app.security), as for every page.
PAGE_HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def page_context(**extra: object) -> dict[str, object]:
    """Values every page's base template needs (asset paths, version for cache busting)."""
    return {
        "version": __version__,
        "static_prefix": STATIC.prefix,  # /static/v{hash}: cached for a year (app.assets)
        "plotly_src": plotly_url(),
        "default_preset": DEFAULT_PRESET,
        **extra,
    }


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    """The visualiser; its whole configuration lives in the query string."""
    return templates.TemplateResponse(request, "index.html", page_context(), headers=PAGE_HEADERS)
