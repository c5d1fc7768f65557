"""Plotly.js from the installed `plotly` package: the page works with no internet."""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.web.static import IMMUTABLE as CACHE
from app.web.static import REVALIDATE, accepts_gzip

router = APIRouter(include_in_schema=False)


@functools.cache
def plotly_raw() -> tuple[bytes, str]:
    """The script and its ETag (read on first use, kept in memory)."""
    raw = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return raw, '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


@functools.cache
def plotly_zipped() -> bytes:
    """The script gzipped once (about 1.5 MB instead of 4.8)."""
    return gzip.compress(plotly_raw()[0], compresslevel=9, mtime=0)


def plotly_tag() -> str:
    """The version in the script's URL: 12 hex digits of its digest."""
    return plotly_raw()[1][1:13]


def plotly_url() -> str:
    """The URL pages load Plotly from: versioned, so it may be cached for a year."""
    return f"/vendor/{plotly_tag()}/plotly.min.js"


def _serve(request: Request, cache: str) -> Response:
    """Gzipped when the client accepts it; 304 when the ETag matches."""
    raw, etag = plotly_raw()  # sync routes: the first read and gzip run in a worker thread
    headers = {"Cache-Control": cache, "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(plotly_zipped(), media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)


@router.get("/vendor/{tag}/plotly.min.js")
def plotly_versioned(request: Request, tag: str) -> Response:
    """The current version's URL: cached for a year; an old one is served, but revalidated."""
    return _serve(request, CACHE if tag == plotly_tag() else REVALIDATE)


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """The unversioned URL still works; revalidated, as the file changes with the package."""
    return _serve(request, REVALIDATE)
