"""The real thing: the console script serves HTTP and WebSockets on a real port."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ServerProcess
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`backprop-studio --port N` in a subprocess; its base URL once /healthz answers."""
    srv = ServerProcess(
        tmp_path_factory.mktemp("server") / "server.log",
        env={"BACKPROP_MAX_STEPS_PER_REQUEST": "777"},
    ).start()
    try:
        yield srv.url
    finally:
        code = srv.stop()
    log_text = srv.log()
    # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean exit here.
    assert code in (0, -signal.SIGTERM), log_text
    assert "Application shutdown complete" in log_text
    assert "ERROR" not in log_text and "Traceback" not in log_text, log_text


def receive(ws: ClientConnection) -> dict[str, Any]:
    """One JSON message, with a timeout so a silent server fails the test instead of hanging."""
    result: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return result


def test_rest_and_websocket_over_a_real_socket(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        created = http.post("/api/sessions", json={"preset": "article"})
        assert created.status_code == 201
        sid = created.json()["id"]
        over = http.post(f"/api/sessions/{sid}/step", json={"count": 778})
        assert over.status_code == 422 and "777" in over.json()["detail"]  # env setting applied
        page = http.get("/vendor/plotly.min.js")
        assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"

    ws_url = server.replace("http://", "ws://") + f"/ws/sessions/{sid}"
    with connect(ws_url) as ws:
        first = receive(ws)
        assert first["type"] == "frame" and first["step"] == 0
        ws.send(json.dumps({"type": "step", "count": 4}))
        assert receive(ws)["step"] == 4
        ws.send(json.dumps({"type": "nonsense"}))
        assert receive(ws)["type"] == "error"
        ws.send(json.dumps({"type": "play", "steps_per_frame": 5, "fps": 60}))
        frames = [receive(ws)]
        while frames[-1]["step"] < 50:
            frames.append(receive(ws))
        assert all(f["playing"] for f in frames)
        ws.send(json.dumps({"type": "pause"}))
        while receive(ws)["playing"]:
            pass
    with httpx.Client(base_url=server, timeout=10) as http:
        frame = http.get(f"/api/sessions/{sid}").json()
        assert frame["playing"] is False and frame["step"] >= 50


def test_foreign_origin_is_refused_with_403(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        sid = http.post("/api/sessions", json={}).json()["id"]
    ws_url = server.replace("http://", "ws://") + f"/ws/sessions/{sid}"
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(ws_url, origin=Origin("http://evil.example")),
    ):
        pass  # pragma: no cover - never reached
    assert refused.value.response.status_code == 403
    with connect(ws_url, origin=Origin(server)) as ws:  # the page's own origin is fine
        assert receive(ws)["type"] == "frame"
