"""Which Host a request may name, and which origin may change state (pure ASGI middlewares).

- `HostGuard` (DNS rebinding): a page on evil.example whose name later resolves to 127.0.0.1
  reaches this server as same-origin, with `Host: evil.example`. Only known names pass:
  localhost, the host of `public_url`, `allowed_hosts`; and any IP address literal (a
  rebinding attack needs a name, and a LAN workshop uses the server's address).
- `CrossSiteGuard` (CSRF): a POST, PUT, PATCH or DELETE whose `Origin` is another site, or whose
  `Sec-Fetch-Site` says cross-site, is refused with or without a body (a `text/plain` POST
  needs no preflight). Requests with neither header (curl, scripts, tests) pass.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.settings import Settings
from app.web.origin import same_origin

# "testserver": the name Starlette's TestClient sends (one label, never a public name).
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header (latin-1), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1").strip()
    return None


def host_name(host: str) -> str | None:
    """`name` of `name:port` or `[v6]:port`, lower case without a trailing dot; None if odd."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or (host[end + 1 :] and not host[end + 1 :].startswith(":")):
            return None
        return host[1:end]
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The names this server answers to."""

    def __init__(self, settings: Settings) -> None:
        names = {n.strip().lower().rstrip(".") for n in settings.allowed_hosts if n.strip()}
        self.any = "*" in names
        self.names = LOCAL_NAMES | names
        if settings.public_url:
            public = urlsplit(settings.public_url).hostname
            if public:
                self.names |= {public.lower().rstrip(".")}

    def allows(self, host: str | None) -> bool:
        """A Host header we answer (no Host at all is no browser: allowed)."""
        if self.any or host is None:
            return True
        name = host_name(host)
        return name is not None and (name in self.names or _is_ip(name))


class HostGuard:
    """400 for an HTTP request naming an unknown Host; a WebSocket is refused (403)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.policy = HostPolicy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the Host, then pass through untouched."""
        if scope["type"] not in ("http", "websocket") or self.policy.allows(
            _header(scope, b"host")
        ):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "host not allowed"})
            return
        detail = (
            "this server does not answer to that host name; if it is yours, add it to "
            "BACKPROP_ALLOWED_HOSTS (or set BACKPROP_PUBLIC_URL)"
        )
        await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)


class CrossSiteGuard:
    """403 for a state-changing request sent by another site's page."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Origin and Sec-Fetch-Site on unsafe methods."""
        if scope["type"] != "http" or scope.get("method") not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin = _header(scope, b"origin")
        site = (_header(scope, b"sec-fetch-site") or "").lower()
        if origin is not None:
            foreign = not same_origin(HTTPConnection(scope), origin, self.settings)
        else:
            foreign = site in ("cross-site", "same-site")
        if not foreign:
            await self.app(scope, receive, send)
            return
        detail = "cross-site request refused: this change must come from the server's own pages"
        await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)


def install(app: ASGIApp, settings: Settings) -> None:
    """Add both guards outside every other middleware (call after the others are added)."""
    add = app.add_middleware  # type: ignore[attr-defined]
    add(CrossSiteGuard, settings=settings)
    add(HostGuard, settings=settings)
