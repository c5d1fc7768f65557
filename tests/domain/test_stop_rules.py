"""Stop rules (issue 22): playing and stepping stop at the step a rule is met; the frame says so.

Where each rule should fire is found here from a run without rules (its own losses, scanned in
this file), then a run with the rule must stop exactly there: in the session, over REST, and
while playing over a WebSocket.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn
from app.domain.session import TrainingSession

CIRCLE: dict[str, Any] = {
    "preset": "xor",
    "layers": [2, 6, 1],
    "batch_size": 10,
    "optimizer": {"name": "sgd", "learning_rate": 2.0},
    "dataset": {"name": "circle", "samples": 60, "noise": 0.3, "test_fraction": 0.3},
    "seed": 2,
}


def session(**config: Any) -> TrainingSession:
    return TrainingSession(resolve(SessionConfigIn.model_validate(config)))


def losses(steps: int) -> tuple[list[float], list[float]]:
    """E and test E after every step 0..steps of the run without rules."""
    s = session(**CIRCLE)
    train, test = [s.loss], [s.test_loss]
    for _ in range(steps):
        s.advance(1)
        train.append(s.loss)
        test.append(s.test_loss)
    return train, [float(t) for t in test if t is not None]


def first_crossing(train: list[float], x: float) -> int:
    return next(n for n in range(1, len(train)) if train[n] < x <= train[n - 1])


def first_rise_streak(test: list[float], k: int) -> int:
    """The first step whose test loss ends a run of exactly k rises in a row."""
    streak = 0
    for n in range(1, len(test)):
        streak = streak + 1 if test[n] > test[n - 1] else 0
        if streak == k:
            return n
    raise AssertionError("no such streak")


def test_each_rule_stops_the_session_at_its_step() -> None:
    train, test = losses(400)
    x = (train[0] + min(train)) / 2
    for rule, where in (
        ({"at_step": 123}, 123),
        ({"loss_below": x}, first_crossing(train, x)),
        ({"test_rising": 3}, first_rise_streak(test, 3)),
    ):
        s = session(**CIRCLE, stop=rule)
        done = s.advance(400)
        name = next(iter(rule))
        assert (done, s.step_count, s.stopped) == (where, where, name), rule
        f = s.frame()
        assert f["stopped"] == name and f["loss"] == train[where]
        # Going on after a stop: the rule does not fire again at once.
        s.advance(1)
        assert s.stopped is None and s.step_count == where + 1


def test_the_first_rule_met_stops_and_weights_are_those_of_a_plain_run() -> None:
    """Several rules: the earliest wins; the run stopped is the plain run at that step."""
    train, _ = losses(200)
    s = session(**CIRCLE, stop={"at_step": 150, "loss_below": train[40] * 0.999999})
    plain = session(**CIRCLE)
    s.advance(1000)
    plain.advance(s.step_count)
    assert s.step_count <= 150
    assert s.net.theta.tolist() == plain.net.theta.tolist()


def test_stop_rules_are_validated() -> None:
    from pydantic import ValidationError

    for bad in ({"at_step": 0}, {"loss_below": -1}, {"test_rising": 0}, {"nope": 1}):
        with pytest.raises(ValidationError):
            session(**CIRCLE, stop=bad)


def test_rest_step_stops_at_the_rule_and_patch_sets_rules(client: TestClient) -> None:
    sid = client.post("/api/sessions", json={**CIRCLE, "stop": {"at_step": 17}}).json()["id"]
    f = client.post(f"/api/sessions/{sid}/step", json={"count": 50}).json()
    assert (f["step"], f["stopped"]) == (17, "at_step")
    f = client.post(f"/api/sessions/{sid}/step", json={"count": 5}).json()
    assert (f["step"], f["stopped"]) == (22, None)
    r = client.patch(f"/api/sessions/{sid}", json={"stop": {"at_step": 30}})
    assert r.status_code == 200, r.text
    f = client.post(f"/api/sessions/{sid}/step", json={"count": 50}).json()
    assert (f["step"], f["stopped"]) == (30, "at_step")
    client.patch(f"/api/sessions/{sid}", json={"stop": {}})
    assert client.get(f"/api/sessions/{sid}/export").json()["config"]["stop"] is None
    f = client.post(f"/api/sessions/{sid}/step", json={"count": 50}).json()
    assert (f["step"], f["stopped"]) == (80, None)


def test_playing_stops_at_the_rule_over_a_websocket(client: TestClient) -> None:
    """Play with 7 steps a frame: the last frame is at step 45 exactly, not playing, stopped."""
    sid = client.post("/api/sessions", json={**CIRCLE, "stop": {"at_step": 45}}).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        ws.receive_json()
        ws.send_json({"type": "play", "steps_per_frame": 7, "fps": 60})
        frames = []
        while True:
            f = ws.receive_json()
            assert f["type"] == "frame", f
            frames.append(f)
            if not f["playing"]:
                break
        assert frames[-1]["step"] == 45 and frames[-1]["stopped"] == "at_step"
        assert all(f["stopped"] is None for f in frames[:-1])
        # Set by the `set` message as well, and Play goes on from there.
        ws.send_json({"type": "set", "stop": {"at_step": 50}})
        set_frame = ws.receive_json()  # the run has not moved: still the stop's step
        assert (set_frame["step"], set_frame["stopped"]) == (45, "at_step")
        ws.send_json({"type": "play", "steps_per_frame": 1, "fps": 60})
        while True:
            f = ws.receive_json()
            if not f["playing"]:
                break
        assert (f["step"], f["stopped"]) == (50, "at_step")
