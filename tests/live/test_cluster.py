"""Peers sharing one Redis (BACKPROP_REDIS_URL): any peer serves any room or session.

Real processes throughout: redis-server on a free port, two or three `backprop-studio` peers on
loopback, WebSocket clients reading frames with deadlines. One peer trains each run (a lease);
the others follow it: frames over Redis pub/sub, commands forwarded to the owner, and a takeover
from the last snapshot when the owner is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import (
    DEADLINE,
    SCRIPT,
    RedisProcess,
    ServerProcess,
    free_port,
    running,
    start_peers,
    wait_for,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

FPS = 20
SPF = 2  # steps per frame while playing: a second of play is FPS * SPF steps


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


@pytest.fixture
def three(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Three running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 3))


async def next_message(ws: ClientConnection, kind: str, check: Any = None) -> dict[str, Any]:
    """The next message of `kind` (for which `check(msg)` holds), within the deadline."""
    async with asyncio.timeout(DEADLINE):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if msg["type"] == kind and (check is None or check(msg)):
                return msg


async def present(presenter: ClientConnection, token: str, play: bool = False) -> None:
    """Prove the presenter token on this socket; then, if asked, play at FPS x SPF."""
    await presenter.send(json.dumps({"type": "hello", "token": token}))
    await next_message(presenter, "welcome")
    if play:
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": SPF, "fps": FPS}))


def whole(frame: dict[str, Any]) -> bool:
    """A frame carrying the whole curve, with no hole: a loss for every step from 0."""
    return bool(frame["first_step"] == 0 and len(frame["losses"]) == frame["step"] + 1)


def make_room(server: ServerProcess) -> tuple[str, str]:
    """A room on `server`: its code and presenter token."""
    made = httpx.post(f"{server.url}/api/rooms", json={"config": {"preset": "article"}})
    assert made.status_code == 201, made.text
    body = made.json()
    return body["code"], body["presenter_token"]


def test_a_room_made_on_one_peer_is_joined_and_driven_from_another(
    two: list[ServerProcess],
) -> None:
    """Presenter and a participant on peer B, a participant on A (which trains the room)."""
    a, b = two
    code, token = make_room(a)

    async def scenario() -> None:
        async with (
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
            connect(f"{a.ws_url}/ws/rooms/{code}") as on_a,
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
        ):
            first = await next_message(on_b, "frame")
            assert first["step"] == 0 and first["first_step"] == 0  # the whole curve
            # The token is checked on B, against the digest in the snapshot.
            await presenter.send(json.dumps({"type": "hello", "token": "wrong"}))
            refused = await next_message(presenter, "error")
            assert "wrong presenter token" in refused["message"]
            await present(presenter, token)
            await presenter.send(json.dumps({"type": "step", "count": 5}))
            for ws in (on_a, on_b, presenter):
                frame = await next_message(ws, "frame", lambda m: m["step"] == 5)
                assert len(frame["losses"]) >= 1
            # A participant on B may not drive: the refusal comes from the room's rules.
            await on_b.send(json.dumps({"type": "step", "count": 1}))
            assert "only the presenter" in (await next_message(on_b, "error"))["message"]
            # The presenter's selection and phase reach the other peer's participant.
            selection = {"kind": "weight", "layer": 0, "i": 1, "j": 2}
            await presenter.send(json.dumps({"type": "select", "selection": selection}))
            assert (await next_message(on_a, "select"))["selection"] == selection
            await presenter.send(json.dumps({"type": "phase", "index": 2}))
            phase = await next_message(on_a, "phase")
            assert phase["index"] == 2 and phase["step"] == 5

            # Head counts are the cluster's: two participants, on two peers, and the presenter.
            # (Polled: A's `room` message may come before the select and phase ones, which
            # next_message skips past.)
            def counted() -> dict[str, Any] | None:
                info: dict[str, Any] = httpx.get(f"{a.url}/api/rooms/{code}").json()
                return info if info["participants"] == 2 and info["presenter"] else None

            info = await asyncio.to_thread(wait_for, counted, "A to count both peers' people")
            assert info["step"] == 5

    asyncio.run(scenario())
    # Everyone left: both peers' head counts agree again (they travel through Redis).
    wait_for(
        lambda: (
            httpx.get(f"{a.url}/api/rooms/{code}").json()
            == httpx.get(f"{b.url}/api/rooms/{code}").json()
        ),
        "the same room info on both peers",
    )
    # Reads on the follower are the owner's answers, number for number.
    for path in ("/config", "/matrix", "/trace", "/chain?layer=0&i=1&j=2", "/claims", "/fixes"):
        on_a = httpx.get(f"{a.url}/api/rooms/{code}{path}")
        on_b = httpx.get(f"{b.url}/api/rooms/{code}{path}")
        assert on_a.status_code == on_b.status_code == 200, (path, on_b.text)
        assert on_a.json() == on_b.json(), path
    # A fork made through B is B's own session at the room's step.
    fork = httpx.post(f"{b.url}/api/rooms/{code}/fork")
    assert fork.status_code == 201 and fork.json()["frame"]["step"] == 5


def test_a_session_made_on_one_peer_is_stepped_on_another(two: list[ServerProcess]) -> None:
    """Every REST call through B reaches the session A trains; A sees the same run."""
    a, b = two
    made = httpx.post(f"{a.url}/api/sessions", json={"preset": "xor"})
    sid = made.json()["id"]

    async def straight_away() -> None:  # before A's first snapshot may have been written
        async with connect(f"{b.ws_url}/ws/sessions/{sid}") as ws:
            assert (await next_message(ws, "frame"))["step"] == 0

    asyncio.run(straight_away())
    stepped = httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"count": 7})
    # Forwarded to A, answered with A's small acknowledgement, not the frame (docs/api.md).
    assert stepped.status_code == 200, stepped.text
    assert stepped.json() == {
        "type": "ack", "step": 7, "head": 7, "playing": False, "diverged": False
    }  # fmt: skip
    on_a = httpx.get(f"{a.url}/api/sessions/{sid}").json()
    assert on_a["step"] == 7 and on_a["head"] == 7
    on_a_directly = httpx.post(f"{a.url}/api/sessions/{sid}/step", json={"count": 1}).json()
    assert on_a_directly["type"] == "frame" and len(on_a_directly["losses"]) == 1  # the owner
    patched = httpx.patch(f"{b.url}/api/sessions/{sid}", json={"optimizer": {"name": "adam"}})
    assert patched.status_code == 200 and patched.json()["type"] == "ack"
    assert patched.json()["step"] == 8
    exported = httpx.get(f"{a.url}/api/sessions/{sid}/export").json()
    assert exported["config"]["optimizer"]["name"] == "adam"
    httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"count": 3})
    seek = httpx.post(f"{b.url}/api/sessions/{sid}/seek", json={"step": 4})
    assert seek.status_code == 200 and seek.json()["step"] == 4
    # An error at the owner comes back as the same error, with its message.
    bad = httpx.post(f"{b.url}/api/sessions/{sid}/seek", json={"step": 999})
    assert bad.status_code == 422 and "999" in bad.json()["detail"]
    assert httpx.get(f"{b.url}/api/sessions/{sid}/export").json() == (
        httpx.get(f"{a.url}/api/sessions/{sid}/export").json()
    )
    # The learner's socket on B streams A's frames.

    async def socket() -> None:
        async with connect(f"{b.ws_url}/ws/sessions/{sid}") as ws:
            assert (await next_message(ws, "frame"))["step"] == 4
            await ws.send(json.dumps({"type": "step", "count": 2}))
            assert (await next_message(ws, "frame", lambda m: m["step"] == 6))["losses"]

    asyncio.run(socket())

    async def deleted_elsewhere() -> None:  # a viewer on B, the session deleted on A
        async with connect(f"{b.ws_url}/ws/sessions/{sid}") as ws:
            await next_message(ws, "frame")
            assert httpx.delete(f"{a.url}/api/sessions/{sid}").status_code == 204
            async with asyncio.timeout(DEADLINE):
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

    asyncio.run(deleted_elsewhere())
    wait_for(
        lambda: httpx.get(f"{a.url}/api/sessions/{sid}").status_code == 404,
        "the session gone on A",
    )
    assert httpx.get(f"{b.url}/api/sessions/{sid}").status_code == 404
    again = httpx.post(f"{a.url}/api/sessions", json={"preset": "xor"}).json()["id"]
    assert httpx.delete(f"{b.url}/api/sessions/{again}").status_code == 204  # through B
    wait_for(
        lambda: httpx.get(f"{a.url}/api/sessions/{again}").status_code == 404,
        "the session deleted through B gone on A",
    )


def test_killing_the_owner_mid_play_hands_the_room_to_another_peer(
    three: list[ServerProcess],
) -> None:
    """SIGKILL the peer that trains a playing room: it plays on from another, losing < 1 s."""
    a, b, c = three
    code, token = make_room(a)

    async def scenario() -> tuple[int, int]:
        async with (
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
            connect(f"{c.ws_url}/ws/rooms/{code}") as on_c,
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
        ):
            await present(presenter, token, play=True)
            seen = (await next_message(on_c, "frame", lambda m: m["step"] >= 3 * SPF * FPS))["step"]
            a.stop(signal.SIGKILL)
            # Frames on C stop, then come back from the new owner: the whole curve first.
            resumed = await next_message(on_c, "frame", whole)
            # It plays on: later frames, still from the new owner, on both followers' peers.
            later = await next_message(on_c, "frame", lambda m: m["step"] > resumed["step"])
            assert later["playing"]
            await next_message(on_b, "frame", lambda m: m["step"] > resumed["step"])
            # A crowd arriving at once on C (pages that were on A, reconnecting) all follow.
            async with contextlib.AsyncExitStack() as stack:
                crowd = [
                    await stack.enter_async_context(connect(f"{c.ws_url}/ws/rooms/{code}"))
                    for _ in range(6)
                ]
                firsts = await asyncio.gather(*(next_message(ws, "frame") for ws in crowd))
                assert all(whole(f) and f["step"] >= resumed["step"] for f in firsts)
                await asyncio.gather(
                    *(
                        next_message(ws, "frame", lambda m: m["step"] > later["step"])
                        for ws in crowd
                    )
                )
            # The presenter, connected to a surviving peer, still drives.
            await presenter.send(json.dumps({"type": "pause"}))
            await next_message(on_c, "frame", lambda m: not m["playing"])
            return seen, resumed["step"]

    seen, resumed = asyncio.run(scenario())
    # Snapshots every 0.5 s while playing: at most about a second of play is lost.
    assert resumed >= seen - SPF * FPS, (seen, resumed)
    # The takeover is logged (by whichever surviving peer took it): a condition, read as it lands.
    wait_for(lambda: "took over room" in b.log() + c.log(), "the takeover in a peer's log")


def test_redis_restarted_under_running_peers(
    redis_server: RedisProcess, two: list[ServerProcess]
) -> None:
    """Redis goes away and comes back empty: the followers' frames come back, the room plays on."""
    a, b = two
    code, token = make_room(a)

    async def scenario() -> None:
        async with (
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
        ):
            await present(presenter, token, play=True)
            before = (await next_message(on_b, "frame", lambda m: m["step"] >= 20))["step"]
            redis_server.stop()
            redis_server.start()  # the same port, and empty
            # The listener reconnects and resubscribes; the follower catches up.
            await next_message(on_b, "frame", lambda m: m["step"] > before + 5 * SPF * FPS)
            await presenter.send(json.dumps({"type": "pause"}))
            await next_message(on_b, "frame", lambda m: not m["playing"])

    asyncio.run(scenario())
    r = redis_server.client()
    # The run is owned again, by exactly one peer, and its snapshot is back in Redis.
    peers_ids = {httpx.get(f"{p.url}/healthz").json()["peer"] for p in (a, b)}
    holder = wait_for(lambda: r.get(f"bp:lease:room:{code}"), "the room's lease in the new Redis")
    assert isinstance(holder, bytes) and holder.decode() in peers_ids
    wait_for(lambda: r.get(f"bp:run:room:{code}"), "the room's snapshot in the new Redis")
    r.close()
    assert "listening to Redis again" in a.log() + b.log()


