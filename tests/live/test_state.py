"""Snapshots (issue 12): a session's state round-trips bit for bit; an app restarts from SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.domain.errors import InvalidError
from app.domain.history import HISTORY_KEEP
from app.domain.presets import resolve
from app.domain.protocol import SessionConfigIn, SessionPatch
from app.domain.session import TrainingSession
from app.live.sessions import SessionStore
from app.live.state import MemoryBackend, Persister, SqliteBackend, decode_state, encode_state
from app.live.stream import Runner
from app.main import create_app
from app.settings import Settings
from app.web.deps import services_of

CONFIGS: list[dict[str, Any]] = [
    {"preset": "article"},
    {"preset": "xor", "optimizer": {"name": "momentum", "learning_rate": 0.5}},
    {"preset": "spiral"},  # Adam, mini-batches (the batch generator), a test split
    {"preset": "spiral", "optimizer": {"name": "adam", "learning_rate": 0.03}, "batch_size": 7},
]


def session_for(config: dict[str, Any]) -> TrainingSession:
    """A session from a preset and overrides."""
    return TrainingSession(resolve(SessionConfigIn.model_validate(config)))


def round_trip(session: TrainingSession) -> TrainingSession:
    """state() through the byte encoding and back."""
    return TrainingSession.restore(decode_state(encode_state(session.state())))


def assert_same(a: TrainingSession, b: TrainingSession) -> None:
    """Bit for bit: weights, step, history, frames."""
    assert a.step_count == b.step_count
    assert a.net.theta.tobytes() == b.net.theta.tobytes()
    assert a.history.train.tobytes() == b.history.train.tobytes()
    assert a.history.test.tobytes() == b.history.test.tobytes()
    assert a.frame(since=-1) == b.frame(since=-1)
    assert a.export() == b.export()


@pytest.mark.parametrize("config", CONFIGS)
def test_a_restored_session_carries_on_bit_for_bit(config: dict[str, Any]) -> None:
    """Restore mid-epoch, then both copies step on: identical weights, losses and batches."""
    original = session_for(config)
    original.advance(37)  # not a multiple of any batch count: mid-epoch
    restored = round_trip(original)
    assert_same(original, restored)
    original.advance(53)
    restored.advance(53)
    assert_same(original, restored)


def test_patched_optimizer_and_batch_survive() -> None:
    """A settings change (the rate, the batch size) is part of the snapshot."""
    original = session_for({"preset": "spiral"})
    original.advance(10)
    original.patch(SessionPatch.model_validate({"optimizer": {"learning_rate": 0.01}}))
    original.patch(SessionPatch.model_validate({"batch_size": 16, "l2": 0.001}))
    original.advance(5)
    restored = round_trip(original)
    assert restored.optimizer.learning_rate == 0.01
    assert restored.config.batch_size == 16
    original.advance(20)
    restored.advance(20)
    assert_same(original, restored)


def test_thinned_history_and_divergence_survive() -> None:
    """The archive of old losses and a diverged run come back as they were."""
    original = session_for({"preset": "article"})
    original.advance(2 * HISTORY_KEEP + 5)
    assert original.history.archive, "the run is long enough to thin its history"
    restored = round_trip(original)
    assert_same(original, restored)
    # Linear units and a huge rate: the weights overflow within a few dozen steps.
    wild = session_for(
        {
            "layers": [4, 5, 1],
            "activation": "linear",
            "output_activation": "linear",
            "loss": "mse",
            "optimizer": {"name": "sgd", "learning_rate": 1e6},
        }
    )
    wild.advance(200)
    assert wild.diverged
    back = round_trip(wild)
    assert back.diverged and back.frame() == wild.frame()


def test_snapshots_never_unpickle() -> None:
    """A snapshot holding a pickled object is refused, not executed."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, evil=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        decode_state(buffer.getvalue())


def test_sqlite_backend(tmp_path: Path) -> None:
    """Replace, list, load, delete; the file survives a reopen."""
    db = SqliteBackend(tmp_path)
    db.snapshot("session", "a", b"1")
    db.snapshot("session", "a", b"2")
    db.snapshot("room", "ABC234", b"3")
    db.close()
    db = SqliteBackend(tmp_path)
    assert sorted(db.list()) == [("room", "ABC234"), ("session", "a")]
    assert db.load("session", "a") == b"2"
    db.delete("session", "a")
    assert db.load("session", "a") is None
    assert db.list() == [("room", "ABC234")]
    db.close()


