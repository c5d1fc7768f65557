"""GET /api/sessions/{id}/claims and GET /api/rooms/{code}/claims through the real app."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings


def create(client: TestClient, config: dict[str, Any]) -> str:
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_sessions_claims_at_its_current_step_match_its_frame(client: TestClient) -> None:
    sid = create(client, {"preset": "article"})
    assert client.post(f"/api/sessions/{sid}/step", json={"count": 10}).status_code == 200
    frame = client.get(f"/api/sessions/{sid}").json()
    r = client.get(f"/api/sessions/{sid}/claims")
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["step"] == frame["step"] == 10
    g = a["gradients"]
    assert g["parameters"] == 4 * 5 + 5 + 5 * 1 + 1
    assert g["backprop"] == {"forward_passes": 1, "backward_passes": 1}
    assert g["finite_differences"]["forward_passes"] == 62
    assert g["max_abs_difference"] < 1e-8
    # The frame's E is the update's E before, and its gradients are backprop's.
    assert a["update"]["E_before"] == pytest.approx(frame["loss"], abs=1e-15)
    biggest = [
        max(np.max(np.abs(np.asarray(W))), np.max(np.abs(np.asarray(b))))
        for W, b in zip(frame["gradients"]["weights"], frame["gradients"]["biases"], strict=True)
    ]
    assert [lay["max_abs_gradient"] for lay in g["layers"]] == pytest.approx(biggest, abs=1e-15)
    assert a["update"]["sequential"]["E_after"] != a["update"]["simultaneous"]["E_after"]
    m = a["mean_phase"]
    assert m["in_phase"] is True and m["since_step"] <= 10 < m["until_step"]
    assert a["text"]["mean"].startswith("The network is predicting about the mean")
    assert "62 forward passes (2 × 31" in a["text"]["cost"]
    # Asking changes nothing: the run is where it was.
    assert client.get(f"/api/sessions/{sid}").json()["weights"] == frame["weights"]


def test_a_rooms_claims_answer_as_the_sessions_do(client: TestClient) -> None:
    r = client.post("/api/rooms", json={"config": {"preset": "article"}})
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    sid = create(client, {"preset": "article"})
    room = client.get(f"/api/rooms/{code.lower()}/claims")
    own = client.get(f"/api/sessions/{sid}/claims")
    assert room.status_code == own.status_code == 200, room.text
    assert room.json() == own.json()  # the same preset and seed at step 0: the same numbers


def test_unknown_runs_and_big_networks_are_refused_clearly(client: TestClient) -> None:
    assert client.get("/api/sessions/nope/claims").status_code == 404
    assert client.get("/api/rooms/ZZZZZZ/claims").status_code == 404
    sid = create(
        client,
        {
            "layers": [2, 64, 64, 1],
            "dataset": {"name": "spiral", "samples": 500, "test_fraction": 0.0},
        },
    )
    r = client.get(f"/api/sessions/{sid}/claims")
    assert r.status_code == 422
    assert "parameters on 500 samples are too many" in r.json()["detail"]
    assert client.get(f"/api/sessions/{sid}").status_code == 200  # the session is still there


def test_claims_are_charged_to_the_clients_work_budget() -> None:
    """A budget that holds one article claims answer but not two in a row: the second is 429."""
    settings = Settings(client_work_burst=400_000, client_work_per_second=1.0)
    with TestClient(create_app(settings)) as c:
        sid = create(c, {"preset": "article"})
        assert c.get(f"/api/sessions/{sid}/claims").status_code == 200
        r = c.get(f"/api/sessions/{sid}/claims")
        assert r.status_code == 429, r.text
        assert "Retry-After" in r.headers
