"""The socket admission rule on its own (app/web/sockets.py), with a clock the test moves."""

from __future__ import annotations

from app.settings import Settings
from app.web.sockets import PRESENTER, PRESENTER_SOCKETS, ROOMMATE, VIEWER, SocketBook, Ticket


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def book(total: int = 10, per_ip: int = 3) -> tuple[SocketBook, Clock]:
    """A book with small caps and a test clock."""
    clock = Clock()
    return SocketBook(Settings(max_connections=total, max_connections_per_ip=per_ip), clock), clock


def seat(b: SocketBook, clock: Clock, ip: str, kind: str, room: str | None = None) -> Ticket:
    """Admit one socket a second after the last; it must get in."""
    clock.now += 1
    got = b.admit(ip, kind, room)
    assert isinstance(got, Ticket), got
    return got


def test_viewers_are_capped_per_address_roommates_by_their_room() -> None:
    b, clock = book(total=100, per_ip=3)
    for _ in range(3):
        seat(b, clock, "a", VIEWER)
    refused = b.admit("a", VIEWER)
    assert isinstance(refused, str) and "at most 3" in refused
    for _ in range(20):  # a room behind the same address: not held to the address cap
        seat(b, clock, "a", ROOMMATE, "ROOM")
    assert b.total == 23 and b.by_ip["a"] == 23 and b.viewers["a"] == 3


def test_at_the_cap_the_largest_holders_longest_idle_viewer_makes_way() -> None:
    b, clock = book(total=10, per_ip=10)
    big = [seat(b, clock, "big", VIEWER) for _ in range(4)]
    big += [seat(b, clock, "big", ROOMMATE, "R") for _ in range(2)]
    small = [seat(b, clock, "small", VIEWER) for _ in range(4)]
    b.touch(big[0])  # the oldest viewer spoke last: not the longest idle any more
    newcomer = seat(b, clock, "new", ROOMMATE, "R")
    shed = [t for t in big + small if t.shed.is_set()]
    assert shed == [big[1]]  # the largest holder's, a viewer before a participant, longest idle
    assert b.total == 10 and b.by_ip["big"] == 5 and newcomer.live
    b.release(big[1])  # its connection ends later: counted out once only
    assert b.total == 10


def test_a_participant_displaces_participants_a_viewer_only_viewers() -> None:
    b, clock = book(total=6, per_ip=6)
    hall = [seat(b, clock, "hall", ROOMMATE, "R") for _ in range(6)]
    refused = b.admit("new", VIEWER)  # a viewer never takes a room's participant's seat
    assert isinstance(refused, str) and "limit of 6" in refused
    seat(b, clock, "new", ROOMMATE, "S")
    assert [t for t in hall if t.shed.is_set()] == [hall[0]]


def test_no_ping_pong_between_two_equal_holders() -> None:
    b, clock = book(total=4, per_ip=4)
    for ip in ("a", "a", "b", "b"):
        seat(b, clock, ip, VIEWER)
    assert isinstance(b.admit("a", VIEWER), str)  # b holds no more than a: nothing to take
    seat(b, clock, "c", VIEWER)  # c holds none: takes from a (2 >= 0 + 2)
    assert isinstance(b.admit("c", VIEWER), str)  # now 1 and 2 against c's 1: fair enough


def test_the_presenter_is_never_refused_and_holds_a_bounded_number() -> None:
    b, clock = book(total=2, per_ip=1)
    seat(b, clock, "hall", ROOMMATE, "R")
    seat(b, clock, "hall", ROOMMATE, "R")
    presenters = [seat(b, clock, "hall", PRESENTER, "R") for _ in range(PRESENTER_SOCKETS)]
    assert b.total == 2 + PRESENTER_SOCKETS
    b.touch(presenters[0])
    seat(b, clock, "hall", PRESENTER, "R")
    assert [t for t in presenters if t.shed.is_set()] == [presenters[1]]  # the longest idle
    seat(b, clock, "hall", PRESENTER, "OTHER")  # another room's presenter: its own count
    assert not any(t.shed.is_set() for t in presenters[2:])
    # Over the cap, the newcomer sheds, but never a presenter's socket.
    seat(b, clock, "x", ROOMMATE, "R")
    assert sum(1 for t in presenters if t.shed.is_set()) == 1


def test_a_promoted_socket_is_a_presenters_and_counts_empty_out() -> None:
    b, clock = book(total=3, per_ip=3)
    tickets = [seat(b, clock, "a", VIEWER) for _ in range(2)]
    b.promote(tickets[0], "R")
    assert tickets[0].kind == PRESENTER and b.viewers["a"] == 1
    for t in tickets:
        b.release(t)
    assert b.total == 0 and not b.by_ip and not b.viewers
