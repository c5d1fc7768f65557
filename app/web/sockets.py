"""Who holds the server's WebSockets, and the rule that admits one more (docs/api.md).

Three kinds of socket:

- a presenter's (a room socket that proved the token): never refused; at most
  PRESENTER_SOCKETS per room, the longest idle of them closed to seat a new one;
- a roommate's (a room's participant, or a fork of a room): counted against its room's seats
  (`max_participants`) and its address's session quota, not against the address's socket cap,
  so a full room behind one NAT (a lecture hall) gets in;
- a viewer's (any other: a learner's own session): at most `max_connections_per_ip` per address,
  well under half of `max_connections`, so two addresses can never hold every socket.

At `max_connections` in all, a newcomer is seated by closing (error, then 1013) the longest-idle
socket of the address that holds the most, if that address holds at least two more than the
newcomer's own (never a presenter's; a viewer displaces only viewers, while a roommate displaces
that address's viewers first, then its roommates). Otherwise it is refused with 1013 and tries
again later. Idle: no message from the client since.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.settings import Settings

# The presenter's page proves the token in the handshake, so no cap ever turns it away:
# `new WebSocket(url, [PRESENTER_PROTOCOL, TOKEN_PROTOCOL + token])` (never in a URL or a log).
PRESENTER_PROTOCOL = "bp.presenter"
TOKEN_PROTOCOL = "bp.token."

VIEWER = "viewer"
ROOMMATE = "roommate"
PRESENTER = "presenter"
PRESENTER_SOCKETS = 8  # per room: a projector, a phone, a few tabs and reconnects in flight
RETRY_SECONDS = 2  # what a refused or shed page is told to wait before trying again
SHED_MESSAGE = (
    "the server is full: this connection was closed to seat someone from another address "
    "(yours holds the most); trying again in a moment"
)


def offered_token(scope: Mapping[str, Any]) -> str | None:
    """The presenter token a WebSocket handshake offers as a subprotocol, if any."""
    for protocol in scope.get("subprotocols") or ():
        if isinstance(protocol, str) and protocol.startswith(TOKEN_PROTOCOL):
            return protocol[len(TOKEN_PROTOCOL) :]
    return None


@dataclass(eq=False)
class Ticket:
    """One admitted socket."""

    ip: str
    kind: str
    room: str | None
    active: float  # when the client last sent something (or connected)
    shed: asyncio.Event = field(default_factory=asyncio.Event)
    live: bool = True


class SocketBook:
    """Open WebSockets by address and kind; admits and sheds by the rule above."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self.total = 0
        self.by_ip: Counter[str] = Counter()  # every kind
        self.viewers: Counter[str] = Counter()
        self._tickets: set[Ticket] = set()

    # ---- the rule ------------------------------------------------------------------------

    def admit(self, ip: str, kind: str, room: str | None = None) -> Ticket | str:
        """A ticket for one more socket of `kind` from `ip`, or why not."""
        s = self.settings
        if kind == PRESENTER:
            mine = [t for t in self._tickets if t.kind == PRESENTER and t.room == room]
            if len(mine) >= PRESENTER_SOCKETS:
                self._shed(min(mine, key=lambda t: t.active))
        else:
            if kind == VIEWER and self.viewers[ip] >= s.max_connections_per_ip:
                return (
                    f"too many live connections from your address (at most "
                    f"{s.max_connections_per_ip} besides workshop rooms); close some tabs and "
                    "try again"
                )
            if self.total >= s.max_connections:
                victim = self._victim(ip, kind)
                if victim is None:
                    return (
                        f"the server is at its limit of {s.max_connections} live connections; "
                        "try again in a moment"
                    )
                self._shed(victim)
        ticket = Ticket(ip, kind, room, self._clock())
        self._tickets.add(ticket)
        self.total += 1
        self.by_ip[ip] += 1
        if kind == VIEWER:
            self.viewers[ip] += 1
        return ticket

    def _victim(self, ip: str, kind: str) -> Ticket | None:
        """The socket to close for a newcomer from `ip` at the cap, if the rule allows one."""
        kinds = (VIEWER,) if kind == VIEWER else (VIEWER, ROOMMATE)
        holders = {t.ip for t in self._tickets if t.kind in kinds}
        if not holders:
            return None
        largest = max(holders, key=lambda a: self.by_ip[a])
        if self.by_ip[largest] < self.by_ip[ip] + 2:  # fair already: no ping-pong between two
            return None
        theirs = [t for t in self._tickets if t.ip == largest]
        for shed_kind in kinds:  # idle viewers before a room's participants
            found = [t for t in theirs if t.kind == shed_kind]
            if found:
                return min(found, key=lambda t: t.active)
        return None  # pragma: no cover - `largest` holds one of `kinds`

    # ---- bookkeeping ---------------------------------------------------------------------

    def promote(self, ticket: Ticket, room: str | None) -> None:
        """A socket proved the presenter token after it got in: never shed from now on."""
        if ticket.live and ticket.kind != PRESENTER:
            if ticket.kind == VIEWER:
                self.viewers[ticket.ip] -= 1
                if self.viewers[ticket.ip] <= 0:
                    del self.viewers[ticket.ip]
            ticket.kind, ticket.room = PRESENTER, room

    def touch(self, ticket: Ticket) -> None:
        """The client sent something: not idle."""
        ticket.active = self._clock()

    def release(self, ticket: Ticket) -> None:
        """The socket closed (once; a shed one was already counted out)."""
        if ticket.live:
            self._forget(ticket)

    def _shed(self, ticket: Ticket) -> None:
        """Count a socket out now and tell its connection to close."""
        self._forget(ticket)
        ticket.shed.set()

    def _forget(self, ticket: Ticket) -> None:
        """Out of every count; an address with none left is forgotten (bounded memory)."""
        ticket.live = False
        self._tickets.discard(ticket)
        self.total -= 1
        self.by_ip[ticket.ip] -= 1
        if self.by_ip[ticket.ip] <= 0:
            del self.by_ip[ticket.ip]
        if ticket.kind == VIEWER:
            self.viewers[ticket.ip] -= 1
            if self.viewers[ticket.ip] <= 0:
                del self.viewers[ticket.ip]


class Admission:
    """One connection's door: the route says what kind of socket it is, the book decides."""

    def __init__(self, book: SocketBook, ip: str) -> None:
        self.book = book
        self.ip = ip
        self.ticket: Ticket | None = None
        self.on_refusal: Callable[[str], None] | None = None  # the guard's rate-limited log

    def admit(self, kind: str, room: str | None = None) -> str | None:
        """Take a seat of `kind`; None if seated, else why not."""
        found = self.book.admit(self.ip, kind, room)
        if isinstance(found, str):
            if self.on_refusal is not None:
                self.on_refusal(found)
            return found
        self.ticket = found
        return None

    def promote(self, room: str | None) -> None:
        """This connection proved the presenter token."""
        if self.ticket is not None:
            self.book.promote(self.ticket, room)

    def release(self) -> None:
        """The connection ended."""
        if self.ticket is not None:
            self.book.release(self.ticket)
