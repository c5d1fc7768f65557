"""Quotas, work budgets and idle expiry on the real server, one loopback address per client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import httpx
import pytest
from support import ServerProcess, wait_for
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession
from app.live.sessions import SessionStore

SERVER_ENV = {  # the conftest `server` starts with these
    "BACKPROP_MAX_SESSIONS_PER_IP": "3",
    "BACKPROP_MAX_ROOMS_PER_IP": "2",
    # The xor preset: a step is 200 samples x 12 weights = 2,400 multiply-adds, a reset 7,200.
    "BACKPROP_CLIENT_WORK_PER_SECOND": "100",
    "BACKPROP_CLIENT_WORK_BURST": "20000",
    "BACKPROP_ROOM_LOOKUPS_PER_SECOND": "0.5",
    "BACKPROP_ROOM_LOOKUP_BURST": "5",
    "BACKPROP_PUBLIC_URL": "http://workshop.example:8000",
}


def client(address: str) -> httpx.Client:
    """An HTTP client whose requests come from `address` (any 127.x.y.z reaches loopback)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def test_sessions_per_address(server: ServerProcess) -> None:
    with client("127.0.0.2") as mine, client("127.0.0.3") as other:
        ids = []
        for _ in range(3):
            r = mine.post(f"{server.url}/api/sessions", json={"preset": "xor"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        refused = mine.post(f"{server.url}/api/sessions", json={"preset": "xor"})
        assert refused.status_code == 429
        assert "your address already holds 3 sessions" in refused.json()["detail"]
        assert "delete one" in refused.json()["detail"]  # says what to do
        # Another address is not affected ...
        assert other.post(f"{server.url}/api/sessions", json={"preset": "xor"}).status_code == 201
        # ... and deleting one frees a place.
        assert mine.delete(f"{server.url}/api/sessions/{ids[0]}").status_code == 204
        assert mine.post(f"{server.url}/api/sessions", json={"preset": "xor"}).status_code == 201


def test_rooms_per_address_and_forks_count_as_sessions(server: ServerProcess) -> None:
    with client("127.0.0.4") as mine:
        codes = []
        for _ in range(2):
            r = mine.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}})
            assert r.status_code == 201, r.text
            codes.append(r.json()["code"])
        refused = mine.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}})
        assert refused.status_code == 429
        assert "workshop rooms" in refused.json()["detail"]
        for _ in range(3):
            assert mine.post(f"{server.url}/api/rooms/{codes[0]}/fork").status_code == 201
        fork = mine.post(f"{server.url}/api/rooms/{codes[0]}/fork")
        assert fork.status_code == 429, fork.text
        assert "sessions" in fork.json()["detail"]


