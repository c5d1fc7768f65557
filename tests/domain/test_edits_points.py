"""Editing weights and drawing points (issue 22, items 7 and 8): seek and links bit for bit.

An edit and a points change are entries of the run's settings log at their step. These tests
run the same changes on runs of several kinds, record every weight's bits at every step as the
run first had them, then check that a seek to each step, a link replayed over REST and a
snapshot restored from its bytes give those same bits (not approximately: the float64 bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain.errors import InvalidError
from app.domain.presets import resolve
from app.domain.protocol import (
    MAX_DRAWN,
    PointsChange,
    SessionConfigIn,
    SessionPatch,
    WeightEdit,
)
from app.domain.session import TrainingSession
from app.live.state import decode_state, encode_state

Change = tuple[str, dict[str, Any]]

RUNS: dict[str, dict[str, Any]] = {
    "full batch sgd": {"preset": "xor", "layers": [2, 5, 1], "seed": 4},
    "mini-batch adam": {
        "preset": "xor",
        "layers": [2, 6, 1],
        "batch_size": 12,
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "dataset": {"name": "circle", "samples": 80, "test_fraction": 0.25},
        "seed": 7,
    },
    "softmax with features, momentum": {
        "layers": [2, 6, 3],
        "output_activation": "softmax",
        "loss": "ce",
        "features": ["x1", "x2", "x1_x2", "sin_x1"],
        "batch_size": 20,
        "optimizer": {"name": "momentum", "learning_rate": 0.1},
        "dataset": {"name": "spiral3", "samples": 90, "noise": 0.1},
        "seed": 2,
    },
}

# (step, kind, body): the changes each run gets; two at one step, undo folded into an add, a
# clear, an edit of a bias, a settings change between points, and points on a mini-batch epoch.
PLAN: list[tuple[int, str, dict[str, Any]]] = [
    (5, "edit", {"kind": "weight", "layer": 0, "i": 1, "j": 0, "value": 0.75}),
    (5, "edit", {"kind": "weight", "layer": 0, "i": 1, "j": 0, "value": -1.25}),  # replaces it
    (9, "points", {"op": "add", "x": [[0.5, 0.5], [-0.4, 0.3]], "y": [1, 0]}),
    (9, "points", {"op": "add", "x": [[0.9, -0.9]], "y": [1]}),  # joins the add above
    (9, "points", {"op": "undo"}),  # takes it back out
    (14, "set", {"l2": 0.001}),
    (14, "points", {"op": "add", "x": [[0.1, -0.7]], "y": [0]}),
    (30, "points", {"op": "undo"}),
    (41, "edit", {"kind": "bias", "layer": 1, "j": 0, "value": 0.3}),
    (70, "points", {"op": "add", "x": [[-0.2, -0.2], [0.6, 0.1], [0.0, 0.8]], "y": [1, 1, 0]}),
    (100, "points", {"op": "clear"}),
    (101, "points", {"op": "add", "x": [[0.3, 0.3]], "y": [1]}),
]
HEAD = 140


def session(name: str) -> TrainingSession:
    """A fresh run of the named kind."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(RUNS[name])))


def apply(s: TrainingSession, kind: str, body: dict[str, Any]) -> None:
    """A change as the API makes it."""
    if kind == "edit":
        s.edit(WeightEdit.model_validate(body))
    elif kind == "points":
        s.draw(PointsChange.model_validate(body))
    else:
        s.patch(SessionPatch.model_validate(body))


def bits(s: TrainingSession) -> tuple[bytes, float, bytes, bytes]:
    """Weights, E, gradients and the optimizer's buffers, as bytes where they are arrays."""
    opt = s.optimizer
    buffers = b"".join(
        np.asarray(getattr(opt, k)).tobytes()
        for k in ("m", "v")
        if getattr(opt, k, None) is not None
    )
    return s.net.theta.tobytes(), s.loss, s.grads.flat.tobytes(), buffers


def planned_run(name: str) -> tuple[TrainingSession, dict[int, tuple[bytes, float, bytes, bytes]]]:
    """The run with PLAN's changes, and its state at every step 0..HEAD as it first had it."""
    s = session(name)
    seen: dict[int, tuple[bytes, float, bytes, bytes]] = {}
    plan = list(PLAN)
    while s.step_count <= HEAD:
        while plan and plan[0][0] == s.step_count:
            apply(s, plan[0][1], plan[0][2])
            plan.pop(0)
        seen[s.step_count] = bits(s)
        if s.step_count == HEAD:
            break
        s.advance(1)
    return s, seen


