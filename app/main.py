"""The application: create_app(settings) wires routes, WebSockets, static files and the store.

Importing this module does no I/O: nothing opens a file, a socket or Redis until create_app()
is called (`backprop-studio` calls it after parsing its command line; `uvicorn --factory
app.main:create_app` calls it with the settings from the environment).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__, paths
from app.live.cluster import open_cluster
from app.live.fairness import WorkBudgets
from app.live.rooms import RoomRegistry
from app.live.rooms import reaper_interval as room_reaper_interval
from app.live.route import parse_slot
from app.live.sessions import SessionStore
from app.live.state import RedisBackend, open_persister, restore_all
from app.settings import Settings
from app.web import docs_offline, pages, pages_rooms, vendor
from app.web import static as assets
from app.web.api import catalog as api
from app.web.api import quiz as api_quiz
from app.web.api import rooms as api_rooms
from app.web.api import sessions as api_sessions
from app.web.compress import Gzip
from app.web.deps import Services
from app.web.hosts import install as install_host_checks
from app.web.lookups import LookupLimit
from app.web.middleware import HARDENING_RESPONSES, install_error_handlers, install_middleware
from app.web.ws import rooms as ws_rooms
from app.web.ws import sessions as ws

STATIC_DIR: Path = paths.STATIC_DIR  # static/ in a checkout, app/_static when installed

DESCRIPTION = """Watch backpropagation happen: a NumPy network trains step by step on the server
and every frame (weights, gradients, loss) streams to the page.

Live frames: `ws://<host>/ws/sessions/{id}` (messages `step`, `play`, `pause`, `reset`, `set`).
Workshop rooms: `ws://<host>/ws/rooms/{code}`; `hello` with the presenter token lets a
connection drive the room, `select` shares the presenter's selection.
"""


def reaper_interval(settings: Settings) -> float:
    """Check for idle sessions often enough to honour the idle time, never in a busy loop."""
    return max(0.05, min(60.0, settings.session_idle_seconds / 4))


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh application with its own settings and session store."""
    settings = settings if settings is not None else Settings()
    store = SessionStore(
        settings.max_sessions,
        settings.session_idle_seconds,
        grace_seconds=settings.idle_grace_seconds,
    )
    rooms = RoomRegistry(
        settings.max_rooms,
        settings.max_participants,
        settings.room_idle_seconds,
        grace_seconds=settings.idle_grace_seconds,
    )
    store.route = rooms.route = parse_slot(settings.route)  # behind the proxy (app/live/route.py)
    persist = open_persister(settings.state_dir, settings.redis_url)  # None: memory only
    store.persist = rooms.persist = persist
    cluster = open_cluster(settings.redis_url, settings)  # peers sharing Redis (None: one process)
    if cluster is not None:
        store.cluster = rooms.cluster = cluster
        cluster.registries = {store.noun: store, rooms.noun: rooms}
        cluster.notice_handlers[rooms.noun] = rooms.noticed
        cluster.tick_hooks.append(rooms.share_counts)
        cluster.tick_hooks.append(store.stop_unwatched)
        if persist is not None and isinstance(persist.backend, RedisBackend):
            persist.backend.peer = cluster.peer
            persist.fence = cluster.token_of  # every write carries its lease's fencing token
            persist.on_stale = cluster.stale

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if persist is not None:  # before the first request: a page reconnecting finds its run
            if cluster is None:  # a cluster peer takes runs over as they are asked for
                restore_all(persist, store, rooms, settings.max_samples)
            persist.start()
        if cluster is not None:
            await cluster.start()
        reaper = asyncio.create_task(store.run_reaper(reaper_interval(settings)))
        room_reaper = asyncio.create_task(
            rooms.run_reaper(room_reaper_interval(settings.room_idle_seconds))
        )
        try:
            yield
        finally:
            reaper.cancel()
            room_reaper.cancel()
            await asyncio.gather(reaper, room_reaper, return_exceptions=True)
            if persist is not None:
                await persist.close()  # first: the last snapshots; closing rooms then deletes none
            if cluster is not None:
                await cluster.close()  # leases given back: another peer takes over at once
            await rooms.close()
            await store.close()

    app = FastAPI(
        title="Backprop Studio",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=HARDENING_RESPONSES,  # any route may answer these (SECURITY.md)
        # /docs and /redoc are served from installed files (docs_offline.py), not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = Services(settings, store, rooms)
    app.state.work_budgets = WorkBudgets.from_settings(settings)  # per client address
    # Innermost: pages and JSON gzipped for a slow link (app.web.compress; static files come
    # zipped already, WebSockets pass untouched).
    app.add_middleware(Gzip)
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Outside CORS: body cap, security headers and the WebSocket guard see every request.
    app.state.connections = install_middleware(app, settings)
    # Room codes cannot be enumerated; a code held here is looked up for free (a whole hall).
    app.add_middleware(LookupLimit, settings=settings, find=rooms.find)
    install_host_checks(app, settings)  # outermost: Host (DNS rebinding), cross-site writes
    install_error_handlers(app)
    for router in api.routers:
        app.include_router(router)
    app.include_router(api_sessions.router)
    app.include_router(ws.router)
    app.include_router(api_rooms.router)
    app.include_router(api_quiz.router)  # the room's questions as CSV
    app.include_router(ws_rooms.router)
    app.include_router(vendor.router)
    app.include_router(docs_offline.router)
    app.include_router(pages.router)
    app.include_router(pages_rooms.router)
    # /static/v{hash}/...: gzipped once, cached for a year; unversioned paths still answer.
    app.include_router(assets.router)
    return app