def test_workers_run_peers_on_one_port(redis_server: RedisProcess, tmp_path: Path) -> None:
    """`--workers 2`: two peers behind one port; a session made by one is stepped by the other."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BACKPROP_REDIS_URL": redis_server.url, "BACKPROP_STATE_DIR": ""}
    with (tmp_path / "workers.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(SCRIPT), "--workers", "2", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        peers_seen: dict[str, str] = {}  # peer id -> a session that peer made

        def both_answered() -> bool:
            try:
                with httpx.Client() as fresh:  # a new connection: the kernel picks a worker
                    peer = fresh.get(f"{url}/healthz").json()["peer"]
                    if peer not in peers_seen:
                        made = fresh.post(f"{url}/api/sessions", json={"preset": "xor"})
                        peers_seen[peer] = made.json()["id"]
            except httpx.TransportError:
                return False
            return len(peers_seen) == 2

        wait_for(both_answered, "both workers to answer", deadline=60, poll=0.05)
        # Whichever worker each request reaches, every session answers: 20 fresh connections.
        for index in range(20):
            sid = list(peers_seen.values())[index % 2]
            with httpx.Client() as fresh:
                stepped = fresh.post(f"{url}/api/sessions/{sid}/step", json={"count": 1})
            assert stepped.status_code == 200, stepped.text
        assert all(
            httpx.get(f"{url}/api/sessions/{sid}").json()["step"] == 10
            for sid in peers_seen.values()
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert "Traceback" not in (tmp_path / "workers.log").read_text()


def test_a_subscriber_redis_disconnects_comes_back(
    redis_server: RedisProcess, two: list[ServerProcess]
) -> None:
    """Redis drops a slow subscriber (output-buffer limit): here, every listener is killed."""
    a, b = two
    code, token = make_room(a)
    r = redis_server.client()

    async def scenario() -> None:
        async with (
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
            connect(f"{b.ws_url}/ws/rooms/{code}") as on_b,
        ):
            await present(presenter, token, play=True)
            before = (await next_message(on_b, "frame", lambda m: m["step"] >= 20))["step"]
            # What Redis does to a subscriber over client-output-buffer-limit: drop it.
            assert int(r.client_kill_filter(_type="pubsub")) >= 2
            # B's listener reconnects; its viewer gets the whole curve, then frames go on.
            await next_message(on_b, "frame", whole)  # no hole where frames were lost
            await next_message(on_b, "frame", lambda m: m["step"] > before + 2 * SPF * FPS)
            await presenter.send(json.dumps({"type": "pause"}))

    asyncio.run(scenario())
    r.close()
    assert "listening to Redis again" in b.log()


def test_an_owner_that_lost_its_lease_follows_and_the_run_goes_on(
    redis_server: RedisProcess, two: list[ServerProcess]
) -> None:
    """The lease taken from the owner (as after a long stall): it follows; the run goes on."""
    a, b = two
    code, token = make_room(a)
    r = redis_server.client()

    async def scenario() -> None:
        async with (
            connect(f"{b.ws_url}/ws/rooms/{code}") as presenter,
            connect(f"{a.ws_url}/ws/rooms/{code}") as on_a,
        ):
            await present(presenter, token)
            await presenter.send(json.dumps({"type": "step", "count": 3}))
            await next_message(on_a, "frame", lambda m: m["step"] == 3)
            r.set(f"bp:lease:room:{code}", "a-peer-that-went-away", px=60_000)
            wait_for(lambda: "trained by another peer now" in a.log(), "A to give the run up")
            r.delete(f"bp:lease:room:{code}")  # ... and that peer is gone: someone takes over
            # A step sent while nobody holds the lease is refused with an error: step again.
            async with asyncio.timeout(DEADLINE):
                while True:
                    await presenter.send(json.dumps({"type": "step", "count": 2}))
                    answer = json.loads(await presenter.recv())
                    while answer["type"] not in ("frame", "error"):
                        answer = json.loads(await presenter.recv())
                    if answer["type"] == "frame" and answer["step"] >= 5:
                        break
                    if answer["type"] == "error":
                        await asyncio.sleep(0.2)  # paced: the takeover takes a second or two
            await next_message(on_a, "frame", lambda m: m["step"] >= 5)

    asyncio.run(scenario())
    assert r.get(f"bp:lease:room:{code}").decode() in {  # type: ignore[union-attr]
        httpx.get(f"{p.url}/healthz").json()["peer"] for p in (a, b)
    }
    r.close()
