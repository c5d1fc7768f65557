"""Quotas per client address: how many sessions and rooms one address may hold at once.

One address alone must never fill the server: its sessions and rooms are counted and refused
with a 429 that says what to do. The defaults leave room for a whole workshop behind one NAT to
fork the room (`max_sessions_per_ip` over `max_participants`) while `max_sessions` stays above
what one address may hold. Ids that are gone (deleted, expired) are forgotten when next counted.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from app.domain.errors import FullError
from app.live.fairness import client_address
from app.web.deps import services


class AddressQuota:
    """Ids held per address; `alive(id)` says whether one still exists."""

    def __init__(self, limit: int, alive: Callable[[str], bool]) -> None:
        self.limit = limit
        self._alive = alive
        self._held: dict[str, set[str]] = {}

    def count(self, address: str) -> int:
        """Live ids held by `address` (dead ones are dropped)."""
        ids = self._held.get(address)
        if not ids:
            return 0
        ids.intersection_update({i for i in ids if self._alive(i)})
        if not ids:
            del self._held[address]
        return len(ids)

    def full(self, address: str) -> bool:
        """`address` holds as many as it may."""
        return self.count(address) >= self.limit

    def add(self, address: str, item: str) -> None:
        """Count a new id against `address`."""
        self._held.setdefault(address, set()).add(item)


def _quota(request: Request, name: str, limit: int, alive: Callable[[str], bool]) -> AddressQuota:
    """The app's quota called `name`, created on first use."""
    found: AddressQuota | None = getattr(request.app.state, name, None)
    if found is None:
        found = AddressQuota(limit, alive)
        setattr(request.app.state, name, found)
    return found


def session_quota(request: Request) -> AddressQuota:
    """Sessions (created or forked) per address."""
    found = services(request)
    settings, store = found.settings, found.store
    return _quota(
        request, "session_quota", settings.max_sessions_per_ip, lambda sid: store.has(sid)
    )


def room_quota(request: Request) -> AddressQuota:
    """Workshop rooms per address."""
    found = services(request)
    settings, rooms = found.settings, found.rooms
    return _quota(
        request, "room_quota", settings.max_rooms_per_ip, lambda code: rooms.get(code) is not None
    )


def check_sessions(request: Request) -> None:
    """429 if this address holds as many sessions as it may."""
    quota = session_quota(request)
    if quota.full(client_address(request.scope)):
        minutes = services(request).settings.session_idle_seconds / 60
        raise FullError(
            f"your address already holds {quota.limit} sessions, the most one address may: "
            "close tabs you no longer use (their sessions expire after "
            f"{minutes:g} minutes unused) or delete one, then try again",
        )


def check_rooms(request: Request) -> None:
    """429 if this address holds as many rooms as it may."""
    quota = room_quota(request)
    if quota.full(client_address(request.scope)):
        minutes = services(request).settings.room_idle_seconds / 60
        raise FullError(
            f"your address already holds {quota.limit} workshop rooms, the most one address "
            f"may: use one of them, or wait until an unused one ends ({minutes:g} minutes "
            "after it was last used)",
        )


def count_session(request: Request, session_id: str) -> None:
    """A new session held by this request's address."""
    session_quota(request).add(client_address(request.scope), session_id)


def count_room(request: Request, code: str) -> None:
    """A new room held by this request's address."""
    room_quota(request).add(client_address(request.scope), code)
