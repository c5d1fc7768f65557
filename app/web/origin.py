"""The one Origin check: which browser pages may open a WebSocket or change state here."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from app.settings import Settings


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """No Origin (not a browser), the server's own origin, or one of settings.allowed_origins."""
    origin = conn.headers.get("origin")
    return origin is None or same_origin(conn, origin, settings)


def same_origin(conn: HTTPConnection, origin: str, settings: Settings) -> bool:
    """The Origin is this server's own (by Host and scheme) or one of allowed_origins."""
    origin = origin.strip().rstrip("/").lower()
    allowed = {o.lower() for o in settings.allowed_origins}
    if "*" in allowed or origin in allowed:
        return True
    host = conn.headers.get("host", "").strip().lower()
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    parts = urlsplit(origin)
    return bool(host) and parts.scheme == scheme and parts.netloc == host and not parts.path
