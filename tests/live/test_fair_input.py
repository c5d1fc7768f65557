"""Input quirks: a CSV's byte-order mark, ';' files, repeated targets, a crawling fps, HEAD /."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

CSV = "a,b,target\n1,2,0\n2,3,1\n3,4,0\n4,5,1\n"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as c:
        yield c


def create(client: TestClient, dataset: dict[str, object]) -> tuple[int, dict[str, object]]:
    r = client.post("/api/sessions", json={"layers": [2, 3, 1], "dataset": dataset})
    return r.status_code, r.json()


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_name(client: TestClient) -> None:
    status, body = create(client, {"csv": "\ufeff" + CSV})
    assert status == 201, body
    data = client.get(f"/api/sessions/{body['id']}/data").json()
    assert data["feature_names"] == ["a", "b"]


def test_a_semicolon_file_gets_a_hint(client: TestClient) -> None:
    status, body = create(client, {"csv": CSV.replace(",", ";")})
    assert status == 422
    assert "separated by ';'" in str(body["detail"])
    # Decimal commas in a ';' file: the number error carries the hint too.
    status, body = create(client, {"csv": "a;b,c\n1;2,5\n2;3,5\n"})
    assert status == 422
    assert "separated by ';'" in str(body["detail"])


def test_a_target_named_twice_is_refused(client: TestClient) -> None:
    status, body = create(client, {"csv": CSV, "targets": ["target", "target"]})
    assert status == 422
    assert "only once" in str(body["detail"])


def test_play_at_a_crawl_is_refused_with_a_message(client: TestClient) -> None:
    sid = client.post("/api/sessions", json={"preset": "xor"}).json()["id"]
    with client.websocket_connect(f"/ws/sessions/{sid}") as ws:
        assert ws.receive_json()["type"] == "frame"
        ws.send_json({"type": "play", "fps": 1e-300})
        msg = ws.receive_json()
        assert msg["type"] == "error" and "under the minimum" in msg["message"]
    assert client.get(f"/api/sessions/{sid}").json()["playing"] is False


def test_head_of_the_main_page(client: TestClient) -> None:
    r = client.head("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
