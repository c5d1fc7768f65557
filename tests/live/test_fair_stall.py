"""Stalled readers on the real server: a socket that never reads keeps nothing alive."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Iterator
from functools import partial

import httpx
import pytest
from support import ServerProcess, wait_for
from websockets.asyncio.client import connect as aconnect
from websockets.sync.client import connect

# Big frames (about 150 kB of JSON each) fill a stalled reader's buffers within a few frames.
BIG = {"preset": "xor", "layers": [2, 64, 64, 1], "dataset": {"name": "xor", "samples": 40}}
ENV = {
    "BACKPROP_WS_SEND_SECONDS": "1",
    "BACKPROP_SESSION_IDLE_SECONDS": "1",
    "BACKPROP_ROOM_SEND_SECONDS": "1",
    "BACKPROP_MAX_CONNECTIONS_PER_IP": "300",
    "BACKPROP_HTTP_READ_SECONDS": "1",
}
PARTICIPANTS = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server with short send deadlines and a short idle time."""
    proc = ServerProcess(tmp_path_factory.mktemp("stall") / "server.log", ENV).start()
    try:
        yield proc
    finally:
        proc.stop()
    log = proc.log()
    assert "Traceback" not in log and "never retrieved" not in log, log[-4000:]


def descriptors(server: ServerProcess) -> int:
    """Open file descriptors of the server process."""
    assert server.proc is not None
    return len(os.listdir(f"/proc/{server.proc.pid}/fd"))


def stalled_socket(server: ServerProcess, path: str) -> socket.socket:
    """A WebSocket handshake on a socket with a tiny receive buffer that then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: a tiny window
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:  # read the 101 answer only, then never again
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_stalled_socket_cannot_keep_a_session_playing(server: ServerProcess) -> None:
    baseline = descriptors(server)
    r = httpx.post(f"{server.url}/api/sessions", json=BIG, timeout=30)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    state = f"{server.url}/api/sessions/{sid}"
    stalled: list[socket.socket] = []
    try:
        with connect(f"{server.ws_url}/ws/sessions/{sid}", open_timeout=10, max_queue=None) as real:
            real.send('{"type": "play", "steps_per_frame": 1, "fps": 30}')
            wait_for(lambda: httpx.get(state, timeout=10).json()["playing"], "the session to play")
            stalled = [stalled_socket(server, f"/ws/sessions/{sid}") for _ in range(3)]
        # Only the stalled sockets are left: the server drops them, so play stops ...
        wait_for(
            lambda: not httpx.get(state, timeout=10).json()["playing"],
            "the session to stop playing",
        )
        # ... the session expires like any unwatched one ...
        # (A GET marks the session as used: poll less often than its idle time of 1 s.)
        wait_for(
            lambda: httpx.get(state, timeout=10).status_code == 404,
            "the session to expire",
            poll=1.5,
        )
        # ... and the stalled connections' descriptors are freed while the peers still hold them.
        wait_for(lambda: descriptors(server) <= baseline, f"descriptors back to {baseline}")
    finally:
        for sock in stalled:
            sock.close()


def test_a_stalled_participant_frees_its_descriptor(server: ServerProcess) -> None:
    baseline = descriptors(server)
    r = httpx.post(f"{server.url}/api/rooms", json={"config": BIG}, timeout=30)
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    info = f"{server.url}/api/rooms/{code}"
    stalled: list[socket.socket] = []
    try:
        with connect(f"{server.ws_url}/ws/rooms/{code}", open_timeout=10, max_queue=None) as ws:
            ws.send(f'{{"type": "hello", "token": "{token}"}}')
            ws.send('{"type": "play", "steps_per_frame": 1, "fps": 30}')
            wait_for(lambda: httpx.get(info, timeout=10).json()["playing"], "the room to play")
            stalled = [stalled_socket(server, f"/ws/rooms/{code}") for _ in range(3)]
            wait_for(
                lambda: httpx.get(info, timeout=10).json()["participants"] == 0,
                "the stalled participants to be dropped",
            )
        wait_for(lambda: descriptors(server) <= baseline, f"descriptors back to {baseline}")
    finally:
        for sock in stalled:
            sock.close()


def test_participants_leaving_a_playing_room_leave_no_traceback(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "xor"}}, timeout=30)
    assert r.status_code == 201, r.text
    code, token = r.json()["code"], r.json()["presenter_token"]
    info = f"{server.url}/api/rooms/{code}"
    url = f"{server.ws_url}/ws/rooms/{code}"

    async def crowd() -> None:
        async with aconnect(url, open_timeout=30, max_queue=None) as presenter:
            await presenter.send(f'{{"type": "hello", "token": "{token}"}}')
            await presenter.send('{"type": "play", "steps_per_frame": 1, "fps": 60}')
            people = []
            for _ in range(PARTICIPANTS // 20):  # in batches: bounded, gentle on a small box
                people += await asyncio.gather(*(aconnect(url, open_timeout=30) for _ in range(20)))
            await asyncio.gather(*(p.recv() for p in people))  # all in and receiving frames
            # Half say goodbye, half vanish mid-frame (the connection just drops).
            for k, person in enumerate(people):
                if k % 2:
                    person.transport.abort()
            await asyncio.gather(*(p.close() for p in people[::2]))
            while (await asyncio.to_thread(httpx.get, info, timeout=10)).json()["participants"]:
                await asyncio.sleep(0.1)

    asyncio.run(asyncio.wait_for(crowd(), 120))
    log = server.log()
    assert "Traceback" not in log and "never retrieved" not in log, log[-4000:]


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed its end (EOF or reset)."""
    sock.settimeout(0.05)
    try:
        return sock.recv(4096) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_requests_are_timed_out_by_the_server(server: ServerProcess) -> None:
    baseline = descriptors(server)
    slow: list[socket.socket] = []
    try:
        for k in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port), 10)
            if k % 2:  # headers that never end (slowloris)
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
            else:  # a body that never comes whole
                sock.sendall(
                    (
                        f"POST /api/sessions HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                    ).encode()
                )
            slow.append(sock)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        for sock in slow:
            wait_for(partial(closed_by_server, sock), "the server to drop a slow request")
        wait_for(lambda: descriptors(server) <= baseline, f"descriptors back to {baseline}")
    finally:
        for sock in slow:
            sock.close()
