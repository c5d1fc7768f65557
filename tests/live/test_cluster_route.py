"""What a command costs in Redis, on the peer that owns the run and on one that does not.

Real processes: redis-server and two `backprop-studio` peers. Redis's MONITOR lists every
command the peers send while a presenter steps; the lease renewals of the cluster's tick
(one script every 0.5 s per run held, whatever happens) are told apart and left out.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import redis
from support import DEADLINE, RedisProcess, ServerProcess, running, start_peers, wait_for
from websockets.asyncio.client import ClientConnection, connect

STEPS = 5  # presenter's steps measured
END = "bp-test-monitor-end"  # echoed when a measurement ends


@pytest.fixture
def two(redis_server: RedisProcess, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two running peers."""
    yield from running(start_peers(tmp_path, redis_server.url, 2))


class Monitor:
    """Every command Redis executes meanwhile, as (name, first argument), from MONITOR."""

    def __init__(self, server: RedisProcess) -> None:
        self.client = server.client()
        self.seen: list[list[str]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.monitor() as m:
            self._ready.set()
            for command in m.listen():
                if END in str(command.get("command")) or self._stop.is_set():
                    return  # every command Redis ran before the end marker has been seen
                if command.get("client_type") == "lua":
                    continue  # a script's own calls: part of its EVAL, no round trip of theirs
                self.seen.append(str(command["command"]).split(" "))

    def __enter__(self) -> Monitor:
        self._thread.start()
        self._ready.wait(10)
        self.client.ping()  # MONITOR is on once its own PING shows
        wait_for(lambda: any(c[0].upper() == "PING" for c in self.seen), "MONITOR")
        self.seen.clear()
        return self

    def __exit__(self, *_: object) -> None:
        self.client.echo(END)  # after everything measured: the listener stops at it
        self._thread.join(10)
        self._stop.set()

    def commands(self) -> list[list[str]]:
        """The commands seen, lease renewals (the tick's, unrelated to any command) left out."""
        out = []
        for command in self.seen:
            name = command[0].upper()
            if name in ("PING", "MONITOR"):
                continue
            text = " ".join(command)
            if name in ("EVAL", "EVALSHA") and "bp:run:" not in text:
                continue  # the tick's RENEW of a lease (a save names the run's snapshot)
            if name == "HGETALL" and "bp:saved" in text:
                continue  # the tick's janitor
            if name == "EXISTS" and any(a.startswith("bp:") for a in command[1:2]):
                continue  # the tick's checks of watch keys and followed leases
            if name in ("HSET", "PEXPIRE", "HGETALL") and "bp:n:" in command[1]:
                continue  # a room's head count, refreshed every few seconds, steps or not
            if name == "HELLO":
                continue  # a new pooled connection's handshake, not a command's round trip
            if name == "SET" and "bp:w:" in command[1]:
                continue  # the tick: "viewers here" while a follower has them
            if name == "ECHO" and [a.strip('"') for a in command[1:]] == ["-"]:
                continue  # the tick's stand-in for that SET while a follower has none
            out.append(command)
        return out


def channel(publish: str) -> str:
    """The channel of a PUBLISH as MONITOR shows it."""
    return publish.split(" ")[1].strip('"')


def names(commands: list[list[str]]) -> list[str]:
    """Command names, upper case."""
    return [c[0].upper() for c in commands]


class Presenter:
    """A presenter's socket and the newest step its frames showed."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.step = -1

    async def read_until(self, done: Any) -> dict[str, Any]:
        """Messages until `done(msg)`; every frame's step is noted; an error fails the test."""
        async with asyncio.timeout(DEADLINE):
            while True:
                msg: dict[str, Any] = json.loads(await self.ws.recv())
                if msg["type"] == "error":
                    raise AssertionError(msg["message"])
                if msg["type"] == "frame":
                    self.step = max(self.step, int(msg["step"]))
                if done(msg):
                    return msg

    async def steps(self, count: int) -> None:
        """`count` single steps, each sent once the frame of the one before has come."""
        for _ in range(count):
            target = self.step + 1
            await self.ws.send(json.dumps({"type": "step", "count": 1}))
            await self.read_until(lambda m, t=target: m["type"] == "frame" and m["step"] >= t)


class Reachable(Protocol):
    """A peer, or the proxy in front of peers: where a socket connects."""

    ws_url: str


async def presenter_socket(server: Reachable, code: str, token: str) -> Presenter:
    """A presenter connected to `server`, welcomed, its whole curve read."""
    p = Presenter(await connect(f"{server.ws_url}/ws/rooms/{code}"))
    await p.read_until(lambda m: m["type"] == "frame")
    await p.ws.send(json.dumps({"type": "hello", "token": token}))
    await p.read_until(lambda m: m["type"] == "welcome")
    return p


async def monitored_steps(
    server: Reachable, code: str, token: str, redis_server: RedisProcess
) -> list[list[str]]:
    """The Redis commands (MONITOR) while a presenter connected to `server` steps STEPS times."""
    p = await presenter_socket(server, code, token)
    try:
        with Monitor(redis_server) as monitor:
            await p.steps(STEPS)
        return monitor.commands()
    finally:
        await p.ws.close()


def test_a_step_on_the_owner_crosses_redis_only_to_be_saved(
    two: list[ServerProcess], redis_server: RedisProcess
) -> None:
    a, _ = two
    made = httpx.post(f"{a.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]

    commands = asyncio.run(monitored_steps(a, code, token, redis_server))
    print("owner:", names(commands))
    # No PUBLISH (nobody follows the run), no GET of the lease: the one command per step is
    # the fenced snapshot write that makes it durable before it is acknowledged.
    assert "PUBLISH" not in names(commands)
    assert "GET" not in names(commands)
    saves = [c for c in commands if c[0].upper() in ("EVAL", "EVALSHA")]
    assert all(f"bp:run:room:{code}" in " ".join(c) for c in saves), saves
    assert len(saves) <= STEPS, names(commands)
    assert len(commands) == len(saves), names(commands)


def test_a_step_on_the_wrong_peer_is_forwarded_once_and_answered_small(
    two: list[ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = two
    made = httpx.post(f"{a.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]

    async def run() -> list[list[str]]:
        p = await presenter_socket(b, code, token)  # B follows; A trains
        try:
            await p.steps(1)  # B knows the owner from its frames from now on
            with Monitor(redis_server) as monitor:
                await p.steps(STEPS)
            return monitor.commands()
        finally:
            await p.ws.close()

    commands = asyncio.run(run())
    print("wrong peer:", [f"{c[0]} {c[1][:12]}" for c in commands])
    publishes = [" ".join(c).replace("\\", "") for c in commands if c[0].upper() == "PUBLISH"]
    requests = [t for t in publishes if '"op":"command"' in t]
    replies = [t for t in publishes if channel(t).startswith("bp:p:") and '"re"' in t]
    frames = [t for t in publishes if channel(t).startswith("bp:f:")]
    # Per step: the request to the owner (one PUBLISH, no GET: the owner is known from its
    # frames), the owner's fenced save, its frame once on the run's channel (B has a viewer)
    # and a small reply. The last reply may come after the last frame, outside the window.
    assert "GET" not in names(commands)
    assert len(requests) == STEPS, publishes
    assert STEPS - 1 <= len(replies) <= STEPS, publishes
    assert len(frames) <= STEPS, publishes
    for reply in replies:
        assert "losses" not in reply and "weights" not in reply, reply  # an ack, not a frame
        assert '"diverged":false' in reply, reply
    saves = [c for c in commands if c[0].upper() in ("EVAL", "EVALSHA")]
    assert len(saves) <= STEPS, names(commands)
    others = [c for c in commands if c[0].upper() not in ("PUBLISH", "EVAL", "EVALSHA")]
    assert others == [], others


def test_a_rest_step_on_the_wrong_peer_costs_one_round_trip_and_answers_an_ack(
    two: list[ServerProcess], redis_server: RedisProcess
) -> None:
    """REST, no viewer on B: per step B's request and A's save and reply; no GET (B knows
    the owner from its last answer), no frame published (nobody on B would read it)."""
    a, b = two
    sid = httpx.post(f"{a.url}/api/sessions", json={"preset": "xor"}, timeout=30).json()["id"]
    first = httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"count": 1}, timeout=30)
    assert first.status_code == 200 and first.json()["type"] == "ack", first.text
    with Monitor(redis_server) as monitor:
        answers = [
            httpx.post(f"{b.url}/api/sessions/{sid}/step", json={"count": 2}, timeout=30)
            for _ in range(STEPS)
        ]
        # The last reply's PUBLISH ran before B answered: inside the window.
    commands = monitor.commands()
    print("REST on the wrong peer:", [f"{c[0]} {c[1][:12]}" for c in commands])
    steps = [r.json() for r in answers]
    assert steps == [
        {"type": "ack", "step": 1 + 2 * k, "head": 1 + 2 * k, "playing": False, "diverged": False}
        for k in range(1, STEPS + 1)
    ], steps
    publishes = [" ".join(c).replace("\\", "") for c in commands if c[0].upper() == "PUBLISH"]
    requests = [t for t in publishes if '"op":"command"' in t]
    replies = [t for t in publishes if channel(t).startswith("bp:p:") and '"re"' in t]
    assert len(requests) == STEPS and len(replies) == STEPS, publishes
    assert not [t for t in publishes if channel(t).startswith("bp:f:")], publishes
    assert all("losses" not in t for t in replies), replies
    saves = [c for c in commands if c[0].upper() in ("EVAL", "EVALSHA")]
    assert len(saves) == STEPS and all(f"bp:run:session:{sid}" in " ".join(c) for c in saves)
    assert len(commands) == 3 * STEPS, names(commands)  # nothing else: no GET of the lease
    on_a = httpx.get(f"{a.url}/api/sessions/{sid}").json()
    assert on_a["step"] == 1 + 2 * STEPS


def test_a_follower_without_viewers_receives_no_frames(
    two: list[ServerProcess], redis_server: RedisProcess
) -> None:
    a, b = two
    made = httpx.post(f"{a.url}/api/rooms", json={"config": {"preset": "article"}}, timeout=30)
    code, token = made.json()["code"], made.json()["presenter_token"]
    channel = f"bp:f:room:{code}"
    client = redis_server.client()

    def subscribers() -> int:
        return int(client.pubsub_numsub(channel)[0][1])

    # B knows the room (it answers for it) but nobody watches it there.
    assert httpx.get(f"{b.url}/api/rooms/{code}", timeout=30).status_code == 200
    assert subscribers() == 0

    async def run() -> None:
        presenter = (await presenter_socket(a, code, token)).ws
        await presenter.send(json.dumps({"type": "play", "steps_per_frame": 1, "fps": 20}))
        try:
            viewer = await connect(f"{b.ws_url}/ws/rooms/{code}")
            await asyncio.to_thread(wait_for, lambda: subscribers() == 1, "B to subscribe")
            async with asyncio.timeout(DEADLINE):  # the frames do reach B's viewer
                while not json.loads(await viewer.recv()).get("playing"):
                    pass
            await viewer.close()
            # Its last viewer gone, B unsubscribes within a tick of the cluster.
            await asyncio.to_thread(wait_for, lambda: subscribers() == 0, "B to unsubscribe")
        finally:
            await presenter.close()

    asyncio.run(run())
    assert isinstance(client, redis.Redis)