def drawn_at(n: int) -> int:
    """How many drawn points PLAN has in force at step n, counted from its ops."""
    drawn: list[Any] = []
    for step, kind, body in PLAN:
        if step <= n and kind == "points":
            if body["op"] == "add":
                drawn += body["x"]
            elif body["op"] == "undo":
                drawn.pop()
            else:
                drawn = []
    return len(drawn)


@pytest.mark.parametrize("name", list(RUNS))
def test_seek_to_every_step_gives_the_runs_bits_across_edits_and_points(name: str) -> None:
    n_own = session(name).n_train
    s, seen = planned_run(name)
    assert s.drawn == ((0.3, 0.3, 1),)
    # The changes as logged: the two edits at 5 are one, the undo at 9 folded into the add.
    log = s.settings_log()
    assert log is not None and log["count"] == len(PLAN) - 3
    assert log["changes"][0] == {"step": 5, "edit": PLAN[1][2]}
    assert log["changes"][1] == {"step": 9, "points": PLAN[2][2]}
    # Forward after a seek back replays them too: every step, including each change's own.
    for n in [*range(0, HEAD + 1, 7), 5, 9, 14, 30, 41, 70, 100, 101, HEAD]:
        s.seek(n)
        assert bits(s) == seen[n], f"step {n}"
        assert len(s.drawn) == drawn_at(n) and s.n_train == n_own + drawn_at(n), n
    s.seek(HEAD)
    assert bits(s) == seen[HEAD]


def test_the_edit_is_the_weight_and_E_is_recomputed_at_it() -> None:
    """The new value is in the frame, and E equals an independent forward pass's at it."""
    s = session("full batch sgd")
    s.advance(10)
    f = s.edit(WeightEdit(kind="weight", layer=1, i=2, j=0, value=0.5))
    assert f["weights"][1][2][0] == 0.5 and s.net.W[1][2, 0] == 0.5
    # E by hand (the xor preset: tanh hidden, sigmoid output, mean binary cross-entropy).
    X, Y = s.dataset.X, s.dataset.Y
    h = np.tanh(s.net.W[0].T @ X + s.net.b[0][:, None])
    o = 1 / (1 + np.exp(-(s.net.W[1].T @ h + s.net.b[1][:, None])))
    e = -np.mean(Y * np.log(o) + (1 - Y) * np.log(1 - o))
    assert f["loss"] == pytest.approx(e, rel=1e-12)
    assert f["losses"] == [] or f["losses"][-1] == f["loss"]
    # The history's last loss is amended to E at the edit, as a PATCH of L2 amends it.
    assert s.history.train[-1] == f["loss"]


def test_drawn_points_join_the_training_set_with_their_class_as_target() -> None:
    s = session("softmax with features, momentum")
    n = s.n_train
    s.draw(PointsChange(op="add", x=[(0.25, -0.5), (0.1, 0.2)], y=[2, 0]))
    assert s.n_train == n + 2
    # Their features, computed here from (x1, x2), and one-hot targets.
    x1, x2 = 0.25, -0.5
    np.testing.assert_array_equal(s.dataset.X[:, n], [x1, x2, x1 * x2, np.sin(x1)])
    np.testing.assert_array_equal(s.dataset.Y[:, n : n + 2], [[0, 1], [0, 0], [1, 0]])
    data = s.data()
    assert data["drawn"] == {"x": [[0.25, -0.5], [0.1, 0.2]], "y": [2, 0]}
    assert data["points"][-2:] == [[0.25, -0.5], [0.1, 0.2]] and len(data["x"]) == n + 2
    s.draw(PointsChange(op="clear"))
    assert s.n_train == n and s.data()["drawn"] == {"x": [], "y": []}
    one = session("full batch sgd")
    one.draw(PointsChange(op="add", x=[(0.5, 0.5)], y=[1]))
    assert one.dataset.Y[0, -1] == 1.0


def test_an_undo_right_after_an_add_leaves_the_run_as_if_never_drawn() -> None:
    """Bit for bit: the log is as before, and so are the steps after it (mini-batches)."""
    a, b = session("mini-batch adam"), session("mini-batch adam")
    a.advance(13)
    b.advance(13)
    b.draw(PointsChange(op="add", x=[(0.5, 0.5), (0.2, 0.1)], y=[1, 0]))
    b.draw(PointsChange(op="undo"))
    b.draw(PointsChange(op="undo"))
    assert b.settings_log() is None and bits(a) == bits(b)
    a.advance(40)
    b.advance(40)
    assert bits(a) == bits(b)


