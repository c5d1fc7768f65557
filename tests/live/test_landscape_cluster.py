"""The landscape and the GIF through a peer that does not train the run: forwarded, the same."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from support import RedisProcess, ServerProcess, running, start_peers


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


def test_a_follower_forwards_the_landscape_and_the_gif_to_the_trainer(
    two: list[ServerProcess],
) -> None:
    a, b = two
    sid = httpx.post(f"{a.url}/api/sessions", json={"preset": "article"}).json()["id"]
    assert httpx.post(f"{a.url}/api/sessions/{sid}/step", json={"count": 40}).status_code == 200
    for query in ("a=w.0.0.0&b=b.1.0&grid=5", "mode=trajectory&grid=5"):
        here = httpx.get(f"{a.url}/api/sessions/{sid}/landscape?{query}", timeout=60)
        there = httpx.get(f"{b.url}/api/sessions/{sid}/landscape?{query}", timeout=60)
        assert here.status_code == there.status_code == 200, there.text
        assert there.json() == here.json() and there.json()["step"] == 40
    here = httpx.get(f"{a.url}/api/sessions/{sid}/animation.gif", timeout=60)
    there = httpx.get(f"{b.url}/api/sessions/{sid}/animation.gif", timeout=60)
    assert here.status_code == there.status_code == 200, there.text[:300]
    assert there.content == here.content  # drawn by the trainer, bit for bit
    assert there.headers["content-disposition"].endswith('steps-0-40.gif"')
    with Image.open(io.BytesIO(there.content)) as image:
        assert getattr(image, "n_frames", 1) == 41
    bad = httpx.get(f"{b.url}/api/sessions/{sid}/animation.gif?from=30&to=99", timeout=60)
    assert bad.status_code == 422 and "from and to" in bad.json()["detail"]