def test_work_budget_over_rest_and_websocket(server: ServerProcess) -> None:
    with client("127.0.0.5") as mine, client("127.0.0.6") as other:
        sid = mine.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
        codes = [mine.post(f"{server.url}/api/sessions/{sid}/reset").status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[-1] == 429, codes  # 20,000 pays for two
        r = mine.post(f"{server.url}/api/sessions/{sid}/reset")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert "wait" in r.json()["detail"]
        # Steps and settings draw on the same budget, over REST ...
        assert (
            mine.post(f"{server.url}/api/sessions/{sid}/step", json={"count": 5}).status_code == 429
        )
        # 5,600 left (plus a trickle at 100/s): two settings changes of 2,400, not four.
        patches = [
            mine.patch(f"{server.url}/api/sessions/{sid}", json={"l2": 0.1}).status_code
            for _ in range(4)
        ]
        assert patches[0] == 200 and patches[-1] == 429, patches
        # ... and over a WebSocket from the same address: an error, the connection stays.
        with ws_from("127.0.0.5", server, f"/ws/sessions/{sid}") as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "frame"
            ws.send('{"type": "reset"}')
            error = json.loads(ws.recv(timeout=10))
            assert error["type"] == "error" and "too much computation" in error["message"]
            ws.send('{"type": "pause"}')  # still connected: a later answer arrives
            assert json.loads(ws.recv(timeout=10))["type"] in ("frame", "error")
        # Another address still works.
        other_sid = other.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
        assert other.post(f"{server.url}/api/sessions/{other_sid}/reset").status_code == 200


def ws_from(
    address: str,
    server: ServerProcess,
    path: str,
    protocols: list[Subprotocol] | None = None,
    cookie: str | None = None,
) -> ClientConnection:
    """A WebSocket whose connection comes from `address` (offering `protocols`, a `cookie`)."""
    sock = socket.create_connection(("127.0.0.1", server.port), 10, source_address=(address, 0))
    headers = {"Cookie": cookie} if cookie else None
    return connect(
        f"{server.ws_url}{path}",
        sock=sock,
        open_timeout=10,
        subprotocols=protocols,
        additional_headers=headers,
    )


def test_idle_sessions_expire_even_with_a_socket_open() -> None:
    now = [0.0]
    store = SessionStore(10, idle_seconds=60, clock=lambda: now[0], grace_seconds=600)
    session = TrainingSession(resolve(SessionConfigIn(preset="xor")))
    entry = store.add(session)
    slot = entry.runner.attach()  # an open socket that never sends anything
    now[0] = 120
    assert store.idle_ids() == []  # watched: kept past the idle time ...
    now[0] = 661
    assert store.idle_ids() == [entry.id]  # ... but not past the grace
    entry.runner.detach(slot)


def test_an_idle_socket_cannot_keep_a_room_forever(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"BACKPROP_ROOM_IDLE_SECONDS": "1", "BACKPROP_IDLE_GRACE_SECONDS": "2"}
    proc = ServerProcess(tmp_path_factory.mktemp("idle") / "server.log", env).start()
    try:
        r = httpx.post(f"{proc.url}/api/rooms", json={"config": {"preset": "xor"}}, timeout=30)
        code = r.json()["code"]
        info = f"{proc.url}/api/rooms/{code}"
        with connect(f"{proc.ws_url}/ws/rooms/{code}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "frame"
            # The socket stays open and silent: the room is kept past its idle time, then goes.
            wait_for(lambda: httpx.get(info, timeout=10).status_code == 404, "the room to end")
    finally:
        proc.stop()


def test_guessing_room_codes_is_rate_limited(server: ServerProcess) -> None:
    with client("127.0.0.8") as guesser, client("127.0.0.9") as other:
        made = other.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}})
        code = made.json()["code"]
        answers = [guesser.get(f"{server.url}/api/rooms/ZZZZZ{k}").status_code for k in range(8)]
        assert answers[:5] == [404] * 5 and answers[-1] == 429, answers
        refused = guesser.get(f"{server.url}/api/rooms/{code}/config")
        assert refused.status_code == 429  # even a right guess, while the bucket is empty
        assert int(refused.headers["retry-after"]) >= 1
        assert "try again" in refused.json()["detail"]
        # A page says so in words and comes back by itself (no script needed).
        page = guesser.get(f"{server.url}/join", params={"code": code})
        assert page.status_code == 429 and "text/html" in page.headers["content-type"]
        assert page.headers["refresh"] == page.headers["retry-after"]
        assert "tries again by itself" in page.text
        with ws_from("127.0.0.8", server, f"/ws/rooms/{code}") as ws:
            msg = json.loads(ws.recv(timeout=10))
            assert msg["type"] == "error" and "room codes" in msg["message"]
            assert msg["retry_after"] >= 1
        # The presenter may share the guesser's address (a hall's typos): its token, offered
        # in the handshake, cannot be guessed, so its socket passes.
        token = made.json()["presenter_token"]
        protocols = [Subprotocol("bp.presenter"), Subprotocol(f"bp.token.{token}")]
        with ws_from("127.0.0.8", server, f"/ws/rooms/{code}", protocols) as ws:
            kinds = [json.loads(ws.recv(timeout=10))["type"] for _ in range(3)]
            assert "welcome" in kinds and "error" not in kinds, kinds
        # Someone who knows the code is not slowed down by their own successful lookups.
        for _ in range(10):
            assert other.get(f"{server.url}/api/rooms/{code}").status_code == 200


def test_those_in_stay_in_while_someone_behind_the_same_address_guesses(
    server: ServerProcess,
) -> None:
    """The room's page gives a pass (a cookie): with it, the address's empty bucket is no bar."""
    with client("127.0.0.13") as maker:
        code = maker.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}}).json()[
            "code"
        ]
    with client("127.0.0.14") as student, client("127.0.0.14") as guesser:
        page = student.get(f"{server.url}/room/{code}")
        assert page.status_code == 200 and f"bp_pass_{code}" in student.cookies
        answers = [guesser.get(f"{server.url}/api/rooms/ZZZZZ{k}").status_code for k in range(8)]
        assert answers[-1] == 429, answers  # the address's bucket is empty now
        for path in (f"/api/rooms/{code}/config", f"/api/rooms/{code}/data", f"/room/{code}"):
            assert student.get(f"{server.url}{path}").status_code == 200, path
        cookie = f"bp_pass_{code}={student.cookies[f'bp_pass_{code}']}"
        with ws_from("127.0.0.14", server, f"/ws/rooms/{code}", cookie=cookie) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "frame"
        # Without the pass, or with a made-up one, the address waits like any guesser.
        assert guesser.get(f"{server.url}/api/rooms/{code}/config").status_code == 429
        forged = {"Cookie": f"bp_pass_{code}={'0' * 32}"}
        assert guesser.get(f"{server.url}/api/rooms/{code}/config", headers=forged).status_code == (
            429
        )


