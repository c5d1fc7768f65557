"""Links that reproduce a run: the frame's settings_log, replayed over the API, gives the same run.

A link carries the config the run started from, the step and the settings changes; opening it
creates a session from that config and PATCHes each change at its step on the way. These tests
do what the page does, over REST, and compare the replayed run with the original bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain import links
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession
from app.live.state import decode_state, encode_state

FULL_OPTIMIZER = {"name": "sgd", "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def make(client: TestClient, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new session: its id and resolved config."""
    r = client.post("/api/sessions", json=config)
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["config"]


def step(client: TestClient, sid: str, count: int) -> dict[str, Any]:
    """`count` steps over REST; the frame."""
    r = client.post(f"/api/sessions/{sid}/step", json={"count": count})
    assert r.status_code == 200, r.text
    return dict(r.json())


def patch(client: TestClient, sid: str, body: dict[str, Any]) -> dict[str, Any]:
    """A settings change over REST; the frame."""
    r = client.patch(f"/api/sessions/{sid}", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def replay(client: TestClient, created: dict[str, Any], frame: dict[str, Any]) -> dict[str, Any]:
    """What the page does with a link: the start config, each change at its step, then the step."""
    log = frame["settings_log"]
    config = {k: v for k, v in created.items() if k != "preset"}
    if log is not None:
        config.update(log["start"])
    sid, _ = make(client, config)
    at = 0
    for change in log["changes"] if log else []:
        if change["step"] > at:
            at = step(client, sid, change["step"] - at)["step"]
        patch(client, sid, change["set"])
    if frame["step"] > at:
        step(client, sid, frame["step"] - at)
    return dict(client.get(f"/api/sessions/{sid}").json() | {"id": sid})


def assert_same_run(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same step, E, weights, biases and gradients: exactly (and so to 1e-12)."""
    assert a["step"] == b["step"]
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-12)
    assert a["loss"] == b["loss"]
    for key in ("weights", "biases"):
        for x, y in zip(a[key], b[key], strict=True):
            np.testing.assert_array_equal(np.array(x), np.array(y))
    for x, y in zip(a["gradients"]["weights"], b["gradients"]["weights"], strict=True):
        np.testing.assert_array_equal(np.array(x), np.array(y))
    assert a["learning_rate"] == b["learning_rate"]


def test_a_link_after_a_mid_run_change_of_alpha_replays_to_the_same_E(client: TestClient) -> None:
    """The issue's case: α 1 → 5 at step 20, link at step 40."""
    sid, created = make(client, {"preset": "article"})
    step(client, sid, 20)
    # As the page sends it: the whole optimizer, only the rate new.
    patch(client, sid, {"optimizer": {**FULL_OPTIMIZER, "learning_rate": 5}})
    original = step(client, sid, 20)
    log = original["settings_log"]
    assert log["changes"] == [{"step": 20, "set": {"optimizer": {"learning_rate": 5.0}}}]
    assert log["count"] == 1
    assert log["now"] == {
        **log["start"],
        "optimizer": {**created["optimizer"], "learning_rate": 5.0},
    }
    assert log["start"] == {
        "optimizer": created["optimizer"],
        "batch_size": created["batch_size"],
        "l2": created["l2"],
        "l1": created["l1"],
        "stop": created["stop"],
    }
    again = replay(client, created, original)
    assert_same_run(again, original)
    assert again["settings_log"] == log
    # Without the log (yesterday's link: the config with α = 5 from step 0) the run differs.
    naive, _ = make(client, {"preset": "article", "optimizer": {"learning_rate": 5}})
    assert abs(step(client, naive, 40)["loss"] - original["loss"]) > 1e-3
    # Seek stays bit for bit in the replayed run, on both sides of the change.
    for n in (10, 20, 30):
        mine = client.post(f"/api/sessions/{again['id']}/seek", json={"step": n}).json()
        theirs = client.post(f"/api/sessions/{sid}/seek", json={"step": n}).json()
        assert_same_run(mine, theirs)


def test_many_changes_with_adam_and_mini_batches_replay_bit_for_bit(client: TestClient) -> None:
    """Optimizer kinds, batch sizes, L2 and L1, two changes at one step, a no-op and a branch."""
    config = {
        "preset": "xor",
        "layers": [2, 6, 1],
        "batch_size": 8,
        "dataset": {"name": "xor", "samples": 60, "test_fraction": 0.2},
        "seed": 3,
    }
    sid, created = make(client, config)
    step(client, sid, 7)
    patch(client, sid, {"optimizer": {"name": "adam", "learning_rate": 0.02}})
    step(client, sid, 5)
    patch(client, sid, {"batch_size": 5})
    patch(client, sid, {"l2": 0.01})
    step(client, sid, 9)
    # A change to what is in force already still draws the next batch: it must be replayed.
    patch(client, sid, {"optimizer": {"name": "adam", "learning_rate": 0.02}})
    step(client, sid, 6)
    patch(client, sid, {"optimizer": {"name": "momentum", "learning_rate": 0.1}})
    step(client, sid, 10)
    # Back to step 25 and another change there: a new branch; the old future's changes go.
    client.post(f"/api/sessions/{sid}/seek", json={"step": 25})
    patch(client, sid, {"full_batch": True})
    step(client, sid, 4)
    patch(client, sid, {"l1": 0.003})  # L1 changes the trajectory too: the link carries it
    original = step(client, sid, 8)
    changes = original["settings_log"]["changes"]
    assert [c["step"] for c in changes] == [7, 12, 12, 21, 25, 29]
    assert changes[3]["set"] == {}  # nothing new, but the change happened
    assert changes[4]["set"] == {"full_batch": True}
    assert changes[5]["set"] == {"l1": 0.003}
    assert_same_run(replay(client, created, original), original)


def test_the_log_follows_seeks_and_resets(client: TestClient) -> None:
    """A seek back lists only earlier changes; a reset keeps its settings in `start`."""
    sid, created = make(client, {"preset": "article"})
    assert client.get(f"/api/sessions/{sid}").json()["settings_log"] is None
    step(client, sid, 10)
    patch(client, sid, {"optimizer": {"learning_rate": 2}})
    step(client, sid, 10)
    back = client.post(f"/api/sessions/{sid}/seek", json={"step": 9}).json()
    assert back["settings_log"] is None  # before the change: the run as created
    at = client.post(f"/api/sessions/{sid}/seek", json={"step": 10}).json()
    assert at["settings_log"]["count"] == 1  # the state after the change
    assert at["settings_log"]["now"]["optimizer"]["learning_rate"] == 2.0
    assert at["learning_rate"] == 2.0
    forward = client.post(f"/api/sessions/{sid}/seek", json={"step": 20}).json()
    # A reset at step 20 starts again with α = 2: the start, not a change.
    client.post(f"/api/sessions/{sid}/reset")
    reset = step(client, sid, 15)
    log = reset["settings_log"]
    assert log["changes"] == [] and log["start"]["optimizer"]["learning_rate"] == 2.0
    assert_same_run(replay(client, created, reset), reset)
    assert forward["step"] == 20


def test_a_restored_session_keeps_its_log_for_links() -> None:
    """A snapshot (a restart, a takeover) carries the log: its link still replays the whole run."""
    s = TrainingSession(resolve(SessionConfigIn(preset="article")))
    s.advance(20)
    s.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 5}}))
    s.advance(5)
    s.reset()
    s.advance(3)
    s.patch(SessionPatch.model_validate({"l2": 0.5}))
    s.advance(4)
    restored = TrainingSession.restore(decode_state(encode_state(s.state())))
    assert restored.frame()["settings_log"] == s.frame()["settings_log"]
    assert restored.frame()["settings_log"]["start"]["optimizer"]["learning_rate"] == 5.0
    # A change after the restart is logged after the ones before it.
    for run in (s, restored):
        run.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 0.5}}))
        run.advance(2)
    assert restored.frame()["settings_log"] == s.frame()["settings_log"]
    assert restored.frame()["loss"] == s.frame()["loss"]