def test_a_snapshot_keeps_the_drawn_points_and_the_log() -> None:
    s, _ = planned_run("mini-batch adam")
    s.seek(80)  # five drawn points in force
    restored = TrainingSession.restore(decode_state(encode_state(s.state())))
    assert restored.drawn == s.drawn and len(restored.drawn) == drawn_at(80) == 5
    assert restored.settings_log() == s.settings_log()
    assert bits(restored) == bits(s)
    for run in (s, restored):
        run.advance(25)  # a new branch from 80: the clear at 100 is dropped on both
    assert bits(restored) == bits(s)


def test_links_replayed_over_rest_give_the_run_bit_for_bit(client: TestClient) -> None:
    """What the page does with a link: POST each change's body at its step, as PATCH a set."""
    r = client.post("/api/sessions", json=RUNS["mini-batch adam"])
    sid, created = r.json()["id"], r.json()["config"]
    at = 0
    for step, kind, body in PLAN:
        if step > at:
            at = client.post(f"/api/sessions/{sid}/step", json={"count": step - at}).json()["step"]
        send(client, sid, kind, body)
    original = client.post(f"/api/sessions/{sid}/step", json={"count": HEAD - at}).json()
    log = original["settings_log"]
    config = {k: v for k, v in created.items() if k != "preset"} | log["start"]
    again = client.post("/api/sessions", json=config).json()["id"]
    at = 0
    for change in log["changes"]:
        if change["step"] > at:
            client.post(f"/api/sessions/{again}/step", json={"count": change["step"] - at})
            at = change["step"]
        kind = next(k for k in ("set", "edit", "points") if k in change)
        send(client, again, kind, change[kind])
    client.post(f"/api/sessions/{again}/step", json={"count": HEAD - at})
    replayed = client.get(f"/api/sessions/{again}").json()
    # REST frames carry float64 in full: the JSON numbers read back to the same bits.
    for key in ("weights", "biases"):
        for x, y in zip(original[key], replayed[key], strict=True):
            assert np.array_equal(np.array(x).view(np.uint64), np.array(y).view(np.uint64))
    assert replayed["loss"] == original["loss"] and replayed["settings_log"] == log
    assert client.get(f"/api/sessions/{again}/data").json()["drawn"] == {
        "x": [[0.3, 0.3]],
        "y": [1],
    }


def send(client: TestClient, sid: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """One change over REST (PATCH, POST .../edit, POST .../points); the frame."""
    if kind == "set":
        r = client.patch(f"/api/sessions/{sid}", json=body)
    else:
        r = client.post(f"/api/sessions/{sid}/{kind if kind == 'edit' else 'points'}", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"kind": "bias", "layer": 0, "i": 1, "j": 0, "value": 1}, "a bias has no i"),
        ({"kind": "weight", "layer": 0, "j": 0, "value": 1}, "a weight needs i"),
        (
            {"kind": "weight", "layer": 2, "i": 0, "j": 0, "value": 1},
            "layer must be between 0 and 1",
        ),
        ({"kind": "weight", "layer": 0, "i": 2, "j": 0, "value": 1}, "i must be between 0 and 1"),
        ({"kind": "bias", "layer": 1, "j": 1, "value": 1}, "j must be between 0 and 0"),
        ({"kind": "weight", "layer": 0, "i": 0, "j": 0, "value": 1e7}, "less than or equal"),
        ({"kind": "weight", "layer": 0, "i": 0, "j": 0, "value": "Infinity"}, "finite"),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(
    client: TestClient, body: dict[str, Any], says: str
) -> None:
    sid = client.post("/api/sessions", json={"preset": "xor", "layers": [2, 3, 1]}).json()["id"]
    before = client.get(f"/api/sessions/{sid}").json()
    r = client.post(f"/api/sessions/{sid}/edit", json=body)
    assert r.status_code == 422 and says in r.text, r.text
    assert client.get(f"/api/sessions/{sid}").json()["weights"] == before["weights"]


