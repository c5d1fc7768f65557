"""/docs and /redoc from files installed with the `fastapi-offline` package: no CDN, no internet."""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response

from app.web.static import REVALIDATE

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS = "/docs-assets"
OPENAPI_URL = "/openapi.json"
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def _read(name: str) -> bytes:
    """One of the package's files, read on first use and kept."""
    return (resources.files("fastapi_offline") / "static" / name).read_bytes()


@router.get(DOCS_URL)
def swagger_ui() -> HTMLResponse:
    """Swagger UI for /openapi.json."""
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title="Backprop Studio: API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
    )


@router.get(REDOC_URL)
def redoc() -> HTMLResponse:
    """ReDoc for /openapi.json, without Google Fonts."""
    return get_redoc_html(
        openapi_url=OPENAPI_URL,
        title="Backprop Studio: API",
        redoc_js_url=f"{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSETS}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSETS + "/{name}")
def asset(name: str) -> Response:
    """The Swagger UI and ReDoc scripts, style sheet and icon."""
    if name not in _FILES:
        raise HTTPException(404, "no such file")
    return Response(_read(name), media_type=_FILES[name], headers={"Cache-Control": REVALIDATE})
