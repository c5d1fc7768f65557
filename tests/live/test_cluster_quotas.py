"""Per-address quotas on peers sharing one Redis: N peers give the limits of one.

Real processes: redis-server and two `backprop-studio` peers; one client address (a loopback
alias) asks both at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import RedisProcess, ServerProcess, running

SESSIONS_PER_IP = 3
ROOMS_PER_IP = 2


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two peers with small per-address quotas."""
    env = {
        "BACKPROP_REDIS_URL": redis_server.url,
        "BACKPROP_STATE_DIR": "",
        "BACKPROP_MAX_SESSIONS_PER_IP": str(SESSIONS_PER_IP),
        "BACKPROP_MAX_ROOMS_PER_IP": str(ROOMS_PER_IP),
    }
    started = [ServerProcess(tmp_path / f"peer{i}.log", env=env).start() for i in range(2)]
    yield from running(started)


async def burst(
    peers: list[ServerProcess], path: str, body: dict[str, object], address: str, count: int
) -> list[httpx.Response]:
    """`count` creations at once from `address`, spread over the peers in turn."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=60) as mine:
        return await asyncio.gather(
            *(mine.post(f"{peers[i % len(peers)].url}{path}", json=body) for i in range(count))
        )


def test_one_address_gets_the_single_peer_quota_across_two_peers(
    two: list[ServerProcess],
) -> None:
    """Twenty creations at once on two peers: exactly the quota is made, the rest refused."""
    a, b = two
    made = asyncio.run(burst(two, "/api/sessions", {"preset": "xor"}, "127.0.0.30", 20))
    codes = sorted(r.status_code for r in made)
    assert codes == [201] * SESSIONS_PER_IP + [429] * (20 - SESSIONS_PER_IP), codes
    refused = next(r for r in made if r.status_code == 429)
    assert f"your address already holds {SESSIONS_PER_IP} sessions" in refused.json()["detail"]
    rooms = asyncio.run(burst(two, "/api/rooms", {"config": {"preset": "xor"}}, "127.0.0.31", 20))
    codes = sorted(r.status_code for r in rooms)
    assert codes == [201] * ROOMS_PER_IP + [429] * (20 - ROOMS_PER_IP), codes
    # A place freed on one peer is free on the other: delete a session through B, make one on A.
    ids = [r.json()["id"] for r in made if r.status_code == 201]
    transport = httpx.HTTPTransport(local_address="127.0.0.30")
    with httpx.Client(transport=transport, timeout=60) as mine:
        assert mine.delete(f"{b.url}/api/sessions/{ids[0]}").status_code == 204
        assert mine.post(f"{a.url}/api/sessions", json={"preset": "xor"}).status_code == 201
        assert mine.post(f"{b.url}/api/sessions", json={"preset": "xor"}).status_code == 429
        # Another address is not affected.
    with httpx.Client(
        transport=httpx.HTTPTransport(local_address="127.0.0.32"), timeout=60
    ) as other:
        assert other.post(f"{b.url}/api/sessions", json={"preset": "xor"}).status_code == 201
