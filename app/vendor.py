"""Plotly.js from the installed `plotly` package: the page works with no internet."""

from __future__ import annotations

import functools
import gzip
import hashlib
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

router = APIRouter(include_in_schema=False)

CACHE = "public, max-age=31536000, immutable"


@functools.cache
def plotly_asset() -> tuple[bytes, bytes, str]:
    """The script, gzipped once, and its ETag (read on first use, kept in memory)."""
    raw = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    return raw, gzip.compress(raw, compresslevel=9, mtime=0), etag


@router.get("/vendor/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """Gzipped when the client accepts it; cached for a year (the file changes with the package)."""
    raw, zipped, etag = plotly_asset()  # a sync route: the first gzip runs in a worker thread
    headers = {"Cache-Control": CACHE, "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(zipped, media_type="text/javascript", headers=headers)
    return Response(raw, media_type="text/javascript", headers=headers)