def test_compact_changes_leave_out_what_is_in_force() -> None:
    """Only optimizer fields that differ are listed; batch and L2 stay as sent."""
    start = resolve(SessionConfigIn(preset="article"))
    log = [
        (3, SessionPatch.model_validate({"optimizer": {"name": "sgd", "learning_rate": 1.0}})),
        (3, SessionPatch.model_validate({"optimizer": {"name": "adam", "learning_rate": 1.0}})),
        (8, SessionPatch.model_validate({"batch_size": 2, "l2": 0.0})),
        (9, SessionPatch.model_validate({"full_batch": True, "batch_size": 3})),
    ]
    assert links.compact(start, log) == [
        {"step": 3, "set": {}},
        {"step": 3, "set": {"optimizer": {"name": "adam"}}},
        {"step": 8, "set": {"batch_size": 2, "l2": 0.0}},
        {"step": 9, "set": {"full_batch": True}},
    ]


def test_more_changes_than_a_link_carries_are_counted_not_listed() -> None:
    """Past MAX_LINK_CHANGES the frame says how many, and lists none."""
    s = TrainingSession(resolve(SessionConfigIn(preset="article")))
    for k in range(links.MAX_LINK_CHANGES + 1):
        s.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 1 + k % 3}}))
        s.advance(1)
    log = s.frame()["settings_log"]
    assert log["count"] == links.MAX_LINK_CHANGES + 1 and log["changes"] is None
    # The settings in force are still said: the last change set the rate to 1 + 100 % 3.
    assert log["now"]["optimizer"]["learning_rate"] == 1 + links.MAX_LINK_CHANGES % 3
    s.seek(links.MAX_LINK_CHANGES - 1)  # back where there were 100 changes: listed again
    assert len(s.frame()["settings_log"]["changes"]) == links.MAX_LINK_CHANGES
