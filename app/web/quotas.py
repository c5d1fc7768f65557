"""Quotas per client address: how many sessions and rooms one address may hold at once.

One address alone must never fill the server: its sessions and rooms are counted and refused
with a 429 that says what to do. The defaults leave room for a whole workshop behind one NAT to
fork the room (`max_sessions_per_ip` over `max_participants`) while `max_sessions` stays above
what one address may hold. A creation reserves its place before the run is made (concurrent
creations never pass the limit) and, on peers sharing a Redis, the count is the cluster's
(app/live/quotas.py).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from app.domain.errors import FullError
from app.live.fairness import client_address
from app.live.quotas import AddressQuota, ClusterCap, Reservation
from app.web.deps import services


def _quota(request: Request, kind: str, limit: int, alive: Callable[[str], bool]) -> AddressQuota:
    """The app's quota of this kind, created on first use (counted in Redis on a peer)."""
    name = f"{kind}_quota"
    found: AddressQuota | None = getattr(request.app.state, name, None)
    if found is None:
        cluster = services(request).store.cluster
        found = AddressQuota(kind, limit, alive, cluster.redis if cluster is not None else None)
        setattr(request.app.state, name, found)
    return found


def session_quota(request: Request) -> AddressQuota:
    """Sessions (created or forked) per address."""
    found = services(request)
    settings, store = found.settings, found.store
    return _quota(request, "session", settings.max_sessions_per_ip, store.has)


def room_quota(request: Request) -> AddressQuota:
    """Workshop rooms per address."""
    found = services(request)
    settings, rooms = found.settings, found.rooms
    return _quota(request, "room", settings.max_rooms_per_ip, rooms.has)


def _cap(request: Request, kind: str) -> ClusterCap | None:
    """The cluster's cap on runs of this kind (None alone: the registry's own check holds)."""
    name = f"{kind}_cap"
    found: ClusterCap | None = getattr(request.app.state, name, None)
    if found is None:
        found_services = services(request)
        registry = found_services.store if kind == "session" else found_services.rooms
        cluster = registry.cluster
        if cluster is None:
            return None
        found = ClusterCap(kind, registry.cap, cluster.redis)
        setattr(request.app.state, name, found)
    return found


async def _hold_cap(request: Request, kind: str, place: Reservation, full: str) -> None:
    """Reserve the cluster-wide place beside the address's: 429 (`full`) at the cap."""
    cap = _cap(request, kind)
    if cap is None:
        return
    try:
        rid = await cap.reserve()
    except Exception:
        await place.release()
        raise
    if rid is None:
        await place.release()
        raise FullError(full)
    place.cap = (cap, rid)


async def reserve_session(request: Request) -> Reservation:
    """A place for one more session of this address, and in the cluster; 429 if none."""
    quota = session_quota(request)
    reservation = await quota.reserve(client_address(request.scope))
    if reservation is None:
        minutes = services(request).settings.session_idle_seconds / 60
        raise FullError(
            f"your address already holds {quota.limit} sessions, the most one address may: "
            "close tabs you no longer use (their sessions expire after "
            f"{minutes:g} minutes unused) or delete one, then try again",
        )
    await _hold_cap(request, "session", reservation, services(request).store.full_message())
    return reservation


async def reserve_room(request: Request) -> Reservation:
    """A place for one more room of this address; 429 if it holds as many as it may."""
    quota = room_quota(request)
    reservation = await quota.reserve(client_address(request.scope))
    if reservation is None:
        minutes = services(request).settings.room_idle_seconds / 60
        raise FullError(
            f"your address already holds {quota.limit} workshop rooms, the most one address "
            f"may: use one of them, or wait until an unused one ends ({minutes:g} minutes "
            "after it was last used)",
        )
    await _hold_cap(request, "room", reservation, services(request).rooms.full_message())
    return reservation
