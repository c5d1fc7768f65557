"""The real server under abuse: oversized frames, half-sent frames, huge bodies, no leaks."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support import ServerProcess, wait_for
from test_server_process import receive
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

LIMITS = {
    "BACKPROP_MAX_MESSAGE_BYTES": "4096",  # uvicorn cuts frames over 8192 (twice this)
    "BACKPROP_MAX_BODY_BYTES": "65536",
    "BACKPROP_MAX_CONNECTIONS_PER_IP": "5",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`backprop-studio` with small limits; its base URL and log file."""
    srv = ServerProcess(tmp_path_factory.mktemp("hardened") / "server.log", env=LIMITS).start()
    try:
        yield srv.url, srv.log_path
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def no_tracebacks(server: tuple[str, Path]) -> Iterator[None]:
    """After every test, whatever order they run in: the server logged no error."""
    yield
    text = server[1].read_text()
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text


def session(base: str) -> str:
    """A new session's id."""
    r = httpx.post(f"{base}/api/sessions", json={"preset": "article"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def ws_url(base: str, sid: str) -> str:
    """The session's WebSocket address."""
    return base.replace("http://", "ws://") + f"/ws/sessions/{sid}"


def healthy(base: str) -> None:
    """/healthz answers and a session steps."""
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok", "peer": None}
    sid = session(base)
    r = httpx.post(f"{base}/api/sessions/{sid}/step", json={"count": 2}, timeout=10)
    assert r.json()["step"] == 2


def test_messages_over_the_limit(server: tuple[str, Path]) -> None:
    base, _ = server
    sid = session(base)
    with connect(ws_url(base, sid)) as ws:
        receive(ws)
        ws.send("x" * 6000)  # over the limit, under the protocol cut: an error, and it stays
        error = receive(ws)
        assert error["type"] == "error" and "too large" in error["message"]
        ws.send(json.dumps({"type": "step", "count": 1}))
        assert receive(ws)["step"] == 1
        ws.send("x" * 100_000)  # far over: the protocol closes with 1009 before buffering it
        with pytest.raises(ConnectionClosed) as closed:
            receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    healthy(base)


def test_a_client_that_drops_mid_frame_hurts_nobody(server: tuple[str, Path]) -> None:
    base, _ = server
    sid = session(base)
    with connect(ws_url(base, sid)) as watcher:
        receive(watcher)
        host, port = urlsplit(base).hostname, urlsplit(base).port
        assert host and port
        for _ in range(3):
            raw = socket.create_connection((host, port), timeout=5)
            raw.sendall(
                f"GET /ws/sessions/{sid} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .encode()
            )  # fmt: skip
            assert b"101" in raw.recv(4096).split(b"\r\n", 1)[0]
            # A masked text frame announcing 1000 bytes, of which 10 arrive; then the client dies.
            raw.sendall(bytes([0x81, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4]) + b"0123456789")
            raw.close()
        watcher.send(json.dumps({"type": "step", "count": 3}))
        frame = receive(watcher)
        while frame["type"] != "frame" or frame["step"] < 3:
            frame = receive(watcher)
    healthy(base)


def test_huge_bodies_are_413_over_a_real_socket(server: tuple[str, Path]) -> None:
    base, _ = server
    body = json.dumps({"dataset": {"csv": "a,b\n" + "1,2\n" * 50_000}})
    r = httpx.post(
        f"{base}/api/sessions",
        content=body,
        timeout=10,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b"x" * 1024

    r = httpx.post(f"{base}/api/sessions", content=chunks(), timeout=10)
    assert r.status_code == 413
    healthy(base)


def test_headers_on_a_real_socket(server: tuple[str, Path]) -> None:
    base, _ = server
    r = httpx.get(f"{base}/", timeout=10)
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert "server" not in r.headers  # the server's name and version are nobody's business


def test_too_many_connections_from_one_address(server: tuple[str, Path]) -> None:
    base, _ = server
    sid = session(base)
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(connect(ws_url(base, sid))) for _ in range(5)]
        for ws in opened:
            assert receive(ws)["type"] == "frame"
        with connect(ws_url(base, sid)) as extra:
            message: dict[str, Any] = receive(extra)
            assert message["type"] == "error" and "too many live connections" in message["message"]
            with pytest.raises(ConnectionClosed) as closed:
                receive(extra)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    # The server counts them out as their close handshakes finish: a slot frees up soon.
    wait_for(lambda: first_message(ws_url(base, sid)) == "frame", "a free connection slot")


def first_message(url: str) -> str:
    """The type of the first message a new connection gets."""
    with connect(url) as ws:
        return str(receive(ws)["type"])