def test_persister_writes_on_change_and_forgets() -> None:
    """A step is written at once; a removed session's snapshot is deleted; shutdown keeps all."""

    async def scenario() -> None:
        backend = MemoryBackend()
        persist = Persister(backend, interval=60)  # only urgent writes within this test
        store = SessionStore(10, 60)
        store.persist = persist
        persist.start()
        entry = store.add(session_for({"preset": "article"}))
        runner = entry.runner
        assert isinstance(runner, Runner)  # made here: trained here
        await runner.step(5)

        async def written_at(step: int) -> None:
            while True:
                blob = backend.load("session", entry.id)
                if blob is not None and decode_state(blob)["step_count"] == step:
                    return
                await asyncio.sleep(0.01)

        await asyncio.wait_for(written_at(5), 10)
        other = store.add(session_for({"preset": "xor"}))
        await asyncio.wait_for(_until(lambda: ("session", other.id) in backend.blobs), 10)
        await store.remove(other.id)
        await asyncio.wait_for(_until(lambda: ("session", other.id) not in backend.blobs), 10)
        await runner.step(3)
        await persist.close()  # the last state, written before the store closes
        await store.close()
        assert decode_state(backend.blobs[("session", entry.id)])["step_count"] == 8

    asyncio.run(scenario())


async def _until(probe: Any) -> None:
    """Poll an in-process condition (bounded by the caller's wait_for)."""
    while not probe():
        await asyncio.sleep(0.01)


def test_an_app_restarts_with_its_sessions_and_rooms(tmp_path: Path) -> None:
    """Same directory, new app: the session under its id, the room under its code and token."""
    settings = Settings(state_dir=str(tmp_path))
    with TestClient(create_app(settings)) as client:
        sid = client.post("/api/sessions", json={"preset": "spiral"}).json()["id"]
        assert client.post(f"/api/sessions/{sid}/step", json={"count": 25}).status_code == 200
        before = client.get(f"/api/sessions/{sid}/export").json()
        room = client.post("/api/rooms", json={"config": {"preset": "article"}}).json()
        code, token = room["code"], room["presenter_token"]
        with client.websocket_connect(f"/ws/rooms/{code}") as ws:
            ws.send_json({"type": "hello", "token": token})
            ws.send_json({"type": "step", "count": 7})
            until_frame(ws, 7)
            ws.send_json({"type": "select", "selection": {"mode": "gradients", "sample": 3}})
            ws.send_json({"type": "step", "count": 1})  # handled in order: after the select
            until_frame(ws, 8)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert token.encode() not in stored  # the token's digest only, never the token
    with TestClient(create_app(settings)) as client:
        after = client.get(f"/api/sessions/{sid}/export").json()
        assert after == before
        assert client.get(f"/api/rooms/{code}").json()["step"] == 8
        with client.websocket_connect(f"/ws/rooms/{code}") as ws:  # a participant, late
            # A new connection gets its frame, the selection and the head count, in one batch.
            got = {m["type"]: m for m in (ws.receive_json() for _ in range(3))}
            assert got["select"]["selection"] == {"mode": "gradients", "sample": 3}
        with client.websocket_connect(f"/ws/rooms/{code}") as ws:
            ws.send_json({"type": "hello", "token": "not the token"})
            ws.send_json({"type": "hello", "token": token})
            kinds: list[str] = []
            while "welcome" not in kinds and len(kinds) < 50:
                kinds.append(ws.receive_json()["type"])
            assert "welcome" in kinds
            assert "error" in kinds  # the wrong token was refused, the right one welcomed
        # Stepping on after the restart goes on from step 25, as if nothing happened.
        frame = client.post(f"/api/sessions/{sid}/step", json={"count": 5}).json()
        assert frame["step"] == 30
        assert client.delete(f"/api/sessions/{sid}").status_code in (200, 204)
    with TestClient(create_app(settings)) as client:
        assert client.get(f"/api/sessions/{sid}").status_code == 404  # deleted stays deleted
        assert client.get(f"/api/rooms/{code}").status_code == 200


def until_frame(ws: Any, step: int, limit: int = 100) -> None:
    """Read until the frame at `step` (a bounded number of messages)."""
    for _ in range(limit):
        m = ws.receive_json()
        if m["type"] == "frame" and m["step"] == step:
            return
    raise AssertionError(f"no frame at step {step}")


def test_no_state_dir_keeps_memory_only(tmp_path: Path) -> None:
    """Settings without a state directory write nothing anywhere."""
    with TestClient(create_app(Settings())) as client:
        assert services_of(client.app).store.persist is None


def test_a_restored_run_seeks_from_its_restart_on_and_says_why_not_before() -> None:
    """Steps before a restart cannot be revisited (their checkpoints died with the old process)."""
    s = TrainingSession(resolve(SessionConfigIn(preset="article")))
    s.advance(30)
    again = TrainingSession.restore(s.state())
    assert again.step_count == 30 and again.frame()["head"] == 30
    again.advance(10)
    back = again.seek(33)
    assert back["step"] == 33
    with pytest.raises(InvalidError, match="from 30 to the head, 40"):
        again.seek(12)
