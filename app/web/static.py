"""Static files, compressed once and cached for a year under a versioned URL.

`/static/v{hash}/js/main.js`: `hash` is a digest of every file under static/, so any change to
any file gives every file a new URL, and the browser may keep each one forever
(`Cache-Control: public, max-age=31536000, immutable`). The version sits in the path, not in a
query string, so ES modules that import `./api.js` resolve to the same versioned folder.

`/static/js/main.js` (no version) and an old version still answer, with the current file and
`Cache-Control: no-cache` (revalidated by ETag): an old page or a bookmarked link keeps working,
and nothing but the current version is ever cached as immutable.

Text files are gzipped once (level 9) and kept in memory with the plain bytes; the gzipped copy
goes to clients that accept it (`Vary: Accept-Encoding`). JavaScript is sent with its
comment-only lines emptied (app.web.slim: the same lines, a quarter fewer gzipped bytes).
A file edited while the server runs is read again (its size or modification time changed), and
the version follows.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import mimetypes
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from app.paths import STATIC_DIR
from app.web.slim import slim_js

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
VERSION = re.compile(r"v[0-9a-f]{12}")
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
CHECK_SECONDS = 1.0  # how stale the version may be after a file changes (development)
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}
SLIM = (".js", ".mjs")  # sent without their comment-only lines

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, gzipped bytes (None when not worth it), type, ETag, freshness key."""

    raw: bytes
    zipped: bytes | None
    media_type: str
    etag: str
    key: tuple[int, int]  # (mtime_ns, size) when read


def media_type(path: Path) -> str:
    """The Content-Type of a static file (JavaScript modules need a JavaScript type)."""
    guessed = TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    kind = guessed or "application/octet-stream"
    if kind.startswith("text/") or kind == "image/svg+xml":
        kind += "; charset=utf-8"
    return kind


def load(path: Path, key: tuple[int, int]) -> Asset:
    """Read a file (JavaScript without its comment-only lines) and compress it."""
    raw = path.read_bytes()
    if path.suffix.lower() in SLIM:
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-8: sent as it is
            raw = slim_js(raw.decode("utf-8")).encode("utf-8")
    kind = media_type(path)
    zipped = None
    if kind.startswith(COMPRESSIBLE):
        packed = gzip.compress(raw, compresslevel=9, mtime=0)
        zipped = packed if len(packed) < len(raw) else None
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    return Asset(raw, zipped, kind, etag, key)


class StaticAssets:
    """The files under a folder, each read and compressed once, and the folder's version."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._assets: dict[str, Asset] = {}
        self._version: tuple[tuple[tuple[str, int, int], ...], str] | None = None
        self._checked = -CHECK_SECONDS
        self._lock = threading.Lock()  # sync routes run in worker threads

    def _files(self) -> list[tuple[str, int, int]]:
        """Every file's relative path, mtime_ns and size (no dot files)."""
        out = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                st = path.stat()
                out.append((path.relative_to(self.root).as_posix(), st.st_mtime_ns, st.st_size))
        return out

    @property
    def version(self) -> str:
        """`v` and 12 hex digits of a digest over every file's path and content.

        The folder is looked at again at most once a second: a room of 500 opening the page
        at once asks for it 10,000 times.
        """
        cached = self._version
        now = time.monotonic()
        if cached is not None and now - self._checked < CHECK_SECONDS:
            return cached[1]
        self._checked = now
        files = tuple(self._files()) if self.root.is_dir() else ()
        if cached is not None and cached[0] == files:
            return cached[1]
        digest = hashlib.sha256()
        for rel, _, _ in files:
            asset = self.get(rel)
            digest.update(rel.encode() + b"\0" + (asset.etag.encode() if asset else b"") + b"\0")
        version = "v" + digest.hexdigest()[:12]
        self._version = (files, version)
        return version

    @property
    def prefix(self) -> str:
        """The versioned base URL of the static files, e.g. `/static/v0123456789ab`."""
        return f"/static/{self.version}"

    def get(self, rel: str) -> Asset | None:
        """The file at a relative path, fresh from disk if it changed; None if there is none."""
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        path = self.root.joinpath(*parts)
        try:
            st = path.stat()
        except (OSError, ValueError):
            return None
        if not path.is_file():
            return None
        key = (st.st_mtime_ns, st.st_size)
        asset = self._assets.get(rel)
        if asset is None or asset.key != key:
            with self._lock:
                asset = load(path, key)
                self._assets[rel] = asset
        return asset


STATIC = StaticAssets(STATIC_DIR)


def respond(request: Request, asset: Asset, cache: str) -> Response:
    """The file, gzipped if the client accepts it; 304 when its ETag matches."""
    headers = {"Cache-Control": cache, "ETag": asset.etag}
    if asset.zipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.raw
    if asset.zipped is not None and accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        body = asset.zipped
    return Response(body, media_type=asset.media_type, headers=headers)


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip;q=0` does not)."""
    for item in header.lower().split(","):
        name, _, params = item.partition(";")
        if name.strip() not in ("gzip", "*"):
            continue
        params = params.strip()
        if not params.startswith("q="):
            return True
        try:
            return float(params[2:]) > 0
        except ValueError:
            return False
    return False


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(request: Request, path: str) -> Response:
    """A versioned URL of the current version: cached for a year; anything else: revalidated."""
    version, _, rest = path.partition("/")
    if VERSION.fullmatch(version) and rest:
        asset = STATIC.get(rest)
        if asset is not None:
            current = version == STATIC.version
            return respond(request, asset, IMMUTABLE if current else REVALIDATE)
    asset = STATIC.get(path)
    if asset is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return respond(request, asset, REVALIDATE)
