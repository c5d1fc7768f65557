"""Routing to the owner: keys made by peer i of n route to slot i, as the proxy's map says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.live.route import (
    ALPHABET,
    SESSION_ALPHABET,
    nginx_map,
    parse_slot,
    room_code,
    session_id,
    slot_of,
)
from app.main import create_app
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_slots_parse_and_refuse_nonsense() -> None:
    assert parse_slot(None) is None
    assert parse_slot("") is None
    assert parse_slot("1/3") == (1, 3)
    for bad in ("3/3", "1-3", "a/2", "-1/2"):
        with pytest.raises(ValueError):
            parse_slot(bad)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_keys_made_for_a_slot_route_to_it(n: int) -> None:
    for i in range(n):
        for _ in range(200):
            sid = session_id((i, n))
            assert len(sid) == 22 and set(sid) <= set(SESSION_ALPHABET)
            assert slot_of(sid, SESSION_ALPHABET, n) == i
            code = room_code((i, n))
            assert len(code) == 6 and set(code) <= set(ALPHABET)
            assert slot_of(code, ALPHABET, n) == i


def nginx_route(table: str, uri: str) -> str:
    """Where nginx's map sends `uri`: the first regex that matches (`~*`: any case)."""
    for pattern, target in re.findall(r'"(~\*?\^[^"]+)" (\w+);', table):
        flags = re.IGNORECASE if pattern.startswith("~*") else 0
        if re.search(pattern.lstrip("~*"), uri, flags):
            return str(target)
    return "studio"


@pytest.mark.parametrize("n", [2, 3])
def test_the_proxy_map_sends_each_key_to_its_slot(n: int) -> None:
    table = nginx_map(n)
    for i in range(n):
        for _ in range(100):
            sid, code = session_id((i, n)), room_code((i, n))
            for uri in (f"/api/sessions/{sid}/step", f"/ws/sessions/{sid}"):
                assert nginx_route(table, uri) == f"peer{i}", uri
            for uri in (f"/api/rooms/{code}", f"/ws/rooms/{code}", f"/present/{code}"):
                assert nginx_route(table, uri) == f"peer{i}", uri
            # A code as a person types it: lower case, a dash.
            typed = f"{code[:3].lower()}-{code[3:]}"
            assert nginx_route(table, f"/room/{typed}") == f"peer{i}"
    for uri in ("/", "/api/sessions", "/api/rooms", "/join", "/static/css/app.css", "/healthz"):
        assert nginx_route(table, uri) == "studio", uri


def test_the_deployed_config_carries_the_generated_map() -> None:
    conf = (ROOT / "deploy" / "nginx-peers.conf").read_text()
    assert nginx_map(2) in conf
    for i in range(2):
        assert f"upstream peer{i} {{" in conf


def test_a_peer_with_a_slot_makes_keys_that_route_to_it() -> None:
    with TestClient(create_app(Settings(route="1/2"))) as client:
        for _ in range(10):
            sid = client.post("/api/sessions", json={"preset": "xor"}).json()["id"]
            assert slot_of(sid, SESSION_ALPHABET, 2) == 1
        made = client.post("/api/rooms", json={"config": {"preset": "xor"}})
        assert slot_of(made.json()["code"], ALPHABET, 2) == 1
