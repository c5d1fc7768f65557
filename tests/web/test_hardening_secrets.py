"""Secrets: presenter tokens and session ids are unguessable, never logged, never handed out."""

from __future__ import annotations

import hmac
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import STATIC_DIR
from app.settings import Settings
from app.web.deps import services_of

SETTINGS = Settings(max_rooms=60, max_rooms_per_ip=60)


def make_room(client: TestClient) -> dict[str, Any]:
    """POST /api/rooms."""
    r = client.post("/api/rooms", json={"config": {"preset": "article"}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_tokens_and_ids_are_long_random_and_distinct(client: TestClient) -> None:
    rooms = [make_room(client) for _ in range(20)]
    tokens = [r["presenter_token"] for r in rooms]
    assert len(set(tokens)) == len(tokens)
    # token_urlsafe(32): 256 random bits, URL-safe base64 without padding.
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", t) for t in tokens)
    ids = [client.post("/api/sessions", json={}).json()["id"] for _ in range(20)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22,}", i) for i in ids)  # 128 random bits


def test_a_room_keeps_only_a_digest(client: TestClient) -> None:
    created = make_room(client)
    room = services_of(client.app).rooms.get(created["code"])
    assert created["presenter_token"] not in repr(vars(room))


def test_tokens_compare_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = make_room(client)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module the rooms call
    room = services_of(client.app).rooms.get(created["code"])
    assert room is not None
    assert room.check_token(created["presenter_token"]) is True
    assert room.check_token("nope") is False
    assert len(calls) == 2
    assert all(len(a) == len(b) == 32 for a, b in calls)  # digests: no length leak either


def test_the_token_is_never_logged_nor_handed_to_anyone_else(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        created = make_room(client)
        code, token = created["code"], created["presenter_token"]
        answers: list[str] = []
        with (
            client.websocket_connect(f"/ws/rooms/{code}") as presenter,
            client.websocket_connect(f"/ws/rooms/{code}") as participant,
        ):
            presenter.send_json({"type": "hello", "token": token})
            presenter.send_json({"type": "step", "count": 2})
            participant.send_json({"type": "hello", "token": token[:-1] + "x"})  # wrong
            participant.send_json({"type": "step", "count": 2})
            wanted = {"wrong presenter token", "only the presenter", "step 2"}
            for _ in range(50):
                text = participant.receive_text()
                answers.append(text)
                msg = json.loads(text)
                if msg["type"] == "error":
                    wanted = {w for w in wanted if w not in msg["message"]}
                elif msg["type"] == "frame" and msg["step"] == 2:
                    wanted.discard("step 2")
                if not wanted:
                    break
            assert not wanted
        for path in (
            f"/api/rooms/{code}",
            f"/api/rooms/{code}/config",
            f"/room/{code}",
            f"/present/{code}",
            f"/join?code={code}",
        ):
            r = client.get(path)
            assert r.status_code < 400, path
            assert token not in r.text, path
        fork = client.post(f"/api/rooms/{code}/fork")
        assert token not in fork.text
    assert all(token not in a for a in answers)
    assert token not in caplog.text
    assert token[:-1] + "x" not in caplog.text


def test_no_route_takes_a_token_in_its_url(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        assert "token" not in path
        for op in ops.values():
            for param in op.get("parameters", []):
                assert "token" not in param["name"], (path, param)


def test_the_presenter_page_keeps_the_token_in_the_fragment() -> None:
    for name in ("workshop.js", "present.js"):
        source = (Path(STATIC_DIR) / "js" / name).read_text()
        assert "#token=" in source  # never ?token=: a fragment is not sent to any server
        assert "?token=" not in source and "&token=" not in source.replace("(?:^#|&)token=", "")