@pytest.mark.parametrize(
    ("config", "body", "says"),
    [
        ({"preset": "xor"}, {"op": "add", "x": [[0, 0]], "y": [2]}, "classes are 0 to 1"),
        ({"preset": "xor"}, {"op": "undo"}, "no drawn points to undo"),
        ({"preset": "xor"}, {"op": "clear"}, "no drawn points to clear"),
        ({"preset": "xor"}, {"op": "add", "x": [[0, 0]]}, "needs x (rows [x1, x2]) and y"),
        ({"preset": "xor"}, {"op": "add", "x": [[0, 0]], "y": [0, 1]}, "x has 1 rows but y has 2"),
        ({"preset": "xor"}, {"op": "undo", "y": [1]}, "takes no x or y"),
        ({"preset": "xor"}, {"op": "add", "x": [[0, 2000]], "y": [0]}, "less than or equal"),
        ({"preset": "article"}, {"op": "add", "x": [[0, 0]], "y": [0]}, "need a 2D data set"),
        (
            {"preset": "xor", "dataset": {"name": "plane"}},
            {"op": "add", "x": [[0, 0]], "y": [0]},
            "need a classification data set",
        ),
    ],
)
def test_bad_points_are_refused_with_a_clear_message(
    client: TestClient, config: dict[str, Any], body: dict[str, Any], says: str
) -> None:
    sid = client.post("/api/sessions", json=config).json()["id"]
    r = client.post(f"/api/sessions/{sid}/points", json=body)
    assert r.status_code == 422 and says in r.text, r.text


def test_at_most_500_drawn_points() -> None:
    s = session("full batch sgd")
    s.draw(
        PointsChange(op="add", x=[(0.001 * k, 0.5) for k in range(MAX_DRAWN)], y=[1] * MAX_DRAWN)
    )
    with pytest.raises(InvalidError, match="at most 500 drawn points at a time; this run has 500"):
        s.draw(PointsChange(op="add", x=[(0.0, 0.0)], y=[0]))
    s.draw(PointsChange(op="undo"))
    s.draw(PointsChange(op="add", x=[(0.0, 0.0)], y=[0]))
    assert len(s.drawn) == MAX_DRAWN


def test_on_a_socket_a_bad_message_is_an_error_and_the_connection_stays(
    client: TestClient,
) -> None:
    sid = client.post("/api/sessions", json={"preset": "xor", "layers": [2, 3, 1]}).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        assert ws.receive_json()["type"] == "frame"
        ws.send_json({"type": "edit", "kind": "weight", "layer": 0, "i": 5, "j": 0, "value": 1})
        err = ws.receive_json()
        assert err == {"type": "error", "message": "i must be between 0 and 1 for layer 0"}
        ws.send_json({"type": "points", "op": "undo"})
        assert ws.receive_json()["message"] == "there are no drawn points to undo"
        ws.send_json({"type": "edit", "kind": "weight", "layer": 0, "i": 1, "j": 2, "value": 0.25})
        frame = ws.receive_json()
        assert frame["type"] == "frame" and frame["weights"][0][1][2] == 0.25
        ws.send_json({"type": "points", "op": "add", "x": [[0.5, -0.5]], "y": [1]})
        frame = ws.receive_json()
        assert frame["settings_log"]["changes"][-1] == {
            "step": 0,
            "points": {"op": "add", "x": [[0.5, -0.5]], "y": [1]},
        }


def test_a_rooms_participant_may_not_edit_or_draw(client: TestClient) -> None:
    room = client.post("/api/rooms", json={"config": {"preset": "xor"}}).json()
    with client.websocket_connect(f"/ws/rooms/{room['code']}") as ws:
        assert ws.receive_json()["type"] == "frame"
        ws.send_json({"type": "edit", "kind": "bias", "layer": 0, "j": 0, "value": 1})
        ws.send_json({"type": "points", "op": "add", "x": [[0.5, -0.5]], "y": [1]})
        errors: list[str] = []
        while len(errors) < 2:
            msg = ws.receive_json()
            if msg["type"] == "error":
                errors.append(msg["message"])
        assert all(e.startswith("only the presenter drives this room") for e in errors)
        ws.send_json({"type": "select", "selection": {}})
        assert ws.receive_json()["type"] in ("error", "room")  # still connected
    frame = client.get(f"/api/rooms/{room['code']}/data").json()
    assert frame["drawn"] == {"x": [], "y": []}


def test_the_landscapes_walk_visits_the_runs_states_across_edits_and_points() -> None:
    """TrainingSession.visit (the landscape's and the GIF's path) replays the changes too."""
    s, seen = planned_run("mini-batch adam")
    steps = [0, 5, 9, 13, 14, 29, 30, 41, 69, 70, 99, 100, 101, 120, HEAD]
    for n, theta, loss in s.clone().visit(steps):
        assert theta.tobytes() == seen[n][0] and loss == seen[n][1], n
