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


CAP = 5


@pytest.fixture
def capped(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two peers with a small cluster-wide cap on sessions and rooms."""
    env = {
        "BACKPROP_REDIS_URL": redis_server.url,
        "BACKPROP_STATE_DIR": "",
        "BACKPROP_MAX_SESSIONS": str(CAP),
        "BACKPROP_MAX_ROOMS": str(CAP),
    }
    started = [ServerProcess(tmp_path / f"cap{i}.log", env=env).start() for i in range(2)]
    yield from running(started)


async def spread(
    peers: list[ServerProcess], path: str, body: dict[str, object], count: int
) -> list[httpx.Response]:
    """`count` creations at once, each from its own address, spread over the peers in turn."""
    clients = [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address=f"127.0.1.{i + 1}"), timeout=60
        )
        for i in range(count)
    ]
    try:
        return await asyncio.gather(
            *(
                client.post(f"{peers[i % len(peers)].url}{path}", json=body)
                for i, client in enumerate(clients)
            )
        )
    finally:
        for client in clients:
            await client.aclose()


def test_concurrent_creations_on_two_peers_never_pass_the_cluster_cap(
    capped: list[ServerProcess], redis_server: RedisProcess
) -> None:
    """Twenty addresses create at once on two peers: exactly the cap is made, cluster-wide."""
    made = asyncio.run(spread(capped, "/api/sessions", {"preset": "xor"}, 20))
    codes = sorted(r.status_code for r in made)
    assert codes == [201] * CAP + [429] * (20 - CAP), codes
    runs = {m.decode() for m in redis_server.client().smembers("bp:runs")}  # type: ignore[union-attr]
    assert len([m for m in runs if m.startswith("session:")]) == CAP
    rooms = asyncio.run(spread(capped, "/api/rooms", {"config": {"preset": "xor"}}, 20))
    codes = sorted(r.status_code for r in rooms)
    assert codes == [201] * CAP + [429] * (20 - CAP), codes
    # A place freed on one peer is free to the other at once (no tick to wait for).
    first = next(r.json()["id"] for r in made if r.status_code == 201)
    assert httpx.delete(f"{capped[1].url}/api/sessions/{first}", timeout=30).status_code == 204
    again = httpx.post(f"{capped[0].url}/api/sessions", json={"preset": "xor"}, timeout=60)
    assert again.status_code == 201, again.text
