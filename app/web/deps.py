"""Typed access to what create_app wires (settings, sessions, rooms): no cast at any call site."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from app.live.rooms import RoomRegistry
from app.live.sessions import SessionStore
from app.settings import Settings


@dataclass
class Services:
    """The app's long-lived parts, one per app (tests make many apps in one process)."""

    settings: Settings
    store: SessionStore
    rooms: RoomRegistry


def services(conn: HTTPConnection) -> Services:
    """The services of the app serving this request or WebSocket."""
    return services_of(conn.app)


def services_of(app: object) -> Services:
    """The services create_app gave `app` (a TestClient's app is typed as any ASGI app)."""
    found = getattr(getattr(app, "state", None), "services", None)
    assert isinstance(found, Services), "create_app sets app.state.services"
    return found


def get_settings(conn: HTTPConnection) -> Settings:
    """The app's settings."""
    return services(conn).settings


def get_store(conn: HTTPConnection) -> SessionStore:
    """The app's sessions."""
    return services(conn).store


def get_rooms(conn: HTTPConnection) -> RoomRegistry:
    """The app's workshop rooms."""
    return services(conn).rooms


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
RoomsDep = Annotated[RoomRegistry, Depends(get_rooms)]


def join_url(conn: HTTPConnection, settings: Settings, code: str) -> str:
    """The link participants open: the configured public URL, else what the browser used."""
    base = settings.public_url or str(conn.base_url)
    return f"{base.rstrip('/')}/room/{code}"