def test_a_whole_room_joins_from_one_address_past_the_lookup_burst(server: ServerProcess) -> None:
    """Sockets that found their room give their token back when accepted, not when closed."""
    with client("127.0.0.11") as c:
        code = c.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}}).json()["code"]
    with contextlib.ExitStack() as stack:
        for _ in range(12):  # 12 open at once from one address, with a burst of 5
            ws = stack.enter_context(ws_from("127.0.0.12", server, f"/ws/rooms/{code}"))
            assert json.loads(ws.recv(timeout=10))["type"] == "frame"
        # A miss after that still costs: the guesses run out as before.
        with client("127.0.0.12") as c:
            answers = [c.get(f"{server.url}/api/rooms/ZZZZZ{k}").status_code for k in range(8)]
        assert answers[:5] == [404] * 5 and answers[-1] == 429, answers


def test_unknown_hosts_are_refused(server: ServerProcess) -> None:
    with client("127.0.0.10") as c:
        code = c.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}}).json()["code"]
        evil = {"Host": "evil.example", "Origin": "http://evil.example"}
        for path in ("/", "/healthz", f"/api/rooms/{code}", f"/api/rooms/{code}/qr.svg"):
            r = c.get(f"{server.url}{path}", headers=evil)
            assert r.status_code == 400, (path, r.status_code)
            assert "BACKPROP_ALLOWED_HOSTS" in r.json()["detail"]
        assert c.post(f"{server.url}/api/sessions", headers=evil, json={}).status_code == 400
        # The public URL's host, IP addresses and localhost are fine; qr.svg encodes the public URL.
        for host in ("workshop.example:8000", "localhost", "127.0.0.1", "[::1]:8000", "10.1.2.3"):
            r = c.get(f"{server.url}/api/rooms/{code}/qr.svg", headers={"Host": host})
            assert r.status_code == 200, host
            assert "http://workshop.example:8000/room/" in r.text
    assert handshake_status(server, f"/ws/rooms/{code}", "evil.example") == 403
    assert handshake_status(server, f"/ws/rooms/{code}", f"127.0.0.1:{server.port}") == 101


def handshake_status(server: ServerProcess, path: str, host: str) -> int:
    """The status of a WebSocket handshake that names `host`."""
    with socket.create_connection(("127.0.0.1", server.port), 10) as sock:
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(64)
            if not chunk:
                break
            head += chunk
    return int(head.split()[1])


def test_cross_site_writes_are_refused_with_or_without_a_body(server: ServerProcess) -> None:
    with client("127.0.0.11") as c:
        code = c.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}}).json()["code"]
        sid = c.post(f"{server.url}/api/sessions", json={"preset": "xor"}).json()["id"]
        foreign = [
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
        ]
        for headers in foreign:
            for url in (f"/api/rooms/{code}/fork", f"/api/sessions/{sid}/reset"):
                r = c.post(f"{server.url}{url}", headers={**headers, "Content-Type": "text/plain"})
                assert r.status_code == 403, (headers, url, r.status_code)
                assert "cross-site" in r.json()["detail"]
            assert c.delete(f"{server.url}/api/sessions/{sid}", headers=headers).status_code == 403
        # The server's own pages (same Origin), and clients that send no Origin, are fine.
        own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        assert c.post(f"{server.url}/api/sessions/{sid}/reset", headers=own).status_code == 200
        assert c.post(f"{server.url}/api/sessions/{sid}/reset").status_code == 200


def test_forwarded_headers_are_not_trusted_by_default(server: ServerProcess) -> None:
    # From 127.0.0.1, which uvicorn trusts by default: a proxy-less server must not.
    with client("127.0.0.1") as c:
        made = [
            c.post(
                f"{server.url}/api/sessions",
                json={"preset": "xor"},
                headers={"X-Forwarded-For": f"10.9.9.{k}"},
            ).status_code
            for k in range(4)
        ]
        # Counted against the real address: the quota of 3 holds whatever the header claims.
        assert made == [201, 201, 201, 429], made


def test_concurrent_creations_never_pass_the_quota(server: ServerProcess) -> None:
    """Twenty creations at once from one address, quota 3 (sessions) and 2 (rooms): exactly
    that many are made, the rest refused; each place is held from the moment it is asked for."""

    async def burst(path: str, body: dict[str, object], address: str) -> list[int]:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(transport=transport, timeout=60) as mine:
            answers = await asyncio.gather(
                *(mine.post(f"{server.url}{path}", json=body) for _ in range(20))
            )
        return sorted(a.status_code for a in answers)

    made = asyncio.run(burst("/api/sessions", {"preset": "xor"}, "127.0.0.20"))
    assert made == [201] * 3 + [429] * 17, made
    rooms = asyncio.run(burst("/api/rooms", {"config": {"preset": "xor"}}, "127.0.0.21"))
    assert rooms == [201] * 2 + [429] * 18, rooms
