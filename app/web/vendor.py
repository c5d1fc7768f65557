"""Plotly.js, served from this repository: the page works with no internet.

The page draws only scatter traces (lines and markers; the data plane's surface is a canvas),
so it loads plotly.js's "basic" partial bundle (scatter, bar, pie: 1.2 MB, 0.39 MB gzipped)
instead of the full one the `plotly` Python package ships (4.8 MB, 1.47 MB gzipped). The file
is committed under app/web/vendor_js/, pinned to a version and checked against its SHA-256 on
first use (docs/frontend.md says how to update it).
"""

from __future__ import annotations

import functools
import gzip
import hashlib

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.paths import VENDOR_DIR
from app.web.static import IMMUTABLE as CACHE
from app.web.static import REVALIDATE, accepts_gzip

router = APIRouter(include_in_schema=False)

# npm: plotly.js-basic-dist-min@4.1.1, file plotly-basic.min.js (the version the pinned
# `plotly` Python package shipped, so the page's calls behave as before).
PLOTLY_VERSION = "4.1.1"
PLOTLY_FILE = VENDOR_DIR / f"plotly-basic-{PLOTLY_VERSION}.min.js"
PLOTLY_SHA256 = "99784e3abfb07b142a15e521a439e6d9addceadb3f79553fd24c72774f0649ba"


@functools.cache
def plotly_raw() -> tuple[bytes, str]:
    """The script and its ETag (read on first use, kept in memory)."""
    raw = PLOTLY_FILE.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PLOTLY_SHA256:
        raise RuntimeError(f"{PLOTLY_FILE.name} is not the pinned build (sha256 {digest})")
    return raw, '"' + digest[:32] + '"'


@functools.cache
def plotly_zipped() -> bytes:
    """The script gzipped once (0.39 MB instead of 1.2)."""
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
